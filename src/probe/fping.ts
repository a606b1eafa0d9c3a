// ICMP echo for a whole round in one Debian `fping` process: per-target replies and RTTs, parsed from -C output.
import { spawn } from 'node:child_process'
import type { FpingLauncher } from './fping-launcher.ts'

export interface EchoResult { sent: number, received: number, rttsMs: number[] }

export interface FpingOptions {
  path: string
  echoes: number
  timeoutMs: number
  /** Spread the sends of a round over about this long (bounded to 0.1-1 ms between packets). */
  sendWindowMs?: number
  /** Start fping through this long-lived shell instead of forking the agent (see fping-launcher.ts). */
  launcher?: FpingLauncher
}

/** Why ICMP could not be measured at all this round (missing binary, no CAP_NET_RAW...). */
export class IcmpUnavailable extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'IcmpUnavailable'
  }
}

const LINE = /^(\S+)\s+:((?:\s+(?:[0-9.]+|-))+)\s*$/

/** Parses fping's `-C` summary lines: "10.0.0.1 : 0.31 - 0.29" (one column per echo, "-" for a lost one). */
export function parseFpingOutput (text: string, echoes: number): Map<string, EchoResult> {
  const out = new Map<string, EchoResult>()
  for (const line of text.split('\n')) {
    const m = LINE.exec(line)
    if (m === null) continue
    const cols = (m[2] ?? '').trim().split(/\s+/)
    if (cols.length !== echoes) continue
    const rttsMs = cols.filter(c => c !== '-').map(Number).filter(n => Number.isFinite(n) && n >= 0)
    out.set(m[1] ?? '', { sent: echoes, received: rttsMs.length, rttsMs })
  }
  return out
}

/** fping's -i: the gap between any two sends, so a round's sends fit the window without flooding. */
export function sendInterval (targets: number, echoes: number, windowMs: number): number {
  const per = windowMs / Math.max(1, targets * echoes)
  return Math.min(1, Math.max(0.1, Math.round(per * 100) / 100))
}

/** fping's exit: 0 all replied, 1 some did not, 2 some address unknown; 3 and 4 are usage and system errors. */
function outcome (path: string, code: number | null, output: string, echoes: number): Map<string, EchoResult> {
  if (code !== null && code <= 2) return parseFpingOutput(output, echoes)
  const why = code === 126 || code === 127 ? 'cannot run' : `failed (exit ${code})`
  throw new IcmpUnavailable(`${path} ${why}: ${output.split('\n').slice(0, 2).join(' ').slice(0, 300)}`)
}

export async function fpingRound (targets: string[], opts: FpingOptions): Promise<Map<string, EchoResult>> {
  if (targets.length === 0) return new Map()
  const base = [
    '-q', '-C', String(opts.echoes), '-t', String(opts.timeoutMs), '-B', '1', '-r', '0',
    '-i', String(sendInterval(targets.length, opts.echoes, opts.sendWindowMs ?? 600)), '-p', '10'
  ]
  if (opts.launcher !== undefined) {
    // the longest a round can take: every send spaced out, then each echo's timeout; plus slack for a busy machine
    const bound = targets.length * opts.echoes + opts.echoes * (opts.timeoutMs + 10) + 10_000
    let run
    try {
      run = await opts.launcher.run([...base, ...targets], bound)
    } catch (err) {
      throw new IcmpUnavailable(`cannot run ${opts.path}: ${(err as Error).message}`)
    }
    return outcome(opts.path, run.code, run.output, opts.echoes)
  }
  const args = [...base, '-f', '-']
  return await new Promise((resolve, reject) => {
    const child = spawn(opts.path, args, { stdio: ['pipe', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d: string) => { if (err.length < 4 * 1024 * 1024) err += d })
    child.once('error', (e) => { reject(new IcmpUnavailable(`cannot run ${opts.path}: ${e.message}`)) })
    child.once('close', (code) => {
      try { resolve(outcome(opts.path, code, err, opts.echoes)) } catch (e) { reject(e instanceof Error ? e : new Error(String(e))) }
    })
    child.stdin.on('error', () => {})
    child.stdin.end(targets.join('\n') + '\n')
  })
}
