// Benchmark: the real verdict engine (NetworkModel) against simulated ground truth: random single and double faults
// on clusters of 10, 100 and 1000 agents, scored for precision, recall and churn (bench/sim/). Run directly, it
// replays one scenario round by round: node bench/verdict-sim.ts --n 10 --kinds one-way,lossy --seed 123
import { mkdirSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { mulberry32 } from '../test/fixtures.ts'
import { FAULT_KINDS, type FaultKind, SELF_AWARE_KINDS } from './sim/faults.ts'
import { ALLOWANCE, FAULT_ROUNDS, HEALTHY_ROUNDS, replayCommand, runScenario, summary, type ScenarioResult, type ScenarioSpec, type ScoredRound } from './sim/scenario.ts'
import { mean, verdictKey } from './sim/score.ts'
import { SAMPLE_ABOVE } from './sim/world.ts'
import { percentile, row, type Row, type Suite } from './suite.ts'

const SIZES = [10, 100, 1000] as const
/** Scenarios per cell (size x single/double). Kinds are stratified: scenario i's first fault is kind i mod 10. */
const FULL: Record<number, number> = { 10: 60, 100: 40, 1000: 20 }
const SMOKE: Record<number, number> = { 10: 10, 100: 4, 1000: 2 }
const DEFAULT_SEED = 20260304

const SINGLE_GOAL = 0.95
const DOUBLE_GOAL = 0.9

/** A well-mixed 32-bit seed for one scenario. */
export function seedOf (...xs: number[]): number {
  let h = 0x811C9DC5
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x9E3779B1) >>> 0
    h ^= h >>> 15
  }
  return h >>> 0
}

/** The scenarios of one cell: the first fault's kind rotates through every kind, the second is drawn. */
export function cellSpecs (n: number, faults: 1 | 2, scenarios: number, base: number): ScenarioSpec[] {
  return Array.from({ length: scenarios }, (_, i) => {
    const seed = seedOf(base, n, faults, i)
    const first = FAULT_KINDS[i % FAULT_KINDS.length] as FaultKind
    const second = FAULT_KINDS[Math.floor(mulberry32(seed ^ 0x5bd1e995)() * FAULT_KINDS.length)] as FaultKind
    return { n, kinds: faults === 1 ? [first] : [first, second], seed }
  })
}

interface CellFigures { n: number, faults: 1 | 2, scenarios: number, precision: number, recall: number, kindRecall: number, churn: number, steady: number, seconds: number }

const clip = (xs: string[], k = 8): string[] => xs.length > k ? [...xs.slice(0, k), `... (${xs.length} in all)`] : xs
const roundForJson = (x: ScoredRound): unknown => ({
  round: x.round,
  precision: x.precision,
  recall: x.recall,
  falsePositives: clip(x.falsePositives),
  missed: clip(x.missed),
  verdicts: x.verdicts.slice(0, 12).map(v => ({ ...v, culprits: clip(v.culprits) })),
  ...(x.verdicts.length > 12 ? { verdictsShown: x.verdicts.length } : {})
})
/** The scored round that went worst (lowest precision + recall), as printed. */
const worstRound = (rounds: ScoredRound[]): ScoredRound | undefined =>
  [...rounds].sort((a, b) => (a.precision + a.recall) - (b.precision + b.recall))[0]

function missJson (r: ScenarioResult, who: 'main' | 'self'): unknown {
  const o = who === 'main' ? r.main : r.self
  if (o === null) return null
  return {
    n: r.spec.n,
    seed: r.spec.seed,
    replay: replayCommand(r.spec),
    faults: summary(r),
    truth: clip(r.truth),
    observer: `${o.agent}${who === 'self' ? ' (the culprit\'s own agent)' : ''}`,
    precision: o.precision,
    recall: o.recall,
    churn: o.churn,
    worstRound: roundForJson(worstRound(o.rounds) as ScoredRound)
  }
}

/** Per fault kind: scenarios, precision (of the scenarios it is in), recall of its own culprits, and of measured ones. */
function perKind (results: ScenarioResult[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const kind of FAULT_KINDS) {
    const having = results.filter(r => r.spec.kinds.includes(kind))
    const faults = results.flatMap(r => r.perFault.filter(f => f.kind === kind))
    const measured = faults.filter(f => f.measured)
    if (having.length === 0) continue
    out[kind] = {
      scenarios: having.length,
      precision: mean(having.map(r => r.main.precision)),
      recall: mean(faults.map(f => f.recall)),
      kindRecall: mean(faults.map(f => f.kindRecall)),
      measured: `${measured.length} of ${faults.length}`,
      measuredRecall: mean(measured.map(f => f.recall))
    }
  }
  return out
}

const fmt = (x: number): string => Number.isFinite(x) ? x.toFixed(3) : '-'

export const verdictSimSuite: Suite = {
  name: 'verdict-sim',
  title: 'Verdicts against simulated faults (precision, recall, churn)',
  method: 'bench/sim/ simulates a cluster of 10, 100 or 1000 agents in rounds of 10 s (heartbeat 5 s, TTL 15 s, sampling ' +
    'above 100 agents as planRound does). Each scenario draws one or two faults on distinct nodes (node down, group ' +
    'partition, one-way link, flapping node, flapping link, pod network down, TEST_PORT closed, 30 % loss into a node, ' +
    'gossip cut, clock skew; background noise 0.2 % per echo, 0.1 % per connect), produces each agent\'s probe results ' +
    'and what gossip would carry, and runs the real NetworkModel once a round for an observer on the main side (and for ' +
    'the culprit\'s own agent where it must know it is cut off). 3 healthy rounds, 12 faulty; the last 8 are scored. ' +
    'Precision: shown verdicts naming only true culprits; recall: true culprits named; churn: changes of the shown ' +
    'verdict set during a steady fault. Each run is one batch of seeded scenarios (the figure is the batch mean; ' +
    'bench/results/verdict-sim-detail.json has per-kind figures and the worst misses with their replay command).',
  summary: rows => {
    const at = (figure: string): Row | undefined => rows.find(r => r.figure === figure)
    const cellOf = (r: Row | undefined): string => r === undefined ? '-' : `${r.median.toFixed(2)}${r.met === false ? ' MISSED' : ''}`
    const out = [
      '| agents | faults | precision (goal >= 0.95 single, 0.9 double) | recall (same goals) | recall of the faults some probe measured | churn (goal 0) |',
      '|---|---|---|---|---|---|'
    ]
    for (const n of SIZES) {
      for (const kind of ['single', 'double']) {
        const p = `${n} agents, ${kind} fault:`
        out.push(`| ${n} | ${kind} | ${cellOf(at(`${p} precision`))} | ${cellOf(at(`${p} recall`))} | ${cellOf(at(`${p} recall of the faults some probe measured (mean per fault)`))} | ${cellOf(at(`${p} churn (verdict set changes per steady scenario)`))} |`)
      }
    }
    const own = SIZES.map(n => `${n} agents ${cellOf(at(`${n} agents, the culprit's own view (partition, gossip cut, pod network): precision`))} / ${cellOf(at(`${n} agents, the culprit's own view: names itself`))}`)
    out.push('', `The culprit's own view (partition, gossip cut, pod network), precision / names itself (goal >= 0.95): ${own.join('; ')}.`)
    return out
  },
  async run (ctx) {
    const counts = ctx.smoke ? SMOKE : FULL
    const base = Number(process.env.VERDICT_SIM_SEED ?? DEFAULT_SEED)
    ctx.log(`seed ${base} (VERDICT_SIM_SEED); ${HEALTHY_ROUNDS} healthy + ${FAULT_ROUNDS} faulty rounds, scored after ${ALLOWANCE}; scenarios per cell: ${SIZES.map(n => `${n}: ${counts[n] ?? 0}`).join(', ')}`)
    const samples = new Map<string, number[]>()
    const add = (k: string, x: number): void => { samples.set(k, [...(samples.get(k) ?? []), x]) }
    const detailRuns: unknown[] = []
    for (let run = 0; run < ctx.runs; run++) {
      const runSeed = base + run
      const all: ScenarioResult[] = []
      const cells: CellFigures[] = []
      const healthy: Record<number, number> = {}
      for (const n of SIZES) {
        const bySize: ScenarioResult[] = []
        for (const faults of [1, 2] as const) {
          const t0 = performance.now()
          const results = cellSpecs(n, faults, counts[n] ?? 0, runSeed).map(s => runScenario(s))
          const steady = results.filter(r => r.steady)
          const cell: CellFigures = {
            n,
            faults,
            scenarios: results.length,
            precision: mean(results.map(r => r.main.precision)),
            recall: mean(results.map(r => r.main.recall)),
            kindRecall: mean(results.map(r => mean(r.perFault.map(f => f.kindRecall)))),
            churn: mean(steady.map(r => r.main.churn)),
            steady: steady.length,
            seconds: (performance.now() - t0) / 1000
          }
          cells.push(cell)
          bySize.push(...results)
          ctx.log(`${n} agents, ${faults === 1 ? 'single' : 'double'}: ${results.length} scenarios, precision ${fmt(cell.precision)}, recall ${fmt(cell.recall)} ` +
            `(with the right verdict kind: ${fmt(cell.kindRecall)}), ` +
            `churn ${fmt(cell.churn)} (${steady.length} steady) in ${cell.seconds.toFixed(1)} s`)
          const label = `${n} agents, ${faults === 1 ? 'single' : 'double'} fault`
          add(`${label}: precision`, cell.precision)
          add(`${label}: recall`, cell.recall)
          add(`${label}: churn`, cell.churn)
          add(`${label}: right kind`, cell.kindRecall)
          // above SAMPLE_ABOVE a link is probed by few agents: recall of the faults some probe measured
          add(`${label}: measured`, mean(results.flatMap(r => r.perFault.filter(f => f.measured).map(f => f.recall))))
        }
        // the culprit's own view, single and double scenarios pooled
        const selfViews = bySize.flatMap(r => r.self === null ? [] : [r.self])
        add(`${n} agents, the culprit's own view: precision`, mean(selfViews.map(s => s.precision)))
        add(`${n} agents, the culprit's own view: names itself`, mean(selfViews.map(s => s.recall)))
        // noise alone: a healthy cluster for the same rounds
        const quiet = cellSpecs(n, 1, Math.max(2, Math.ceil((counts[n] ?? 0) / 5)), runSeed ^ 0x7ea1).map(s => runScenario({ ...s, kinds: [] }))
        healthy[n] = mean(quiet.map(r => mean(r.main.rounds.map(x => x.verdicts.length))))
        add(`${n} agents, healthy cluster (noise only): verdicts shown per round`, healthy[n])
        ctx.log(`${n} agents: culprit's own view names itself in ${fmt(mean(selfViews.map(s => s.recall)))} (${selfViews.length} scenarios); ` +
          `healthy cluster: ${fmt(healthy[n])} verdicts per round`)
        ctx.log('  per kind, single and double scenarios pooled (precision of the scenarios it is in; recall of its own culprits):')
        for (const [kind, k] of Object.entries(perKind(bySize))) {
          const f = k as { scenarios: number, precision: number, recall: number, kindRecall: number, measured: string, measuredRecall: number }
          ctx.log(`  ${n} agents, ${kind}: precision ${fmt(f.precision)}, recall ${fmt(f.recall)}, with the right kind ${fmt(f.kindRecall)} ` +
            `(measured ${f.measured}: ${fmt(f.measuredRecall)}), ${f.scenarios} scenarios`)
        }
        if (n === 1000) add('model tick, 1000 agents: CPU per tick (median)', percentile(bySize.flatMap(r => r.tickCpuMs), 50))
        all.push(...bySize)
      }
      const score = (r: ScenarioResult): number => r.main.precision + r.main.recall
      const worst = SIZES.flatMap(n => all.filter(r => r.spec.n === n && score(r) < 2).sort((a, b) => score(a) - score(b)).slice(0, 6))
      const worstSelf = all.filter(r => r.self !== null && r.self.precision + r.self.recall < 2)
        .sort((a, b) => ((a.self?.precision ?? 0) + (a.self?.recall ?? 0)) - ((b.self?.precision ?? 0) + (b.self?.recall ?? 0))).slice(0, 8)
      for (const r of worst.slice(0, 12)) ctx.log(`miss: ${r.spec.n} agents, ${summary(r)}: precision ${fmt(r.main.precision)}, recall ${fmt(r.main.recall)}; ${replayCommand(r.spec)}`)
      detailRuns.push({
        seed: runSeed,
        cells,
        healthyVerdictsPerRound: healthy,
        perKind: Object.fromEntries(SIZES.map(n => [n, {
          single: perKind(all.filter(r => r.spec.n === n && r.spec.kinds.length === 1)),
          double: perKind(all.filter(r => r.spec.n === n && r.spec.kinds.length === 2))
        }])),
        selfView: Object.fromEntries(SIZES.map(n => [n, Object.fromEntries(SELF_AWARE_KINDS.map(kind => {
          const s = all.filter(r => r.spec.n === n && r.self?.kind === kind).map(r => r.self)
          return [kind, { scenarios: s.length, precision: mean(s.map(x => x?.precision ?? NaN)), namesItself: mean(s.map(x => x?.recall ?? NaN)) }]
        }))])),
        worstMisses: worst.map(r => missJson(r, 'main')),
        worstSelfMisses: worstSelf.map(r => missJson(r, 'self'))
      })
    }
    const results = new URL('./results/', import.meta.url)
    mkdirSync(results, { recursive: true })
    writeFileSync(new URL(`verdict-sim-detail${ctx.smoke ? '-smoke' : ''}.json`, results), JSON.stringify({ date: new Date().toISOString(), runs: detailRuns }, null, 2) + '\n')

    const rows: Row[] = []
    for (const n of SIZES) {
      for (const faults of ['single', 'double'] as const) {
        const goal = faults === 'single' ? SINGLE_GOAL : DOUBLE_GOAL
        const label = `${n} agents, ${faults} fault`
        rows.push(row(`${label}: precision`, '', samples.get(`${label}: precision`) ?? [], `>= ${goal}`, m => m >= goal))
        rows.push(row(`${label}: recall`, '', samples.get(`${label}: recall`) ?? [], `>= ${goal}`, m => m >= goal))
        if (n > SAMPLE_ABOVE) rows.push(row(`${label}: recall of the faults some probe measured (mean per fault)`, '', samples.get(`${label}: measured`) ?? [], 'informative'))
        rows.push(row(`${label}: recall by a verdict of the right kind (mean per fault)`, '', samples.get(`${label}: right kind`) ?? [], 'informative'))
        rows.push(row(`${label}: churn (verdict set changes per steady scenario)`, '', samples.get(`${label}: churn`) ?? [], '0', 0))
      }
      rows.push(row(`${n} agents, the culprit's own view (partition, gossip cut, pod network): precision`, '', samples.get(`${n} agents, the culprit's own view: precision`) ?? [], `>= ${SINGLE_GOAL}`, m => m >= SINGLE_GOAL))
      rows.push(row(`${n} agents, the culprit's own view: names itself`, '', samples.get(`${n} agents, the culprit's own view: names itself`) ?? [], `>= ${SINGLE_GOAL}`, m => m >= SINGLE_GOAL))
      rows.push(row(`${n} agents, healthy cluster (noise only): verdicts shown per round`, '', samples.get(`${n} agents, healthy cluster (noise only): verdicts shown per round`) ?? [], 'informative'))
    }
    rows.push(row('model tick, 1000 agents: CPU per tick (median)', 'ms', samples.get('model tick, 1000 agents: CPU per tick (median)') ?? [], 'informative'))
    return rows
  }
}

/** Replays one scenario, printing what the model shows each round against the truth. */
function replay (): void {
  const { values } = parseArgs({ options: { n: { type: 'string', default: '10' }, kinds: { type: 'string', default: 'node-down' }, seed: { type: 'string', default: '1' }, raw: { type: 'boolean', default: false } } })
  const kinds = (values.kinds ?? '').split(',').filter(k => k !== '') as FaultKind[]
  for (const k of kinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new Error(`unknown kind ${k}; kinds: ${FAULT_KINDS.join(', ')}`)
  const spec: ScenarioSpec = { n: Number(values.n), kinds, seed: Number(values.seed) }
  const line = (v: { kind: string, subject: string, culprits: string[], observer?: boolean }): string =>
    `${verdictKey(v)} -> [${clip(v.culprits, 6).join(', ')}]${v.observer === true ? ' (observer)' : ''}`
  const r = runScenario(spec, {
    onRound: (who, round, shown, raw) => {
      const phase = round < HEALTHY_ROUNDS ? 'healthy' : round < HEALTHY_ROUNDS + ALLOWANCE ? 'allowance' : 'scored'
      process.stdout.write(`[${who}] round ${round} (${phase}): ${shown.length === 0 ? 'no verdict' : ''}\n`)
      for (const v of shown) process.stdout.write(`    ${line(v)}\n`)
      if (values.raw === true) for (const v of raw) process.stdout.write(`    raw: ${line(v)}\n`)
    }
  })
  process.stdout.write(`faults: ${summary(r)}\ntruth: ${clip(r.truth, 12).join(', ')}\n`)
  process.stdout.write(`main observer ${r.main.agent}: precision ${fmt(r.main.precision)}, recall ${fmt(r.main.recall)}, churn ${r.main.churn}\n`)
  if (r.self !== null) process.stdout.write(`culprit's own view ${r.self.agent}: precision ${fmt(r.self.precision)}, names itself ${fmt(r.self.recall)}\n`)
}

if (import.meta.main) replay()
