// Pure: how far each origin's wall clock is from this agent's, from the origin times its messages carry against
// their receipt times: the largest recent difference (the copy that travelled fastest) estimates the offset.
import type { GossipMessage } from '../core/record.ts'

export class ClockSkew {
  /** Per origin: the incarnation sampled (a restarted process may have another clock) and the last differences. */
  private readonly samples = new Map<string, { inc: number, diffs: number[] }>()
  private readonly keep: number

  constructor (keep = 8) {
    this.keep = keep
  }

  /** One sample: an origin's wall time as it stamped something, and this agent's wall time on receipt. */
  observe (origin: string, inc: number, originWall: number, localWall: number): void {
    if (!Number.isFinite(originWall) || originWall <= 0) return
    let s = this.samples.get(origin)
    if (s === undefined || s.inc !== inc) {
      s = { inc, diffs: [] }
      this.samples.set(origin, s)
    }
    s.diffs.push(originWall - localWall)
    if (s.diffs.length > this.keep) s.diffs.shift()
  }

  /** A message's newest origin time (the probe results it carries end when it is sent) as a sample. */
  observeMessage (msg: GossipMessage, localWall: number): void {
    if (msg.t !== 'full' && msg.t !== 'delta') return
    const origin = msg.t === 'full' ? msg.record.identity.podName : msg.origin
    let newest = 0
    const take = (rs: Iterable<{ checkedAt: number }>): void => { for (const r of rs) if (r.checkedAt > newest) newest = r.checkedAt }
    if (msg.t === 'full') {
      take(msg.record.results.host.values())
      take(msg.record.results.pod.values())
    } else {
      take(msg.host?.upsert ?? [])
      take(msg.pod?.upsert ?? [])
    }
    if (newest > 0) this.observe(origin, msg.t === 'full' ? msg.record.inc : msg.inc, newest, localWall)
  }

  /** Each origin's estimated offset (its clock minus this agent's), in ms. */
  estimates (origins?: Iterable<string>): Map<string, number> {
    const out = new Map<string, number>()
    for (const o of origins ?? this.samples.keys()) {
      const s = this.samples.get(o)
      if (s !== undefined && s.diffs.length > 0) out.set(o, Math.max(...s.diffs))
    }
    return out
  }

  forget (keepOnly: ReadonlySet<string>): void {
    for (const o of this.samples.keys()) if (!keepOnly.has(o)) this.samples.delete(o)
  }
}
