// `npm run bench`: runs every suite several times, writes JSON under bench/results/ and BENCHMARKS.md (machine,
// Node version, date, command, median and spread). `--smoke` is a short CI run; `--only a,b` picks suites.
import { readFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { agentMemorySuite } from './agent-memory.ts'
import { apiThroughputSuite } from './api-throughput.ts'
import { gossipBytesSuite } from './gossip-bytes.ts'
import { idleCpuSuite } from './idle-cpu.ts'
import { stream1000Suite } from './stream-1000.ts'
import { legacyScaleSuite } from './legacy-scale.ts'
import { meshTimingSuite } from './mesh-timing.ts'
import { probeRoundSuite } from './probe-round.ts'
import { verdictSimSuite } from './verdict-sim.ts'
import type { Row, Suite } from './suite.ts'

const SUITES: Suite[] = [probeRoundSuite, meshTimingSuite, gossipBytesSuite, agentMemorySuite, idleCpuSuite, stream1000Suite, legacyScaleSuite, apiThroughputSuite, verdictSimSuite]

const { values } = parseArgs({ options: { smoke: { type: 'boolean', default: false }, runs: { type: 'string' }, only: { type: 'string' } } })
const smoke = values.smoke === true
const runs = Number(values.runs ?? (smoke ? 1 : 5))
const only = values.only?.split(',')
const RESULTS = new URL('./results/', import.meta.url)

const fmt = (v: number): string => !Number.isFinite(v) ? '-' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)
const tableOf = (rows: Row[]): string[] => [
  '| figure | median | spread | goal | |',
  '|---|---|---|---|---|',
  ...rows.map(r => `| ${r.figure} | ${fmt(r.median)} ${r.unit} | ${fmt(r.min)} - ${fmt(r.max)} | ${r.goal} | ${r.met === null ? '' : r.met ? 'met' : 'MISSED'} |`)
]

/** What keeps the process waiting, counted by kind ('ProcessWrap x10, Timeout x3'). */
function pending (): string {
  const counts = new Map<string, number>()
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1)
  return [...counts].map(([r, n]) => `${r} x${n}`).join(', ')
}

/** No suite logs less often than this: the longest stretch between two lines is a few minutes. */
const STALL_MS = 20 * 60_000

/**
 * Ends the run when a suite shows no progress for STALL_MS, naming its last line and what the process still waits
 * on, so a wait nobody bounded fails the run instead of hanging it (the agents and nodes exit with their parent).
 */
class StallWatch {
  private readonly suite: string
  private last = 'none yet'
  private timer: NodeJS.Timeout
  constructor (suite: string) { this.suite = suite; this.timer = this.arm() }
  progress (line: string): void { this.last = line; clearTimeout(this.timer); this.timer = this.arm() }
  stop (): void { clearTimeout(this.timer) }
  private arm (): NodeJS.Timeout {
    return setTimeout(() => {
      process.stderr.write(`bench stalled: ${this.suite} logged nothing for ${STALL_MS / 60_000} min; its last line: ${this.last}; ` +
        `pending: ${pending()}\n`)
      process.exit(1)
    }, STALL_MS)
  }
}

interface Saved { meta: Record<string, unknown>, rows: Row[] }

async function main (): Promise<void> {
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus()[0]?.model ?? '?'} x ${cpus().length}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    command: `npm run bench${process.argv.slice(2).length > 0 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    runs
  }
  mkdirSync(RESULTS, { recursive: true })
  let missed = false
  for (const suite of SUITES.filter(s => only === undefined || only.includes(s.name))) {
    process.stdout.write(`# ${suite.title}\n`)
    const stall = new StallWatch(suite.name)
    const rows = await suite.run({ smoke, runs, log: line => { stall.progress(line); process.stdout.write(`  ${line}\n`) } }).finally(() => { stall.stop() })
    for (const line of tableOf(rows).slice(2)) process.stdout.write(line + '\n')
    const saved = { meta: { ...meta, runs: suite.runs ?? runs }, rows }
    writeFileSync(new URL(`${suite.name}${smoke ? '-smoke' : ''}.json`, RESULTS), JSON.stringify(saved, null, 2) + '\n')
    missed ||= rows.some(r => r.met === false)
  }
  if (!smoke) writeMarkdown()
  // a short CI run proves the suites work; goals are judged on full runs only
  if (missed && !smoke) process.exitCode = 1
}

/** Rows BENCHMARKS.md shows: those with a goal, and the floors and baselines they are read against. */
const summaryRows = (rows: Row[]): Row[] => rows.filter(r => r.goal !== '' && r.goal !== 'informative')

/**
 * BENCHMARKS.md, the results page, from the latest full results of every suite (each keeps the date and machine it
 * ran on): per suite its method, its goal rows (or the suite's own summary), and its reading (bench/notes/<suite>.md).
 * Every figure of a suite goes to bench/results/<suite>.md; how the figures came to be, to bench/notes/log/.
 */
function writeMarkdown (): void {
  const out = [
    '# Benchmarks',
    '',
    'Current figures of `npm run bench`: per suite, its method, goals, floors and reading. Each figure is the median of',
    'several runs (min - max); all figures: `bench/results/<suite>.md`; how they came to be: `bench/notes/log/`. The',
    'machines are shared and noisy: where a baseline exists, the goal is a ratio to it in the same run.',
    ''
  ]
  for (const suite of SUITES) {
    const file = new URL(`${suite.name}.json`, RESULTS)
    if (!existsSync(file)) continue
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Saved
    const m = saved.meta
    const when = `${String(m.date).slice(0, 10)}, ${String(m.cpu)}, ${String(m.memory)}, Node ${String(m.node)}, \`${String(m.command)}\` (${String(m.runs)} runs)`
    writeFileSync(new URL(`${suite.name}.md`, RESULTS), [`# ${suite.title}`, '', suite.method, '', `Measured ${when}.`, '', ...tableOf(saved.rows), ''].join('\n'))
    out.push(`## ${suite.title}`, '', suite.method, '', `Measured ${when}; every figure: [bench/results/${suite.name}.md](bench/results/${suite.name}.md).`, '',
      ...(suite.summary?.(saved.rows) ?? tableOf(summaryRows(saved.rows))), '')
    const notes = new URL(`../bench/notes/${suite.name}.md`, import.meta.url)
    if (existsSync(notes)) out.push(readFileSync(notes, 'utf8').trim(), '')
  }
  // measured outside `npm run bench` (the image build): kept as written, with its date
  for (const name of ['image']) {
    const notes = new URL(`../bench/notes/${name}.md`, import.meta.url)
    if (existsSync(notes)) out.push(readFileSync(notes, 'utf8').trim(), '')
  }
  const faults = new URL('fault-scenarios.json', RESULTS)
  if (existsSync(faults)) {
    const f = JSON.parse(readFileSync(faults, 'utf8')) as { date: string, nodes: number, ttlMs: number, figures: Record<string, Record<string, number>> }
    // two scenarios a row keeps the page short; a figure named *_ms is a time, any other a count
    const cells = Object.entries(f.figures).map(([scenario, figs]) => `${scenario} | ${Object.entries(figs).map(([name, v]) => name.endsWith('_ms') ? `${name.slice(0, -3)} ${v} ms` : `${name} ${v}`).join('; ')}`)
    const rows = Array.from({ length: Math.ceil(cells.length / 2) }, (_, i) => `| ${cells[2 * i] ?? ''} | ${cells[2 * i + 1] ?? ' | '} |`)
    out.push('## Fault scenarios (virtual cluster in network namespaces)', '',
      `Seen by the last run of \`test/cluster.test.ts\` (part of \`npm test\`, as root): ${f.nodes} agents in network namespaces,`,
      `TTL ${f.ttlMs} ms, heartbeat 1 s, probe interval 2 s, lease 6 s / renew 4 s / retry 1 s. One run each, not medians.`,
      `Date: ${f.date}.`, '', '| scenario | what was seen after the fault or the heal | scenario | what was seen |', '|---|---|---|---|', ...rows, '')
  }
  writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), out.join('\n'))
}

main().catch((err: unknown) => { process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
