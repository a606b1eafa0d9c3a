// Benchmark: how fast the mesh moves, with real agent processes on loopback: propagation of a change against raw
// gossipsub (same stack, same size, same run), join of a restarted agent, leave and crash to gone, leader failover.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { encodeMessage } from '../src/core/codec.ts'
import { externalKey, type ExternalBody } from '../src/core/record.ts'
import { BUNDLE, buildBundle, FLOOR_BUNDLE, stackPatchFlagsFor, getJson, IMAGE_ENV, IMAGE_NODE_FLAGS, startAgentProcess, stopAgentProcess, waitUntil, type AgentProcess } from '../tools/launcher.ts'
import { LeaseStandIn } from '../tools/lease-stand-in.ts'
import { percentile, procCpuMs, row, within, type Row, type Suite } from './suite.ts'

const N = 10
const TTL_S = 5
const LEASE = { duration: 15, renew: 10, retry: 2 }
const wall = (): number => performance.timeOrigin + performance.now()
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

interface Trace { trace: string, t: string, key: string, at: number }

/** A promise resolved by `done()` from an event listener, rejected after `ms` (no polling loop adds load). */
function signal (what: string, ms: number): { done: () => void, wait: Promise<void> } {
  let done = (): void => {}
  const wait = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
    done = () => { clearTimeout(timer); resolve() }
  })
  return { done, wait }
}

/** Ten agents on 127.0.5.x electing through a stand-in apiserver, each reporting its accepted messages. */
class AgentCluster {
  readonly ips = Array.from({ length: N }, (_, i) => `127.0.5.${i + 1}`)
  readonly names = this.ips.map((_ip, i) => `bench-${i + 1}`)
  readonly agents: Array<AgentProcess | null> = []
  readonly apiserver = new LeaseStandIn(this.names.map(n => `token-${n}`))
  private readonly dir = mkdtempSync(join(tmpdir(), 'k8snet-bench-'))
  private readonly listeners = new Set<(t: Trace, agent: string) => void>()

  async start (): Promise<void> {
    await this.apiserver.start('127.0.0.1', 0)
    for (let i = 0; i < N; i++) this.spawn(i)
    await Promise.all(this.live().map(async a => { await this.started(a) }))
    await this.waitFullViews()
  }

  /** Starts agent i: traced (its accepted messages reported over IPC) from src/, or as the image runs it (`bundle`). */
  spawn (i: number, bundle = false): AgentProcess {
    const name = this.names[i] as string
    const kubeconfig = join(this.dir, `${name}.kubeconfig`)
    this.apiserver.writeKubeconfig(kubeconfig, `token-${name}`, 'bench')
    const a = startAgentProcess({
      name,
      ip: this.ips[i] as string,
      peers: this.ips,
      // as the image runs it (the raw nodes get the same flags)
      nodeFlags: IMAGE_NODE_FLAGS,
      ...(bundle ? { script: BUNDLE } : {}),
      env: {
        ...(bundle ? IMAGE_ENV : { K8SNET_TRACE_ACCEPTED: '1' }),
        NAMESPACE: 'bench',
        HEARTBEAT_INTERVAL: '1',
        CACHE_KEY_SECOND: String(TTL_S),
        TEST_PORT: '8080',
        KUBECONFIG: kubeconfig,
        LEASE_DURATION: String(LEASE.duration),
        LEASE_RENEW_DEADLINE: String(LEASE.renew),
        LEASE_RETRY_PERIOD: String(LEASE.retry),
        LOG_LEVEL: 'warn'
      }
    })
    a.child.on('message', (m: unknown) => {
      const t = m as Trace
      if (t.trace !== undefined) for (const l of this.listeners) l(t, name)
    })
    this.agents[i] = a
    return a
  }

  /** Resolves once `a` says it is ready; rejects if it exits first or takes more than 30 s. */
  async started (a: AgentProcess): Promise<void> { await within(a.ready, 30_000, `${a.name} to start`) }

  onTrace (l: (t: Trace, agent: string) => void): () => void {
    this.listeners.add(l)
    return () => { this.listeners.delete(l) }
  }

  live (): AgentProcess[] { return this.agents.filter((a): a is AgentProcess => a !== null) }

  /** Agents in a's view (health's view_size: agents only, not the legacy clients the trials inject). */
  async viewSize (a: AgentProcess): Promise<number> { return (await getJson<{ view_size: number }>(`${a.apiUrl}/api/v1/health`, 1_000)).view_size }

  async waitFullViews (timeoutMs = 30_000): Promise<void> {
    const want = this.live().length
    await waitUntil('full views', async () => (await Promise.all(this.live().map(async a => await this.viewSize(a)))).every(c => c === want), timeoutMs, 50)
  }

  /**
   * Waits until every Lease contender contends and has read the Lease as held by the holder, then one renewal more:
   * a contender that starts watching after the holder's last renewal must wait a full lease duration from its first
   * read (it cannot know when that renewal was), so a kill right after a contender restarted measures that, not
   * the failover of a settled cluster (the first SIGKILL round used to come 1-2 s after such a restart: 17.0-17.2 s).
   */
  async waitContendersWatching (timeoutMs = 30_000): Promise<void> {
    interface Leader { holder: string | null, contenders: string[], contending: boolean, lease?: { observed_holder: string | null } }
    await waitUntil('every contender watching the Lease', async () => {
      const holder = this.holder()
      const views = await Promise.all(this.live().map(async a => ({ name: a.name, l: await getJson<Leader>(`${a.apiUrl}/api/v1/leader`, 1_000) })))
      const contenders = new Set(views.flatMap(v => v.l.contenders))
      return holder !== null && views.filter(v => contenders.has(v.name)).every(v => v.l.contending && v.l.lease?.observed_holder === holder)
    }, timeoutMs, 100)
    await new Promise(resolve => setTimeout(resolve, LEASE.retry * 1050 + 200))
  }

  holder (): string | null {
    const spec = this.apiserver.lease('bench', 'k8snet-checker-reporter')?.spec
    return typeof spec?.holderIdentity === 'string' && spec.holderIdentity !== '' ? spec.holderIdentity : null
  }

  async stop (): Promise<void> {
    await Promise.all(this.live().map(async a => await stopAgentProcess(a, 'SIGKILL')))
    await this.apiserver.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** The first IPC message of `child` that `is` accepts; rejects if the child exits first. */
async function reply<T> (child: ChildProcess, is: (m: Record<string, unknown>) => boolean): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const on = (m: unknown): void => { if (typeof m === 'object' && m !== null && is(m as Record<string, unknown>)) { done(); resolve(m as T) } }
    const exit = (code: number | null, sig: string | null): void => { done(); reject(new Error(`raw node exited (${sig ?? code ?? '?'})`)) }
    const done = (): void => { child.off('message', on); child.off('exit', exit) }
    child.on('message', on)
    child.on('exit', exit)
  })
}

/**
 * Ten bare gossipsub nodes on 127.0.6.x: the raw delivery baseline. From source with the stack's patches, as this
 * suite's agents run; or `bundled` (FLOOR_BUNDLE, built as the image's agent is) beside bundled agents.
 */
export class RawCluster {
  readonly nodes: ChildProcess[] = []
  private readonly listeners = new Set<(m: Record<string, { id: number, at: number }>, i: number) => void>()
  private readonly script: string

  constructor (opts: { bundled?: boolean } = {}) {
    this.script = opts.bundled === true ? FLOOR_BUNDLE : fileURLToPath(new URL('./raw-gossip-node.ts', import.meta.url))
  }

  async start (): Promise<void> {
    const script = this.script
    const addrs: string[] = []
    for (let i = 0; i < N; i++) {
      const child = spawn(process.execPath, [...stackPatchFlagsFor(script), ...IMAGE_NODE_FLAGS, script, `127.0.6.${i + 1}`, '6300'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
      child.on('message', (m: unknown) => { for (const l of this.listeners) l(m as Record<string, { id: number, at: number }>, i) })
      this.nodes.push(child)
      const ready = await within(reply<{ peers: string[] }>(child, m => m.ready === true), 30_000, `raw node 127.0.6.${i + 1} to start`)
      addrs.push(...ready.peers)
    }
    // a full mesh, as the agents have at N = 10
    await Promise.all(this.nodes.map(async (n, i) => {
      const dialed = reply(n, m => m.dialed !== undefined)
      n.send({ dial: addrs.filter((_a, j) => j > i) })
      await within(dialed, 30_000, `raw node 127.0.6.${i + 1} to dial the others`)
    }))
    await sleep(3_000) // gossipsub heartbeats graft the mesh
  }

  /** Every node publishes filler of `size` bytes every `everyMs` on average, besides the trials (0: none). */
  background (everyMs: number, size: number): void {
    for (const n of this.nodes) n.send({ background: { everyMs, size } })
  }

  on (l: (m: Record<string, { id: number, at: number }>, i: number) => void): () => void {
    this.listeners.add(l)
    return () => { this.listeners.delete(l) }
  }

  stop (): void { for (const n of this.nodes) n.kill('SIGKILL') }
}

/**
 * How a trial hands the change to its agent: `ipc`, as the raw baseline is told to publish (a message from this
 * process; the agent injects it as the POST route would); `post`, a legacy client's HTTP POST, whose request the
 * sender handles in the same turn as the publish.
 */
type Trigger = 'ipc' | 'post'

/** One legacy heartbeat through agent `from`: ms from its publish until the last other agent accepted it. */
async function agentTrial (c: AgentCluster, from: number, seq: number, via: Trigger): Promise<number> {
  const body = { pod_name: 'bench-client', node_ip: '127.0.9.9', pod_ip: '127.0.9.9', timestamp: new Date().toISOString(), namespace: `n${seq % 10}` }
  const key = 'hb:bench-client'
  const sender = c.names[from] as string
  let published = NaN
  const got = new Map<string, number>()
  const t0 = wall()
  // IPC from different processes is not ordered: keep every accept after t0, whatever arrives first
  const all = signal('every agent to accept the change', 5_000)
  const off = c.onTrace((t, agent) => {
    if (t.key !== key || t.at < t0) return
    if (t.trace === 'publishing' && agent === sender) published = t.at
    else if (t.trace === 'accepted' && agent !== sender) got.set(agent, t.at)
    if (got.size === N - 1 && Number.isFinite(published)) all.done()
  })
  try {
    const a = c.agents[from] as AgentProcess
    if (via === 'ipc') a.child.send({ heartbeat: body })
    else {
      // (bounded, as every other wait of a trial)
      const res = await fetch(`${a.apiUrl}/api/v1/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5_000) })
      if (!res.ok) throw new Error(`heartbeat POST: HTTP ${res.status}`)
    }
    await all.wait
    return Math.max(...got.values()) - published
  } finally { off() }
}

/** The same size through raw gossipsub from node `from`. */
async function rawTrial (r: RawCluster, from: number, id: number, size: number): Promise<number> {
  let published = NaN
  const got = new Map<number, number>()
  // as above: the publisher's report may arrive after the receivers'
  const all = signal('every raw node to receive', 5_000)
  const off = r.on((m, i) => {
    if (m.publishing?.id === id) published = m.publishing.at
    if (m.received?.id === id) got.set(i, m.received.at)
    if (got.size === N - 1 && Number.isFinite(published)) all.done()
  })
  try {
    r.nodes[from]?.send({ publish: { id, size } })
    await all.wait
    return Math.max(...got.values()) - published
  } finally { off() }
}

interface GossipHealth { gossip: { sent?: Record<string, number>, sent_bytes?: Record<string, number> } }

/**
 * What each agent gossips of its own accord (heartbeats, deltas, full records; not the trials' legacy reports), per
 * agent: messages per second and their mean payload size, over `ms`.
 */
async function agentBackground (c: AgentCluster, ms: number): Promise<{ perS: number, size: number }> {
  const read = async (): Promise<Array<{ n: number, bytes: number }>> => await Promise.all(c.agents.map(async a => {
    const h = await getJson<GossipHealth>(`${(a as AgentProcess).apiUrl}/api/v1/health`)
    const own = ['hb', 'delta', 'full']
    return { n: own.reduce((x, k) => x + (h.gossip.sent?.[k] ?? 0), 0), bytes: own.reduce((x, k) => x + (h.gossip.sent_bytes?.[k] ?? 0), 0) }
  }))
  const before = await read()
  await sleep(ms)
  const after = await read()
  const n = after.reduce((x, a, i) => x + a.n - (before[i]?.n ?? 0), 0)
  const bytes = after.reduce((x, a, i) => x + a.bytes - (before[i]?.bytes ?? 0), 0)
  return { perS: n / N / (ms / 1000), size: n === 0 ? 0 : bytes / n }
}

/** CPU time of a process and its reaped children, in ms; null when /proc cannot tell (not Linux, gone). */
function cpuMsOf (pid: number | undefined): number | null {
  if (pid === undefined) return null
  try { return procCpuMs(pid, true) } catch { return null }
}

/** Each group's processes' CPU use over `ms`, in percent of a core; null where /proc cannot tell. */
async function cpuShares (groups: Array<Array<number | undefined>>, ms: number): Promise<number[][] | null> {
  const before = groups.map(g => g.map(cpuMsOf))
  const t0 = performance.now()
  await sleep(ms)
  const elapsed = performance.now() - t0
  const shares = groups.map((g, i) => g.map((pid, j) => {
    const a = before[i]?.[j]
    const b = cpuMsOf(pid)
    return a == null || b === null ? NaN : (b - a) / elapsed * 100
  }))
  return shares.every(g => g.every(Number.isFinite)) ? shares : null
}

/** The encoded size of the change the agent trial gossips (an external heartbeat record). */
function changeSize (): number {
  const body: ExternalBody = { part: 'hb', value: { podName: 'bench-client', nodeIp: '127.0.9.9', podIp: '127.0.9.9', namespace: 'n0', timestamp: new Date().toISOString() } }
  return encodeMessage({ t: 'ext', record: { key: externalKey(body), at: Date.now(), by: '12D3KooWBxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', body } }).byteLength
}

export const meshTimingSuite: Suite = {
  name: 'mesh-timing',
  title: 'Mesh timing: propagation, join, leave, crash, failover',
  method: `${N} agent processes on loopback (heartbeat 1 s, TTL ${TTL_S} s, Lease ${LEASE.duration} s / renew ${LEASE.renew} s / retry ${LEASE.retry} s, ` +
    'electing through the stand-in apiserver). Propagation: a legacy heartbeat handed to one agent (rotating) in a message ' +
    'from the bench, as the raw nodes are told to publish (the agent injects it as its POST route would), timed from ' +
    'that agent\'s publish to the last other agent\'s accept (each agent reports both over IPC with a sub-ms wall clock, ' +
    'so no API polling adds delay; the API answers from the view at once). The baseline is ten bare gossipsub nodes ' +
    'of the same libp2p stack publishing the same number of bytes, interleaved trial by trial in the same run; ' +
    'besides the trials they publish filler at the rate and mean size the agents gossip of their own accord ' +
    '(heartbeats, deltas, full records), measured from the agents\' counters in the same run. ' +
    'Agents and raw nodes run with the image\'s V8 flags (' + IMAGE_NODE_FLAGS.join(' ') + '); the agents report only the ' +
    'trials over IPC, as the raw nodes do. ' +
    'Each batch (at least 7 after a warm-up) is 200 agent trials alone (the raw nodes quiet: the absolute figures), then 400 each of ' +
    'agent, raw and POSTed agent trials interleaved, in turning order (the ratios; the POSTed change is the legacy client\'s ' +
    'path, whose HTTP request the sender handles in the same turn as its publish); each figure is the median over batches ' +
    'of each batch\'s p99. CPU: /proc over 10 s of that steady state, before the trials. Join: process start to ' +
    'a full view on its API. Leave/crash: signal to gone from every other agent\'s API. Failover: signal to a new ' +
    'holder on the stand-in\'s Lease.',
  async run (ctx) {
    const rows: Row[] = []
    buildBundle() // the joining agent runs the bundle
    const agents = new AgentCluster()
    const raw = new RawCluster()
    try {
      await agents.start()
      await raw.start()
      // the baseline carries the same background gossip as the agents (their heartbeats and deltas), so the ratio is
      // the agent's own cost on a shared machine, not the cost of that traffic to every process on two cores
      const bg = await agentBackground(agents, ctx.smoke ? 3_000 : 20_000)
      ctx.log(`background gossip per agent: ${bg.perS.toFixed(2)} messages/s of ${bg.size.toFixed(0)} B on average; the raw nodes publish the same during interleaved batches`)
      // what each process costs in this steady state: the agents' own gossip, and the raw nodes' filler at its rate
      if (bg.perS > 0) raw.background(1000 / bg.perS, Math.round(bg.size))
      await sleep(2_000)
      const cpu = await cpuShares([agents.live().map(a => a.child.pid), raw.nodes.map(n => n.pid)], ctx.smoke ? 2_000 : 10_000)
      if (cpu !== null) {
        rows.push(row('CPU per agent process, steady state (background gossip, probes, election)', '% of a core', cpu[0] ?? [], 'informative'))
        rows.push(row('CPU per raw gossipsub node, steady state (filler at the agents\' rate)', '% of a core', cpu[1] ?? [], 'informative'))
      }
      const size = changeSize()
      // the absolute p99 is a batch's 3rd-worst of 200 trials; the ratio's p99s are the 5th-worst of 400 of each kind
      // (of 200 the 3rd-worst: a batch's ratio of two such extremes went from 0.66 to 1.76 within one run)
      const aloneTrials = ctx.smoke ? 20 : 200
      const trials = ctx.smoke ? 20 : 400
      const aloneP99: number[] = []
      const aloneP50: number[] = []
      const agentP99: number[] = []
      const rawP99: number[] = []
      const postP99: number[] = []
      const pooled: { agent: number[], raw: number[], post: number[] } = { agent: [], raw: [], post: [] }
      // a batch's p99 is an extreme of a shared machine: more batches than the other figures' runs steady the median
      const batches = ctx.smoke ? ctx.runs : Math.max(ctx.runs, 7)
      let id = 0
      for (let run = 0; run < batches + 1; run++) {
        // the agents alone (the raw nodes connected but quiet): the absolute figure
        raw.background(0, 0)
        const alone: number[] = []
        for (let k = 0; k < aloneTrials; k++) {
          alone.push(await agentTrial(agents, k % N, id++, 'ipc'))
          await sleep(10 + Math.random() * 20)
        }
        // agent and raw trials interleaved, both under the agents' own background gossip: the ratio; the order of
        // the three kinds turns, so none always follows another's stragglers
        if (bg.perS > 0) raw.background(1000 / bg.perS, Math.round(bg.size))
        await sleep(2_000)
        const a: number[] = []
        const b: number[] = []
        const p: number[] = []
        for (let k = 0; k < trials; k++) {
          const kinds = [
            async () => { a.push(await agentTrial(agents, k % N, id++, 'ipc')) },
            async () => { b.push(await rawTrial(raw, k % N, id++, size)) },
            async () => { p.push(await agentTrial(agents, k % N, id++, 'post')) }
          ]
          for (let j = 0; j < kinds.length; j++) {
            await (kinds[(k + j) % kinds.length] as () => Promise<void>)()
            await sleep(10 + Math.random() * 20)
          }
        }
        if (run === 0) { ctx.log(`propagation warm-up batch done (${aloneTrials} trials alone, ${3 * trials} interleaved)`); continue }
        aloneP99.push(percentile(alone, 99))
        aloneP50.push(percentile(alone, 50))
        agentP99.push(percentile(a, 99))
        rawP99.push(percentile(b, 99))
        postP99.push(percentile(p, 99))
        pooled.agent.push(...a)
        pooled.raw.push(...b)
        pooled.post.push(...p)
        ctx.log(`propagation batch ${run}: agents alone p50 ${percentile(alone, 50).toFixed(2)} p99 ${percentile(alone, 99).toFixed(2)} ms; ` +
          `interleaved: agent p50 ${percentile(a, 50).toFixed(2)} p99 ${percentile(a, 99).toFixed(2)} ms, raw p50 ${percentile(b, 50).toFixed(2)} p99 ${percentile(b, 99).toFixed(2)} ms, ` +
          `agent by POST p50 ${percentile(p, 50).toFixed(2)} p99 ${percentile(p, 99).toFixed(2)} ms`)
      }
      raw.stop()
      rows.push(row(`propagation to all ${N - 1} others, agents alone (${size} B change): p50`, 'ms', aloneP50))
      rows.push(row('propagation, agents alone: p99', 'ms', aloneP99, '<= 50 ms', 50))
      rows.push(row('propagation, agent trials interleaved with raw ones: p99', 'ms', agentP99))
      rows.push(row('raw gossipsub delivery, same stack, size and background gossip rate: p99', 'ms', rawP99, 'baseline'))
      rows.push(row('propagation p99, agent / raw gossipsub (interleaved)', 'x', agentP99.map((x, i) => x / (rawP99[i] ?? NaN)), '<= 1.2 x', 1.2))
      rows.push(row(`the same over all ${pooled.agent.length} interleaved trials of each kind pooled: p99 / p99`, 'x', [percentile(pooled.agent, 99) / percentile(pooled.raw, 99)], 'informative'))
      rows.push(row('the change POSTed by a legacy client instead (interleaved with the above): p99', 'ms', postP99))
      rows.push(row('propagation p99 of the POSTed change / raw gossipsub', 'x', postP99.map((x, i) => x / (rawP99[i] ?? NaN)), 'informative'))

      // leave then join, agent by agent (never the lease holder: failover is measured below)
      const leave: number[] = []
      const join: number[] = []
      const crash: number[] = []
      const cycles = ctx.smoke ? 1 : ctx.runs
      for (let k = 0; k < cycles; k++) {
        const i = (k * 3 + 1) % N
        if (agents.names[i] === agents.holder()) continue
        const a = agents.agents[i] as AgentProcess
        const others = (): AgentProcess[] => agents.live().filter(x => x !== a)
        const t0 = Date.now()
        agents.agents[i] = null
        await stopAgentProcess(a, 'SIGTERM')
        await waitUntil('gone after leave', async () => (await Promise.all(others().map(async o => await agents.viewSize(o)))).every(c => c === N - 1), 10_000, 5)
        leave.push(Date.now() - t0)
        // the joining agent runs as the image runs it: the production bundle with the image's flags (untraced: the
        // propagation trials are over by now)
        const b = agents.spawn(i, true)
        const born = Date.now()
        await agents.started(b)
        await waitUntil('a full view after restart', async () => await agents.viewSize(b) === N, 10_000, 10)
        join.push(Date.now() - born)
        await agents.waitFullViews()
      }
      rows.push(row('leave (SIGTERM) to gone from every view', 'ms', leave, '<= 1000 ms', 1000))
      rows.push(row('join: process start to a full view (the bundle, as the image runs it)', 'ms', join, '<= 800 ms (issue 20)', 800))
      for (let k = 0; k < (ctx.smoke ? 0 : Math.min(3, ctx.runs)); k++) {
        const i = (k * 3 + 2) % N
        if (agents.names[i] === agents.holder()) continue
        const a = agents.agents[i] as AgentProcess
        const others = (): AgentProcess[] => agents.live().filter(x => x !== a)
        const t0 = Date.now()
        agents.agents[i] = null
        await stopAgentProcess(a, 'SIGKILL')
        await waitUntil('gone after crash', async () => (await Promise.all(others().map(async o => await agents.viewSize(o)))).every(c => c === N - 1), 30_000, 20)
        crash.push(Date.now() - t0)
        await agents.started(agents.spawn(i))
        await agents.waitFullViews()
      }
      if (crash.length > 0) rows.push(row(`crash (SIGKILL) to gone from every view (TTL ${TTL_S} s)`, 'ms', crash, `<= ${TTL_S * 1000 + 1000} ms`, TTL_S * 1000 + 1000))

      // failover: SIGTERM (the holder releases) and SIGKILL (the Lease must expire)
      for (const signal of ctx.smoke ? ['SIGTERM'] as const : ['SIGTERM', 'SIGKILL'] as const) {
        const took: number[] = []
        for (let k = 0; k < (ctx.smoke ? 1 : Math.min(3, ctx.runs)); k++) {
          await waitUntil('a lease holder', async () => agents.holder() !== null, 40_000, 50)
          const h = agents.holder() as string
          const i = agents.names.indexOf(h)
          const a = agents.agents[i] as AgentProcess
          const t0 = Date.now()
          agents.agents[i] = null
          await stopAgentProcess(a, signal)
          await waitUntil('a new holder', async () => { const x = agents.holder(); return x !== null && x !== h }, 60_000, 10)
          took.push(Date.now() - t0)
          ctx.log(`failover after ${signal}: ${took.at(-1) ?? NaN} ms`)
          await agents.started(agents.spawn(i))
          await agents.waitFullViews()
          await agents.waitContendersWatching()
        }
        const goal = signal === 'SIGTERM' ? 2000 : (LEASE.duration + LEASE.retry) * 1000
        rows.push(row(`leader failover after ${signal}`, 'ms', took, `<= ${goal} ms`, goal))
      }
    } finally {
      raw.stop()
      await agents.stop()
    }
    return rows
  }
}
