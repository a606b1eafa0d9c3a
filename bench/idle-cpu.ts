// Benchmark: an idle agent's CPU at N=10 with the default intervals, as the image runs it, where it goes (threads,
// GC, probes, the election, a metrics scrape) and the floor under it: bare gossipsub nodes of the same stack (issue 20).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { BUNDLE, buildBundle, getJson, IMAGE_ENV, IMAGE_NODE_FLAGS, startAgentProcess, stopAgentProcess, waitUntil, type AgentProcess } from '../tools/launcher.ts'
import { LeaseStandIn } from '../tools/lease-stand-in.ts'
import { RawCluster } from './mesh-timing.ts'
import { procCpuMs, row, within, type Row, type Suite } from './suite.ts'

const N = 10
/** One scrape of every agent this often, as a Prometheus job would (the share of a scrape is counted at this rate). */
const SCRAPE_EVERY_S = 15
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** /proc/<pid>/stat fields after the command: utime, stime, cutime, cstime are the 12th to 15th; ppid the 2nd. */
const statOf = (path: string): string[] => readFileSync(path, 'utf8').split(') ')[1]?.split(' ') ?? []
const ticks = (f: string[], from: number, to: number): number => f.slice(from, to + 1).reduce((x, v) => x + Number(v), 0)

/** CPU ms of an agent by where it ran: its main thread, V8's helper threads, other threads, and its child processes. */
export interface CpuParts { main: number, v8: number, other: number, children: number }

export function cpuParts (pid: number): CpuParts {
  const parts: CpuParts = { main: 0, v8: 0, other: 0, children: 0 }
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const ms = ticks(statOf(`/proc/${pid}/task/${tid}/stat`), 11, 12) * 10
    const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()
    if (tid === String(pid)) parts.main += ms
    else if (comm.startsWith('V8')) parts.v8 += ms
    else parts.other += ms
  }
  // reaped children, and the live ones with what they reaped (the fping launcher shell and its fpings)
  parts.children = procCpuMs(pid, true) - procCpuMs(pid)
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      const f = statOf(`/proc/${p}/stat`)
      if (Number(f[1]) === pid) parts.children += ticks(f, 11, 14) * 10
    } catch { /* gone meanwhile */ }
  }
  return parts
}

export const totalCpu = (p: CpuParts): number => p.main + p.v8 + p.other + p.children

/** Seconds the main thread spent in GC pauses (prom-client's nodejs_gc_duration_seconds, every kind). */
async function gcSeconds (a: AgentProcess): Promise<number> {
  const text = await (await fetch(`${a.apiUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
  return text.split('\n').filter(l => l.startsWith('nodejs_gc_duration_seconds_sum')).reduce((x, l) => x + Number(l.split(' ').at(-1)), 0)
}

interface GossipHealth { gossip: { sent?: Record<string, number>, sent_bytes?: Record<string, number> } }

/** What an idle cluster runs: probes and the election or not, and the agents' environment, flags and script. */
export interface IdleClusterOptions { probes: boolean, election: boolean, env?: Record<string, string>, nodeFlags?: string[], script?: string }

/** Ten agents on 127.0.8.x as the image runs them, default intervals; with or without probes and the election. */
export class IdleCluster {
  readonly ips = Array.from({ length: N }, (_, i) => `127.0.8.${i + 1}`)
  readonly agents: AgentProcess[] = []
  private readonly apiserver = new LeaseStandIn(this.ips.map((_ip, i) => `token-idle-${i + 1}`))
  private readonly dir = mkdtempSync(join(tmpdir(), 'k8snet-idle-'))

  private readonly opts: IdleClusterOptions

  constructor (opts: IdleClusterOptions) { this.opts = opts }

  async start (): Promise<void> {
    if (this.opts.election) await this.apiserver.start('127.0.0.1', 0)
    for (let i = 0; i < N; i++) {
      const name = `idle-${i + 1}`
      const kubeconfig = join(this.dir, `${name}.kubeconfig`)
      if (this.opts.election) this.apiserver.writeKubeconfig(kubeconfig, `token-${name}`, 'bench')
      this.agents.push(startAgentProcess({
        name,
        ip: this.ips[i] as string,
        peers: this.ips,
        nodeFlags: [...IMAGE_NODE_FLAGS, ...this.opts.nodeFlags ?? []],
        script: this.opts.script ?? BUNDLE,
        env: {
          ...IMAGE_ENV,
          NAMESPACE: 'bench',
          TEST_PORT: '8080',
          LOG_LEVEL: 'warn',
          ...(this.opts.election ? { KUBECONFIG: kubeconfig } : {}),
          // "no probes": one round at the start, the next an hour later (the longest PROBE_INTERVAL)
          ...(this.opts.probes ? {} : { PROBE_INTERVAL: '3600' }),
          ...this.opts.env
        }
      }))
    }
    await Promise.all(this.agents.map(async a => await within(a.ready, 30_000, `${a.name} to start`)))
    await waitUntil('full views', async () => (await Promise.all(this.agents.map(async a => (await getJson<{ view_size: number }>(`${a.apiUrl}/api/v1/health`, 2_000)).view_size))).every(s => s === N), 30_000, 100)
  }

  /** Over `ms`: each agent's CPU parts and main-thread GC seconds, and what each gossiped of its own accord. */
  async window (ms: number): Promise<{ parts: CpuParts[], gc: number[], perS: number, size: number, seconds: number }> {
    const sent = async (): Promise<Array<{ n: number, bytes: number }>> => await Promise.all(this.agents.map(async a => {
      const g = (await getJson<GossipHealth>(`${a.apiUrl}/api/v1/health`, 2_000)).gossip
      const own = ['hb', 'delta', 'full']
      return { n: own.reduce((x, k) => x + (g.sent?.[k] ?? 0), 0), bytes: own.reduce((x, k) => x + (g.sent_bytes?.[k] ?? 0), 0) }
    }))
    const gc0 = await Promise.all(this.agents.map(gcSeconds))
    const sent0 = await sent()
    const cpu0 = this.agents.map(a => cpuParts(a.child.pid ?? -1))
    const t0 = performance.now()
    await sleep(ms)
    const cpu1 = this.agents.map(a => cpuParts(a.child.pid ?? -1))
    const seconds = (performance.now() - t0) / 1000
    const sent1 = await sent()
    const gc1 = await Promise.all(this.agents.map(gcSeconds))
    const parts = cpu1.map((c, i) => {
      const b = cpu0[i] as CpuParts
      return { main: c.main - b.main, v8: c.v8 - b.v8, other: c.other - b.other, children: c.children - b.children }
    })
    const n = sent1.reduce((x, s, i) => x + s.n - (sent0[i]?.n ?? 0), 0)
    const bytes = sent1.reduce((x, s, i) => x + s.bytes - (sent0[i]?.bytes ?? 0), 0)
    return { parts, gc: gc1.map((g, i) => g - (gc0[i] ?? 0)), perS: n / N / seconds, size: n === 0 ? 0 : bytes / n, seconds }
  }

  /** CPU ms one GET /metrics costs an agent (its own CPU over `count` scrapes in a row, less the idle rate meanwhile). */
  async scrapeCostMs (a: AgentProcess, count: number, idlePctOfCore: number): Promise<number> {
    const pid = a.child.pid ?? -1
    const before = procCpuMs(pid)
    const t0 = performance.now()
    for (let i = 0; i < count; i++) await (await fetch(`${a.apiUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
    const idle = (performance.now() - t0) * idlePctOfCore / 100
    return Math.max(0, procCpuMs(pid) - before - idle) / count
  }

  async stop (): Promise<void> {
    await Promise.all(this.agents.map(async a => await stopAgentProcess(a, 'SIGKILL')))
    if (this.opts.election) await this.apiserver.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** % of a core used over `seconds` by `ms` of CPU. */
const pct = (ms: number, seconds: number): number => ms / seconds / 10
const median = (xs: number[]): number => row('', '', xs).median

async function clusterRun (opts: { probes: boolean, election: boolean }, settleMs: number, windowMs: number): Promise<{ c: IdleCluster, w: Awaited<ReturnType<IdleCluster['window']>> }> {
  const c = new IdleCluster(opts)
  try {
    await c.start()
    await sleep(settleMs)
    return { c, w: await c.window(windowMs) }
  } catch (err) {
    await c.stop()
    throw err
  }
}

/** Bare gossipsub nodes (127.0.6.x): CPU % of a core each over `ms`, silent or publishing at a given rate and size. */
async function rawFloor (perS: number, size: number, settleMs: number, ms: number): Promise<number[]> {
  const raw = new RawCluster({ bundled: true })
  try {
    await raw.start()
    if (perS > 0) raw.background(1000 / perS, size)
    await sleep(settleMs)
    const before = raw.nodes.map(n => procCpuMs(n.pid ?? -1))
    const t0 = performance.now()
    await sleep(ms)
    const seconds = (performance.now() - t0) / 1000
    return raw.nodes.map((n, i) => pct(procCpuMs(n.pid ?? -1) - (before[i] ?? 0), seconds))
  } finally {
    raw.stop()
  }
}

export const idleCpuSuite: Suite = {
  name: 'idle-cpu',
  title: 'Idle CPU: an agent at N=10 with the default intervals, where it goes, and the floor under it',
  method: `${N} agents on loopback as the image runs them (the bundle, ${IMAGE_NODE_FLAGS.join(' ')}, its environment), the default ` +
    'intervals (heartbeat 5 s, probes 10 s), electing through the stand-in apiserver; after the views converge and a settling ' +
    'time, CPU over a window from /proc: each thread of each agent (the main thread, V8\'s helper threads, the rest) and its ' +
    'child processes (fping, its launcher shell). GC: the main thread\'s pauses from the agent\'s own nodejs_gc_duration_seconds. ' +
    'Probes and the Kubernetes API: the same cluster again without probe rounds (PROBE_INTERVAL 3600), then without a Kubernetes API (no election, no identity tokens), the ' +
    'share being the difference of the medians. Metrics: the CPU of 50 scrapes of /metrics in a row, at one scrape per ' +
    `${SCRAPE_EVERY_S} s. Floors: ten bare gossipsub nodes of the same stack and flags in a full mesh, silent, then publishing ` +
    'at the rate and mean size the agents gossiped in the window.',
  async run (ctx) {
    const settle = ctx.smoke ? 2_000 : 20_000
    const windowMs = ctx.smoke ? 5_000 : 60_000
    buildBundle()
    const rows: Row[] = []
    const all = await clusterRun({ probes: true, election: true }, settle, windowMs)
    const { w } = all
    const agentPct = w.parts.map(p => pct(totalCpu(p), w.seconds))
    const scrapes: number[] = []
    try {
      for (const a of all.c.agents.slice(0, 3)) scrapes.push(await all.c.scrapeCostMs(a, ctx.smoke ? 5 : 50, median(agentPct)))
    } finally {
      await all.c.stop()
    }
    ctx.log(`all on: ${agentPct.map(x => x.toFixed(2)).join(' ')} % (${w.perS.toFixed(3)} msgs/s an agent, ${w.size.toFixed(0)} B)`)
    const noProbes = await clusterRun({ probes: false, election: true }, settle, windowMs)
    await noProbes.c.stop()
    const noElection = await clusterRun({ probes: true, election: false }, settle, windowMs)
    await noElection.c.stop()
    const without = (r: typeof noProbes): number[] => r.w.parts.map(p => pct(totalCpu(p), r.w.seconds))
    ctx.log(`no probes: ${without(noProbes).map(x => x.toFixed(2)).join(' ')} %; no election: ${without(noElection).map(x => x.toFixed(2)).join(' ')} %`)
    const silent = await rawFloor(0, 0, settle, windowMs)
    const atRate = await rawFloor(w.perS, w.size, settle, windowMs)
    ctx.log(`raw gossipsub: silent ${median(silent).toFixed(2)} %, at the agents' rate ${median(atRate).toFixed(2)} %`)
    const ofCore = '% of a core'
    rows.push(row('agent CPU, N=10, default intervals (as the image runs it)', ofCore, agentPct, '<= 1 % of a core (issue 20)', 1))
    rows.push(row('floor: a bare gossipsub node of the same stack, mesh of ten, publishing at the agents\' rate and size', ofCore, atRate, 'floor'))
    rows.push(row('floor: the same nodes silent (connections and gossipsub heartbeats only)', ofCore, silent, 'floor'))
    rows.push(row('agent / bare gossipsub at the same rate', 'x', [median(agentPct) / median(atRate)], 'ratio'))
    rows.push(row('of it: main thread', ofCore, w.parts.map(p => pct(p.main, w.seconds)), 'informative'))
    rows.push(row('of it: V8 helper threads (concurrent GC marking and sweeping, compiling)', ofCore, w.parts.map(p => pct(p.v8, w.seconds)), 'informative'))
    rows.push(row('of it: child processes (fping)', ofCore, w.parts.map(p => pct(p.children, w.seconds)), 'informative'))
    rows.push(row('of it: GC pauses on the main thread', ofCore, w.gc.map(s => s / w.seconds * 100), 'informative'))
    rows.push(row('of it: probe rounds (with probes - without)', ofCore, [median(agentPct) - median(without(noProbes))], 'informative'))
    rows.push(row('of it: a Kubernetes API (the election; identity tokens fetched and verified), with - without', ofCore, [median(agentPct) - median(without(noElection))], 'informative'))
    rows.push(row(`of it: metrics, one scrape every ${SCRAPE_EVERY_S} s`, ofCore, scrapes.map(ms => ms / SCRAPE_EVERY_S / 10), 'informative'))
    rows.push(row('one GET /metrics: CPU', 'ms', scrapes, 'informative'))
    rows.push(row('own gossip of an agent (heartbeats, deltas, full records)', 'msgs/s', [w.perS], 'informative'))
    return rows
  }
}
