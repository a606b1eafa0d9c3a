// What every benchmark suite returns and how a figure is summarised (median and spread of repeated runs).
import { readFileSync } from 'node:fs'

export interface Row {
  figure: string
  unit: string
  median: number
  min: number
  max: number
  /** The goal as text ('<= 2000 ms', 'baseline', ''). */
  goal: string
  /** Whether the median meets the goal; null when there is no goal. */
  met: boolean | null
  samples: number[]
}

export interface SuiteContext {
  smoke: boolean
  /** Measured runs per figure (after one warm-up where a suite does one). */
  runs: number
  log: (line: string) => void
}

export interface Suite {
  /** File name under bench/results/ and the selector of `npm run bench -- --only name`. */
  name: string
  title: string
  /** How it is measured, a few sentences for BENCHMARKS.md. */
  method: string
  run: (ctx: SuiteContext) => Promise<Row[]>
  /** Runs a suite makes whatever `--runs` asks (a long suite measures once). */
  runs?: number
  /** BENCHMARKS.md's table for this suite, when its goal rows are better read another way (default: those rows). */
  summary?: (rows: Row[]) => string[]
}

/** Summarises samples; `limit` is the goal's bound (median <= limit), or null, or a function for other goals. */
export function row (figure: string, unit: string, samples: number[], goal = '', limit: number | null | ((median: number) => boolean) = null): Row {
  const s = [...samples].filter(x => Number.isFinite(x)).sort((a, b) => a - b)
  const median = s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] as number : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2
  const met = limit === null ? null : typeof limit === 'function' ? limit(median) : median <= limit
  return { figure, unit, median, min: s[0] ?? NaN, max: s.at(-1) ?? NaN, goal, met: s.length === 0 && limit !== null ? false : met, samples }
}

/** The p-th percentile (0..100) of samples, nearest rank. */
export function percentile (samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number
}

/** `p`, or a rejection naming `what` after `ms`: no wait of a benchmark may hang it. */
export async function within<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms) })
  try { return await Promise.race([p, late]) } finally { clearTimeout(timer) }
}

/** Runs `fn` once unmeasured, then `runs` times. */
export async function repeat<T> (runs: number, fn: () => Promise<T>, warmUp = true): Promise<T[]> {
  if (warmUp) await fn()
  const out: T[] = []
  for (let i = 0; i < runs; i++) out.push(await fn())
  return out
}

/**
 * CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat (Linux counts 100 ticks a second);
 * with `reapedChildren`, its waited-for children's too (e.g. an agent's fping). Throws when /proc cannot tell.
 */
export function procCpuMs (pid: number, reapedChildren = false): number {
  // the fields after the command's closing parenthesis: utime, stime, then cutime and cstime, are the 12th to 15th
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  const ticks = (reapedChildren ? [11, 12, 13, 14] : [11, 12]).reduce((x, i) => x + Number(f[i] ?? 0), 0)
  return ticks * 10
}
