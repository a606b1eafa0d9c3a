// Peer discovery loop: resolves the headless Service and the static list, dials what the planner picks, for ever.
import { Resolver } from 'node:dns/promises'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { addrKey, DialPlanner, type PeerAddress } from './dial-planner.ts'
import type { MeshNode } from './protocol.ts'
import { familyOf } from '../core/families.ts'

export interface DiscoveryOptions {
  /** Every lookup's addresses (static list included), e.g. to admit them as members. */
  onResolved?: (ips: string[]) => void
  self: PeerAddress
  peerService: string
  staticPeers: PeerAddress[]
  gossipPort: number
  intervalMs: number
  maxPeers: number
  now: () => number
  /**
   * True while this agent has yet to pull the view from a peer. It then dials FIRST_CONTACTS peers at a time, so
   * their handshakes and the pull are not slowed by every other handshake at once (the pull then calls poke()).
   */
  joining?: () => boolean
  /** Picks a joining agent's first contacts among the peers to dial (default Math.random). */
  random?: () => number
}

/** Peers a joining agent dials first, and how long before it dials as many more if it still has not pulled the view. */
const FIRST_CONTACTS = 2
const JOIN_STAGGER_MS = 250

/** IP and TCP port of a multiaddr, when it has both. */
export function addressOf (ma: Multiaddr): PeerAddress | null {
  let ip: string | undefined
  let port: number | undefined
  for (const c of ma.getComponents()) {
    if ((c.name === 'ip4' || c.name === 'ip6') && c.value !== undefined) ip = c.value
    if (c.name === 'tcp' && c.value !== undefined) port = Number(c.value)
  }
  return ip === undefined || port === undefined ? null : { ip, port }
}

const toMultiaddr = (a: PeerAddress): Multiaddr => multiaddr(a.ip.includes(':') ? `/ip6/${a.ip}/tcp/${a.port}` : `/ip4/${a.ip}/tcp/${a.port}`)

export class Discovery {
  private readonly node: MeshNode
  private readonly opts: DiscoveryOptions
  private readonly log: Logger
  private readonly planner: DialPlanner
  private readonly resolver = new Resolver({ timeout: 2_000, tries: 2 })
  private readonly pending = new Set<string>()
  /** Listen addresses each connected peer announced through identify. */
  private readonly announced = new Map<string, string[]>()
  private timer: NodeJS.Timeout | undefined
  private running = false
  private discovered: PeerAddress[] = []
  /** Dials made while joining, and when joining began (the first round). */
  private joinDials = 0
  private joinStart: number | null = null

  constructor (node: MeshNode, opts: DiscoveryOptions, log: Logger) {
    this.node = node
    this.opts = opts
    this.log = log
    this.planner = new DialPlanner(opts.self, { maxPeers: opts.maxPeers })
    node.addEventListener('peer:identify', (evt) => {
      const keys = evt.detail.listenAddrs.map(addressOf).filter((a): a is PeerAddress => a !== null).map(addrKey)
      this.announced.set(evt.detail.peerId.toString(), keys)
    })
    node.addEventListener('peer:disconnect', (evt) => { this.announced.delete(evt.detail.toString()) })
  }

  start (): void {
    this.running = true
    void this.tick()
  }

  stop (): void {
    this.running = false
    clearTimeout(this.timer)
  }

  /**
   * A hint that the agent at this IP is alive again: dial it without waiting out its backoff, if it is one this agent
   * connects to. In a large cluster most agents heard of are not (a full record arrives from every one), and each would
   * otherwise cost a discovery round.
   */
  heardOf (ip: string): void {
    const a = { ip, port: this.opts.gossipPort }
    // (the planner wants only discovered addresses)
    if (!this.planner.wants(a)) return
    this.planner.resetIp(ip)
    if (!this.connectedKeys().has(addrKey(a))) this.poke()
  }

  /** Ask for a reconcile round now (e.g. after a connection dropped). */
  poke (): void {
    if (!this.running) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { void this.tick() }, 50)
  }

  private async resolve (): Promise<PeerAddress[]> {
    const found: PeerAddress[] = [...this.opts.staticPeers]
    if (this.opts.peerService !== '') {
      const [v4, v6] = await Promise.allSettled([
        this.resolver.resolve4(this.opts.peerService),
        this.resolver.resolve6(this.opts.peerService)
      ])
      // a dual-stack Service answers both families for every agent: the mesh keeps to this pod's primary family (the
      // cluster's), one address a member; the other family only when the primary has no answer (a single-stack peer)
      const [own, other] = familyOf(this.opts.self.ip) === 'IPv6' ? [v6, v4] : [v4, v6]
      const answer = own.status === 'fulfilled' && own.value.length > 0 ? own : other
      if (answer.status === 'fulfilled') for (const ip of answer.value) found.push({ ip, port: this.opts.gossipPort })
      if (v4.status === 'rejected' && v6.status === 'rejected') {
        this.log.debug({ service: this.opts.peerService, err: String(v4.reason) }, 'peer service did not resolve')
      }
    }
    return found
  }

  /** Addresses of every peer we hold an open connection to: remote addresses plus what they announced. */
  private connectedKeys (): Set<string> {
    const keys = new Set<string>()
    const ips = new Set<string>()
    for (const c of this.node.getConnections()) {
      const a = addressOf(c.remoteAddr)
      if (a !== null) { keys.add(addrKey(a)); ips.add(a.ip) }
      for (const k of this.announced.get(c.remotePeer.toString()) ?? []) keys.add(k)
    }
    // one agent per IP: an inbound connection from an IP stands for that IP's gossip port
    for (const a of this.discovered) if (ips.has(a.ip)) keys.add(addrKey(a))
    return keys
  }

  private async tick (): Promise<void> {
    if (!this.running) return
    try {
      this.discovered = await this.resolve()
      this.opts.onResolved?.(this.discovered.map(a => a.ip))
      this.planner.forgetAllBut(this.discovered)
      const dials = this.planner.plan(this.discovered, this.connectedKeys(), this.pending, this.opts.now())
      for (const a of this.joining() ? this.firstContacts(dials) : dials) void this.dial(a)
      await this.dedupeConnections()
    } catch (err) {
      this.log.warn({ err }, 'discovery round failed')
    }
    // wake for the next round, or sooner when a backoff ends first
    const wait = Math.max(100, Math.min(this.joining() ? JOIN_STAGGER_MS : this.opts.intervalMs, this.planner.nextDueIn(this.opts.now())))
    if (this.running) this.timer = setTimeout(() => { void this.tick() }, wait)
  }

  private joining (): boolean {
    return this.opts.joining?.() === true
  }

  /** While joining: FIRST_CONTACTS dials, and as many more each JOIN_STAGGER_MS (dead first contacts delay it no more). */
  private firstContacts (dials: PeerAddress[]): PeerAddress[] {
    const now = this.opts.now()
    this.joinStart ??= now
    const allowed = FIRST_CONTACTS * (1 + Math.floor((now - this.joinStart) / JOIN_STAGGER_MS))
    // at random: in the planner's order, every joiner of a small cluster would pull its view from the same two peers
    const take = shuffled(dials, this.opts.random ?? Math.random).slice(0, Math.max(0, allowed - this.joinDials))
    this.joinDials += take.length
    return take
  }

  private async dial (a: PeerAddress): Promise<void> {
    const k = addrKey(a)
    this.pending.add(k)
    try {
      const conn = await this.node.dial(toMultiaddr(a), { signal: AbortSignal.timeout(3_000) })
      this.planner.succeeded(a)
      this.log.debug({ peer: k, peerId: conn.remotePeer.toString() }, 'dialed peer')
    } catch (err) {
      this.planner.failed(a, this.opts.now())
      this.log.debug({ peer: k, err: (err as Error).message }, 'dial failed')
    } finally {
      this.pending.delete(k)
    }
  }

  /**
   * Two agents dialing each other at once end up with two connections. The side with the higher peer id closes
   * all but the oldest, so exactly one remains and only one side acts.
   */
  private async dedupeConnections (): Promise<void> {
    const self = this.node.peerId.toString()
    const byPeer = new Map<string, ReturnType<MeshNode['getConnections']>>()
    for (const c of this.node.getConnections()) {
      const id = c.remotePeer.toString()
      byPeer.set(id, [...(byPeer.get(id) ?? []), c])
    }
    for (const [id, conns] of byPeer) {
      if (conns.length < 2 || self < id) continue
      const extra = [...conns].sort((x, y) => x.timeline.open - y.timeline.open).slice(1)
      await Promise.allSettled(extra.map(async c => { await c.close() }))
    }
  }
}

/** A copy of `xs` in random order (Fisher-Yates). */
function shuffled<T> (xs: readonly T[], random: () => number): T[] {
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const x = out[i] as T
    out[i] = out[j] as T
    out[j] = x
  }
  return out
}
