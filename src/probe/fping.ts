// ICMP echo for a whole round in one Debian `fping` process: per-target replies and RTTs, parsed from -C output.
import { spawn } from 'node:child_process'

export interface EchoResult { sent: number, received: number, rttsMs: number[] }

export interface FpingOptions {
  path: string
  echoes: number
  timeoutMs: number
  /** Spread the sends of a round over about this long (bounded to 0.1-1 ms between packets). */
  sendWindowMs?: number
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

export async function fpingRound (targets: string[], opts: FpingOptions): Promise<Map<string, EchoResult>> {
  if (targets.length === 0) return new Map()
  const args = [
    '-q', '-C', String(opts.echoes), '-t', String(opts.timeoutMs), '-B', '1', '-r', '0',
    '-i', String(sendInterval(targets.length, opts.echoes, opts.sendWindowMs ?? 600)), '-p', '10', '-f', '-'
  ]
  return await new Promise((resolve, reject) => {
    const child = spawn(opts.path, args, { stdio: ['pipe', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d: string) => { if (err.length < 4 * 1024 * 1024) err += d })
    child.once('error', (e) => { reject(new IcmpUnavailable(`cannot run ${opts.path}: ${e.message}`)) })
    child.once('close', (code) => {
      // 0: all replied, 1: some did not, 2: some address unknown; 3 and 4 are usage and system errors
      if (code !== null && code <= 2) resolve(parseFpingOutput(err, opts.echoes))
      else reject(new IcmpUnavailable(`${opts.path} failed (exit ${code}): ${err.split('\n').slice(0, 2).join(' ').slice(0, 300)}`))
    })
    child.stdin.on('error', () => {})
    child.stdin.end(targets.join('\n') + '\n')
  })
}
