// Fault scenarios on a virtual cluster of network namespaces (test/harness/cluster.ts): the agents must notice,
// name the culprit, recover and lose nothing. Needs root; K8SNET_REQUIRE_PRIVILEGED=1 turns a skip into a failure.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { PairMap } from '../src/api/projection.ts'
import { waitUntil } from '../tools/launcher.ts'
import type { Report } from '../src/report/report.ts'
import type { Verdict } from '../src/report/verdicts.ts'
import { harnessUnavailable, SERVICE_NAME, VirtualCluster, type VirtualNode } from './harness/cluster.ts'
import { call } from './harness/rpc.ts'
import { claimSubnet, SUBNET_SLOTS, subnetLockPath } from './harness/subnet-lock.ts'
import { untilVerdictsHold } from './harness/verdict-wait.ts'

const N = 6
const TTL_MS = 5_000
/** The harness's LEASE_DURATION. */
const LEASE_MS = 6_000

/** One printed report: who printed it, for which aligned instant, and its text. */
interface Printed { agent: string, time: string, at: number, lines: string[] }
const printed: Printed[] = []
const open = new Map<string, Printed>()
function onText (agent: string, line: string): void {
  const head = /^==== k8snet-checker network report (\S+) /.exec(line)
  if (head !== null) { open.set(agent, { agent, time: head[1] ?? '', at: Date.now(), lines: [] }); return }
  const p = open.get(agent)
  if (p === undefined) return
  if (line.startsWith('==== end of report')) { printed.push(p); open.delete(agent); return }
  p.lines.push(line)
}

/** Detection and recovery times each scenario saw, kept for BENCHMARKS.md. */
const figures: Record<string, Record<string, number>> = {}
const figure = (scenario: string, name: string, ms: number): void => { (figures[scenario] ??= {})[name] = ms }

t.test('cluster subnets: one per live claimer, whatever their pids; dead holders\' locks taken over', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'k8snet-subnet-test-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  /** A pid (never run) whose claims start at index k. */
  const startingAt = (k: number): number => k - 20 + 1_000 * SUBNET_SLOTS
  const me = claimSubnet(process.pid, dir)
  // a pid 200 away starts at the same index: it moves on instead of sharing the subnet (the old pid % 200 fault)
  const twin = claimSubnet(process.pid + SUBNET_SLOTS, dir)
  t.not(twin.k, me.k, 'a claimer whose pid agrees mod 200 gets another subnet')
  const dead = spawnSync(process.execPath, ['-e', '0']).pid ?? 0
  const stale = 20 + (me.k - 20 + 7) % SUBNET_SLOTS
  writeFileSync(subnetLockPath(stale, dir), String(dead))
  const taker = claimSubnet(startingAt(stale), dir)
  t.equal(taker.k, stale, 'a lock whose holder is dead is taken over')
  t.equal(readFileSync(subnetLockPath(stale, dir), 'utf8'), String(startingAt(stale)), 'and names its new holder')
  writeFileSync(subnetLockPath(stale, dir), String(process.pid))
  t.not(claimSubnet(startingAt(stale), dir).k, stale, 'a live holder\'s lock is not')
  me.release(); me.release()
  t.notOk(existsSync(subnetLockPath(me.k, dir)), 'release gives the index back, twice is harmless')
  t.equal(claimSubnet(startingAt(me.k), dir).k, me.k, 'and the next claimer gets it')
})

const why = harnessUnavailable()
if (why !== null) {
  if (process.env.K8SNET_REQUIRE_PRIVILEGED === '1') t.fail(`the fault scenarios cannot run: ${why}`)
  else t.comment(`skipped: the fault scenarios ${why}`)
} else {
  const c = new VirtualCluster({ nodes: N, onText, env: { PROBE_ECHOES: '5' } })
  t.teardown(async () => { await c.stop() })

  const sig = (vs: Verdict[]): string[] => vs.map(v => `${v.kind}|${v.subject}`).sort()
  const where = (n: VirtualNode): string => `node-${n.index} (${n.nodeIp})`
  const reportOf = async (n: VirtualNode): Promise<Report> => await c.api<Report>(n, '/api/v1/report')
  const holder = async (): Promise<string | null> => (await c.lease()).holder
  const holderNode = async (): Promise<VirtualNode> => {
    const h = await holder()
    const n = c.nodes.find(x => x.name === h)
    if (n === undefined || n.agent === null) throw new Error(`no live lease holder (${String(h)})`)
    return n
  }
  const everyLive = async (check: (n: VirtualNode) => Promise<boolean>): Promise<boolean> =>
    (await Promise.all(c.liveNodes.map(check))).every(Boolean)
  const podCount = async (n: VirtualNode): Promise<number> => (await c.api<{ count: number }>(n, '/api/v1/pods')).count
  const pairs = async (n: VirtualNode, layer: 'hosts' | 'pods'): Promise<PairMap> =>
    (await c.api<{ results: PairMap }>(n, `/api/v1/test-results/${layer}`)).results
  /** The holder's current verdicts (its /api/v1/report is the report it prints, built from the same view). */
  const verdictsNow = async (): Promise<string[]> => sig((await reportOf(await holderNode())).verdicts)
  /** Waits until the holder's verdicts satisfy `check`; on timeout says what they were. */
  const untilVerdicts = async (what: string, check: (vs: string[]) => boolean, timeoutMs: number): Promise<number> =>
    await untilVerdictsHold(verdictsNow, what, check, timeoutMs, async () => `; holder ${String(await holder().catch(() => '?'))}`)
  /** The next report the holder prints after now. */
  const nextPrinted = async (timeoutMs = 10_000): Promise<Printed> => {
    const from = printed.length
    await waitUntil('a printed report', async () => printed.length > from, timeoutMs)
    return printed[printed.length - 1] as Printed
  }
  /** Every agent sees every live agent, and the holder's report has no verdict. */
  const healthy = async (): Promise<boolean> =>
    await everyLive(async n => await podCount(n) === c.liveNodes.length) && (await verdictsNow()).length === 0
  const settle = async (what: string): Promise<number> => await waitUntil(`${what}: a healthy cluster`, healthy, 30_000, 200)

  t.before(async () => {
    await c.start()
  })

  t.test('the cluster forms: every agent sees all, every path works, one reporter', async t => {
    const ms = await settle('start')
    figure('start', 'healthy_after_start_ms', ms)
    for (const n of c.nodes) {
      const allOpen = async (): Promise<boolean> => {
        const hosts = await pairs(n, 'hosts')
        return c.nodes.every(s => c.nodes.every(d => s === d || (hosts[s.nodeIp]?.[d.nodeIp]?.port_status === 'open' && hosts[s.nodeIp]?.[d.nodeIp]?.ping === 'reachable')))
      }
      t.ok(await waitUntil(`${n.name}: every host pair`, allOpen, 10_000, 100) >= 0, `${n.name}: every host pair open and answering ICMP`)
    }
    const p = await nextPrinted()
    t.equal(p.agent, await holder(), 'the lease holder prints the report')
    t.ok(p.lines.some(l => l.startsWith(`Active agents: ${N}`)), 'the report counts every agent')
    t.ok(p.lines.some(l => l.startsWith('Verdicts: none')), 'no verdict on a healthy cluster')
  })

  t.test('6. TEST_PORT closed on one node: port closed, ICMP and pod layer fine, named as such', async t => {
    const n = c.node(5)
    const t0 = Date.now()
    await c.testPort(n, false)
    t.teardown(async () => { await c.testPort(n, true) })
    const detect = await untilVerdicts('port-closed on node 5', vs => vs.includes(`port-closed|${where(n)}`), 15_000)
    figure('port-closed', 'detect_ms', detect)
    t.same(await verdictsNow(), [`port-closed|${where(n)}`], 'the only verdict names node 5\'s port')
    // every agent's API shows it (each converges on its own time: wait for each, then check the pod layer)
    for (const obs of c.liveNodes) {
      const refused = async (): Promise<boolean> => {
        const hosts = await pairs(obs, 'hosts')
        return c.nodes.filter(s => s !== n).every(s => {
          const r = hosts[s.nodeIp]?.[n.nodeIp]
          return r?.port_status === 'closed' && r.tcp === 'refused' && r.ping === 'reachable'
        })
      }
      t.ok(await waitUntil(`${obs.name} to show it`, refused, 5_000, 100) >= 0, `${obs.name}: host port on node 5 refused, ICMP answered, from every peer`)
      const pods = await pairs(obs, 'pods')
      t.ok(c.nodes.filter(s => s !== n).every(s => pods[s.podIp]?.[n.podIp]?.port_status === 'open'), `${obs.name}: pod layer to node 5 fine`)
    }
    const report = await nextPrinted()
    t.ok(report.lines.some(l => l.includes('[PORT-CLOSED]') && l.includes(where(n))), 'the printed report names the closed port')
    await c.testPort(n, true)
    const recover = await settle('port reopened')
    figure('port-closed', 'recover_ms', recover)
    t.comment(`detected in ${detect} ms (${Date.now() - t0} ms with checks), recovered in ${recover} ms`)
  })

  t.test('5. one-way block A -> B: A -> B failed, B -> A ok, called one-way', async t => {
    const a = c.node(1)
    const b = c.node(2)
    c.blockOneWay(a, b)
    t.teardown(() => { c.heal(b) })
    const want = `one-way|${a.name} -> ${b.name}`
    const detect = await untilVerdicts('a one-way verdict', vs => vs.includes(want), 15_000)
    figure('one-way', 'detect_ms', detect)
    t.same([...new Set(await verdictsNow())], [want], 'only the one-way link is blamed')
    const hosts = await pairs(c.node(3), 'hosts')
    t.match(hosts[a.nodeIp]?.[b.nodeIp], { ping: 'unreachable', port_status: 'closed' }, 'A -> B failed (seen from a third agent)')
    t.match(hosts[b.nodeIp]?.[a.nodeIp], { ping: 'reachable', port_status: 'open' }, 'B -> A works')
    c.heal(b)
    figure('one-way', 'recover_ms', await settle('one-way healed'))
  })

  t.test('4. 30 % packet loss on one node: loss reported, nothing declared down', async t => {
    // not the holder's node: the test reads the holder's API, and a lossy path to it would only slow the test
    const h = await holderNode()
    const n = c.node(h.index === 6 ? 5 : 6)
    c.loss(n, 30)
    t.teardown(() => { c.heal(n) })
    // the lossy node's own Service check can fail a round (a lost SYN-ACK outlasts the connect timeout): that is
    // reported scoped to that one agent, which is true; anything else would be a false alarm
    const seen = new Set<string>()
    const watch = async (): Promise<string[]> => {
      const vs = (await reportOf(await holderNode())).verdicts
      for (const v of vs) {
        const aboutLossyNodeOnly = v.kind.startsWith('service-') && v.agree === 1 && v.summary.includes(`only from ${n.name} `)
        if (!aboutLossyNodeOnly) seen.add(`${v.kind}|${v.subject}`)
      }
      return sig(vs)
    }
    const detect = await waitUntil(`a lossy verdict on ${n.name}`, async () => (await watch()).includes(`lossy|${where(n)}`), 30_000, 200)
    figure('loss-30', 'detect_ms', detect)
    // keep watching a few rounds: loss is degradation, never an outage
    const until = Date.now() + 6_000
    while (Date.now() < until) {
      await watch().catch(() => []) // a read that times out is no verdict
      await new Promise(resolve => setTimeout(resolve, 300))
    }
    const wrong = [...seen].filter(v => v !== `lossy|${where(n)}`)
    t.same(wrong, [], 'no isolated, outbound, one-way or other verdict while the node only loses packets')
    const hosts = await pairs(c.node(1), 'hosts')
    const losses = c.nodes.filter(s => s !== n).map(s => hosts[s.nodeIp]?.[n.nodeIp]?.loss ?? 0)
    t.ok(losses.some(l => l > 0), `loss is reported on paths into ${n.name} (${losses.join(', ')})`)
    // a single round can lose all echoes and the SYN on one path (p ~ 0.3^6): that path is down for that round, truly
    const into = c.nodes.filter(s => s !== n).map(s => hosts[s.nodeIp]?.[n.nodeIp])
    const reaching = into.filter(r => r?.port_status === 'open' || r?.ping === 'reachable').length
    t.ok(reaching >= into.length - 1, `the paths into ${n.name} still reach it (${reaching} of ${into.length}: ${JSON.stringify(into.map(r => [r?.echoes_received, r?.tcp]))})`)
    c.heal(n)
    figure('loss-30', 'recover_ms', await settle('loss removed'))
  })

  t.test('3. one node\'s link down: isolated on every agent; after it returns, views converge and the verdict clears', async t => {
    const h = await holderNode()
    const n = c.nodes.find(x => x !== h && x.agent !== null) as VirtualNode
    const others = c.liveNodes.filter(x => x !== n)
    c.link(n, false)
    t.teardown(() => { c.link(n, true) })
    const detect = await untilVerdicts('isolated verdict', vs => vs.includes(`isolated|${where(n)}`), 20_000)
    figure('link-down', 'detect_ms', detect)
    t.same(await verdictsNow(), [`isolated|${where(n)}`], 'the report names the node isolated, and nothing else')
    for (const obs of others) {
      const failed = (layer: 'hosts' | 'pods', ip: (x: VirtualNode) => string) => async (): Promise<boolean> => {
        const res = await pairs(obs, layer)
        return others.every(s => res[ip(s)]?.[ip(n)]?.ping === 'unreachable' && res[ip(s)]?.[ip(n)]?.port_status === 'closed')
      }
      t.ok(await waitUntil(`${obs.name}: host paths failed`, failed('hosts', x => x.nodeIp), 10_000, 100) >= 0, `${obs.name}: every host path to it failed`)
      t.ok(await waitUntil(`${obs.name}: pod paths failed`, failed('pods', x => x.podIp), 10_000, 100) >= 0, `${obs.name}: every pod path to it failed`)
    }
    const p = await nextPrinted()
    t.ok(p.lines.some(l => l.includes('[ISOLATED]') && l.includes(where(n))), 'the printed report says isolated')
    c.link(n, true)
    const recover = await settle('link back')
    figure('link-down', 'recover_ms', recover)
    t.equal(await podCount(n), N, 'the returning node holds the full view again')
  })

  t.test('7. the Service: DNS broken, then its endpoint down, told apart', async t => {
    const subject = `${SERVICE_NAME}:80`
    await c.dns(SERVICE_NAME, 'servfail')
    t.teardown(async () => { await c.dns(SERVICE_NAME, [c.serviceIp]); await c.service(true) })
    const dns = await untilVerdicts('service-dns', vs => vs.includes(`service-dns|${subject}`), 15_000)
    figure('service', 'dns_detect_ms', dns)
    t.same(await verdictsNow(), [`service-dns|${subject}`], 'DNS failure: service-dns only')
    type Rows = Record<string, { dns?: { ok: boolean }, reachable?: boolean }>
    const allFailing = async (): Promise<boolean> => {
      const rows = Object.values((await c.api<{ results: Rows }>(c.node(1), '/api/v1/test-results/service')).results)
      return rows.length === N && rows.every(r => r.dns?.ok === false)
    }
    t.ok(await waitUntil('every agent to report the lookup failing', allFailing, 10_000, 100) >= 0, 'every agent reports the lookup failing')
    await c.dns(SERVICE_NAME, [c.serviceIp])
    await settle('DNS back')
    await c.service(false)
    const ep = await untilVerdicts('service-endpoints', vs => vs.includes(`service-endpoints|${subject}`), 15_000)
    figure('service', 'endpoints_detect_ms', ep)
    t.same(await verdictsNow(), [`service-endpoints|${subject}`], 'endpoint down: service-endpoints only, DNS fine')
    await c.service(true)
    figure('service', 'recover_ms', await settle('endpoint back'))
  })

  t.test('1. SIGKILL one agent: gone from all views within TTL + 1 s; nothing else failed', async t => {
    const h = await holderNode()
    const n = c.nodes.find(x => x !== h && x.agent !== null) as VirtualNode
    const t0 = Date.now()
    await c.stopAgent(n, 'SIGKILL')
    const gone = await waitUntil('the killed agent gone everywhere', async () => await everyLive(async o => await podCount(o) === N - 1), TTL_MS + 3_000, 50)
    figure('sigkill', 'gone_ms', gone)
    t.ok(gone <= TTL_MS + 1_000, `gone from all views in ${gone} ms (TTL ${TTL_MS} ms)`)
    // its node is still up (ICMP, TEST_PORT): only its pod's health port is closed, and no node is blamed
    const vs = (await reportOf(h)).verdicts
    t.same(vs.filter(v => v.kind !== 'stale'), [], `no fault blamed on any node (${sig(vs).join('; ')})`)
    const hosts = await pairs(h, 'hosts')
    t.ok(c.liveNodes.every(s => c.liveNodes.every(d => s === d || hosts[s.nodeIp]?.[d.nodeIp]?.port_status === 'open')), 'every path between the survivors works')
    t.comment(`gone in ${gone} ms after ${Date.now() - t0} ms`)
    c.startAgent(n)
    await n.agent?.ready
    figure('sigkill', 'rejoin_ms', await settle('restarted'))
  })

  // the 1 s and 2 s goals are measured by npm run bench (mesh-timing); here, the mechanisms: the leave is announced
  // (not left to the TTL) and the Lease released (not left to expire)
  t.test('2. SIGTERM the lease holder: gone by its leave, a new reporter without waiting for the Lease to expire', async t => {
    const h = await holderNode()
    await c.stopAgent(h, 'SIGTERM')
    const stopped = Date.now()
    const gone = await waitUntil('the holder gone everywhere', async () => await everyLive(async o => await podCount(o) === N - 1), TTL_MS, 25)
    figure('sigterm-holder', 'gone_ms', gone)
    t.ok(gone < TTL_MS / 2, `gone from all views ${gone} ms after it exited: by its leave (expiry takes the TTL, ${TTL_MS} ms)`)
    const next = await waitUntil('a new holder', async () => { const x = await holder(); return x !== null && x !== h.name }, LEASE_MS + 2_000, 25)
    const took = Date.now() - stopped
    figure('sigterm-holder', 'new_holder_ms', took)
    t.ok(took < LEASE_MS - 1_000, `new lease holder ${String(await holder())} ${took} ms after the old one exited (seen after ${next} ms of polling): the Lease was released, not left to expire (${LEASE_MS} ms)`)
    const p = await nextPrinted()
    t.not(p.agent, h.name, 'the new holder prints the report')
    c.startAgent(h)
    await h.agent?.ready
    await settle('old holder back')
  })

  t.test('8. leader SIGKILL, then the apiserver down and back: never two reporters, reporting resumes', async t => {
    const from = printed.length
    const h = await holderNode()
    const killed = Date.now()
    await c.stopAgent(h, 'SIGKILL')
    await waitUntil('a new holder', async () => { const x = await holder(); return x !== null && x !== h.name }, 15_000, 50)
    figure('sigkill-holder', 'new_holder_ms', Date.now() - killed)
    const newHolder = await holder()
    await nextPrinted()
    await c.apiserver(false)
    t.teardown(async () => { await c.apiserver(true) })
    const down = Date.now()
    // the holder cannot renew: it must stop printing by its renew deadline (4 s), and nobody else may start
    await new Promise(resolve => setTimeout(resolve, 8_000))
    const during = printed.filter(p => p.at > down + 4_500)
    t.same(during.map(p => p.agent), [], 'nobody prints while the apiserver is unreachable (after the renew deadline)')
    await c.apiserver(true)
    const back = Date.now()
    const resumed = await nextPrinted(15_000)
    figure('apiserver-outage', 'resumed_after_return_ms', resumed.at - back)
    t.ok(resumed.agent !== h.name, `reporting resumed by ${resumed.agent} (was ${String(newHolder)})`)
    const byInstant = new Map<string, Set<string>>()
    for (const p of printed.slice(from)) byInstant.set(p.time, (byInstant.get(p.time) ?? new Set()).add(p.agent))
    t.same([...byInstant.values()].filter(s => s.size > 1).map(s => [...s]), [], 'never two reporters for one interval')
    c.startAgent(h)
    await h.agent?.ready
    await settle('killed holder back')
  })

  t.test('9. rolling restart of every agent: no verdict, the view never empties', async t => {
    const from = printed.length
    // the agents not being restarted must never lose the others (the restarting one starts from its own record)
    let smallest = N
    const sampler0 = { on: true }
    let restarting: VirtualNode | null = null
    const sampler = (async () => {
      while (sampler0.on) {
        for (const n of c.liveNodes.filter(x => x !== restarting)) {
          try { smallest = Math.min(smallest, await podCount(n)) } catch { /* restarting */ }
        }
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    })()
    const t0 = Date.now()
    for (const n of c.nodes) {
      restarting = n
      await c.restartAgent(n, 'SIGTERM')
      const back = await waitUntil(`${n.name} back in every view`, async () => await everyLive(async o => await podCount(o) === N), 15_000, 50)
      figure('rolling-restart', `${n.name}_full_view_ms`, back)
      restarting = null
    }
    sampler0.on = false
    await sampler
    figure('rolling-restart', 'total_ms', Date.now() - t0)
    t.ok(smallest >= N - 1, `every view kept at least ${N - 1} agents (smallest seen: ${smallest})`)
    const withVerdicts = printed.slice(from).filter(p => !p.lines.some(l => l.startsWith('Verdicts: none')))
    t.same(withVerdicts.map(p => p.lines.filter(l => l.startsWith('  ['))), [], 'no printed report raised a verdict')
    t.ok(printed.length > from, 'reports kept coming during the rollout')
  })

  // ---- faults the first nine did not rehearse (issue 15): each named by every agent, the holder's print included

  /** Every live agent's own report has exactly `want` (each waits on its own time); returns the slowest wait. */
  const everyAgentSays = async (what: string, want: (n: VirtualNode) => string[], timeoutMs: number): Promise<number> => {
    const last = new Map<string, string[]>()
    try {
      return await waitUntil(what, async () => await everyLive(async n => {
        const vs = sig((await reportOf(n)).verdicts)
        last.set(n.name, vs)
        return JSON.stringify(vs) === JSON.stringify(want(n))
      }), timeoutMs, 200)
    } catch (err) {
      // what each agent's gossip refused, and whom it graylists: where a silent agent's messages went
      const health = await Promise.all(c.liveNodes.map(async n => {
        const h = await c.api<{ gossip: { rejected: Record<string, number>, graylisted_peers?: number, penalised_peers?: number } }>(n, '/api/v1/health').catch(() => null)
        return [n.name, h === null ? '?' : { rejected: h.gossip.rejected, graylisted: h.gossip.graylisted_peers, penalised: h.gossip.penalised_peers }]
      }))
      throw new Error(`${(err as Error).message}; last: ${JSON.stringify(Object.fromEntries(last))}; gossip: ${JSON.stringify(Object.fromEntries(health))}`)
    }
  }
  const nodesLabel = (ns: VirtualNode[]): string => ns.map(n => `node-${n.index}`).join(', ')

  t.test('10. a group of nodes cut off together: one partition verdict naming both groups, on every agent', async t => {
    // (after the rolling restart, every view must hold every agent's whole results again: a last word is what groups
    // the cut side; a restarted agent's results were seen to reach some views incomplete for up to about 30 s)
    await settle('before the partition')
    await waitUntil('every view holds every pair', async () => await everyLive(async n => {
      const res = await pairs(n, 'pods')
      return c.liveNodes.every(s => c.liveNodes.every(d => s === d || res[s.podIp]?.[d.podIp] !== undefined))
    }), 60_000, 500)
    const h = await holderNode()
    const small = c.liveNodes.filter(n => n !== h).slice(-2)
    const big = c.liveNodes.filter(n => !small.includes(n))
    c.partition([big, small])
    t.teardown(() => { c.healAll() })
    const want = `partition|${nodesLabel(big)} | ${nodesLabel(small)}`
    const detect = await everyAgentSays('every agent names the partition', () => [want], 30_000)
    figure('partition', 'detect_ms', detect)
    t.pass(`every agent, on both sides, names only the partition (${want})`)
    const r = await reportOf(small[0] as VirtualNode)
    t.equal(r.verdicts[0]?.observer, true, 'an agent on the small side says it is on the cut-off side')
    t.same(r.verdicts[0]?.culprits, small.map(n => `node-${n.index}`))
    const p = await nextPrinted()
    t.ok(p.lines.some(l => l.includes('[PARTITION]') && l.includes('This reporter is on the larger side')), 'the printed report names it and the reporter\'s side')
    c.healAll()
    figure('partition', 'recover_ms', await settle('partition healed'))
  })

  t.test('10a. a partition right after every agent restarted: the two cut off together, not each isolated', async t => {
    // restarted together, the agents have not yet measured each other when the cut comes: nothing says 5 and 6 reach
    // each other, but they fell silent at the same moment
    await settle('before the restart')
    const h = await holderNode()
    const small = c.liveNodes.filter(n => n !== h).slice(-2)
    const big = c.liveNodes.filter(n => !small.includes(n))
    await Promise.all(c.nodes.map(async n => { await c.restartAgent(n, 'SIGTERM') }))
    await waitUntil('every agent back in every view', async () => await everyLive(async n => await podCount(n) === N), 15_000, 50)
    c.partition([big, small])
    t.teardown(() => { c.healAll() })
    const want = `partition|${nodesLabel(big)} | ${nodesLabel(small)}`
    const detect = await everyAgentSays('every agent names the partition', () => [want], 30_000)
    figure('partition-after-restart', 'detect_ms', detect)
    t.pass(`every agent, on both sides, names only the partition (${want})`)
    c.healAll()
    figure('partition-after-restart', 'recover_ms', await settle('partition healed'))
  })

  t.test('11. the Lease holder loses gossip: it names itself, hands the Lease over, the new holder names it', async t => {
    const h = await holderNode()
    const others = c.liveNodes.filter(n => n !== h)
    const from = printed.length
    c.blockGossip(h)
    t.teardown(() => { c.heal(h) })
    const cut = Date.now()
    const took = await waitUntil('another holder', async () => { const x = await holder(); return x !== null && x !== h.name }, 40_000, 200)
    figure('holder-gossip-cut', 'handover_ms', took)
    const want = `gossip-cut|${where(h)}`
    await everyAgentSays('every agent names the cut-off holder', () => [want], 20_000)
    const own = await reportOf(h)
    t.equal(own.verdicts[0]?.observer, true, 'the cut-off agent says the fault is its own')
    const p = await nextPrinted()
    t.not(p.agent, h.name, 'the new holder prints')
    t.ok(p.lines.some(l => l.includes('[GOSSIP-CUT]') && l.includes(where(h))), 'and names the cut-off agent')
    const blamingOthers = printed.slice(from).filter(x => x.agent === h.name && x.at > cut + 20_000)
    t.same(blamingOthers.map(x => x.time), [], 'the cut-off agent no longer prints')
    t.ok(others.every(n => n.agent !== null))
    c.heal(h)
    figure('holder-gossip-cut', 'recover_ms', await settle('gossip back'))
  })

  t.test('12. one node\'s link flapping: one flapping verdict, not a churn of others', async t => {
    const h = await holderNode()
    const n = c.liveNodes.find(x => x !== h) as VirtualNode
    const stop = c.flap(n, 3_000, 3_000)
    t.teardown(() => { stop() })
    const want = `flapping|${where(n)}`
    const detect = await untilVerdicts('a flapping verdict', vs => vs.includes(want), 40_000)
    figure('flapping', 'detect_ms', detect)
    const seen = new Set<string>()
    const until = Date.now() + 12_000
    while (Date.now() < until) {
      seen.add(JSON.stringify(await verdictsNow().catch(() => [want])))
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    t.same([...seen], [JSON.stringify([want])], 'while it flaps, the holder names only the flapping node')
    stop()
    figure('flapping', 'recover_ms', await waitUntil('flapping over: a healthy cluster', healthy, 60_000, 500))
  })

  t.test('13. one node\'s wall clock an hour ahead: named as clock skew, by itself too, and no staleness', async t => {
    const h = await holderNode()
    const n = c.liveNodes.find(x => x !== h) as VirtualNode
    await c.restartAgent(n, 'SIGTERM', { clockOffsetS: 3600 })
    t.teardown(async () => { if (n.clockOffsetS !== 0) await c.restartAgent(n, 'SIGTERM', { clockOffsetS: 0 }) })
    const want = `clock-skew|${where(n)}`
    const detect = await everyAgentSays('every agent names the skewed clock', () => [want], 30_000)
    figure('clock-skew', 'detect_ms', detect)
    const own = await reportOf(n)
    t.equal(own.verdicts[0]?.observer, true, 'the skewed agent names its own clock')
    t.ok(Math.abs(Date.parse(own.time) - Date.now()) < 5_000, `its report's time is the cluster's (${own.time})`)
    t.ok(Math.abs(own.clockOffsetMs - 3_600_000) < 5_000, `and it says its clock is off by ${own.clockOffsetMs} ms`)
    // back to the right clock: its new incarnation (a wall-clock stamp) is now an hour lower than the one the others
    // hold, so they keep it out until that tombstone expires (10 x TTL); issue 16 makes this rejoin immediate
    await c.restartAgent(n, 'SIGTERM', { clockOffsetS: 0 })
    figure('clock-skew', 'recover_ms', await waitUntil('clock fixed: a healthy cluster', healthy, 90_000, 500))
  })

  t.test('14. one node\'s pod network cut: named by the others and by that node\'s own agent', async t => {
    const h = await holderNode()
    const n = c.liveNodes.filter(x => x !== h).at(-1) as VirtualNode
    c.podNetwork(n, false)
    t.teardown(() => { c.podNetwork(n, true) })
    // its own agent, inside the pod, reaches nothing at all (its probes of node IPs leave from the pod IP too): from
    // there a cut pod network and a cut node link look alike, and it names its own node either way
    const want = `overlay|${where(n)}`
    const own = [`isolated|${where(n)}`]
    const detect = await everyAgentSays('every agent names the node\'s pod network', x => x === n ? own : [want], 30_000)
    figure('pod-network-cut', 'detect_ms', detect)
    const self = (await reportOf(n)).verdicts[0]
    t.equal(self?.observer, true, 'its own agent says the fault is its own')
    t.match(self?.summary, 'its own network is down, or its pod\'s', 'and that it may be its pod network')
    c.podNetwork(n, true)
    figure('pod-network-cut', 'recover_ms', await settle('pod network back'))
  })

  t.test('16. a host firewall on one node (its node IP dropped, its pod fine): node-ip, on every agent', async t => {
    const h = await holderNode()
    const n = c.liveNodes.filter(x => x !== h).at(-2) as VirtualNode
    c.blockNodeIp(n)
    t.teardown(() => { c.heal(n) })
    const detect = await everyAgentSays('every agent names the node IP', () => [`node-ip|${where(n)}`], 30_000)
    figure('node-ip', 'detect_ms', detect)
    c.heal(n)
    figure('node-ip', 'recover_ms', await settle('node IP back'))
  })

  t.test('15. most of the cluster really gone: the survivors still report, and name the nodes that are gone', async t => {
    const h = await holderNode()
    const survivors = [h, c.liveNodes.find(x => x !== h) as VirtualNode]
    const gone = c.liveNodes.filter(n => !survivors.includes(n))
    const from = printed.length
    for (const n of gone) c.link(n, false)
    t.teardown(() => { for (const n of gone) c.link(n, true) })
    const goneNodes = gone.map(n => `node-${n.index}`)
    const names = async (): Promise<boolean> => {
      const x = await holder()
      const hn = survivors.find(n => n.name === x)
      if (hn === undefined) return false
      const vs = (await reportOf(hn)).verdicts
      const culprits = [...new Set(vs.flatMap(v => v.culprits))].sort()
      return JSON.stringify(culprits) === JSON.stringify([...goneNodes].sort())
    }
    const took = await waitUntil('a survivor holding the Lease names the gone nodes, and only them', names, 60_000, 500)
    figure('most-gone', 'named_ms', took)
    const p = await nextPrinted(15_000)
    t.ok(survivors.some(n => n.name === p.agent), `a survivor (${p.agent}) prints the report`)
    t.ok(p.lines.some(l => /^\s+\[(PARTITION|ISOLATED)\]/.test(l) && goneNodes.every(g => l.includes(g))), 'the printed report names the gone nodes')
    t.ok(printed.slice(from).every(x => survivors.some(n => n.name === x.agent)), 'only survivors printed')
    for (const n of gone) c.link(n, true)
    figure('most-gone', 'recover_ms', await waitUntil('nodes back: a healthy cluster', healthy, 60_000, 500))
  })

  t.test('17. a rogue member on a compromised node: made-up agents, a hijacked name, forged leaves, a second key, bad tokens: no view or report changes', async t => {
    const h = await holderNode()
    const k = c.liveNodes.filter(x => x !== h).at(-1) as VirtualNode
    const victim = c.liveNodes.find(x => x !== h && x !== k) as VirtualNode
    const other = c.liveNodes.find(x => x !== h && x !== k && x !== victim) as VirtualNode
    const rogue = await c.startRogue(k)
    t.teardown(async () => {
      c.stopRogue(rogue)
      if (k.agent === null) await c.startAgent(k).ready
    })
    const others = c.liveNodes
    const namesOf = async (n: VirtualNode): Promise<string[]> => Object.keys((await c.api<{ agents: Record<string, unknown> }>(n, '/api/v1/coverage')).agents).sort()
    const want = others.map(n => n.name).sort()
    await waitUntil('the killed agent gone from every view', async () => await everyLive(async n => JSON.stringify(await namesOf(n)) === JSON.stringify(want)), 20_000, 200)
    await waitUntil('the rogue holds the victim\'s record', async () => (await call<{ records: string[] }>(rogue, 'pull', {}, 15_000)).records.includes(victim.name), 20_000, 500)
    const rejectedBefore = await Promise.all(others.map(async n => Object.values((await c.api<{ gossip: { rejected: Record<string, number> } }>(n, '/api/v1/health')).gossip.rejected).reduce((a, b) => a + b, 0)))
    const own = readFileSync(c.tokenFile(k), 'utf8').trim()
    const id = (name: string, index: number, token: string | undefined): Record<string, unknown> => ({
      identity: { podName: name, nodeName: `node-${index}`, nodeIp: k.nodeIp, podIp: k.podIp, namespace: 'kube-system', version: '0.1.0', peerId: 'x' },
      inc: Date.now(),
      seq: 1,
      rv: 1,
      results: {},
      leader: false,
      ...(token === undefined ? {} : { token })
    })
    // 1. a made-up agent, with the compromised pod's own (valid) token, and without one
    await call(rogue, 'record', { record: id('agent-99', 99, own), signedAs: 'self' })
    await call(rogue, 'record', { record: id('agent-98', 98, undefined), signedAs: 'self' })
    // 2. a real agent's name under the rogue's key, replaying its record and token as heard
    t.ok((await call<{ token: boolean }>(rogue, 'replay', { origin: victim.name })).token, 'the replayed record carried the victim\'s token')
    // 3. a leave for a third real agent at a far incarnation
    await call(rogue, 'leave', { origin: other.name, inc: 9e12 })
    // 4. the compromised pod's own name from a second key (a relay that would count as another origin's word)
    await call(rogue, 'record', { record: id(k.name, k.index, own), signedAs: 'self', via: 'second' })
    // 5. tokens that must not pass: expired, another audience, another cluster's key, not yet valid
    const now = Math.floor(Date.now() / 1000)
    const bad = [
      await c.mintToken({ exp: now - 600, iat: now - 4200, nbf: now - 4200 }, { node: k }),
      await c.mintToken({}, { node: k, audiences: ['someone-else'] }),
      await c.mintToken({}, { node: k, signWith: 'other' }),
      await c.mintToken({ iat: now + 3600, nbf: now + 3600, exp: now + 7200 }, { node: k }),
      // an old token of the pod, still valid: replayed under another key it is no newer than the bound one
      await c.mintToken({ iat: now - 1200, nbf: now - 1200, exp: now + 1200 }, { node: k })
    ]
    for (const token of bad) await call(rogue, 'record', { record: id(k.name, k.index, token), signedAs: 'self' })
    // what every agent holds is unchanged, and stays so
    await new Promise(resolve => setTimeout(resolve, 6_000))
    for (const n of others) t.same(await namesOf(n), want, `${n.name}: the same agents, none made up, none evicted`)
    for (const n of others) {
      const cov = (await c.api<{ agents: Record<string, { peer_id?: string }> }>(n, '/api/v1/coverage')).agents
      t.ok(cov[victim.name] !== undefined, `${n.name}: ${victim.name} is still there`)
    }
    const rejectedAfter = await Promise.all(others.map(async n => Object.values((await c.api<{ gossip: { rejected: Record<string, number> } }>(n, '/api/v1/health')).gossip.rejected).reduce((a, b) => a + b, 0)))
    t.ok(rejectedAfter.some((r, i) => r > (rejectedBefore[i] ?? 0)), `the attacks were refused and counted (${rejectedBefore.join(',')} -> ${rejectedAfter.join(',')})`)
    const vs = (await reportOf(await holderNode())).verdicts
    const invented = vs.filter(v => !v.culprits.every(x => x === `node-${k.index}` || x === k.name))
    t.same(invented.map(v => `${v.kind}|${v.subject}`), [], 'the report names nothing but the compromised node (its agent is gone)')
    c.stopRogue(rogue)
    c.startAgent(k)
    await k.agent?.ready
    figure('rogue', 'recover_ms', await settle('the compromised node back'))
  })

  t.test('18. a restart with the clock set back an hour rejoins at once', async t => {
    const h = await holderNode()
    const n = c.liveNodes.filter(x => x !== h).at(-1) as VirtualNode
    await c.restartAgent(n, 'SIGKILL', { clockOffsetS: -3600 })
    t.teardown(async () => { if (n.clockOffsetS !== 0) await c.restartAgent(n, 'SIGTERM', { clockOffsetS: 0 }) })
    const back = await waitUntil('back in every view', async () => await everyLive(async o => await podCount(o) === N), 15_000, 100)
    figure('clock-back-restart', 'rejoin_ms', back)
    t.ok(back < 5_000, `rejoined every view ${back} ms after it was ready (a normal restart takes about the same)`)
    await c.restartAgent(n, 'SIGTERM', { clockOffsetS: 0 })
    await waitUntil('clock fixed: a healthy cluster', healthy, 60_000, 500)
  })

  t.test('20. nodes Kubernetes set aside: a cordoned node whose link dies is excluded, not isolated; uncordoned, it is isolated; not ready, excluded again', async t => {
    await settle('before cordoning')
    const h = await holderNode()
    const n = c.liveNodes.filter(x => x !== h)[2] as VirtualNode
    const label = `node-${n.index}`
    const others = (): VirtualNode[] => c.liveNodes.filter(x => x !== n)
    const excludedOn = async (o: VirtualNode): Promise<string> => JSON.stringify((await reportOf(o)).excluded)
    /** Every agent but n's (cut off: its API cannot be asked) reports exactly `want`. */
    const othersSay = async (what: string, want: string[]): Promise<void> => {
      await waitUntil(what, async () => (await Promise.all(others().map(async o => JSON.stringify(sig((await reportOf(o)).verdicts)) === JSON.stringify(want)))).every(Boolean), 20_000, 200)
    }
    await c.setNode(n, { unschedulable: true })
    t.teardown(async () => { c.link(n, true); await c.setNode(n, { unschedulable: false, ready: true }) })
    const cordoned = JSON.stringify([{ node: label, reason: 'cordoned' }])
    const seen = await waitUntil('every agent knows it is cordoned', async () => await everyLive(async o => await excludedOn(o) === cordoned), 15_000, 100)
    figure('excluded-node', 'known_ms', seen)
    c.link(n, false)
    // long enough for an isolated verdict to be raised (scenario 3 sees one within a few seconds)
    const verdicts = new Set<string>()
    const until = Date.now() + 12_000
    while (Date.now() < until) {
      for (const o of others()) for (const v of sig((await reportOf(o)).verdicts)) verdicts.add(`${o.name}: ${v}`)
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    t.same([...verdicts], [], 'no agent blamed the cordoned node (or anything else) while its link was down')
    const p = await nextPrinted()
    t.ok(p.lines.some(l => l.startsWith(`Excluded by Kubernetes, not judged (1): ${label} (cordoned)`)), 'the printed report says it is excluded and why')
    t.ok(p.lines.some(l => l.startsWith('Verdicts: none')), 'and names no verdict')
    // uncordoned with its link still down: now it is what it is, isolated
    await c.setNode(n, { unschedulable: false })
    await othersSay('isolated once uncordoned', [`isolated|${where(n)}`])
    t.pass('uncordoned: isolated on every other agent')
    // the node controller marks it NotReady: excluded again, with its reason
    await c.setNode(n, { ready: 'Unknown' })
    await othersSay('excluded while not ready', [])
    t.equal(await excludedOn(h), JSON.stringify([{ node: label, reason: 'not ready: NodeStatusUnknown' }]), 'excluded as not ready')
    c.link(n, true)
    await c.setNode(n, { ready: true })
    await waitUntil('nothing excluded', async () => await everyLive(async o => await excludedOn(o) === '[]'), 15_000, 100).catch(async (err: unknown) => {
      const seen = await Promise.all(c.liveNodes.map(async o => `${o.name}: ${await excludedOn(o).catch(e => String(e))}`))
      throw new Error(`${(err as Error).message}; holder ${String(await holder())}; ${seen.join('; ')}`)
    })
    figure('excluded-node', 'recover_ms', await settle('back in service'))
  })

  t.test('19. a sampled cluster: a one-way block between two agents no sample covers is found by the sweep', async t => {
    // every agent probes one peer (the sample of a 1000-node cluster, scaled down) and sweeps the rest with ICMP;
    // the last scenario that needs the agents: they stay sampled
    const sampled = { PROBE_SAMPLE_ABOVE: '2', PROBE_COVERAGE: '1', PROBE_SAMPLE_HOLD: '1000' }
    for (const n of c.nodes) await c.restartAgent(n, 'SIGTERM', { env: sampled })
    const measured = async (): Promise<PairMap> => await pairs(c.node(1), 'hosts')
    await waitUntil('one sampled peer per agent, a healthy cluster', async () => {
      const hosts = await measured()
      return c.nodes.every(s => Object.keys(hosts[s.nodeIp] ?? {}).length === 1) && await healthy()
    }, 60_000, 500)
    const hosts = await measured()
    const covered = (a: VirtualNode, b: VirtualNode): boolean => hosts[a.nodeIp]?.[b.nodeIp] !== undefined || hosts[b.nodeIp]?.[a.nodeIp] !== undefined
    const pair = c.nodes.flatMap(a => c.nodes.map(b => [a, b] as const)).find(([a, b]) => a !== b && !covered(a, b))
    if (pair === undefined) throw new Error(`every pair is in some sample: ${JSON.stringify(hosts)}`)
    const [a, b] = pair
    t.comment(`${a.name} -> ${b.name}: no sample probes it either way`)
    c.blockOneWay(a, b)
    t.teardown(() => { c.heal(b) })
    const want = `one-way|${a.name} -> ${b.name}`
    const detect = await untilVerdicts('a one-way verdict from the sweep', vs => vs.includes(want), 20_000)
    figure('sampled-one-way', 'detect_ms', detect)
    t.same([...new Set(await verdictsNow())], [want], 'only the one-way link is blamed')
    const now = await pairs(c.node(3), 'hosts')
    t.match(now[a.nodeIp]?.[b.nodeIp], { ping: 'unreachable' }, 'A -> B reported by A (its sweep found it silent)')
    t.match(now[b.nodeIp]?.[a.nodeIp], { ping: 'reachable', port_status: 'open' }, 'B -> A measured by B (A reported B unreachable)')
    c.heal(b)
    figure('sampled-one-way', 'recover_ms', await settle('one-way healed'))
    // (the watch's release, six rounds after the last failure, is checked in test/probe.test.ts: here it once took
    // longer than a minute, not yet understood)
  })

  t.test('a harness stopped by Ctrl-C leaves nothing behind', async t => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./harness/up.ts', import.meta.url)), '2'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    await waitUntil('the child cluster ready', async () => out.includes('ready:'), 30_000, 100)
    const tag = `k8c${child.pid ?? 0}`
    const ours = (): string[] => execFileSync('ip', ['netns', 'list']).toString().split('\n').filter(l => l.startsWith(tag))
    t.equal(ours().length, 4, 'two nodes, the switch and infra namespaces exist while it runs')
    const childSubnet = /APIs at http:\/\/(\d+\.\d+\.\d+)\./.exec(out)?.[1]
    t.not(childSubnet, c.subnet, `its subnet (${childSubnet ?? '?'}) is not the parent cluster's, whatever their pids`)
    t.ok(childSubnet !== undefined && existsSync(subnetLockPath(Number(childSubnet.split('.')[2]))), 'it holds its subnet\'s lock')
    child.kill('SIGINT')
    const code = await new Promise(resolve => child.once('exit', (c, s) => { resolve(c ?? s) }))
    t.equal(code, 130, 'it exits as interrupted')
    t.same(ours(), [], 'no namespace left')
    t.notOk(existsSync(`/etc/netns/${tag}n1`), 'no resolv.conf left under /etc/netns')
    t.equal(spawnSync('ip', ['link', 'show', `${tag}r`]).status, 1, 'no veth left in the root namespace')
    t.notOk(childSubnet !== undefined && existsSync(subnetLockPath(Number(childSubnet.split('.')[2]))), 'its subnet lock is given back')
  })

  t.test('figures', async t => {
    // the apiserver load of identities: one JWKS fetch per agent start (then hourly), whatever the mesh did
    const jwks = (await c.apiserverRequests()).byPath.jwks
    figure('identity', 'jwks_requests', jwks)
    t.ok(jwks > 0 && jwks < 60, `the agents fetched the cluster's keys once per start (${jwks} requests over the whole run, about 30 agent starts)`)
    t.comment(JSON.stringify(figures))
    mkdirSync('bench/results', { recursive: true })
    writeFileSync('bench/results/fault-scenarios.json', JSON.stringify({ date: new Date().toISOString(), nodes: N, ttlMs: TTL_MS, figures }, null, 2) + '\n')
    t.ok(Object.keys(figures).length >= 21, 'every scenario recorded its figures')
  })
}
