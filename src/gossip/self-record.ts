// This agent's own record, the single writer of its origin: turns local changes into the messages to gossip.
import type { AgentRecord, GossipMessage, Identity, LayerDelta, PathResult, ServiceResult } from './record.ts'
import { emptyResults } from './record.ts'

/** RTT buckets a quarter of a power of two wide: a change inside one bucket is noise, not news. */
function rttBucket (ms: number | null): number {
  return ms === null ? Number.NEGATIVE_INFINITY : Math.floor(Math.log2(Math.max(ms, 0.001)) * 4)
}

/** Whether a new result says something different enough from the held one to be worth gossiping. */
export function resultChanged (a: PathResult, b: PathResult): boolean {
  return a.port !== b.port || a.tcp !== b.tcp || a.sent !== b.sent || a.received !== b.received ||
    rttBucket(a.rttMs) !== rttBucket(b.rttMs) || rttBucket(a.connectMs) !== rttBucket(b.connectMs)
}

function serviceChanged (a: ServiceResult | null, b: ServiceResult | null): boolean {
  if (a === null || b === null) return a !== b
  if (a.name !== b.name || a.port !== b.port || a.dnsOk !== b.dnsOk || a.dnsError !== b.dnsError) return true
  if (a.addresses.join(',') !== b.addresses.join(',') || a.paths.length !== b.paths.length) return true
  return a.paths.some((p, i) => { const q = b.paths[i]; return q === undefined || resultChanged(p, q) })
}

function diffLayer (held: Map<string, PathResult>, next: PathResult[]): LayerDelta | null {
  const upsert: PathResult[] = []
  const seen = new Set<string>()
  for (const r of next) {
    seen.add(r.target)
    const old = held.get(r.target)
    if (old === undefined || resultChanged(old, r)) upsert.push(r)
  }
  const remove = [...held.keys()].filter(ip => !seen.has(ip))
  return upsert.length === 0 && remove.length === 0 ? null : { upsert, remove }
}

export interface ResultsUpdate {
  host?: PathResult[]
  pod?: PathResult[]
  /** null clears the Service result; absent leaves it as it is. */
  service?: ServiceResult | null
}

export class SelfRecord {
  readonly record: AgentRecord

  constructor (identity: Identity, incarnation: number) {
    this.record = { identity, inc: incarnation, seq: 0, rv: 0, results: emptyResults(), leader: false }
  }

  get origin (): string { return this.record.identity.podName }

  /** The whole record, for a join and the slow periodic refresh. */
  full (): GossipMessage {
    this.record.seq++
    return { t: 'full', record: this.record }
  }

  heartbeat (): GossipMessage {
    this.record.seq++
    const { inc, seq, rv } = this.record
    return { t: 'hb', origin: this.origin, inc, seq, rv }
  }

  leave (): GossipMessage {
    this.record.seq++
    return { t: 'leave', origin: this.origin, inc: this.record.inc, seq: this.record.seq }
  }

  /**
   * Stores new results. Returns the delta to gossip, or null when nothing changed beyond noise. Results that
   * differ only by noise still replace the held ones locally (fresh checkedAt and RTT in this agent's API).
   */
  update (u: ResultsUpdate): GossipMessage | null {
    const r = this.record.results
    const host = u.host === undefined ? null : diffLayer(r.host, u.host)
    const pod = u.pod === undefined ? null : diffLayer(r.pod, u.pod)
    const svcChanged = u.service !== undefined && serviceChanged(r.service, u.service)
    if (u.host !== undefined) r.host = new Map(u.host.map(p => [p.target, p]))
    if (u.pod !== undefined) r.pod = new Map(u.pod.map(p => [p.target, p]))
    if (u.service !== undefined) r.service = u.service
    if (host === null && pod === null && !svcChanged) return null
    const base = this.record.rv
    this.record.rv++
    this.record.seq++
    const { inc, seq, rv } = this.record
    return { t: 'delta', origin: this.origin, inc, seq, base, rv, host, pod, service: svcChanged ? u.service : undefined }
  }
}
