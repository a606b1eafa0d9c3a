// `npm run bench`: runs every suite several times, writes JSON under bench/results/ and BENCHMARKS.md (machine,
// Node version, date, command, median and spread). `--smoke` is a short CI run; `--only a,b` picks suites.
import { readFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { agentMemorySuite } from './agent-memory.ts'
import { apiThroughputSuite } from './api-throughput.ts'
import { gossipBytesSuite } from './gossip-bytes.ts'
import { legacyScaleSuite } from './legacy-scale.ts'
import { meshTimingSuite } from './mesh-timing.ts'
import { probeRoundSuite } from './probe-round.ts'
import { verdictSimSuite } from './verdict-sim.ts'
import type { Row, Suite } from './suite.ts'

const SUITES: Suite[] = [probeRoundSuite, meshTimingSuite, gossipBytesSuite, agentMemorySuite, legacyScaleSuite, apiThroughputSuite, verdictSimSuite]

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
    writeFileSync(new URL(`${suite.name}${smoke ? '-smoke' : ''}.json`, RESULTS), JSON.stringify({ meta, rows }, null, 2) + '\n')
    missed ||= rows.some(r => r.met === false)
  }
  if (!smoke) writeMarkdown()
  // a short CI run proves the suites work; goals are judged on full runs only
  if (missed && !smoke) process.exitCode = 1
}

/** BENCHMARKS.md from the latest full results of every suite (each keeps the date and machine it ran on). */
function writeMarkdown (): void {
  const out = [
    '# Benchmarks',
    '',
    'Produced by `npm run bench` (raw samples in `bench/results/`). Each figure is the median of several runs (after',
    'one warm-up where it makes sense), with the spread (min - max). Goals come from the issues; where one is missed,',
    'the section says why and what remains. Figures are ratios to a baseline of the same run where one exists: these',
    'machines are shared and noisy.',
    ''
  ]
  for (const suite of SUITES) {
    const file = new URL(`${suite.name}.json`, RESULTS)
    if (!existsSync(file)) continue
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Saved
    const m = saved.meta
    out.push(`## ${suite.title}`, '', suite.method, '',
      `- date: ${String(m.date)}; machine: ${String(m.cpu)}, ${String(m.memory)}; Node ${String(m.node)}`,
      `- command: \`${String(m.command)}\`, ${String(m.runs)} runs`, '', ...tableOf(saved.rows), '')
    const notes = new URL(`../bench/notes/${suite.name}.md`, import.meta.url)
    if (existsSync(notes)) out.push(readFileSync(notes, 'utf8').trim(), '')
  }
  // measured outside `npm run bench` (the image build, the container cluster): kept as written, with their dates
  for (const name of ['image']) {
    const notes = new URL(`../bench/notes/${name}.md`, import.meta.url)
    if (existsSync(notes)) out.push(readFileSync(notes, 'utf8').trim(), '')
  }
  const faults = new URL('fault-scenarios.json', RESULTS)
  if (existsSync(faults)) {
    const f = JSON.parse(readFileSync(faults, 'utf8')) as { date: string, nodes: number, ttlMs: number, figures: Record<string, Record<string, number>> }
    out.push('## Fault scenarios (virtual cluster in network namespaces)', '',
      `Seen by the last run of \`test/cluster.test.ts\` (part of \`npm test\`, as root): ${f.nodes} agents in network namespaces,`,
      `TTL ${f.ttlMs} ms, heartbeat 1 s, probe interval 2 s, lease 6 s / renew 4 s / retry 1 s. One run each, not medians.`,
      `Date: ${f.date}.`, '', '| scenario | figure | ms |', '|---|---|---|')
    for (const [scenario, figs] of Object.entries(f.figures)) {
      for (const [name, ms] of Object.entries(figs)) out.push(`| ${scenario} | ${name} | ${ms} |`)
    }
    out.push('')
  }
  writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), out.join('\n'))
}

main().catch((err: unknown) => { process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
