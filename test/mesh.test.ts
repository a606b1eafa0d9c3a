// Multi-process tests on loopback: agents converge, leave on SIGTERM, expire on SIGKILL, rejoin fast, relay legacy
// reports, and refuse bad configuration with one line.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import {
  getJson, podIpsOf, startAgentProcess, stopAgentProcess, waitUntil, type AgentProcess
} from '../src/node/launcher.ts'

const N = 10
const TTL_S = 4
const ips = Array.from({ length: N }, (_, i) => `127.0.1.${11 + i}`)
const env = { HEARTBEAT_INTERVAL: '1', CACHE_KEY_SECOND: String(TTL_S), DISCOVERY_INTERVAL: '1', LOG_LEVEL: 'warn' }
const agents: AgentProcess[] = []

function start (i: number): AgentProcess {
  const a = startAgentProcess({ name: `agent-${i + 1}`, ip: ips[i] ?? '', peers: ips, env })
  agents[i] = a
  return a
}

const live = (): AgentProcess[] => agents.filter(a => a.child.exitCode === null && a.child.signalCode === null)
const at = (i: number): AgentProcess => { const a = agents[i]; if (a === undefined) throw new Error(`no agent ${i}`); return a }

async function everyView (pred: (ips: string[]) => boolean, among: AgentProcess[]): Promise<boolean> {
  const views = await Promise.all(among.map(podIpsOf))
  return views.every(pred)
}

t.teardown(async () => { await Promise.all(agents.map(async a => await stopAgentProcess(a, 'SIGKILL'))) })

t.test('ten agents form a mesh and every view holds every agent', async t => {
  for (let i = 0; i < N; i++) start(i)
  await Promise.all(agents.map(async a => await a.ready))
  const ms = await waitUntil('convergence', async () => await everyView(v => v.length === N, agents), 10_000)
  t.comment(`converged ${ms} ms after every agent was up`)
  for (const a of agents) {
    const h = await getJson<{ status: string, view_size: number, peers_connected: number }>(`${a.apiUrl}/api/v1/health`)
    t.equal(h.status, 'healthy')
    t.equal(h.view_size, N, `${a.name} holds ${N} agents`)
    t.ok(h.peers_connected >= 1, `${a.name} is connected`)
  }
  const count = await getJson<{ active_client_count: number, versions: Record<string, number> }>(`${at(0).apiUrl}/api/v1/clients/count`)
  t.equal(count.active_client_count, N)
  t.same(Object.values(count.versions), [N], 'one software version, all agents')
  const hosts = await getJson<{ host_ips: string[], count: number }>(`${at(2).apiUrl}/api/v1/hosts`)
  t.same(hosts, { host_ips: ips, count: N }, 'hosts listed on any agent')
})

t.test('legacy reports POSTed to one agent appear on every agent', async t => {
  const post = async (path: string, body: unknown): Promise<{ status: number, json: unknown }> => {
    const res = await fetch(`${at(0).apiUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, json: await res.json() }
  }
  const hb = await post('/api/v1/heartbeat', {
    namespace: 'kube-system', node_ip: '10.9.0.1', pod_ip: '10.9.1.1', pod_name: 'legacy-client-x', timestamp: '2026-11-25T10:00:00Z'
  })
  t.equal(hb.status, 200)
  t.match(hb.json, { status: 'success' })
  const hr = await post('/api/v1/test-results/hosts', {
    source_ip: '10.9.0.1',
    results: [{ source_ip: '10.9.0.1', target_ip: '10.9.0.2', ping_status: 'reachable', port_status: { 22: 'open' }, latency: '1.5ms', test_duration: '3.25ms', timestamp: '2026-11-25T10:00:00Z' }]
  })
  t.equal(hr.status, 200)
  const bad = await post('/api/v1/heartbeat', { pod_name: 'x', node_ip: 'nope', pod_ip: '10.9.1.1' })
  t.equal(bad.status, 400)
  t.match(bad.json, { code: 'INVALID_REQUEST' })
  const ms = await waitUntil('legacy reports everywhere', async () => {
    const all = await Promise.all(live().map(async a => await getJson<{ active_client_count: number, host_ips: string[], host_test_results: Record<string, unknown> }>(`${a.apiUrl}/api/v1/results`)))
    return all.every(r => r.active_client_count === N + 1 && r.host_ips.includes('10.9.0.1') && r.host_test_results['10.9.0.1'] !== undefined)
  }, 3_000, 20)
  t.comment(`legacy reports on every agent after ${ms} ms`)
  const r = await getJson<{ results: Record<string, Record<string, unknown>> }>(`${at(N - 1).apiUrl}/api/v1/test-results/hosts`)
  t.match(r.results['10.9.0.1']?.['10.9.0.2'], { ping: 'reachable', port_status: 'open', test_duration: '3.25ms' })
})

t.test('a SIGTERMed agent leaves every view within 1 s', async t => {
  const victim = at(N - 1)
  const others = agents.slice(0, N - 1)
  const t0 = Date.now()
  await stopAgentProcess(victim, 'SIGTERM')
  await waitUntil('the leave to spread', async () => await everyView(v => !v.includes(victim.ip), others), 5_000, 20)
  const ms = Date.now() - t0
  t.comment(`gone from every view ${ms} ms after SIGTERM`)
  t.ok(ms <= 1_000, `gone within 1 s (${ms} ms)`)
  t.equal(victim.child.exitCode, 0, 'the agent exited cleanly')
})

t.test('a SIGKILLed agent leaves every view within TTL + 1 s', async t => {
  const victim = at(N - 2)
  const others = agents.slice(0, N - 2)
  const t0 = Date.now()
  await stopAgentProcess(victim, 'SIGKILL')
  await waitUntil('expiry', async () => await everyView(v => !v.includes(victim.ip), others), (TTL_S + 5) * 1000, 50)
  const ms = Date.now() - t0
  t.comment(`gone from every view ${ms} ms after SIGKILL (TTL ${TTL_S} s)`)
  t.ok(ms <= (TTL_S + 1) * 1000, `gone within TTL + 1 s (${ms} ms)`)
  t.ok(ms >= (TTL_S - 1.5) * 1000, 'not before its TTL could have run out (no false expiry)')
})

t.test('a restarted agent holds the full view within 2 s of its start', async t => {
  const i = N - 2
  // a legacy client heartbeats again (its first report has expired by now); the newcomer must get it by sync
  const res = await fetch(`${at(0).apiUrl}/api/v1/heartbeat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ node_ip: '10.9.0.1', pod_ip: '10.9.1.1', pod_name: 'legacy-client-x' })
  })
  t.equal(res.status, 200)
  const a = start(i)
  const expected = N - 1 // agent N is still stopped
  const liveIps = ips.slice(0, expected)
  await waitUntil('the restarted agent to hold every live agent', async () => {
    const v = await podIpsOf(a)
    return liveIps.every(ip => v.includes(ip)) && !v.includes(at(N - 1).ip)
  }, 10_000, 20)
  const ms = Date.now() - a.startedAt
  t.comment(`restarted agent held ${expected} agents ${ms} ms after process start`)
  t.ok(ms <= 2_000, `full view within 2 s of start (${ms} ms)`)
  await waitUntil('every agent to see it again', async () => await everyView(v => v.includes(a.ip), live()), 3_000, 20)
  const r = await getJson<{ active_client_count: number }>(`${a.apiUrl}/api/v1/clients/count`)
  t.equal(r.active_client_count, expected + 1, 'it also received the legacy client from anti-entropy')
})

t.test('bad configuration stops the agent at start with one line naming the variable', async t => {
  const main = fileURLToPath(new URL('../src/node/main.ts', import.meta.url))
  const base = { PATH: process.env.PATH ?? '', NODE_IP: '127.0.1.99', POD_IP: '127.0.1.99', POD_NAME: 'p', NAMESPACE: 'n' }
  const cases: Array<[Record<string, string>, string]> = [
    [{ HEARTBEAT_INTERVAL: 'soon' }, 'HEARTBEAT_INTERVAL="soon"'],
    [{ HTTP_PORT: '70000' }, 'HTTP_PORT="70000"'],
    [{ NODE_IP: '10.0.0' }, 'NODE_IP="10.0.0"'],
    [{ HEARTBEAT_INTERVAL: '15', CACHE_KEY_SECOND: '15' }, 'HEARTBEAT_INTERVAL="15"']
  ]
  for (const [extra, expected] of cases) {
    const r = spawnSync(process.execPath, [main], { env: { ...base, ...extra }, encoding: 'utf8', timeout: 10_000 })
    t.equal(r.status, 78, `${expected}: exit code 78`)
    const lines = r.stderr.trim().split('\n')
    t.equal(lines.length, 1, `${expected}: one line`)
    t.match(lines[0], expected, `names ${expected}`)
    t.match(lines[0], 'expected', 'says what was expected')
  }
  const v = spawnSync(process.execPath, [main, '--version'], { encoding: 'utf8', timeout: 10_000 })
  t.match(v.stdout, /^k8snet-checker \d+\.\d+\.\d+/)
})
