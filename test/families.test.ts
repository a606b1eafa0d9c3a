// The main scenarios on an IPv6-only and on a dual-stack virtual cluster (test/harness/cluster.ts `family`): the mesh
// forms, every path of every address family is probed and reported, and faults are named as on IPv4. Needs root.
import t from 'tap'
import type { PairMap } from '../src/api/projection.ts'
import type { Report } from '../src/report/report.ts'
import type { Verdict } from '../src/report/verdicts.ts'
import { waitUntil } from '../tools/launcher.ts'
import { harnessUnavailable, VirtualCluster, type IpFamily, type VirtualNode } from './harness/cluster.ts'
import { untilVerdictsHold } from './harness/verdict-wait.ts'

const N = 5

const why = harnessUnavailable()
if (why !== null) {
  if (process.env.K8SNET_REQUIRE_PRIVILEGED === '1') t.fail(`the address-family scenarios cannot run: ${why}`)
  else t.comment(`skipped: the address-family scenarios ${why}`)
} else {
  for (const family of ['ipv6', 'dual'] as const satisfies IpFamily[]) {
    t.test(`${family} cluster`, async t => {
      const printed: string[] = []
      const c = new VirtualCluster({ nodes: N, family, env: { PROBE_ECHOES: '3' }, onText: (_a, line) => { printed.push(line) } })
      t.teardown(async () => { await c.stop() })
      await c.start()

      const sig = (vs: Verdict[]): string[] => vs.map(v => `${v.kind}|${v.subject}`).sort()
      const where = (n: VirtualNode): string => `node-${n.index} (${n.nodeIp})`
      const holderNode = async (): Promise<VirtualNode> => {
        const h = (await c.lease()).holder
        const n = c.nodes.find(x => x.name === h)
        if (n === undefined || n.agent === null) throw new Error(`no live lease holder (${String(h)})`)
        return n
      }
      const verdictsNow = async (): Promise<string[]> => sig((await c.api<Report>(await holderNode(), '/api/v1/report')).verdicts)
      const untilVerdicts = async (what: string, check: (vs: string[]) => boolean, timeoutMs: number): Promise<number> =>
        await untilVerdictsHold(verdictsNow, what, check, timeoutMs)
      const podCount = async (n: VirtualNode): Promise<number> => (await c.api<{ count: number }>(n, '/api/v1/pods')).count
      const healthy = async (): Promise<boolean> =>
        (await Promise.all(c.liveNodes.map(async n => await podCount(n) === c.liveNodes.length))).every(Boolean) && (await verdictsNow()).length === 0
      const settle = async (what: string): Promise<number> => await waitUntil(`${what}: a healthy cluster`, healthy, 30_000, 200).catch(async (err: unknown) => {
        const counts = await Promise.all(c.liveNodes.map(async n => `${n.name}: ${await podCount(n).catch(() => '?')}`))
        throw new Error(`${(err as Error).message} (agents seen: ${counts.join(', ')}; verdicts: ${JSON.stringify(await verdictsNow().catch(() => '?'))})`)
      })
      const pairs = async (n: VirtualNode, layer: 'hosts' | 'pods'): Promise<PairMap> =>
        (await c.api<{ results: PairMap }>(n, `/api/v1/test-results/${layer}`)).results
      /** Every ordered pair of nodes, over each family's addresses (the i-th address of one with the i-th of the other). */
      const everyPath = (ips: (n: VirtualNode) => string[]): Array<[string, string]> =>
        c.nodes.flatMap(s => c.nodes.filter(d => d !== s).flatMap(d => ips(s).map((ip, i): [string, string] => [ip, ips(d)[i] as string])))

      t.test('the mesh forms and every path of every family works', async t => {
        await settle('start')
        for (const obs of c.nodes) {
          for (const [layer, ips] of [['hosts', (n: VirtualNode) => n.nodeIps], ['pods', (n: VirtualNode) => n.podIps]] as const) {
            const paths = everyPath(ips)
            let missing: string[] = []
            const allWork = async (): Promise<boolean> => {
              const res = await pairs(obs, layer)
              missing = paths.filter(([s, d]) => res[s]?.[d]?.port_status !== 'open' || res[s]?.[d]?.ping !== 'reachable').map(([s, d]) => `${s} -> ${d}`)
              return missing.length === 0
            }
            await waitUntil(`${obs.name}: every ${layer} path`, allWork, 15_000, 200).catch(() => 0)
            t.same(missing, [], `${obs.name}: all ${paths.length} ${layer} paths open and answering ICMP`)
          }
        }
        const report = await c.api<Report>(await holderNode(), '/api/v1/report')
        t.equal(report.activeAgents, N, 'the report counts every agent')
        t.match(report.service, { agents: N, dnsOk: N, reachable: N }, 'the Service resolves and answers from every agent')
        if (family === 'dual') {
          const cov = await c.api<{ agents: Record<string, { second_node_ip?: string, second_pod_ip?: string }> }>(c.node(1), '/api/v1/coverage')
          for (const n of c.nodes) t.match(cov.agents[n.name], { second_node_ip: n.nodeIps[1], second_pod_ip: n.podIps[1] }, `the coverage answer names ${n.name}'s IPv6 addresses (the page labels their rows)`)
        }
        await waitUntil('a printed report', async () => printed.some(l => l.startsWith('Verdicts: none')), 10_000)
        t.pass('the Lease holder prints a report with no verdict')
      })

      t.test('a node\'s link down: isolated, then cleared', async t => {
        const h = await holderNode()
        const n = c.nodes.find(x => x !== h) as VirtualNode
        c.link(n, false)
        t.teardown(() => { c.link(n, true) })
        await untilVerdicts('isolated', vs => vs.includes(`isolated|${where(n)}`), 20_000)
        t.same(await verdictsNow(), [`isolated|${where(n)}`], 'the node is named isolated, and nothing else')
        c.link(n, true)
        await settle('link back')
        t.pass('healthy again')
      })

      t.test('a one-way block: named one-way', async t => {
        const [a, b] = [c.node(1), c.node(2)]
        c.blockOneWay(a, b)
        t.teardown(() => { c.heal(b) })
        const want = `one-way|${a.name} -> ${b.name}`
        await untilVerdicts('one-way', vs => vs.includes(want), 20_000)
        t.same(await verdictsNow(), [want], 'only the one-way link is blamed')
        c.heal(b)
        await settle('healed')
        t.pass('healthy again')
      })

      t.test('a partition: one verdict naming both groups', async t => {
        const h = await holderNode()
        const small = c.nodes.filter(n => n !== h).slice(-2)
        const big = c.nodes.filter(n => !small.includes(n))
        c.partition([big, small])
        t.teardown(() => { c.healAll() })
        const label = (ns: VirtualNode[]): string => ns.map(n => `node-${n.index}`).join(', ')
        const want = `partition|${label(big)} | ${label(small)}`
        await untilVerdicts('partition', vs => vs.includes(want), 30_000)
        t.same(await verdictsNow(), [want], 'the holder names the partition and nothing else')
        c.healAll()
        await settle('healed')
        t.pass('healthy again')
      })

      t.test('TEST_PORT closed on one node: named port-closed; the page is served over the primary address', async t => {
        const n = c.node(N)
        await c.testPort(n, false)
        t.teardown(async () => { await c.testPort(n, true) })
        await untilVerdicts('port-closed', vs => vs.includes(`port-closed|${where(n)}`), 20_000)
        t.same(await verdictsNow(), [`port-closed|${where(n)}`], 'the only verdict names the port (on every family it is closed on)')
        await c.testPort(n, true)
        await settle('reopened')
        const page = await fetch(`${c.apiUrl(c.node(1))}/`)
        t.equal(page.status, 200, `GET / over ${c.node(1).podIp}`)
        t.match(await page.text(), /<html/i)
      })

      if (family === 'dual') {
        t.test('a one-way block over IPv6 alone: named one-way over IPv6, IPv4 still fine', async t => {
          const [a, b] = [c.node(3), c.node(4)]
          c.blockOneWay(a, b, 'ipv6')
          t.teardown(() => { c.heal(b) })
          const want = `one-way|${a.name} -> ${b.name} over IPv6`
          await untilVerdicts('one-way over IPv6', vs => vs.includes(want), 20_000)
          t.same(await verdictsNow(), [want], 'one verdict, naming the family')
          const hosts = await pairs(c.node(1), 'hosts')
          t.match(hosts[a.nodeIps[1] as string]?.[b.nodeIps[1] as string], { ping: 'unreachable' }, 'the IPv6 path fails (seen from a third agent)')
          t.match(hosts[a.nodeIp]?.[b.nodeIp], { ping: 'reachable', port_status: 'open' }, 'the IPv4 path works')
          c.heal(b)
          await settle('healed')
          t.pass('healthy again')
        })
      }
    })
  }
}
