// `npm run bench`: runs the benchmarks several times, writes JSON under bench/results/ and the table in
// BENCHMARKS.md (machine, Node version, date, command, median and spread). `--smoke` is a short CI run.
import { cpus, totalmem } from 'node:os'
import { mkdirSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { icmpFping, icmpPingPerTarget, loopbackTargets, probeRound, startSink, type Sample } from './probe-round.ts'

const { values } = parseArgs({ options: { smoke: { type: 'boolean', default: false }, runs: { type: 'string' } } })
const smoke = values.smoke === true
const runs = Number(values.runs ?? (smoke ? 1 : 5))
const sizes = smoke ? [100] : [100, 500, 1000]

interface Row { figure: string, unit: string, median: number, min: number, max: number, goal: string, met: boolean | null, samples: number[] }

function row (figure: string, unit: string, samples: number[], goal: string, limit: number | null): Row {
  const s = [...samples].sort((a, b) => a - b)
  const median = s[Math.floor(s.length / 2)] ?? NaN
  return { figure, unit, median, min: s[0] ?? NaN, max: s.at(-1) ?? NaN, goal, met: limit === null ? null : median <= limit, samples }
}

async function repeat (fn: () => Promise<Sample>): Promise<Sample[]> {
  const out: Sample[] = []
  await fn() // warm-up, not counted
  for (let i = 0; i < runs; i++) out.push(await fn())
  return out
}

async function main (): Promise<void> {
  const rows: Row[] = []
  const sink = await startSink()
  try {
    for (const n of sizes) {
      const samples = await repeat(async () => await probeRound(loopbackTargets(n), sink.port))
      const big = n === 1000
      rows.push(row(`probe round, ICMP x3 + TCP, ${n} targets: wall`, 'ms', samples.map(s => s.wallMs), big ? '<= 2000 ms' : '', big ? 2000 : null))
      rows.push(row(`probe round, ICMP x3 + TCP, ${n} targets: CPU`, 'ms', samples.map(s => s.cpuMs), big ? '<= 500 ms' : '', big ? 500 : null))
    }
    const n = smoke ? 100 : 1000
    const targets = loopbackTargets(n)
    const fp = await repeat(async () => await icmpFping(targets))
    const pp = await repeat(async () => await icmpPingPerTarget(targets))
    rows.push(row(`ICMP only, ${n} targets x3 echoes, one fping batch: CPU`, 'ms', fp.map(s => s.cpuMs), 'baseline', null))
    rows.push(row(`ICMP only, ${n} targets x3 echoes, one ping per target (100 at a time): CPU`, 'ms', pp.map(s => s.cpuMs), 'comparison', null))
    rows.push(row(`ICMP only, ${n} targets, ping-per-target CPU / fping CPU`, 'x', pp.map((s, i) => s.cpuMs / Math.max(1, fp[i]?.cpuMs ?? 1)), 'ratio', null))
  } finally {
    sink.child.kill()
  }

  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus()[0]?.model ?? '?'} x ${cpus().length}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    command: `npm run bench${smoke ? ' -- --smoke' : ''}`,
    runs
  }
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
  writeFileSync(new URL(`./results/probe-round${smoke ? '-smoke' : ''}.json`, import.meta.url), JSON.stringify({ meta, rows }, null, 2) + '\n')
  const fmt = (v: number): string => v >= 100 ? v.toFixed(0) : v.toFixed(2)
  const table = rows.map(r => `| ${r.figure} | ${fmt(r.median)} ${r.unit} | ${fmt(r.min)} - ${fmt(r.max)} | ${r.goal} | ${r.met === null ? '' : r.met ? 'met' : 'MISSED'} |`)
  for (const line of table) process.stdout.write(line + '\n')
  if (!smoke) {
    writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), [
      '# Benchmarks',
      '',
      'Produced by `npm run bench` (raw samples in `bench/results/`). Each figure is the median of the runs after one',
      'warm-up, with the spread (min - max). Targets are loopback addresses (127.0.20.1 ...); a listener in a separate',
      'process accepts the TCP connects so its CPU is not counted; CPU is the benchmark process plus its children',
      '(fping, ping) from /proc/self/stat.',
      '',
      `- date: ${meta.date}`,
      `- machine: ${meta.cpu}, ${meta.memory}`,
      `- Node: ${meta.node}`,
      `- command: \`${meta.command}\`, ${runs} runs`,
      '',
      '| figure | median | spread | goal | |',
      '|---|---|---|---|---|',
      ...table,
      ''
    ].join('\n'))
  }
  if (rows.some(r => r.met === false)) process.exitCode = 1
}

main().catch((err: unknown) => { process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
