// Pure: how one measured path is judged (down, degraded, ok) and an index of who measured whom, per layer.
import type { AgentRecord, Layer, PathResult } from '../core/record.ts'

/** The path reached the host at IP level: an echo came back, or TCP got an answer (open or refused). */
export function reached (r: PathResult): boolean {
  return (r.sent > 0 && r.received > 0) || r.tcp === 'open' || r.tcp === 'refused'
}

/** A pair counts as ok for the success rate: ICMP answered (or unmeasured) and the port open. */
export function pairOk (r: PathResult): boolean {
  return (r.sent === 0 || r.received > 0) && r.tcp === 'open'
}

export function lossOf (r: PathResult): number | null {
  return r.sent === 0 ? null : 1 - r.received / r.sent
}

/** Why a pair is not ok, in a few words for a person. */
export function problemOf (r: PathResult): string {
  // most pairs are fine: say so without building the words (the report asks this of every pair)
  if (r.tcp === 'open' && (r.sent === 0 || r.received === r.sent) && reached(r)) return 'ok'
  const icmp = r.sent === 0 ? 'ICMP unknown' : `ICMP ${r.received}/${r.sent}`
  if (!reached(r)) return `unreachable (${icmp}, TCP ${r.tcp})`
  if (r.tcp === 'refused') return `port ${r.port} closed (${icmp})`
  if (r.tcp !== 'open') return `port ${r.port} ${r.tcp} (${icmp})`
  if (r.sent > 0 && r.received < r.sent) return `loss ${Math.round((1 - r.received / r.sent) * 100)}% (${icmp})`
  return 'ok'
}

export interface Measurement { source: AgentRecord, target: AgentRecord, result: PathResult }

/** Appends v to the list at k (in place: building an index stays linear). */
export function add<T> (m: Map<string, T[]>, k: string, v: T): void {
  const l = m.get(k)
  if (l === undefined) m.set(k, [v])
  else l.push(v)
}

/** Every measurement between known agents, indexed both ways, for one layer. */
export class PathIndex {
  readonly layer: Layer
  readonly bySource = new Map<string, Measurement[]>()
  readonly byTarget = new Map<string, Measurement[]>()
  private readonly pair = new Map<string, Measurement>()

  constructor (layer: Layer, sources: AgentRecord[], targets: AgentRecord[]) {
    this.layer = layer
    const ipOf = (a: AgentRecord): string => layer === 'host' ? a.identity.nodeIp : a.identity.podIp
    const byIp = new Map<string, AgentRecord[]>()
    for (const t of targets) add(byIp, ipOf(t), t)
    for (const s of sources) {
      for (const result of s.results[layer].values()) {
        for (const target of byIp.get(result.target) ?? []) {
          if (target.identity.podName === s.identity.podName) continue
          const m = { source: s, target, result }
          add(this.bySource, s.identity.podName, m)
          add(this.byTarget, target.identity.podName, m)
          this.pair.set(`${s.identity.podName}>${target.identity.podName}`, m)
        }
      }
    }
  }

  get (source: string, target: string): Measurement | undefined {
    return this.pair.get(`${source}>${target}`)
  }

  all (): Measurement[] { return [...this.pair.values()] }
}

/** A path's outcome in one bounded word, for counters and colours. */
export type PathOutcome = 'ok' | 'loss' | 'port-closed' | 'port-silent' | 'unreachable'
export const PATH_OUTCOMES: readonly PathOutcome[] = ['ok', 'loss', 'port-closed', 'port-silent', 'unreachable']

export function outcomeOf (r: PathResult): PathOutcome {
  if (!reached(r)) return 'unreachable'
  if (r.tcp === 'refused') return 'port-closed'
  if (r.tcp !== 'open') return 'port-silent'
  if (r.sent > 0 && r.received < r.sent) return 'loss'
  return 'ok'
}
