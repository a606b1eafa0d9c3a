// Benchmark: one probe round (ICMP + TCP) to 100 / 500 / 1000 loopback targets, wall and CPU (agent + children);
// plus the ICMP alternatives measured in the same run (one fping batch vs one `ping` process per target).
import { spawn, type ChildProcess } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { dnsProbe } from '../src/probe/dns-probe.ts'
import { fpingRound } from '../src/probe/fping.ts'
import { FpingLauncher } from '../src/probe/fping-launcher.ts'
import { mapLimit } from '../src/probe/limit.ts'
import { runRound } from '../src/probe/round.ts'
import { tcpProbe } from '../src/probe/tcp-probe.ts'
import { procCpuMs, repeat, row, type Row, type Suite } from './suite.ts'

export interface Sample { wallMs: number, cpuMs: number }

/** CPU of this process plus its reaped children (fping), in ms. */
const cpuMs = (): number => procCpuMs(process.pid, true)

export function loopbackTargets (n: number): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.${20 + Math.floor(i / 250)}.${(i % 250) + 1}`)
}

/** A listener in its own process (so its CPU is not counted) accepting on every loopback address. */
export async function startSink (): Promise<{ port: number, child: ChildProcess }> {
  const code = "const s=require('net').createServer(c=>c.destroy());s.listen({port:0,host:'0.0.0.0',backlog:4096},()=>process.send(s.address().port));process.on('disconnect',()=>process.exit(0))"
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const port = await new Promise<number>(resolve => child.once('message', p => { resolve(p as number) }))
  return { port, child }
}

async function measure (fn: () => Promise<void>): Promise<Sample> {
  const c0 = cpuMs()
  const t0 = performance.now()
  await fn()
  return { wallMs: performance.now() - t0, cpuMs: cpuMs() - c0 }
}

/**
 * One full round as the agent runs it: ICMP (3 echoes, fping started from the small shell the agent keeps beside it)
 * + TCP connect to every target. The shell is started and ended inside the measurement, so its CPU and fping's are
 * counted (a child's CPU reaches /proc/self/stat once it has exited).
 */
export async function probeRound (targets: string[], port: number): Promise<Sample> {
  const plan = { host: targets.map(ip => ({ ip, port })), pod: [], sampled: false }
  const launcher = new FpingLauncher('fping')
  return await measure(async () => {
    const r = await runRound(plan, { timeoutMs: 1000, concurrency: 512, service: null }, {
      icmp: async ips => await fpingRound(ips, { path: 'fping', echoes: 3, timeoutMs: 1000, launcher }).finally(async () => { await launcher.stop() }),
      tcp: tcpProbe,
      dns: dnsProbe,
      wallNow: Date.now
    })
    const ok = r.host.filter(p => p.received === p.sent && p.tcp === 'open').length
    if (ok !== targets.length) {
      const icmpLost = r.host.filter(p => p.received < p.sent).length
      const tcp = r.host.filter(p => p.tcp !== 'open').map(p => p.tcp)
      throw new Error(`only ${ok}/${targets.length} targets answered (ICMP short: ${icmpLost}; TCP not open: ${tcp.length} ${[...new Set(tcp)].join(',')})`)
    }
  })
}

/**
 * A sampled agent's round in a cluster of n agents (watch.ts): k peers probed in full on both layers (3 echoes + TCP),
 * the other 2 (n - 1 - k) addresses swept with one echo each, nobody silent.
 */
export async function sampledRound (n: number, k: number, port: number): Promise<Sample> {
  const ips = loopbackTargets(2 * (n - 1))
  const t = (ip: string): { ip: string, port: number } => ({ ip, port })
  const host = ips.slice(0, n - 1).map(t)
  const pod = ips.slice(n - 1).map(t)
  const plan = { host: host.slice(0, k), pod: pod.slice(0, k), sampled: true, sweep: { host: host.slice(k), pod: pod.slice(k) } }
  const launcher = new FpingLauncher('fping')
  return await measure(async () => {
    const r = await runRound(plan, { timeoutMs: 1000, concurrency: 64, service: null, suspect: (ip, e) => e !== undefined && e.received === 0 }, {
      icmp: async (targets, echoes) => await fpingRound(targets, { path: 'fping', echoes: echoes ?? 3, timeoutMs: 1000, launcher }),
      tcp: tcpProbe,
      dns: dnsProbe,
      wallNow: Date.now
    }).finally(async () => { await launcher.stop() })
    if (r.promoted !== 0 || r.echoes.size !== ips.length) throw new Error(`sweep: ${r.promoted} promoted, ${r.echoes.size}/${ips.length} addresses answered`)
  })
}

export async function icmpFping (targets: string[]): Promise<Sample> {
  return await measure(async () => { await fpingRound(targets, { path: 'fping', echoes: 3, timeoutMs: 1000 }) })
}

export async function icmpPingPerTarget (targets: string[]): Promise<Sample> {
  return await measure(async () => {
    await mapLimit(targets, 100, async ip => await new Promise<void>(resolve => {
      const c = spawn('ping', ['-n', '-q', '-c', '3', '-i', '0.01', '-W', '1', ip], { stdio: 'ignore' })
      c.once('close', () => { resolve() })
      c.once('error', () => { resolve() })
    }))
  })
}

export const probeRoundSuite: Suite = {
  name: 'probe-round',
  title: 'Probe round (ICMP + TCP)',
  method: 'Targets are loopback addresses (127.0.20.1 ...); a listener in a separate process accepts the TCP connects so ' +
    'its CPU is not counted; CPU is the benchmark process plus its children (fping, ping) from /proc/self/stat. In a ' +
    'full round fping starts from the small shell the agent keeps beside it (src/probe/fping-launcher.ts), started and ' +
    'ended inside each measured round so that its CPU is counted. ' +
    'The ICMP alternatives are measured in the same run: one fping batch against one `ping` process per target.',
  async run (ctx) {
    const rows: Row[] = []
    const sink = await startSink()
    try {
      for (const n of ctx.smoke ? [100] : [100, 500, 1000]) {
        const samples = await repeat(ctx.runs, async () => await probeRound(loopbackTargets(n), sink.port))
        const big = n === 1000
        rows.push(row(`probe round, ICMP x3 + TCP, ${n} targets: wall`, 'ms', samples.map(s => s.wallMs), big ? '<= 2000 ms' : '', big ? 2000 : null))
        rows.push(row(`probe round, ICMP x3 + TCP, ${n} targets: CPU`, 'ms', samples.map(s => s.cpuMs), big ? '<= 500 ms' : '', big ? 500 : null))
      }
      for (const n of ctx.smoke ? [200] : [1000]) {
        const samples = await repeat(ctx.runs, async () => await sampledRound(n, 10, sink.port))
        const label = `sampled round, ${n} agents: 10 peers in full (both layers) + sweep of ${2 * (n - 11)} addresses x1 echo`
        rows.push(row(`${label}: wall`, 'ms', samples.map(s => s.wallMs), n === 1000 ? '<= 5000 ms' : '', n === 1000 ? 5000 : null))
        rows.push(row(`${label}: CPU`, 'ms', samples.map(s => s.cpuMs), n === 1000 ? '<= 200 ms (2 % of a core at 10 s rounds)' : '', n === 1000 ? 200 : null))
      }
      const n = ctx.smoke ? 100 : 1000
      const targets = loopbackTargets(n)
      const fp = await repeat(ctx.runs, async () => await icmpFping(targets))
      const pp = await repeat(ctx.runs, async () => await icmpPingPerTarget(targets))
      rows.push(row(`ICMP only, ${n} targets x3 echoes, one fping batch: CPU`, 'ms', fp.map(s => s.cpuMs), 'baseline'))
      rows.push(row(`ICMP only, ${n} targets x3 echoes, one ping per target (100 at a time): CPU`, 'ms', pp.map(s => s.cpuMs), 'comparison'))
      rows.push(row(`ICMP only, ${n} targets, ping-per-target CPU / fping CPU`, 'x', pp.map((s, i) => s.cpuMs / Math.max(1, fp[i]?.cpuMs ?? 1)), 'ratio'))
    } finally {
      sink.child.kill()
    }
    return rows
  }
}
