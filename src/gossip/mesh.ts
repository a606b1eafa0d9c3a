// The gossip service: validates inbound messages before they touch the view, applies them, repairs gaps,
// and publishes this agent's own record (heartbeats, deltas, slow full refresh, leave).
import { TopicValidatorResult, type GossipsubMessage, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import { WireError } from '../core/wire-error.ts'
import { decodeMessage, encodeMessage } from '../core/codec.ts'
import type { BeatChannel } from './beat.ts'
import type { IdentityProof, ProveIdentity } from '../core/identity.ts'
import type { MeshNode } from './protocol.ts'
import { chooseAggregators, MAX_LEGACY_ENTRIES } from '../core/liveness.ts'
import type { AgentRecord, GossipMessage, LayerDelta, LiveEntry } from '../core/record.ts'
import type { ResultsUpdate, SelfRecord } from '../core/self-record.ts'
import { speaksAs } from './admission.ts'
import type { AntiEntropy } from './sync.ts'
import { remoteIpOf, VIEW_TOPIC } from './protocol.ts'
import type { MergeOutcome, View } from '../core/view.ts'

/** However many deltas carried every result, a full record still goes out at least this many refresh intervals apart. */
export const MAX_REFRESH_POSTPONE = 10

export interface MeshOptions {
  heartbeatMs: number
  fullRefreshMs: number
  /** How often expired origins are swept. */
  expireEveryMs?: number
  /**
   * Above this many agents in the view, an agent's heartbeat goes straight to two aggregators instead of to the
   * whole cluster, and the aggregators gossip batched liveness digests (see liveness.ts). Needs `beats`.
   */
  digestAbove?: number
}

export interface MeshDeps {
  node: MeshNode
  view: View
  self: SelfRecord
  sync: AntiEntropy
  now: () => number
  log: Logger
  /** Beats to aggregators and the beats heard as one (large clusters); without it every heartbeat is gossiped. */
  beats?: BeatChannel
  /** The legacy clients that posted unchanged heartbeats to this agent since its last heartbeat, which carries them. */
  legacy?: { drain: (now: number) => LiveEntry[] }
  /** Called when an origin appears (full record accepted) with its pod IP: a hint for discovery. */
  onOriginSeen?: (podIp: string) => void
  /** Called after a gossiped message changed the view (benchmarks trace propagation with it). */
  onAccepted?: (msg: GossipMessage) => void
  /** Called just before this agent publishes a message (benchmarks time propagation from here). */
  onPublishing?: (msg: GossipMessage) => void
  /** Where each event is counted as it happens (the metrics); the mesh's own stats are kept either way. */
  events?: MeshEvents
  /** The proof that a full record's origin is its pod (while the view requires identities). */
  prove?: ProveIdentity
}

/** What the mesh counts as it happens, for a sink passed in (the metrics); reasons are bounded labels. */
export interface MeshEvents {
  gossipMessage: (event: 'published' | 'accepted' | 'gaps' | 'expired', n?: number) => void
  gossipRejected: (reason: string) => void
  gossipIgnored: (reason: string) => void
  gossipBytes: (direction: 'in' | 'out', n: number) => void
}

/** Counters of what the mesh did, by outcome; the reasons are bounded labels. */
export interface MeshStats {
  published: number
  /** Payload bytes (encoded message data, before gossipsub's envelope) of own published / received messages. */
  bytesOut: number
  bytesIn: number
  /** Own published messages and their payload bytes, by message type (full, hb, delta, leave, ext). */
  sent: Record<string, number>
  sentBytes: Record<string, number>
  accepted: number
  gaps: number
  ignored: Record<string, number>
  rejected: Record<string, number>
  expired: number
  /** Liveness entries applied from aggregators' digests, and digests refused (large clusters). */
  liveRefreshed: number
  liveRefused: number
  /** Legacy heartbeats refreshed by the liveness entries of the agents their clients posted to. */
  legacyRefreshed: number
}

const bump = (m: Record<string, number>, k: string): void => { m[k] = (m[k] ?? 0) + 1 }

/** Whether a delta holds every result the record now has (nothing a full record would add but identity and flags). */
function carriesEverything (msg: GossipMessage, record: AgentRecord): boolean {
  if (msg.t !== 'delta') return false
  const whole = (d: LayerDelta | null, held: Map<string, unknown>): boolean => held.size === 0 || (d !== null && d.upsert.length === held.size)
  return whole(msg.host, record.results.host) && whole(msg.pod, record.results.pod) && (record.results.service === null || msg.service !== undefined)
}

export class GossipMesh {
  readonly stats: MeshStats = { published: 0, bytesOut: 0, bytesIn: 0, sent: {}, sentBytes: {}, accepted: 0, gaps: 0, ignored: {}, rejected: {}, expired: 0, liveRefreshed: 0, liveRefused: 0, legacyRefreshed: 0 }
  private readonly deps: MeshDeps
  private readonly opts: MeshOptions
  private readonly timers: NodeJS.Timeout[] = []
  private heartbeatTimer: NodeJS.Timeout | undefined
  private refreshTimer: NodeJS.Timeout | undefined
  private running = false
  /** Whether this agent's heartbeats carry liveness digests (it is an aggregator): they then keep their rhythm. */
  private aggregating = false
  /** The aggregators this agent beats to, for the aggregator list they were chosen from. */
  private chosen: { from: readonly string[], to: string[] } | undefined
  private lastFullAt = 0
  private readonly repairAt = new Map<string, number>()
  private initialPulls = 0
  /** What the validator decoded, by payload, so the handler does not decode the same bytes again. */
  private readonly decoded = new WeakMap<Uint8Array, GossipMessage>()
  /** Identity proofs of the full records validate() let through, for onMessage to apply with. */
  private readonly proofs = new WeakMap<Uint8Array, IdentityProof>()

  constructor (deps: MeshDeps, opts: MeshOptions) {
    this.deps = deps
    this.opts = opts
  }

  private get pubsub (): MeshNode['services']['pubsub'] { return this.deps.node.services.pubsub }

  start (): void {
    const { node, view, self, now } = this.deps
    view.setSelf(self.record, now())
    this.pubsub.topicValidators.set(VIEW_TOPIC, (peer, msg) => this.validate(peer, msg))
    this.pubsub.subscribe(VIEW_TOPIC)
    this.pubsub.addEventListener('gossipsub:message', (evt) => { this.onMessage(evt.detail) })
    node.addEventListener('peer:connect', (evt) => { void this.onConnect(evt.detail) })
    this.every(this.opts.expireEveryMs ?? 250, () => { this.sweep() })
    this.running = true
    // publishing arms the heartbeat and the full refresh (see armTimers)
    this.publish(self.full())
  }

  async stop (): Promise<void> {
    this.running = false
    for (const t of this.timers) clearInterval(t)
    this.timers.length = 0
    clearTimeout(this.heartbeatTimer)
    clearTimeout(this.refreshTimer)
    await this.publishNow(this.deps.self.leave())
  }

  /** Peers in this agent's gossipsub mesh for the view topic (each message is forwarded to them); null if unknown. */
  meshPeers (): number | null {
    const ps = this.pubsub as unknown as { getMeshPeers?: (topic: string) => unknown[] }
    return typeof ps.getMeshPeers === 'function' ? ps.getMeshPeers(VIEW_TOPIC).length : null
  }

  /**
   * Stores new probe results in this agent's record and gossips what changed. `keptMs`: the results are a sample
   * the next one replaces within that long, so the full refresh waits for it.
   */
  updateResults (u: ResultsUpdate, keptMs = 0): void {
    const msg = this.deps.self.update(u)
    if (msg === null) return
    this.publish(msg)
    // a delta that carried every result refreshes peers as a full record would (e.g. each new rotating sample)
    if (this.running && carriesEverything(msg, this.deps.self.record)) this.armRefresh(false, keptMs)
  }

  /** Gossips a message this agent authored (its own record, or a legacy report it injects). */
  publish (msg: GossipMessage): void {
    void this.publishNow(msg)
  }

  private rejected (reason: string): void {
    bump(this.stats.rejected, reason)
    this.deps.events?.gossipRejected(reason)
  }

  private ignored (reason: string): void {
    bump(this.stats.ignored, reason)
    this.deps.events?.gossipIgnored(reason)
  }

  private async publishNow (msg: GossipMessage): Promise<void> {
    const bytes = encodeMessage(msg)
    this.armTimers(msg)
    this.deps.onPublishing?.(msg)
    try {
      await this.pubsub.publish(VIEW_TOPIC, bytes)
      this.stats.published++
      this.stats.bytesOut += bytes.byteLength
      this.deps.events?.gossipMessage('published')
      this.deps.events?.gossipBytes('out', bytes.byteLength)
      bump(this.stats.sent, msg.t)
      this.stats.sentBytes[msg.t] = (this.stats.sentBytes[msg.t] ?? 0) + bytes.byteLength
    } catch (err) {
      this.deps.log.debug({ err: (err as Error).message, t: msg.t }, 'publish failed')
    }
  }

  /**
   * Every message of this agent's own record tells its peers it is alive, so a heartbeat goes out only after
   * heartbeatMs without one (peers never wait longer than before, and a busy agent sends fewer). A full record is due
   * fullRefreshMs after the last message that carried every result.
   */
  private armTimers (msg: GossipMessage): void {
    if (!this.running || (msg.t !== 'hb' && msg.t !== 'delta' && msg.t !== 'full')) return
    // an aggregator's heartbeat carries the beats it heard: it goes out every interval whatever else was sent
    if (msg.t === 'hb' || !this.aggregating) this.armHeartbeat()
    if (msg.t === 'full') this.armRefresh(true)
  }

  private armHeartbeat (): void {
    clearTimeout(this.heartbeatTimer)
    this.heartbeatTimer = setTimeout(() => { this.heartbeatDue() }, this.opts.heartbeatMs)
  }

  /**
   * A heartbeat is due. In a small cluster it is gossiped. In a large one (above digestAbove agents) it goes
   * straight to this agent's two aggregators, whose gossiped digests carry it; an aggregator gossips its own with
   * the beats it heard. When no aggregator takes the beat, it is gossiped after all.
   */
  private heartbeatDue (): void {
    const { view, self, beats, now } = this.deps
    const live = beats?.drain(now()) ?? []
    // the legacy clients that posted to this agent, and (an aggregator) those the beats it heard spoke for
    const legacy = [...this.deps.legacy?.drain(now()) ?? [], ...beats?.drainLegacy(now()) ?? []].slice(0, MAX_LEGACY_ENTRIES)
    // (an origin whose short id another member shares cannot be named in a digest: it gossips its heartbeats)
    const large = beats !== undefined && view.agentCount > (this.opts.digestAbove ?? Infinity) && view.shortIdUnique(self.origin)
    const aggs = large ? view.aggregators().list : []
    this.aggregating = aggs.includes(self.origin) || live.length > 0
    // in a small cluster, an agent that speaks for legacy clients gossips its heartbeat every interval: it is their
    // only refresh; in a large one its beat carries them to its aggregators
    if (!large || this.aggregating) {
      if (legacy.length > 0) this.aggregating = true
      this.publish(self.heartbeat(live, legacy))
      return
    }
    this.armHeartbeat()
    if (this.chosen?.from !== aggs) this.chosen = { from: aggs, to: chooseAggregators(self.origin, aggs) }
    void this.beat(this.chosen.to, legacy)
  }

  private async beat (to: string[], legacy: LiveEntry[]): Promise<void> {
    const { view, self, beats } = this.deps
    if (beats === undefined) return
    const peers = to.map(n => view.agent(n)?.record.identity.peerId).filter((p): p is string => p !== undefined)
    const { inc, rv } = self.record
    const taken = await Promise.all(peers.map(async p => await beats.send(p, { inc, rv, legacy })))
    if (!taken.includes(true) && this.running) this.publish(self.heartbeat([], legacy))
  }

  private armRefresh (full: boolean, keptMs = 0): void {
    const now = this.deps.now()
    if (full) this.lastFullAt = now
    const latest = this.lastFullAt + MAX_REFRESH_POSTPONE * this.opts.fullRefreshMs - now
    clearTimeout(this.refreshTimer)
    this.refreshTimer = setTimeout(() => { this.publish(this.deps.self.full()) }, Math.max(0, Math.min(Math.max(this.opts.fullRefreshMs, keptMs), latest)))
  }

  private every (ms: number, fn: () => void): void {
    this.timers.push(setInterval(fn, ms))
  }

  private sweep (): void {
    const gone = this.deps.view.expire(this.deps.now())
    if (gone.agents.length > 0) this.deps.log.info({ origins: gone.agents }, 'agents expired (not heard within CACHE_KEY_SECOND)')
    this.stats.expired += gone.agents.length + gone.externals.length
    if (gone.agents.length + gone.externals.length > 0) this.deps.events?.gossipMessage('expired', gone.agents.length + gone.externals.length)
  }

  /** Decode and judge, without touching the view: gossipsub forwards only what this accepts. */
  private validate (peer: PeerId, msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed') { this.rejected('unsigned'); return TopicValidatorResult.Reject }
    let decoded: GossipMessage
    try {
      decoded = decodeMessage(msg.data)
    } catch (err) {
      const reason = err instanceof WireError ? err.reason : 'malformed'
      this.rejected(reason)
      this.deps.log.debug({ from: msg.from.toString(), reason, err: (err as Error).message }, 'gossip message rejected')
      return TopicValidatorResult.Reject
    }
    this.decoded.set(msg.data, decoded)
    let proof: IdentityProof | null = null
    if (decoded.t === 'full' && this.deps.view.identitiesRequired) {
      proof = this.deps.prove?.(decoded.record) ?? null
      if (proof === null) {
        this.rejected('identity')
        this.deps.log.debug({ from: msg.from.toString(), origin: decoded.record.identity.podName }, 'full record without a token the cluster vouches for')
        return TopicValidatorResult.Reject
      }
      this.proofs.set(msg.data, proof)
    }
    const outcome = this.deps.view.judge(decoded, msg.from.toString(), proof)
    // first hop: the publisher itself sent it, so its full record must name the address it speaks from (relays
    // forward only what their own first-hop check passed)
    if (decoded.t === 'full' && (outcome === 'accepted' || outcome === 'gap') && peer.equals(msg.from)) {
      const ips = this.deps.node.getConnections(peer).map(remoteIpOf).filter((ip): ip is string => ip !== null)
      if (ips.length > 0 && !speaksAs(ips, decoded.record.identity)) {
        this.rejected('address')
        this.deps.log.debug({ from: msg.from.toString(), claims: decoded.record.identity.podIp, ips }, 'full record from another address than it claims')
        return TopicValidatorResult.Reject
      }
    }
    return this.verdict(outcome)
  }

  private verdict (o: MergeOutcome): TopicValidatorResult {
    switch (o) {
      case 'accepted':
      case 'gap':
        return TopicValidatorResult.Accept
      // about this agent itself: harmless here (never applied), and a relayer may honestly carry a previous
      // incarnation's message; the others judge forgery of this origin by the key they hold for it
      case 'self':
      case 'stale':
      case 'capacity':
        this.ignored(o)
        return TopicValidatorResult.Ignore
      case 'forged':
      case 'unbound':
        this.rejected(o)
        return TopicValidatorResult.Reject
    }
  }

  private onMessage (evt: GossipsubMessage): void {
    const { msg, propagationSource } = evt
    if (msg.topic !== VIEW_TOPIC || msg.type !== 'signed') return
    this.stats.bytesIn += msg.data.byteLength
    this.deps.events?.gossipBytes('in', msg.data.byteLength)
    let decoded: GossipMessage | undefined = this.decoded.get(msg.data)
    if (decoded === undefined) {
      try { decoded = decodeMessage(msg.data) } catch { return }
    }
    const outcome = this.deps.view.apply(decoded, msg.from.toString(), this.deps.now(), this.proofs.get(msg.data) ?? null)
    if (decoded.t === 'hb' && decoded.live !== undefined && (outcome === 'accepted' || outcome === 'gap')) {
      const live = this.deps.view.applyLiveness(decoded.origin, decoded.live, this.deps.now())
      this.stats.liveRefreshed += live.refreshed
      if (live.refused) this.stats.liveRefused++
      if (live.gaps.length > 0) this.repair(msg.from, propagationSource)
    }
    if (decoded.t === 'hb' && decoded.legacy !== undefined && (outcome === 'accepted' || outcome === 'gap')) {
      const legacy = this.deps.view.applyLegacyLiveness(decoded.origin, decoded.legacy, this.deps.now())
      this.stats.legacyRefreshed += legacy.refreshed
      if (legacy.gaps.length > 0) this.repair(msg.from, propagationSource)
    }
    if (outcome === 'accepted') {
      this.stats.accepted++
      this.deps.events?.gossipMessage('accepted')
      if (decoded.t === 'full') this.deps.onOriginSeen?.(decoded.record.identity.podIp)
      this.deps.onAccepted?.(decoded)
    } else if (outcome === 'gap') {
      this.stats.gaps++
      this.deps.events?.gossipMessage('gaps')
      this.repair(msg.from, propagationSource)
    }
  }

  /** A gap (unknown origin, new incarnation, missed delta): pull from the origin itself if connected, else the relay. */
  private repair (origin: PeerId, relay: PeerId): void {
    const connected = this.deps.node.getConnections(origin).length > 0
    const peer = connected ? origin : relay
    const id = peer.toString()
    const t = this.deps.now()
    if ((this.repairAt.get(id) ?? -Infinity) > t - 1_000) return
    this.repairAt.set(id, t)
    if (this.repairAt.size > 4096) this.repairAt.clear()
    void this.deps.sync.pull(peer)
  }

  /**
   * A new connection: a starting agent pulls the full view from its first two peers; later, a connection to a
   * peer absent from the view (a heal after a partition, or a newcomer) is synced both ways at once.
   */
  private async onConnect (peer: PeerId): Promise<void> {
    const id = peer.toString()
    const known = this.deps.view.agentEntries().some(e => e.record.identity.peerId === id)
    if (this.initialPulls < 2) {
      this.initialPulls++
      if (!await this.deps.sync.pull(peer)) this.initialPulls--
    } else if (!known) {
      await this.deps.sync.pull(peer)
    }
  }
}
