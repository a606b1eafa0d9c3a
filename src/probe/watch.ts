// Pure: the exception watch of a sampled cluster. Every round also sweeps the agents outside the sample with ICMP
// alone; a swept target that stopped answering, or whose agent reports this one unreachable, is probed fully (and its
// result gossiped) for a few rounds, so a broken pair is measured within a round at any cluster size.
import type { AgentRecord, Identity, Layer, PathResult } from '../core/record.ts'
import type { EchoResult } from './fping.ts'
import type { ProbeTarget, RoundPlan } from './targets.ts'

export interface WatchOptions {
  /** Rounds a target stays watched after the last round that found it failing. */
  rounds: number
  /** Most targets watched at once per layer (a wide outage is the sample's to show, not the watch's). */
  max: number
  /** A target silent in the sweep is news only if it answered an echo within this many rounds (else: ICMP filtered). */
  answerMemory: number
}

/** A watch of 6 rounds (flapping pairs stay watched between their down phases), 20 targets a layer. */
export const DEFAULT_WATCH: WatchOptions = { rounds: 6, max: 20, answerMemory: 360 }

type PathLayer = Exclude<Layer, 'service'>
const LAYERS: readonly PathLayer[] = ['host', 'pod']

interface Watched { target: ProbeTarget, until: number }

/** A path the watch keeps probing: unreachable, or every echo lost. */
export const failing = (r: PathResult): boolean => (r.sent > 0 && r.received === 0) || (r.sent === 0 && r.tcp !== 'open' && r.tcp !== 'refused')

/** A per-observer order of targets (FNV-1a of observer and IP), so observers over the cap keep different ones. */
function rank (self: string, ip: string): number {
  let h = 0x811C9DC5
  for (const s of [self, ip]) {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0
    h = Math.imul(h ^ 0xff, 0x01000193) >>> 0
  }
  return h
}

/** The targets on each layer whose agents' records say they cannot reach `self` (its node IP, its pod IP). */
export function reportersOfDown (records: Iterable<AgentRecord>, self: Pick<Identity, 'podName' | 'nodeIp' | 'podIp'>,
  ports: { testPort: number, clientPort: number }): Record<PathLayer, ProbeTarget[]> {
  const out: Record<PathLayer, ProbeTarget[]> = { host: [], pod: [] }
  for (const rec of records) {
    const id = rec.identity
    if (id.podName === self.podName) continue
    const host = rec.results.host.get(self.nodeIp)
    if (host !== undefined && failing(host) && id.nodeIp !== self.nodeIp) out.host.push({ ip: id.nodeIp, port: ports.testPort })
    const pod = rec.results.pod.get(self.podIp)
    if (pod !== undefined && failing(pod) && id.podIp !== self.podIp) out.pod.push({ ip: id.podIp, port: ports.clientPort })
  }
  return out
}

export class ProbeWatch {
  readonly o: WatchOptions
  private readonly self: string
  private readonly watched: Record<PathLayer, Map<string, Watched>> = { host: new Map(), pod: new Map() }
  /** Per IP, the last round an echo came back from it (sweep or full probe). */
  private readonly answered = new Map<string, number>()
  private round = 0

  constructor (self: string, o: WatchOptions = DEFAULT_WATCH) {
    this.self = self
    this.o = o
  }

  /** How many targets are watched now, per layer. */
  get size (): Record<PathLayer, number> { return { host: this.watched.host.size, pod: this.watched.pod.size } }

  /**
   * The round's plan widened: the sample, plus the watched targets and those whose agents report this one
   * unreachable (probed fully), plus a sweep of every other target (ICMP only). A plan that is not a sample (every
   * target probed fully) is returned as it is.
   */
  widen (plan: RoundPlan, candidates: Record<PathLayer, ProbeTarget[]>, round: number,
    reporters: Record<PathLayer, ProbeTarget[]> = { host: [], pod: [] }): RoundPlan {
    this.round = round
    if (!plan.sampled) return plan
    const out: RoundPlan = { ...plan, host: [...plan.host], pod: [...plan.pod], sweep: { host: [], pod: [] } }
    for (const layer of LAYERS) {
      const w = this.watched[layer]
      for (const [ip, x] of w) if (x.until < round) w.delete(ip)
      this.admit(layer, reporters[layer])
      const full = new Set(plan[layer].map(t => t.ip))
      for (const x of w.values()) if (!full.has(x.target.ip)) { full.add(x.target.ip); out[layer].push(x.target) }
      for (const t of candidates[layer]) if (!full.has(t.ip)) { full.add(t.ip); out.sweep?.[layer].push(t) }
    }
    return out
  }

  /** Whether a swept target's echoes make it worth probing fully now: all lost, from a target that used to answer. */
  suspect (ip: string, echo: EchoResult | undefined): boolean {
    if (echo === undefined || echo.sent === 0 || echo.received > 0) return false
    const last = this.answered.get(ip)
    return last !== undefined && this.round - last <= this.o.answerMemory
  }

  /** Notes whose echoes came back this round (sweep and full probes alike). */
  noteEchoes (echoes: Iterable<[string, EchoResult]>): void {
    for (const [ip, e] of echoes) if (e.received > 0) this.answered.set(ip, this.round)
    if (this.answered.size > 4096) for (const [ip, at] of this.answered) if (this.round - at > this.o.answerMemory) this.answered.delete(ip)
  }

  /** Notes one target answering (for callers that hold no echo map, such as the simulator). */
  noteAnswer (ip: string): void { this.answered.set(ip, this.round) }

  /** After the round: every fully probed target still failing (or newly found failing) stays or becomes watched. */
  afterRound (results: Record<PathLayer, PathResult[]>, ports: Record<PathLayer, number>): void {
    for (const layer of LAYERS) {
      const bad = results[layer].filter(failing).map(r => ({ ip: r.target, port: ports[layer] }))
      this.admit(layer, bad)
    }
  }

  /** Watches targets for `rounds` more rounds: those held are extended; new ones join, by rank, while there is room. */
  private admit (layer: PathLayer, targets: ProbeTarget[]): void {
    const w = this.watched[layer]
    const until = this.round + this.o.rounds
    const fresh: ProbeTarget[] = []
    for (const t of targets) {
      const held = w.get(t.ip)
      if (held !== undefined) held.until = until
      else fresh.push(t)
    }
    if (fresh.length === 0 || w.size >= this.o.max) return
    fresh.sort((a, b) => rank(this.self, a.ip) - rank(this.self, b.ip))
    for (const t of fresh) {
      if (w.size >= this.o.max) break
      w.set(t.ip, { target: t, until })
    }
  }
}
