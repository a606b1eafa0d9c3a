// One seeded scenario: healthy rounds, then the faults, the real NetworkModel ticking per observer, scored per round.
import { modelOptions, NetworkModel } from '../../src/report/network-model.ts'
import { mulberry32 } from '../../test/fixtures.ts'
import { describe, drawFaults, EXPECTED_VERDICTS, type Fault, type FaultKind, nodeName, podName, SELF_AWARE_KINDS } from './faults.ts'
import { ObserverView } from './observer.ts'
import { churn, mean, namedFraction, namesSelf, scoreRound, type Shown } from './score.ts'
import { PROBE_MS, SAMPLE_ABOVE, SAMPLE_HOLD, World } from './world.ts'

export const HEALTHY_ROUNDS = 3
export const FAULT_ROUNDS = 12
/** Rounds after the fault starts that are not scored (the model's hysteresis needs about three). */
export const ALLOWANCE = 4
/** Evidence is current while its source was heard within 2.5 heartbeats (agent.ts). */
export const FRESH_MS = 12_500

/** agent.ts: stale after the longest a result may stand unrefreshed (full refresh, or a held sample) plus 3 rounds. */
export const staleAfterMs = (n: number): number => Math.max(60_000, n > SAMPLE_ABOVE ? (SAMPLE_HOLD + 1) * PROBE_MS : 0) + 3 * PROBE_MS

export interface ScenarioSpec { n: number, kinds: FaultKind[], seed: number }

export interface PrintedVerdict { kind: string, subject: string, culprits: string[], observer?: true }

export interface ScoredRound {
  round: number
  precision: number
  recall: number
  falsePositives: string[]
  missed: string[]
  verdicts: PrintedVerdict[]
}

export interface ObserverResult {
  agent: string
  /** Means over the scored rounds. */
  precision: number
  recall: number
  /** Changes of the shown verdict set over the scored rounds. */
  churn: number
  rounds: ScoredRound[]
}

export interface ScenarioResult {
  spec: ScenarioSpec
  faults: Fault[]
  truth: string[]
  /** The Lease holder's view: an agent on the main side that is not a culprit. */
  main: ObserverResult
  /** The culprit's own view (a self-aware fault's agent): recall is whether it names itself. */
  self: (ObserverResult & { kind: FaultKind }) | null
  /**
   * Per fault, as the main observer sees it (means over scored rounds): the fraction of its culprits named by any
   * verdict, and by a verdict of the kind that diagnoses it (EXPECTED_VERDICTS); whether any probe measured it.
   */
  perFault: Array<{ kind: FaultKind, recall: number, kindRecall: number, measured: boolean }>
  /** Whether every fault holds steadily (no flapping): churn counts only then. */
  steady: boolean
  /** CPU per model tick, ms (every observer, every round). */
  tickCpuMs: number[]
}

const printed = (v: Shown): PrintedVerdict => ({ kind: v.kind, subject: v.subject, culprits: [...v.culprits], ...(v.observer === true ? { observer: true as const } : {}) })

/** The command that replays one scenario round by round. */
export const replayCommand = (s: ScenarioSpec): string => `node bench/verdict-sim.ts --n ${s.n} --kinds ${s.kinds.join(',')} --seed ${s.seed}`

export interface RunOptions {
  /** Called for every round of every observer (replay). */
  onRound?: (who: 'main' | 'self', round: number, shown: readonly Shown[], raw: readonly Shown[]) => void
}

export function runScenario (spec: ScenarioSpec, opts: RunOptions = {}): ScenarioResult {
  const rng = mulberry32(spec.seed)
  const faults = drawFaults(spec.kinds, spec.n, rng, FAULT_ROUNDS)
  const truth = [...new Set(faults.flatMap(f => f.culprits))]
  const world = new World({ n: spec.n, faults, faultStart: HEALTHY_ROUNDS, rng, epochRound: 2_900_000 + Math.floor(rng() * SAMPLE_HOLD), wallEpoch: Date.UTC(2026, 2, 4) })
  const involved = new Set(faults.flatMap(f => f.nodes))
  const candidates = Array.from({ length: spec.n }, (_, i) => i + 1).filter(i => !involved.has(i))
  const mainAgent = candidates[Math.floor(rng() * candidates.length)]
  if (mainAgent === undefined) throw new Error(`no agent outside the faults in a cluster of ${spec.n}`)
  const selfFault = faults.find(f => SELF_AWARE_KINDS.includes(f.kind))
  const selfAgent = selfFault?.nodes[Math.floor(rng() * selfFault.nodes.length)]

  const observers = [
    { who: 'main' as const, agent: mainAgent },
    ...(selfAgent === undefined ? [] : [{ who: 'self' as const, agent: selfAgent }])
  ].map(o => ({
    ...o,
    view: new ObserverView(world, o.agent, Math.floor(rng() * PROBE_MS), mulberry32(spec.seed ^ (o.agent * 0x9E3779B1))),
    model: new NetworkModel(modelOptions(PROBE_MS, FRESH_MS, { staleAfterMs: staleAfterMs(spec.n) })),
    rounds: [] as ScoredRound[],
    shown: [] as Shown[][],
    perFault: faults.map(() => [] as number[]),
    perFaultKind: faults.map(() => [] as number[])
  }))
  const tickCpuMs: number[] = []
  const scoreFrom = HEALTHY_ROUNDS + ALLOWANCE
  for (let r = 0; r < HEALTHY_ROUNDS + FAULT_ROUNDS; r++) {
    world.step()
    for (const o of observers) {
      const input = o.view.tick(r)
      const c0 = process.cpuUsage()
      const shown = o.model.tick(input)
      const c = process.cpuUsage(c0)
      tickCpuMs.push((c.user + c.system) / 1000)
      opts.onRound?.(o.who, r, shown, o.model.rawVerdicts)
      if (r < scoreFrom) continue
      const s = scoreRound(shown, truth)
      const recall = o.who === 'main' ? s.recall : namesSelf(shown, nodeName(o.agent)) ? 1 : 0
      o.rounds.push({ round: r, precision: s.precision, recall, falsePositives: s.falsePositives, missed: o.who === 'main' ? s.missed : recall === 1 ? [] : [nodeName(o.agent)], verdicts: shown.map(printed) })
      o.shown.push([...shown])
      faults.forEach((f, k) => {
        o.perFault[k]?.push(namedFraction(shown, f.culprits))
        o.perFaultKind[k]?.push(namedFraction(shown.filter(v => EXPECTED_VERDICTS[f.kind].includes(v.kind)), f.culprits))
      })
    }
  }
  const result = (o: typeof observers[number]): ObserverResult => ({
    agent: podName(o.agent),
    precision: mean(o.rounds.map(x => x.precision)),
    recall: mean(o.rounds.map(x => x.recall)),
    churn: churn(o.shown),
    rounds: o.rounds
  })
  const main = observers[0] as typeof observers[number]
  const self = observers[1]
  return {
    spec,
    faults,
    truth,
    main: result(main),
    self: self === undefined || selfFault === undefined ? null : { ...result(self), kind: selfFault.kind },
    perFault: faults.map((f, k) => ({ kind: f.kind, recall: mean(main.perFault[k] ?? []), kindRecall: mean(main.perFaultKind[k] ?? []), measured: world.measured[k] ?? true })),
    steady: !faults.some(f => f.kind === 'flapping-node' || f.kind === 'flapping-link'),
    tickCpuMs
  }
}

/** The scenario in one line. */
export const summary = (r: ScenarioResult): string => `${r.faults.map(describe).join(' + ')}`
