// This agent's own record, the single writer of its origin: turns local changes into the messages to gossip.
import type { Signer } from './keys.ts'
import type { AgentRecord, GossipMessage, Identity, LayerDelta, LiveEntry, PathResult, Results, ServiceResult } from './record.ts'
import { applyLayerDelta, emptyResults } from './record.ts'
import { contentDigest, sealLeave, sealRecord } from './seal.ts'

/**
 * A round-trip or connect time is news when it moved from the value peers hold by at least TIME_NEWS_RATIO and by at
 * least TIME_NEWS_MS: a link that got slower, not the jitter of a healthy one. (Compared with the held value, not
 * cut into fixed buckets, jitter about a bucket's edge made a delta of nearly every round: at N=10, ~900 B a round
 * from every agent, for RTTs of a few tens of microseconds.) Every full record carries the newest times whatever.
 */
export const TIME_NEWS_RATIO = Math.SQRT2
export const TIME_NEWS_MS = 0.5

function timeChanged (held: number | null, next: number | null): boolean {
  if (held === null || next === null) return held !== next
  const lo = Math.min(held, next)
  const hi = Math.max(held, next)
  return hi - lo >= TIME_NEWS_MS && hi >= lo * TIME_NEWS_RATIO
}

/**
 * Whether a new result says something different enough from the held one to be worth gossiping: any change of
 * outcome or loss, and a round-trip or connect time that moved (timeChanged). In a `coarse` sample (a large cluster,
 * where each change reaches every agent) times are never news: they go out with the next sample or full record.
 */
export function resultChanged (a: PathResult, b: PathResult, coarse = false): boolean {
  if (a.port !== b.port || a.tcp !== b.tcp || a.sent !== b.sent || a.received !== b.received) return true
  return !coarse && (timeChanged(a.rttMs, b.rttMs) || timeChanged(a.connectMs, b.connectMs))
}

function serviceChanged (a: ServiceResult | null, b: ServiceResult | null): boolean {
  if (a === null || b === null) return a !== b
  if (a.name !== b.name || a.port !== b.port || a.dnsOk !== b.dnsOk || a.dnsError !== b.dnsError) return true
  if (a.addresses.join(',') !== b.addresses.join(',') || a.paths.length !== b.paths.length) return true
  return a.paths.some((p, i) => { const q = b.paths[i]; return q === undefined || resultChanged(p, q) })
}

function diffLayer (held: Map<string, PathResult>, next: PathResult[], coarse: boolean): LayerDelta | null {
  const upsert: PathResult[] = []
  const seen = new Set<string>()
  for (const r of next) {
    seen.add(r.target)
    const old = held.get(r.target)
    if (old === undefined || resultChanged(old, r, coarse)) upsert.push(r)
  }
  const remove = [...held.keys()].filter(ip => !seen.has(ip))
  if (upsert.length === 0 && remove.length === 0) return null
  // every result is new or changed (a new sample): the layer is replaced, with no list of what went
  return remove.length > 0 && upsert.length === next.length ? { upsert, remove: [], replace: true } : { upsert, remove }
}

export interface ResultsUpdate {
  host?: PathResult[]
  pod?: PathResult[]
  /** null clears the Service result; absent leaves it as it is. */
  service?: ServiceResult | null
  /**
   * The paths are a sample kept for several rounds in a large cluster: round-trip and connect times wait for the
   * next sample or full record (outcomes and loss are news at once, as always).
   */
  coarse?: boolean
}

/**
 * `record` is exactly the version peers hold (what was gossiped), so (inc, rv) names one content everywhere and a
 * seal over it verifies at any holder. The newest round's results, noise included, wait in `latest` for the next
 * full record, which carries them under a new rv when they differ.
 */
export class SelfRecord {
  readonly record: AgentRecord
  private readonly latest: Results = emptyResults()
  private readonly sign: Signer | undefined
  /** Digest of the content last published (at rv). */
  private publishedDigest: string

  /** Without `sign` the messages carry no seal: relays of this record can then only be taken second-hand. */
  constructor (identity: Identity, incarnation: number, sign?: Signer) {
    this.record = { identity, inc: incarnation, seq: 0, rv: 0, results: emptyResults(), leader: false }
    this.sign = sign
    this.publishedDigest = contentDigest(this.record)
  }

  get origin (): string { return this.record.identity.podName }

  /** The whole record with the newest results, for a join and the slow periodic refresh. */
  full (): GossipMessage {
    const r = this.record
    r.results = { host: new Map(this.latest.host), pod: new Map(this.latest.pod), service: this.latest.service }
    const digest = contentDigest(r)
    if (digest !== this.publishedDigest) {
      r.rv++
      this.publishedDigest = digest
    }
    r.seq++
    this.seal()
    return { t: 'full', record: r }
  }

  /**
   * Carries a new token (the kubelet rotated it): part of the sealed content, so the next full record is a new
   * version. Returns whether it changed.
   */
  setToken (token: string | null): boolean {
    if ((token ?? undefined) === this.record.token) return false
    if (token === null) delete this.record.token
    else this.record.token = token
    return true
  }

  /**
   * Moves to an incarnation above `heldInc`, which the mesh holds for this name (this agent's clock was set back, or
   * its previous process's incarnation came from a clock ahead): the next full record then replaces it everywhere.
   */
  reincarnate (heldInc: number): void {
    if (heldInc < this.record.inc) return
    this.record.inc = heldInc + 1
    this.record.seq = 0
  }

  /** A heartbeat; an aggregator's carries the liveness entries of the beats it heard. */
  heartbeat (live: LiveEntry[] = [], legacy: LiveEntry[] = []): GossipMessage {
    this.record.seq++
    const { inc, seq, rv } = this.record
    return { t: 'hb', origin: this.origin, inc, seq, rv, ...(live.length === 0 ? {} : { live }), ...(legacy.length === 0 ? {} : { legacy }) }
  }

  leave (): GossipMessage {
    const r = this.record
    r.seq++
    const msg: GossipMessage = { t: 'leave', origin: this.origin, inc: r.inc, seq: r.seq }
    if (this.sign !== undefined) msg.seal = sealLeave(this.origin, r.identity.peerId, r.inc, r.seq, this.sign)
    return msg
  }

  /**
   * Stores new results. Returns the delta to gossip, or null when nothing changed beyond noise (measured against
   * what peers hold). Noise is kept for the next full record.
   */
  update (u: ResultsUpdate): GossipMessage | null {
    const r = this.record.results
    const coarse = u.coarse === true
    const host = u.host === undefined ? null : diffLayer(r.host, u.host, coarse)
    const pod = u.pod === undefined ? null : diffLayer(r.pod, u.pod, coarse)
    const svcChanged = u.service !== undefined && serviceChanged(r.service, u.service)
    if (u.host !== undefined) this.latest.host = new Map(u.host.map(p => [p.target, p]))
    if (u.pod !== undefined) this.latest.pod = new Map(u.pod.map(p => [p.target, p]))
    if (u.service !== undefined) this.latest.service = u.service
    if (host === null && pod === null && !svcChanged) return null
    applyLayerDelta(r.host, host)
    applyLayerDelta(r.pod, pod)
    if (svcChanged) r.service = u.service ?? null
    const base = this.record.rv
    this.record.rv++
    this.record.seq++
    this.publishedDigest = contentDigest(this.record)
    const { inc, seq, rv } = this.record
    const msg: GossipMessage = { t: 'delta', origin: this.origin, inc, seq, base, rv, host, pod, service: svcChanged ? u.service : undefined }
    const seal = this.seal()
    if (seal !== undefined) msg.seal = seal
    return msg
  }

  /** Seals the published version (digest: publishedDigest) for the message just numbered, kept for relays. */
  private seal (): string | undefined {
    if (this.sign === undefined) return undefined
    this.record.seal = sealRecord(this.record, this.record.seq, this.sign, this.publishedDigest)
    return this.record.seal.sig
  }
}
