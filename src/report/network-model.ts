// Pure (time passed in): the reachability model over time. Each tick takes the view as this agent holds it, records
// every pair's state in its history, builds the evidence from settled states, runs the verdict engine and
// stabilises the result. Every agent ticks, so every API answers from the same model the reporter prints.
import type { AgentRecord, Layer } from '../core/record.ts'
import { buildEvidence, type Edge, type KnownAgent } from './evidence.ts'
import { exclusionsOf, onExcludedNode } from './exclusions.ts'
import { PairHistory, type PairSummary } from './pair-history.ts'
import { VerdictStabiliser } from './stabiliser.ts'
import { predecessorsOf } from './succession.ts'
import { analyseFully, DEFAULT_VERDICT_OPTIONS, type LostAgent, type Verdict, type VerdictOptions } from './verdicts.ts'

export interface ModelOptions {
  /** A member heard within this long counts as current evidence (a few heartbeats, at most the TTL). */
  freshMs: number
  /** Observations in a row a pair's new state needs (hysteresis on evidence). */
  confirm: number
  /** Evaluations in a row a verdict needs to be raised, and to be cleared. */
  raise: number
  clear: number
  /** The flapping window and how many flips within it make a pair flapping. */
  flapWindowMs: number
  flapMin: number
  verdict: VerdictOptions
}

/**
 * Defaults for an agent probing every `probeMs`: the window spans twelve rounds, flapping is three flips in it; members
 * falling silent within half the freshness span (about a heartbeat) of each other fell silent together.
 */
/** How long a quiet pair (nothing but its first settled state) outlives its last observation. */
export const QUIET_FORGET_MS = 300_000

export function modelOptions (probeMs: number, freshMs: number, verdict: Partial<VerdictOptions> = {}): ModelOptions {
  return { freshMs, confirm: 2, raise: 2, clear: 2, flapWindowMs: 12 * probeMs, flapMin: 3, verdict: { ...DEFAULT_VERDICT_OPTIONS, togetherMs: freshMs / 2, ...verdict } }
}

export interface TickInput {
  /** The observer's monotonic clock, ms. */
  now: number
  /** The observer's wall clock (display only). */
  wallNow: number
  self: string | null
  live: Array<{ record: AgentRecord, silentMs: number }>
  lost: LostAgent[]
  /** Each origin's clock minus this agent's, ms, where estimated. */
  skewMs?: ReadonlyMap<string, number>
  /** The Lease's word on the agents this one cannot reach (see ElectionSupervisor.othersAlive). */
  othersAlive?: boolean | null
  /** Nodes Kubernetes has set aside (exclusions.ts): their agents are left out of the model; default: from `live`. */
  excluded?: ReadonlyMap<string, string>
}

export class NetworkModel {
  readonly o: ModelOptions
  readonly history: PairHistory
  private readonly stabiliser: VerdictStabiliser
  private shown: Verdict[] = []
  private raw: Verdict[] = []
  /** Ticks in a row the observer found itself on the cut-off side (by the mesh's evidence alone). */
  private cutTicks = 0
  /** Per origin: the newest probe time its results carry (its own clock) and when that last advanced (ours). */
  private readonly advanced = new Map<string, { newest: number, at: number }>()
  ticks = 0
  lastTickAt: number | null = null
  /** The excluded nodes of the last tick (node name -> why). */
  excludedNow: ReadonlyMap<string, string> = new Map()

  /** `events`: where settled changes of pairs are counted as they happen (the metrics). */
  constructor (o: ModelOptions, events?: { pathChange: (layer: Layer) => void }) {
    this.o = o
    this.history = new PairHistory({
      confirm: o.confirm,
      flapWindowMs: o.flapWindowMs,
      flapMin: o.flapMin,
      keep: 16,
      forgetMs: Math.max(10 * o.flapWindowMs, 600_000),
      // as long as a lost member is remembered (20 TTL at the defaults): its last word keeps its settled states
      quietForgetMs: QUIET_FORGET_MS,
      ...(events === undefined ? {} : { onChange: (layer: Layer) => { events.pathChange(layer) } })
    })
    this.stabiliser = new VerdictStabiliser({ raise: o.raise, clear: o.clear })
  }

  /** One evaluation: returns the verdicts shown from now on. */
  tick (input: TickInput): Verdict[] {
    const { now, wallNow } = input
    const excluded = input.excluded ?? exclusionsOf(input.live.map(a => a.record))
    this.excludedNow = excluded
    // one agent per node: a silent record that a later-heard one on its node outlived is its predecessor, not a fault
    const predecessors = predecessorsOf([...input.live, ...input.lost], input.self, this.o.freshMs)
    const judged = (r: AgentRecord): boolean => !onExcludedNode(r, excluded, input.self) && !predecessors.has(r.identity.podName)
    const agents: KnownAgent[] = [
      ...input.live.filter(a => judged(a.record)).map(a => ({ record: a.record, silentMs: a.silentMs, lost: false })),
      ...input.lost.filter(l => judged(l.record)).map(l => ({ record: l.record, silentMs: l.silentMs, lost: true }))
    ]
    // a fresh source's measurement is an observation; a silent one's last word stands as it was last settled (the
    // edge is this tick's own: changed in place, 40k of them a tick at 1000 agents)
    const edge = (raw: Edge): Edge | null => {
      if (!raw.fresh) {
        raw.state = this.history.settled(raw.layer, raw.source, raw.target) ?? raw.state
        return raw
      }
      const r = raw.result
      const settled = this.history.observe(raw.layer, raw.source, raw.target, raw.state, now, wallNow, r.sent > 0 ? 1 - r.received / r.sent : null, r)
      if (settled === null) return null
      raw.state = settled
      raw.loss = this.history.loss(raw.layer, raw.source, raw.target)
      return raw
    }
    const flaps = this.history.flapping(now)
    // what was last known of pairs a silent member's last record no longer carries (taken before this tick observes)
    const silent = new Set(agents.filter(a => a.lost || a.silentMs > this.o.freshMs).map(a => a.record.identity.podName))
    const remembered = this.history.remembered(now, silent)
    const evidence = buildEvidence(input.self, agents, { freshMs: this.o.freshMs, edge, remembered }, {
      flaps,
      flapWindowMs: this.o.flapWindowMs,
      resultsAgeMs: this.resultsAges(input),
      skewMs: new Map(input.skewMs ?? []),
      othersAlive: input.othersAlive ?? null
    })
    const a = analyseFully(evidence, this.o.verdict)
    this.raw = a.verdicts
    this.cutTicks = a.observerCut ? this.cutTicks + 1 : 0
    this.shown = this.stabiliser.update(this.raw, now)
    this.history.prune(now)
    this.ticks++
    this.lastTickAt = now
    return this.shown
  }

  /** The verdicts shown (stabilised). */
  get verdicts (): Verdict[] { return this.shown }
  /** The last evaluation's verdicts before stabilising (for tests and the simulator's diagnostics). */
  get rawVerdicts (): Verdict[] { return this.raw }
  /** How long a shown verdict has held, ms. */
  heldMs (v: Verdict, now: number): number | null {
    const since = this.stabiliser.since(v)
    return since === undefined ? null : now - since
  }

  /**
   * Whether the observer is on the cut-off side (isolated, the smaller side of a partition, its gossip or pod network
   * cut, flapping), by the mesh's own evidence for as many ticks as a verdict needs: the witness's later word changes
   * the verdicts, never this.
   */
  observerCutOff (): boolean { return this.cutTicks >= this.o.raise }

  pairs (now: number, filter: { layer?: Layer, source?: string, target?: string } = {}): PairSummary[] {
    return this.history.summaries(now, filter)
  }

  /** Since each live origin's probe results last advanced, on this agent's monotonic clock. */
  private resultsAges (input: TickInput): Map<string, number> {
    const ages = new Map<string, number>()
    const seen = new Set<string>()
    for (const { record } of input.live) {
      const name = record.identity.podName
      seen.add(name)
      let newest = 0
      for (const layer of ['host', 'pod'] as const) for (const r of record.results[layer].values()) if (r.checkedAt > newest) newest = r.checkedAt
      if (newest === 0) continue
      const held = this.advanced.get(name)
      // the origin's clock is compared only with itself, and only for a change: another stamp means another round,
      // whatever the offset (and a clock stepped back still moves on)
      if (held === undefined || newest !== held.newest) this.advanced.set(name, { newest, at: input.now })
      ages.set(name, input.now - (this.advanced.get(name)?.at ?? input.now))
    }
    for (const name of this.advanced.keys()) if (!seen.has(name)) this.advanced.delete(name)
    if (input.self !== null) ages.delete(input.self)
    return ages
  }
}
