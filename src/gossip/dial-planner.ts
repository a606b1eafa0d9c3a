// Decides which discovered peers to dial now: who should be connected, which side dials, and per-address backoff.
import { createHash } from 'node:crypto'
import { numericOrder } from '../shared/numeric-order.ts'

/** A peer's gossip address: what discovery found (DNS, the static list) and the planner dials. */
export interface PeerAddress { ip: string, port: number }

export const addrKey = (a: PeerAddress): string => a.ip.includes(':') ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`

/** Orders addresses numerically (IPv4 octets, then port) so "lower dials higher" means the same on every agent. */
export function compareAddr (a: PeerAddress, b: PeerAddress): number {
  const c = numericOrder(a.ip, b.ip)
  return c !== 0 ? c : a.port - b.port
}

function pairHash (a: string, b: string): number {
  const [x, y] = a < b ? [a, b] : [b, a]
  return createHash('sha256').update(`${x}|${y}`).digest().readUInt32BE(0) / 0x1_0000_0000
}

export interface DialPlannerOptions {
  /** Above this many discovered peers, each agent connects to a deterministic subset of about this size. */
  maxPeers: number
  baseBackoffMs?: number
  maxBackoffMs?: number
  random?: () => number
}

interface Backoff { failures: number, nextAt: number }

export class DialPlanner {
  private readonly self: PeerAddress
  private readonly selfKey: string
  private readonly maxPeers: number
  private readonly baseMs: number
  private readonly maxMs: number
  private readonly random: () => number
  private readonly backoff = new Map<string, Backoff>()
  /** pairHash(self, peer) by the peer's key: fixed for a pair, and a SHA-256 each otherwise (every round, every peer). */
  private readonly hashes = new Map<string, number>()
  /** The keys of the peers the last wanted() chose. */
  private lastWanted = new Set<string>()

  constructor (self: PeerAddress, opts: DialPlannerOptions) {
    this.self = self
    this.selfKey = addrKey(self)
    this.maxPeers = opts.maxPeers
    this.baseMs = opts.baseBackoffMs ?? 500
    this.maxMs = opts.maxBackoffMs ?? 15_000
    this.random = opts.random ?? Math.random
  }

  /**
   * The peers this agent should be connected to. Up to maxPeers: all of them. Beyond: its two neighbours on each
   * side of the sorted ring (so the graph stays connected) plus the pairs whose shared hash falls under
   * maxPeers / N, a symmetric rule both ends of a pair agree on without talking.
   */
  wanted (discovered: PeerAddress[]): PeerAddress[] {
    const chosen = this.choose(discovered)
    this.lastWanted = new Set(chosen.map(addrKey))
    return chosen
  }

  /** Whether the last wanted() chose this address (nothing is wanted before the first). */
  wants (a: PeerAddress): boolean { return this.lastWanted.has(addrKey(a)) }

  private choose (discovered: PeerAddress[]): PeerAddress[] {
    const others = dedupe(discovered).filter(a => addrKey(a) !== this.selfKey)
    if (others.length <= this.maxPeers) return others
    const ring = [...others, this.self].sort(compareAddr)
    const me = ring.findIndex(a => addrKey(a) === this.selfKey)
    const neighbours = new Set<string>()
    for (const d of [-2, -1, 1, 2]) {
      const n = ring[(me + d + ring.length) % ring.length]
      if (n !== undefined) neighbours.add(addrKey(n))
    }
    const p = this.maxPeers / others.length
    return others.filter(a => neighbours.has(addrKey(a)) || this.hashWith(addrKey(a)) < p)
  }

  private hashWith (key: string): number {
    let h = this.hashes.get(key)
    if (h === undefined) this.hashes.set(key, h = pairHash(this.selfKey, key))
    return h
  }

  /**
   * Which wanted peers to dial now. Normally only the lower address of a pair dials, so each pair is connected
   * once; an agent with no connection at all dials everyone it wants, so a (re)started agent joins at once.
   */
  plan (discovered: PeerAddress[], connected: Set<string>, pending: Set<string>, now: number): PeerAddress[] {
    const isolated = connected.size === 0
    const toDial = this.wanted(discovered).filter(a => !connected.has(addrKey(a)) && (isolated || compareAddr(this.self, a) < 0))
    // a backoff is kept only for an address still to dial: one left behind by a peer that connected from its side
    // stays due for ever, and nextDueIn would then wake discovery every 100 ms
    const keep = new Set(toDial.map(addrKey))
    for (const k of this.backoff.keys()) if (!keep.has(k)) this.backoff.delete(k)
    return toDial.filter(a => {
      const k = addrKey(a)
      if (pending.has(k)) return false
      const b = this.backoff.get(k)
      return b === undefined || b.nextAt <= now || isolated
    })
  }

  failed (a: PeerAddress, now: number): void {
    const k = addrKey(a)
    const failures = (this.backoff.get(k)?.failures ?? 0) + 1
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** (failures - 1)) * (0.8 + 0.4 * this.random())
    this.backoff.set(k, { failures, nextAt: now + delay })
  }

  /** Ms until the earliest backoff ends (Infinity when none is pending). */
  nextDueIn (now: number): number {
    let next = Infinity
    for (const b of this.backoff.values()) next = Math.min(next, b.nextAt - now)
    return Math.max(0, next)
  }

  succeeded (a: PeerAddress): void { this.backoff.delete(addrKey(a)) }

  /** Forgets the backoff of every address on this IP (its agent was just heard of: it is back). */
  resetIp (ip: string): void {
    for (const k of this.backoff.keys()) if (k.startsWith(`${ip}:`) || k.startsWith(`[${ip}]:`)) this.backoff.delete(k)
  }

  /** Drops the backoff of addresses no longer discovered, so the table stays bounded. */
  forgetAllBut (discovered: PeerAddress[]): void {
    const keep = new Set(discovered.map(addrKey))
    for (const k of this.backoff.keys()) if (!keep.has(k)) this.backoff.delete(k)
    for (const k of this.hashes.keys()) if (!keep.has(k)) this.hashes.delete(k)
  }
}

function dedupe (list: PeerAddress[]): PeerAddress[] {
  const seen = new Map<string, PeerAddress>()
  for (const a of list) seen.set(addrKey(a), a)
  return [...seen.values()]
}
