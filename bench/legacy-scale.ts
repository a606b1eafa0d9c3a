// Benchmark: a 5000-node cluster mid-migration, every node a legacy client of the original tool posting at its rates
// (a heartbeat every 5 s; host, pod and Service results every 60 s), spread over the agents. Two real agents run as
// the image runs them: A takes the POSTs, B only hears them over gossip, as every agent does of the posts the others
// take. B's resident memory, CPU share and gossip bytes, beside the same two agents with no legacy client; then the
// cost of one full 4999-row post on the agent that takes it.
// K8SNET_BENCH_PROFILE=<dir> writes a CPU profile of agent B there (it then stops with SIGTERM, which writes it).
import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { BUNDLE, buildBundle, getJson, IMAGE_ENV, IMAGE_NODE_FLAGS, startAgentProcess, stopAgentProcess, waitUntil, type AgentProcess } from '../tools/launcher.ts'
import { vmRss } from './agent-memory.ts'
import { procCpuMs, row, type Row, type Suite } from './suite.ts'

const MB = 1024 * 1024
const CLIENTS = 5000
/** The original client's intervals. */
const HEARTBEAT_S = 5
const ROUND_S = 60
/** What thinning keeps of a healthy post (PROBE_COVERAGE passing rows): the gossip stream's result bodies. */
const KEPT_ROWS = 10
/**
 * The goal, in MB: the memory request docs/migration.md tells operators to set while the original's clients are moved
 * over (the manifest's own request is sized for agents alone; deploy/daemonset.yaml).
 */
const REQUEST_MB = (() => {
  const m = /raise the request to (\d+)Mi for the migration/.exec(readFileSync(new URL('../docs/migration.md', import.meta.url), 'utf8').replace(/\s+/g, ' '))
  if (m === null) throw new Error('docs/migration.md no longer says which memory request a migration needs')
  return Math.round(Number(m[1]) * 1.048576)
})()

interface Health { view_size: number, peers_connected: number, gossip: { bytes_in?: number, bytes_out?: number, sent?: Record<string, number> } }
interface Count { versions: Record<string, number> }

const client = (i: number): { pod: string, node: string, podIp: string } => ({
  pod: `k8snet-checker-client-${(i * 7919 + 4242).toString(36).slice(-6)}`,
  // documentation data only: no agent runs on these nodes, so no agent probes them (agent.ts legacyTargets)
  node: `10.200.${Math.floor(i / 250)}.${(i % 250) + 1}`,
  podIp: `10.201.${Math.floor(i / 250)}.${(i % 250) + 1}`
})

const goDuration = (us: number): string => `${(us / 1000).toFixed(3)}ms`

function resultRows (source: string, targets: string[], port: number, at: string): unknown[] {
  return targets.map((target, j) => ({
    source_ip: source,
    target_ip: target,
    ping_status: 'reachable',
    port_status: { [port]: 'open' },
    latency: goDuration(300 + ((j * 37) % 900)),
    test_duration: goDuration(2_000 + ((j * 91) % 3_000)),
    timestamp: at
  }))
}

/** The i-th client's post of `part` as the original client sends it, with `rows` targets from the other clients. */
function body (i: number, part: 'hb' | 'host' | 'pod' | 'svc', rows: number): { path: string, json: string } {
  const c = client(i)
  const at = new Date().toISOString()
  const others = Array.from({ length: rows }, (_, j) => client((i + 1 + j) % CLIENTS))
  switch (part) {
    case 'hb': return { path: '/api/v1/heartbeat', json: JSON.stringify({ namespace: 'kube-system', node_ip: c.node, pod_ip: c.podIp, pod_name: c.pod, timestamp: at }) }
    case 'host': return { path: '/api/v1/test-results/hosts', json: JSON.stringify({ source_ip: c.node, results: resultRows(c.node, others.map(o => o.node), 22, at) }) }
    case 'pod': return { path: '/api/v1/test-results/pods', json: JSON.stringify({ source_ip: c.podIp, results: resultRows(c.podIp, others.map(o => o.podIp), 8080, at) }) }
    case 'svc': return { path: '/api/v1/test-results/service', json: JSON.stringify({ source_ip: c.podIp, result: resultRows(c.podIp, ['kubernetes.default.svc.cluster.local'], 443, at)[0] }) }
  }
}

/** POSTs over a keep-alive pool; resolves with the status. */
function post (agent: Agent, base: string, b: { path: string, json: string }): Promise<number> {
  return new Promise(resolve => {
    const req = request(`${base}${b.path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b.json) } }, res => {
      res.resume()
      res.on('end', () => { resolve(res.statusCode ?? 0) })
    })
    req.on('error', () => { resolve(0) })
    req.end(b.json)
  })
}

/**
 * The original clients' steady stream: client i heartbeats at phase i/CLIENTS of every 5 s and posts its results at
 * phase i/CLIENTS of every 60 s, always into the same one of `bases` (a Go client's keep-alive connection through a
 * Service stays on one pod). Returns a stop function and the tally of statuses.
 */
function legacyStream (bases: string[], rows: number, clients = CLIENTS): { stop: () => Promise<void>, statuses: Map<number, number>, sent: () => number } {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 })
  const statuses = new Map<number, number>()
  const inFlight = new Set<Promise<number>>()
  let sent = 0
  const t0 = performance.now()
  let hbDone = 0
  let roundDone = 0
  const send = (i: number, b: { path: string, json: string }): void => {
    sent++
    const p = post(agent, bases[i % bases.length] as string, b).then(s => { statuses.set(s, (statuses.get(s) ?? 0) + 1); inFlight.delete(p); return s })
    inFlight.add(p)
  }
  const timer = setInterval(() => {
    const s = (performance.now() - t0) / 1000
    const hbDue = Math.floor(s * clients / HEARTBEAT_S)
    for (; hbDone < hbDue; hbDone++) send(hbDone % clients, body(hbDone % clients, 'hb', 0))
    const roundDue = Math.floor(s * clients / ROUND_S)
    for (; roundDone < roundDue; roundDone++) {
      for (const part of ['host', 'pod', 'svc'] as const) send(roundDone % clients, body(roundDone % clients, part, rows))
    }
  }, 10)
  return {
    statuses,
    sent: () => sent,
    stop: async () => {
      clearInterval(timer)
      await Promise.all(inFlight)
      agent.destroy()
    }
  }
}

/** /proc/<pid>/io rchar: bytes the process read through system calls (on loopback: its sockets, mostly). */
function rchar (pid: number): number {
  const m = /^rchar:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
  return m === null ? 0 : Number(m[1])
}

interface Window { cpu: number, rss: number[], bytesIn: number, wireIn: number }

/** CPU share, RSS reads and gossip bytes/s of one agent over `ms`. */
async function observe (a: AgentProcess, ms: number, reads: number): Promise<Window> {
  const pid = a.child.pid ?? -1
  const h0 = await getJson<Health>(`${a.apiUrl}/api/v1/health`)
  const c0 = procCpuMs(pid)
  const r0 = rchar(pid)
  const t0 = Date.now()
  const rss: number[] = []
  for (let i = 0; i < reads; i++) {
    await sleep(ms / reads)
    rss.push(vmRss(pid))
  }
  const secs = (Date.now() - t0) / 1000
  const h1 = await getJson<Health>(`${a.apiUrl}/api/v1/health`)
  return {
    cpu: (procCpuMs(pid) - c0) / (secs * 1000),
    rss,
    bytesIn: ((h1.gossip.bytes_in ?? 0) - (h0.gossip.bytes_in ?? 0)) / secs,
    wireIn: (rchar(pid) - r0) / secs
  }
}

const legacy = async (x: AgentProcess): Promise<number> => (await getJson<Count>(`${x.apiUrl}/api/v1/clients/count`, 10_000)).versions.legacy ?? 0

function checkStream (stream: ReturnType<typeof legacyStream>, held: number, clients = CLIENTS): void {
  const ok = stream.statuses.get(200) ?? 0
  if (ok < stream.sent() * 0.99) throw new Error(`only ${ok} of ${stream.sent()} legacy posts were accepted: ${JSON.stringify(Object.fromEntries(stream.statuses))}`)
  if (held < clients) throw new Error(`the receiving agent holds ${held} legacy clients, not ${clients}`)
}

const SPREAD_AGENTS = 8
/**
 * Legacy clients of the spread run: eight agents on these two cores cannot all digest the first minute of 5000 new
 * clients at once (every record is new once: ~6 s of CPU per agent, taken by each agent on its own node in a real
 * cluster); the steady state's mechanism is the same at any count.
 */
const SPREAD_CLIENTS = 1000
/** The smoke run's (CI): it proves the run works while the rest of the suite's load is still settling. */
const SPREAD_CLIENTS_SMOKE = 300

/**
 * The same clients spread over SPREAD_AGENTS - 1 agents of a cluster in its large-cluster mode (heartbeats to
 * aggregators): an agent's beat carries its legacy clients to its aggregators, whose digests speak for them, so
 * what every agent receives does not grow with the number of agents that take posts. The last agent takes none.
 */
async function spreadRun (smoke: boolean, log: (l: string) => void): Promise<Row[]> {
  const clients = smoke ? SPREAD_CLIENTS_SMOKE : SPREAD_CLIENTS
  const steadyMs = smoke ? 10_000 : 60_000
  const ips = Array.from({ length: SPREAD_AGENTS }, (_, i) => `127.0.78.${i + 1}`)
  const env = { API_WRITE_RATE: '1000000', LOG_LEVEL: 'warn', HEARTBEAT_DIGEST_ABOVE: '2' }
  const agents = ips.map((ip, i) => startAgentProcess({ name: `spread-${i + 1}`, ip, peers: ips, env: { ...IMAGE_ENV, ...env }, nodeFlags: IMAGE_NODE_FLAGS, script: BUNDLE }))
  const b = agents[SPREAD_AGENTS - 1] as AgentProcess
  try {
    await Promise.all(agents.map(async x => await x.ready))
    await waitUntil('every agent to hear every other', async () => (await Promise.all(agents.map(async x => await getJson<Health>(`${x.apiUrl}/api/v1/health`)))).every(h => h.view_size === SPREAD_AGENTS), 30_000, 200)
    await sleep(smoke ? 3_000 : 15_000)
    const floor = await observe(b, steadyMs / 2, 2)
    const stream = legacyStream(agents.slice(0, -1).map(x => x.apiUrl), KEPT_ROWS, clients)
    const spreadFill = await waitUntil(`the receiver to hold all ${clients} legacy clients`, async () => await legacy(b) >= clients, 60_000, 1_000)
    log(`spread over ${SPREAD_AGENTS - 1} agents: the receiver holds ${clients} legacy clients after ${spreadFill} ms`)
    await sleep(smoke ? 5_000 : ROUND_S * 1000)
    const hbSent = async (): Promise<number> => (await Promise.all(agents.map(async x => await getJson<Health>(`${x.apiUrl}/api/v1/health`)))).reduce((n, h) => n + (h.gossip.sent?.hb ?? 0), 0)
    const hb0 = await hbSent()
    const t0 = Date.now()
    const loaded = await observe(b, steadyMs, 3)
    const hbPerS = (await hbSent() - hb0) / ((Date.now() - t0) / 1000)
    const held = await legacy(b)
    await stream.stop()
    checkStream(stream, held, clients)
    log(`spread over ${SPREAD_AGENTS - 1} agents: receiver ${(loaded.cpu * 100).toFixed(2)} % CPU (${(floor.cpu * 100).toFixed(2)} % without legacy clients), gossip ${(loaded.bytesIn / 1024).toFixed(1)} KiB/s; ${hbPerS.toFixed(2)} heartbeats gossiped a second in all`)
    return [
      row(`${SPREAD_AGENTS} agents (heartbeats to aggregators), no legacy client: an agent's CPU`, '% of a core', [floor.cpu * 100], 'floor'),
      row(`${clients} clients spread over ${SPREAD_AGENTS - 1} agents: the agent that takes none, CPU`, '% of a core', [loaded.cpu * 100], 'informative'),
      row(`${clients} clients spread over ${SPREAD_AGENTS - 1} agents: its gossip payload in`, 'KiB/s', [loaded.bytesIn / 1024], 'informative'),
      row(`${clients} clients spread over ${SPREAD_AGENTS - 1} agents: heartbeats gossiped a second, all ${SPREAD_AGENTS} agents (the aggregators' digests)`, 'per s', [hbPerS], 'informative')
    ]
  } finally {
    await Promise.all(agents.map(async x => await stopAgentProcess(x, 'SIGKILL')))
  }
}

async function run (smoke: boolean, log: (l: string) => void): Promise<Row[]> {
  const steadyMs = smoke ? 10_000 : 60_000
  const ips = ['127.0.77.1', '127.0.77.2']
  const env = { API_WRITE_RATE: '1000000', LOG_LEVEL: 'warn' }
  const prof = process.env.K8SNET_BENCH_PROFILE
  // as the image runs the agent (the bundle, its flags and environment); a profiled run uses src/, whose file names
  // the profile can attribute
  buildBundle()
  const agents = ips.map((ip, i) => startAgentProcess({
    name: `legacy-${i + 1}`,
    ip,
    peers: ips,
    env: { ...IMAGE_ENV, ...env },
    ...(prof !== undefined && i === 1 ? { nodeFlags: [...IMAGE_NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${prof}`] } : { nodeFlags: IMAGE_NODE_FLAGS, script: BUNDLE })
  }))
  const [a, b] = agents as [AgentProcess, AgentProcess]
  try {
    await Promise.all(agents.map(async x => await x.ready))
    await waitUntil('the two agents to hear each other', async () => (await getJson<Health>(`${b.apiUrl}/api/v1/health`)).view_size === 2, 30_000, 200)
    await sleep(smoke ? 3_000 : 15_000)
    const idle = await observe(b, steadyMs / 2, 5)
    const idleA = (await observe(a, 2_000, 1)).cpu
    log(`no legacy client: B ${(Math.max(...idle.rss) / MB).toFixed(1)} MB, ${(idle.cpu * 100).toFixed(2)} % CPU`)

    const firstCpu0 = procCpuMs(b.child.pid ?? -1)
    const firstT0 = Date.now()
    const stream = legacyStream([a.apiUrl], KEPT_ROWS)
    const fillMs = await waitUntil(`B to hold all ${CLIENTS} legacy clients`, async () => await legacy(b) >= CLIENTS, 60_000, 500)
    log(`B holds ${CLIENTS} legacy clients after ${fillMs} ms`)
    // a full result round lands before the window: every client's results held
    await sleep(smoke ? 5_000 : ROUND_S * 1000)
    // the first minute: every client's heartbeat and results are new once, and go to every agent
    const firstCpuS = (procCpuMs(b.child.pid ?? -1) - firstCpu0) / 1000
    const firstS = (Date.now() - firstT0) / 1000
    const cpuA0 = procCpuMs(a.child.pid ?? -1)
    const tA = Date.now()
    const loaded = await observe(b, steadyMs, 6)
    const cpuA = (procCpuMs(a.child.pid ?? -1) - cpuA0) / (Date.now() - tA)
    const rssA = vmRss(a.child.pid ?? -1)
    const heldB = await legacy(b)
    const sent = stream.sent()
    await stream.stop()
    log(`posts: ${sent} sent, statuses ${JSON.stringify(Object.fromEntries(stream.statuses))}`)
    checkStream(stream, heldB)
    log(`${CLIENTS} legacy clients: B ${(Math.max(...loaded.rss) / MB).toFixed(1)} MB, ${(loaded.cpu * 100).toFixed(2)} % CPU, gossip ${(loaded.bytesIn / 1024).toFixed(1)} KiB/s payload, ${(loaded.wireIn / 1024).toFixed(1)} KiB/s read; A ${(cpuA * 100).toFixed(1)} % CPU`)

    // the agent a post lands on: one full 4999-row post (host results of a 5000-node cluster) at a time
    const pool = new Agent({ keepAlive: true, maxSockets: 1 })
    const posts = smoke ? 5 : 40
    const bodies = Array.from({ length: posts }, (_, i) => body(i, i % 2 === 0 ? 'host' : 'pod', CLIENTS - 1))
    const cpu0 = procCpuMs(a.child.pid ?? -1)
    const t0 = Date.now()
    const latencies: number[] = []
    for (const bd of bodies) {
      const s = performance.now()
      const status = await post(pool, a.apiUrl, bd)
      latencies.push(performance.now() - s)
      if (status !== 200) throw new Error(`a full post answered ${status}`)
    }
    const elapsed = Date.now() - t0
    pool.destroy()
    const perPostMs = Math.max(0, (procCpuMs(a.child.pid ?? -1) - cpu0) - idleA * elapsed) / posts
    log(`a full post (${(Buffer.byteLength(bodies[0]?.json ?? '') / MB).toFixed(2)} MB, 4999 rows): ${perPostMs.toFixed(1)} ms CPU`)

    const peak = Math.max(...loaded.rss)
    const idlePeak = Math.max(...idle.rss)
    return [
      row('B, no legacy client: RSS (peak of the reads)', 'MB', [idlePeak / MB], 'floor'),
      row(`B, ${CLIENTS} legacy clients held: RSS (peak)`, 'MB', [peak / MB], `<= ${REQUEST_MB} MB (the memory request docs/migration.md advises)`, REQUEST_MB),
      row(`B: RSS added by ${CLIENTS} legacy clients`, 'MB', [(peak - idlePeak) / MB], 'informative'),
      row('B, no legacy client: CPU', '% of a core', [idle.cpu * 100], 'floor'),
      row(`B, ${CLIENTS} legacy clients: CPU`, '% of a core', [loaded.cpu * 100], 'informative'),
      row(`B: CPU added by ${CLIENTS} legacy clients`, '% of a core', [(loaded.cpu - idle.cpu) * 100], '<= 1 % of a core', 1),
      row(`B: CPU over the first ${Math.round(firstS)} s of ${CLIENTS} new clients (every record new once)`, 's', [firstCpuS], 'informative'),
      row(`B: gossip payload in, ${CLIENTS} legacy clients`, 'KiB/s', [loaded.bytesIn / 1024], 'informative'),
      row(`B: bytes read from its sockets, ${CLIENTS} legacy clients (no legacy client: ${(idle.wireIn / 1024).toFixed(1)})`, 'KiB/s', [loaded.wireIn / 1024], 'informative'),
      row(`A, taking every one of the ${CLIENTS} clients' posts (${Math.round(CLIENTS / HEARTBEAT_S + 3 * CLIENTS / ROUND_S)} a second): CPU`, '% of a core', [cpuA * 100], 'informative'),
      row('A, taking every post: RSS', 'MB', [rssA / MB], 'informative'),
      row('a full 4999-row results post, on the agent it lands on: CPU', 'ms', [perPostMs], 'informative'),
      row('a full 4999-row results post: latency (median)', 'ms', [latencies.sort((x, y) => x - y)[Math.floor(latencies.length / 2)] ?? 0], 'informative')
    ]
  } finally {
    await Promise.all(agents.map(async x => await stopAgentProcess(x, prof !== undefined ? 'SIGTERM' : 'SIGKILL')))
  }
}

export const legacyScaleSuite: Suite = {
  name: 'legacy-scale',
  title: 'A 5000-node migration: legacy clients held by every agent',
  method: `Two agents on loopback as the image runs them (the bundle, its Node flags and environment) with the default settings (MAX_EXTERNAL_ORIGINS 5000, thinning above PROBE_SAMPLE_ABOVE rows). ${CLIENTS} made-up legacy clients post at the original's rates (a heartbeat every ${HEARTBEAT_S} s, host, pod and Service results every ${ROUND_S} s, spread evenly), all into agent A; agent B hears them only through gossip, as every agent hears the posts the others take, so B's figures are each agent's cost whatever the number of agents. The result posts carry the ${KEPT_ROWS} rows thinning keeps of a healthy 4999-row post; the cost of a full post is measured after, on A, one at a time. CPU from /proc/<pid>/stat over the window, RSS from /proc/<pid>/status, gossip payload from the agent's own counter, socket bytes from /proc/<pid>/io rchar.`,
  run: async ctx => [...await run(ctx.smoke, ctx.log), ...await spreadRun(ctx.smoke, ctx.log)]
}
