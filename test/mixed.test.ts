// A mixed cluster mid-migration, in network namespaces: agents plus processes that behave as the original tool's
// clients (test/harness/legacy-client.ts: heartbeats, a test round twelve heartbeats apart as the original's 5 s and
// 60 s, the original's bodies). Legacy rows must be on every agent at every moment while their client lives, and gone
// one TTL after it stops; agents probe the legacy clients; the report counts them. Needs root.
import type { ChildProcess } from 'node:child_process'
import t from 'tap'
import { waitUntil } from '../tools/launcher.ts'
import type { Report } from '../src/report/report.ts'
import { harnessUnavailable, VirtualCluster, type VirtualNode } from './harness/cluster.ts'

const N = 4
const TTL_MS = 5_000
/** The harness's heartbeat (1 s) and a round twelve heartbeats long, the original's 5 s : 60 s. */
const HEARTBEAT_MS = 1_000
const ROUND_MS = 12_000

const why = harnessUnavailable()
if (why !== null) {
  if (process.env.K8SNET_REQUIRE_PRIVILEGED === '1') t.fail(`the mixed cluster cannot run: ${why}`)
  else t.comment(`skipped: the mixed cluster ${why}`)
} else {
  // the agents print the original's report layout (REPORT_FORMAT=original), as a tool reading the old server's log expects
  const printed: string[][] = []
  let current: string[] | null = null
  const c = new VirtualCluster({
    nodes: N,
    env: { REPORT_FORMAT: 'original' },
    onText: (_agent, line) => {
      if (line === '网络连通性报告') current = []
      else if (current !== null && /^(Failing pairs)/.test(line)) { printed.push(current); current = null } else current?.push(line)
    }
  })
  t.teardown(async () => { await c.stop() })
  const legacyIp = (n: VirtualNode): string => `${c.subnet}.${150 + n.index}`
  const clients = new Map<VirtualNode, ChildProcess>()
  type Rows = Record<string, Record<string, { port_status?: string }>>
  const podRows = async (n: VirtualNode): Promise<Rows> => (await c.api<{ results: Rows }>(n, '/api/v1/test-results/pods')).results
  const legacyCount = async (n: VirtualNode): Promise<number> => (await c.api<{ versions: Record<string, number> }>(n, '/api/v1/clients/count')).versions.legacy ?? 0

  await t.test('a mixed cluster: the original\'s clients beside the agents', async t => {
    await c.start()
    const startedAt = Date.now()
    for (const n of c.nodes) {
      c.addAddress(n, legacyIp(n))
      clients.set(n, await c.runInNode(n, 'legacy-client.ts', {
        podName: `k8snet-checker-client-${n.index}`,
        nodeIp: n.nodeIp,
        podIp: legacyIp(n),
        servers: c.nodes.map(x => x.podIp),
        apiPort: 8080,
        clientPort: 6100,
        testPort: 22,
        hosts: c.nodes.map(x => x.nodeIp),
        pods: c.nodes.map(legacyIp),
        heartbeatMs: HEARTBEAT_MS,
        roundMs: ROUND_MS
      }))
    }
    const everyAgentHasAll = async (): Promise<boolean> => {
      for (const n of c.nodes) {
        if (await legacyCount(n) !== N) return false
        const rows = await podRows(n)
        if (!c.nodes.every(s => Object.keys(rows[legacyIp(s)] ?? {}).length === N - 1)) return false
      }
      return true
    }
    const ms = await waitUntil('every agent holds every legacy client and its pod results', everyAgentHasAll, 20_000, 250)
    t.pass(`every agent holds all ${N} legacy clients and their results (${ms} ms)`)

    // three result rounds (each 12 heartbeats, 2.4 TTLs apart): the rows never go missing between posts
    const until = Date.now() + 3 * ROUND_MS
    let samples = 0
    const gaps: string[] = []
    while (Date.now() < until) {
      if (!await everyAgentHasAll()) gaps.push(`${((until - Date.now()) / 1000).toFixed(1)} s before the end`)
      samples++
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    t.same(gaps, [], `legacy rows on every agent at each of ${samples} samples over ${3 * ROUND_MS / 1000} s (results posted every ${ROUND_MS / 1000} s, TTL ${TTL_MS / 1000} s)`)
    // and that without gossiping each heartbeat: an unchanged one rides on the agent's own heartbeat
    interface Gossip { gossip: { sent: Record<string, number>, liveness?: { legacy_entries_applied: number } } }
    const healths = await Promise.all(c.nodes.map(async n => await c.api<Gossip>(n, '/api/v1/health')))
    const extSent = healths.reduce((a, h) => a + (h.gossip.sent.ext ?? 0), 0)
    const applied = healths.reduce((a, h) => a + (h.gossip.liveness?.legacy_entries_applied ?? 0), 0)
    const posted = Math.round(N * (Date.now() - startedAt) / HEARTBEAT_MS)
    t.ok(applied > 0, `legacy heartbeats refreshed by the agents' own heartbeats (${applied} entries applied)`)
    t.ok(extSent < posted / 2, `legacy records gossiped ${extSent} times for about ${posted} heartbeats and ${Math.round(posted / 12 * 3)} result posts`)

    // the agents probe the legacy clients (pod level: their health port)
    const probed = await waitUntil('agents probe the legacy clients', async () => {
      const rows = await podRows(c.node(1))
      return c.nodes.every(a => c.nodes.every(l => rows[a.podIp]?.[legacyIp(l)]?.port_status === 'open'))
    }, 30_000, 500)
    t.pass(`every agent measured every legacy client's health port open (${probed} ms)`)
    const report = await c.api<Report>(c.node(1), '/api/v1/report')
    t.equal(report.legacyClients, N, 'the report counts the legacy clients')
    t.same(report.verdicts, [], 'and raises no verdict about them')
    const from = printed.length
    await waitUntil('a report printed in the original\'s layout', async () => printed.length > from, 15_000)
    const text = printed[printed.length - 1] ?? []
    t.ok(text.includes(`活跃客户端数量: ${2 * N}`), `the original's active-client line counts ${N} agents and ${N} legacy clients`)
    t.ok(text.includes(`Pod IP列表 (共${2 * N}个):`), 'its pod IP list holds both')
    t.equal(text.filter(l => / \(legacy\)$/.test(l)).length, N, 'the legacy clients\' pod IPs are marked (legacy)')
    t.ok(text.some(l => /^ {2}成功率: \d+\.\d{2}%$/.test(l)), 'success rates with two decimals, as the original printed them')

    // a client stops: it and its results leave every agent one TTL after its last heartbeat
    const gone = c.node(2)
    clients.get(gone)?.kill('SIGKILL')
    const stoppedAt = Date.now()
    await waitUntil('every agent drops the stopped client', async () => {
      for (const n of c.nodes) {
        if (await legacyCount(n) !== N - 1) return false
        if ((await podRows(n))[legacyIp(gone)] !== undefined) return false
      }
      return true
    }, TTL_MS * 3, 100)
    const leftMs = Date.now() - stoppedAt
    t.ok(leftMs <= TTL_MS + 2 * HEARTBEAT_MS + 1_000, `its heartbeat and its results left every agent ${leftMs} ms after it stopped (TTL ${TTL_MS} ms)`)
    t.ok(c.nodes.filter(n => n !== gone).every(n => clients.get(n)?.exitCode === null), 'the others still run')
  })
}
