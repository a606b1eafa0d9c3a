// Pure report layer: verdicts that localise faults (src/report/verdicts.ts), the report summary
// (src/report/report.ts) and its text (src/report/render.ts), driven by synthetic clusters. No I/O, no clocks.
import t from 'tap'
import type { AgentRecord, Layer, PathResult, ServiceResult } from '../src/core/record.ts'
import { buildReport } from '../src/report/report.ts'
import { renderReport } from '../src/report/render.ts'
import { buildEvidence } from '../src/report/evidence.ts'
import { modelOptions, NetworkModel } from '../src/report/network-model.ts'
import { PairHistory } from '../src/report/pair-history.ts'
import { FamilyModels, recordInFamily } from '../src/report/family-models.ts'
import { analyseFully, DEFAULT_VERDICT_OPTIONS, findVerdicts, type LostAgent, type Verdict, type VerdictOptions } from '../src/report/verdicts.ts'
import { ident, mulberry32, serviceResult } from './fixtures.ts'

// ---------------------------------------------------------------------------------------------------------------
// synthetic cluster builder

const NOW = Date.UTC(2026, 2, 4, 5, 6, 7) // 2026-03-04T05:06:07.000Z
const NOW_ISO = '2026-03-04T05:06:07.000Z'
const HOST_PORT = 22
const POD_PORT = 6100

type Outcome = 'ok' | 'down' | 'refused' | 'filtered' | 'lossy' | 'noicmp-refused' | 'noicmp-open' | 'absent'
type Pick = (layer: Layer, src: number, dst: number) => Outcome

const allOk: Pick = () => 'ok'

/** One PathResult for an outcome. */
function result (target: string, port: number, outcome: Exclude<Outcome, 'absent'>, checkedAt: number): PathResult {
  const base = { target, port, checkedAt }
  switch (outcome) {
    case 'ok': return { ...base, sent: 3, received: 3, rttMs: 0.5, tcp: 'open', connectMs: 0.4, durationMs: 2 }
    case 'down': return { ...base, sent: 3, received: 0, rttMs: null, tcp: 'timeout', connectMs: null, durationMs: 3000 }
    case 'refused': return { ...base, sent: 3, received: 3, rttMs: 0.5, tcp: 'refused', connectMs: 0.3, durationMs: 2 }
    case 'filtered': return { ...base, sent: 3, received: 3, rttMs: 0.5, tcp: 'timeout', connectMs: null, durationMs: 1000 }
    case 'noicmp-refused': return { ...base, sent: 3, received: 0, rttMs: null, tcp: 'refused', connectMs: 0.3, durationMs: 1000 }
    case 'noicmp-open': return { ...base, sent: 3, received: 0, rttMs: null, tcp: 'open', connectMs: 0.4, durationMs: 1000 }
    case 'lossy': return { ...base, sent: 3, received: 2, rttMs: 0.7, tcp: 'open', connectMs: 0.4, durationMs: 1002 }
  }
}

interface ClusterOpts {
  /** checkedAt of agent i's results (defaults to NOW: fresh). */
  checkedAt?: (i: number) => number
  /** The Service result of agent i (defaults to none). */
  service?: (i: number) => ServiceResult | null
}

/** Agents 1..n, each with host (port 22) and pod (port 6100) results for every other agent, chosen by pick. */
function cluster (n: number, pick: Pick = allOk, opts: ClusterOpts = {}): AgentRecord[] {
  const agents: AgentRecord[] = []
  for (let i = 1; i <= n; i++) {
    const at = opts.checkedAt?.(i) ?? NOW
    const host = new Map<string, PathResult>()
    const pod = new Map<string, PathResult>()
    for (let j = 1; j <= n; j++) {
      if (j === i) continue
      const h = pick('host', i, j)
      const p = pick('pod', i, j)
      if (h !== 'absent') host.set(`10.0.0.${j}`, result(`10.0.0.${j}`, HOST_PORT, h, at))
      if (p !== 'absent') pod.set(`10.1.0.${j}`, result(`10.1.0.${j}`, POD_PORT, p, at))
    }
    agents.push({
      identity: ident(i),
      inc: 1_000 + i,
      seq: 1,
      rv: 1,
      results: { host, pod, service: opts.service?.(i) ?? null }
    })
  }
  return agents
}

function svc (over: Partial<ServiceResult> = {}): ServiceResult {
  return serviceResult([result('10.96.0.10', 80, 'ok', NOW)], NOW, over)
}
const svcDnsFail = (): ServiceResult => svc({ dnsOk: false, dnsMs: 5000, dnsError: 'ENOTFOUND', addresses: [], paths: [] })
const svcNoEndpoint = (): ServiceResult => svc({ paths: [result('10.96.0.10', 80, 'down', NOW)] })

const where = (i: number): string => `node-${i} (10.0.0.${i})`
/** Sorted "kind|subject" signatures: the exact set of verdicts raised. */
const sig = (vs: Verdict[]): string[] => vs.map(v => `${v.kind}|${v.subject}`).sort()
/** Verdicts blaming a node (subject "node-N (ip)"). */
const nodeBlames = (vs: Verdict[]): Verdict[] => vs.filter(v => /^node-\d+ \(/.test(v.subject))
const one = (vs: Verdict[], kind: string): Verdict => {
  const found = vs.filter(v => v.kind === kind)
  if (found.length !== 1) throw new Error(`expected exactly one ${kind} verdict, got ${found.length}: ${JSON.stringify(sig(vs))}`)
  return found[0] as Verdict
}
const verdicts = (live: AgentRecord[], lost: LostAgent[] = [], o: VerdictOptions = DEFAULT_VERDICT_OPTIONS): Verdict[] =>
  findVerdicts(live, lost, o)

/** Every path touching node k (both directions, both layers) is down. */
const isolatedNode = (k: number): Pick => (_l, s, d) => s === k || d === k ? 'down' : 'ok'

// ---------------------------------------------------------------------------------------------------------------

t.test('builder sanity: the synthetic cluster is what the scenarios assume', async t => {
  const c = cluster(4, (l, s, d) => l === 'pod' && s === 1 && d === 2 ? 'down' : 'ok')
  t.equal(c.length, 4)
  const a1 = c[0] as AgentRecord
  t.same([...a1.results.host.keys()], ['10.0.0.2', '10.0.0.3', '10.0.0.4'], 'host keyed by node IP of every other agent')
  t.same([...a1.results.pod.keys()], ['10.1.0.2', '10.1.0.3', '10.1.0.4'], 'pod keyed by pod IP of every other agent')
  t.equal(a1.results.host.get('10.0.0.2')?.port, 22)
  t.equal(a1.results.pod.get('10.1.0.2')?.port, 6100)
  t.equal(a1.results.pod.get('10.1.0.2')?.received, 0, 'pick applied per layer')
  t.equal(a1.results.host.get('10.0.0.2')?.received, 3)
  t.equal(a1.results.host.get('10.0.0.2')?.checkedAt, NOW)
})

t.test('1. healthy cluster of 6: no verdict', async t => {
  t.same(verdicts(cluster(6)), [])
  // fresh-but-not-quite results (just inside staleAfterMs) are still healthy
  const nearlyStale = cluster(6, allOk, { checkedAt: () => NOW - DEFAULT_VERDICT_OPTIONS.staleAfterMs })
  t.same(verdicts(nearlyStale), [], 'age == staleAfterMs is not stale (strictly older is)')
  t.same(verdicts(cluster(6, allOk, { service: () => svc() })), [], 'a healthy Service adds nothing')
})

t.test('2. noisy but healthy: a down pair and a lossy pair never blame a node', async t => {
  // fixed case: agent-2 -> agent-5 down (both layers, reverse works), agent-4 -> agent-1 loses 1 of 3
  const fixed = verdicts(cluster(6, (_l, s, d) => s === 2 && d === 5 ? 'down' : s === 4 && d === 1 ? 'lossy' : 'ok'))
  t.same(sig(fixed), ['one-way|agent-2 -> agent-5'], 'one one-way verdict for the link, on the bad link only')
  t.same(nodeBlames(fixed), [], 'no node blamed')
  for (const v of fixed) t.same([v.agree, v.of], [1, 1], 'a single observation claims 1/1')
  t.match(fixed.map(v => v.summary), [/^host and pod paths agent-2 -> agent-5 fail while agent-5 -> agent-2 works/])
  t.same(fixed[0]?.culprits, ['agent-2 -> agent-5'], 'the culprit is the link')

  // same pair down both ways: nothing can be localised, nothing is said
  const both = verdicts(cluster(6, (_l, s, d) => (s === 2 && d === 5) || (s === 5 && d === 2) ? 'down' : 'ok'))
  t.same(both, [], 'a pair down both ways among healthy agents yields no verdict')

  // seeded random noise: any down pair + any distinct lossy pair
  let checked = 0
  for (let seed = 1; seed <= 40; seed++) {
    const r = mulberry32(seed)
    const pickPair = (): [number, number] => {
      const s = 1 + Math.floor(r() * 6)
      let d = 1 + Math.floor(r() * 5)
      if (d >= s) d++
      return [s, d]
    }
    const [ds, dd] = pickPair()
    let [ls, ld] = pickPair()
    while (ls === ds && ld === dd) [ls, ld] = pickPair()
    const layers: Layer[] = r() < 0.5 ? ['host', 'pod'] : [r() < 0.5 ? 'host' : 'pod']
    const vs = verdicts(cluster(6, (l, s, d) =>
      s === ds && d === dd && layers.includes(l) ? 'down' : s === ls && d === ld ? 'lossy' : 'ok'))
    const bad = vs.filter(v => v.kind !== 'one-way' && !(v.kind === 'overlay' && v.subject === `agent-${ds} -> agent-${dd}`))
    t.same(sig(bad), [], `seed ${seed}: only pair-level verdicts (down ${ds}->${dd} on ${layers.join('+')}, lossy ${ls}->${ld})`)
    t.ok(vs.every(v => v.subject === `agent-${ds} -> agent-${dd}`), `seed ${seed}: every verdict names the down link`)
    checked++
  }
  t.equal(checked, 40)
})

t.test('3. node 3 isolated, record still live', async t => {
  const vs = verdicts(cluster(6, isolatedNode(3)))
  t.same(sig(vs), [`isolated|${where(3)}`], 'exactly one verdict: isolated node-3')
  const v = one(vs, 'isolated')
  t.equal(v.agree, 5)
  t.equal(v.of, 5)
  t.match(v.summary, 'unreachable from 5 of 5 peers')
  t.match(v.summary, 'cannot reach 5 of 5 itself', 'says it cannot reach out either')
  t.same(v.evidence, ['peers that cannot reach it: node-1, node-2, node-4, node-5, node-6'])
  t.same(v.culprits, ['node-3'])
  t.notOk(v.evidence.some(e => e.includes('not heard')), 'no gossip-silence note for a live record')

  // in a small cluster (3 agents), 2 agreeing observers still suffice
  const small = verdicts(cluster(3, isolatedNode(3)))
  t.same(sig(small), [`isolated|${where(3)}`])
  t.same([one(small, 'isolated').agree, one(small, 'isolated').of], [2, 2])

  // inbound-only (ingress blocked, node 3's own probes work): its inbound path, and no one-way noise about
  // each "agent-x -> agent-3" link, which the node-level verdict already explains
  const ingress = verdicts(cluster(6, (_l, _s, d) => d === 3 ? 'down' : 'ok'))
  t.same(sig(ingress), [`inbound|${where(3)}`])
  t.match(one(ingress, 'inbound').summary, 'reaches its peers', 'its outbound works, so it is not claimed broken')

  // two nodes isolated at once: both named, nobody else
  const two = verdicts(cluster(6, (_l, s, d) => [3, 4].includes(s) || [3, 4].includes(d) ? 'down' : 'ok'))
  t.same(sig(two), [`isolated|${where(3)}`, `isolated|${where(4)}`])
  for (const v of two) t.same([v.agree, v.of], [4, 4], `${v.subject}: the other broken node is left out of the count`)
})

t.test('4. node 3 isolated and its record gone (lost)', async t => {
  const all = cluster(6, isolatedNode(3))
  const live = all.filter(a => a.identity.podName !== 'agent-3')
  const lost: LostAgent[] = [{ record: all[2] as AgentRecord, silentMs: 20_000 }]
  const vs = verdicts(live, lost)
  t.same(sig(vs), [`isolated|${where(3)}`], 'isolated, and no extra stale verdict for the same agent')
  const v = one(vs, 'isolated')
  t.same([v.agree, v.of], [5, 5])
  t.match(v.summary, 'not heard for 20 s', 'the summary says it fell silent')
  t.notMatch(v.summary, 'cannot reach', 'its own (unknown) outbound is not claimed')

  // lost but still reached by everyone, its health port answering: its gossip is cut or the agent stuck
  const reached = cluster(6)
  const vs2 = verdicts(reached.filter(a => a.identity.podName !== 'agent-3'), [{ record: reached[2] as AgentRecord, silentMs: 45_000 }])
  t.same(sig(vs2), [`gossip-cut|${where(3)}`])
  t.match(one(vs2, 'gossip-cut').summary, 'has not been heard for 45 s, while its pod\'s health port answers 5 of 5 peers')

  // lost, its node answering and its health port refusing: the agent is not running, the network is fine
  const gone = cluster(6, (l, _s, d) => l === 'pod' && d === 3 ? 'noicmp-refused' : 'ok')
  const vs3 = verdicts(gone.filter(a => a.identity.podName !== 'agent-3'), [{ record: gone[2] as AgentRecord, silentMs: 45_000 }])
  t.same(sig(vs3), ['stale|agent-3'])
  t.match(one(vs3, 'stale').summary, 'the agent is not running')
})

t.test('5. node 2 outbound failure', async t => {
  const vs = verdicts(cluster(6, (_l, s) => s === 2 ? 'down' : 'ok'))
  t.same(sig(vs), [`outbound|${where(2)}`], 'exactly one verdict: outbound node-2')
  const v = one(vs, 'outbound')
  t.same([v.agree, v.of], [5, 5])
  t.match(v.summary, 'cannot reach 5 of 5 peers, while they reach it')
  t.same(v.evidence, ['unreachable from it: node-1, node-3, node-4, node-5, node-6'])

  // host layer only broken outbound (pod works): still its own outbound path, nobody else blamed
  const hostOnly = verdicts(cluster(6, (l, s) => s === 2 && l === 'host' ? 'down' : 'ok'))
  t.same(sig(hostOnly), [`outbound|${where(2)}`])
})

t.test('6. one-way block agent-1 -> agent-2', async t => {
  const vs = verdicts(cluster(6, (_l, s, d) => s === 1 && d === 2 ? 'down' : 'ok'))
  t.same(sig(vs), ['one-way|agent-1 -> agent-2'], 'one verdict for the link, naming both layers')
  t.same(nodeBlames(vs), [])
  t.same(vs.map(v => v.evidence), [[
    'host agent-1 -> agent-2 (10.0.0.2): unreachable (ICMP 0/3, TCP timeout)', 'host agent-2 -> agent-1: ok',
    'pod agent-1 -> agent-2 (10.1.0.2): unreachable (ICMP 0/3, TCP timeout)', 'pod agent-2 -> agent-1: ok'
  ]])

  // many one-way blocks are capped by maxPairVerdicts
  const many = verdicts(cluster(6, (_l, s, d) => s < d && d - s <= 2 ? 'down' : 'ok'),
    [], { ...DEFAULT_VERDICT_OPTIONS, maxPairVerdicts: 3 })
  t.equal(many.filter(v => v.kind === 'one-way').length, 3, 'one-way verdicts capped at maxPairVerdicts')
  t.same(nodeBlames(many), [])
})

t.test('7. overlay broken on node 4 (pod down, host fine)', async t => {
  // pod paths into node 4 fail from everyone; host paths to node 4 work; node 4's own probes work
  const vs = verdicts(cluster(6, (l, _s, d) => l === 'pod' && d === 4 ? 'down' : 'ok'))
  t.same(sig(vs), [`overlay|${where(4)}`], 'exactly one overlay verdict naming node-4')
  t.notOk(vs.some(v => v.kind === 'isolated'), 'a node whose host paths all work is not isolated')
  t.equal(nodeBlames(vs).length, 1, 'one node-level verdict, and it is about node-4')
  t.equal(nodeBlames(vs)[0]?.subject, where(4))

  // realistic variant: node 4's pod can neither receive nor send on the pod network
  const vs2 = verdicts(cluster(6, (l, s, d) => l === 'pod' && (d === 4 || s === 4) ? 'down' : 'ok'))
  t.same(sig(vs2), [`overlay|${where(4)}`], 'bidirectional pod failure on node-4: overlay naming node-4')
  t.equal(nodeBlames(vs2)[0]?.subject, where(4))

  // the mirror image: host paths into node 4 down from everyone while its pod answers on the pod network.
  const vs3 = verdicts(cluster(6, (l, _s, d) => l === 'host' && d === 4 ? 'down' : 'ok'))
  t.notOk(vs3.some(v => v.kind === 'isolated'), 'host-only failure with a reachable pod is not isolation')
  t.same(nodeBlames(vs3).map(v => v.subject), [where(4)], 'whatever is said, only node-4 is named')
})

t.test('overlay broken everywhere AND node 3 isolated: something must be said', async t => {
  const vs = verdicts(cluster(6, (l, s, d) => s === 3 || d === 3 ? 'down' : l === 'pod' ? 'down' : 'ok'))
  t.ok(vs.some(v => v.kind === 'isolated' && v.subject === where(3)), 'node-3 is isolated')
  t.ok(vs.some(v => v.kind === 'overlay' && v.subject === 'pod network'), 'the pod network is broken on every pair whose hosts reach each other (20 of 20)')
  t.notOk(nodeBlames(vs).some(v => v.subject !== where(3)), 'no other node blamed')
})

t.test('8. cluster-wide overlay (pod down between all pairs, host fine)', async t => {
  const vs = verdicts(cluster(6, l => l === 'pod' ? 'down' : 'ok'))
  t.same(sig(vs), ['overlay|pod network'], 'exactly one verdict, about the pod network')
  const v = one(vs, 'overlay')
  t.same([v.agree, v.of], [30, 30])
  t.match(v.summary, 'fails on 30 of 30 pairs whose node-to-node traffic works')
  t.equal(v.evidence.length, 5, 'evidence bounded to 5 pairs')
  t.same(nodeBlames(vs), [], 'no single node blamed')
})

t.test('9. TEST_PORT closed on node 5', async t => {
  const vs = verdicts(cluster(6, (l, _s, d) => l === 'host' && d === 5 ? 'refused' : 'ok'))
  t.same(sig(vs), [`port-closed|${where(5)}`], 'exactly one verdict: port-closed node-5')
  const v = one(vs, 'port-closed')
  t.same([v.agree, v.of], [5, 5])
  t.match(v.summary, 'TEST_PORT 22 on node-5 (10.0.0.5) is closed (connection refused) for 5 of 5 peers, while the node answers ICMP')

  // filtered (TCP timeout while ICMP answers) is named as such
  const filtered = verdicts(cluster(6, (l, _s, d) => l === 'host' && d === 5 ? 'filtered' : 'ok'))
  t.same(sig(filtered), [`port-closed|${where(5)}`])
  t.match(one(filtered, 'port-closed').summary, 'is not answering (timeout)')

  // refused from 4 of 5 (agent-1 still connects): 80 % is enough, and the summary describes a refusing peer
  const most = verdicts(cluster(6, (l, s, d) => l === 'host' && d === 5 && s !== 1 ? 'refused' : 'ok'))
  t.same(sig(most), [`port-closed|${where(5)}`])
  t.match(one(most, 'port-closed').summary, 'is closed (connection refused) for 4 of 5 peers')
  t.same(one(most, 'port-closed').evidence, ['peers: node-2, node-3, node-4, node-6'])

  // ICMP dropped but TCP refused: the host answered, so it is up; not isolated, not port-closed (no ICMP proof)
  const noIcmp = verdicts(cluster(6, (l, _s, d) => l === 'host' && d === 5 ? 'noicmp-refused' : 'ok'))
  t.notOk(noIcmp.some(v => v.kind === 'isolated'), 'a TCP refusal proves the node reachable')
  t.notOk(noIcmp.some(v => v.kind === 'port-closed'), 'no port-closed without an ICMP answer')
  t.same(sig(noIcmp), [], 'ICMP filtered on the node IP is not a lossy path')

  // refused from only one peer: thin evidence, no verdict
  t.same(verdicts(cluster(6, (l, s, d) => l === 'host' && s === 1 && d === 5 ? 'refused' : 'ok')), [])

  // closed on every node (no sshd anywhere): one configuration finding, no node blamed
  const everywhere = verdicts(cluster(6, l => l === 'host' ? 'refused' : 'ok'))
  t.same(sig(everywhere), ['test-port|TEST_PORT 22'], 'TEST_PORT closed on all 6 nodes: one test-port finding')
  const finding = one(everywhere, 'test-port')
  t.same([finding.agree, finding.of, finding.culprits], [6, 6, ['TEST_PORT']])
  t.match(finding.summary, 'TEST_PORT 22 is closed on 6 of 6 nodes, which answer ICMP: nothing listens there in this cluster (no sshd?)')
  t.match(finding.summary, 'for example the kubelet\'s 10250')
  t.same(nodeBlames(everywhere), [], 'no node blamed')
  // on 5 of 6 (one node has sshd): still the configuration, as most do not listen
  const most6 = verdicts(cluster(6, (l, _s, d) => l === 'host' && d !== 3 ? 'refused' : 'ok'))
  t.same(sig(most6), ['test-port|TEST_PORT 22'], 'closed on 5 of 6 nodes: the configuration')
  // on 2 of 6: two nodes with their port closed, each named
  const two = verdicts(cluster(6, (l, _s, d) => l === 'host' && (d === 2 || d === 5) ? 'refused' : 'ok'))
  t.same(sig(two).sort(), [`port-closed|${where(2)}`, `port-closed|${where(5)}`].sort(), 'closed on 2 of 6: per node')
})

t.test('10. lossy node 6', async t => {
  const vs = verdicts(cluster(6, (_l, _s, d) => d === 6 ? 'lossy' : 'ok'))
  t.same(sig(vs), [`lossy|${where(6)}`], 'exactly one verdict: lossy node-6')
  const v = one(vs, 'lossy')
  t.same([v.agree, v.of], [5, 5])
  t.match(v.summary, 'lose 33% of ICMP echoes on average; 5 of 5 peers see loss')
  t.notOk(vs.some(x => x.kind === 'isolated'))

  // loss seen by only 1 of 5 peers: no verdict
  t.same(verdicts(cluster(6, (_l, s, d) => d === 6 && s === 1 ? 'lossy' : 'ok')), [])

  // node 6 unreachable (both layers) from 3 of 5 peers, lossy from the other 2: not a majority for 'isolated'.
  const mixed = verdicts(cluster(6, (_l, s, d) => d === 6 && s <= 3 ? 'down' : d === 6 ? 'lossy' : 'ok'))
  t.notOk(mixed.some(v => v.kind === 'lossy'), 'unreachable paths are not "loss" on a node that is degraded, not down')
  t.notOk(mixed.some(v => v.kind === 'isolated'), '3 of 5 is below the majority for isolated')

  // a thinly lossy node 6 (loss on its paths with 3 of its 5 peers, seen by only 2 observers: too few for a verdict)
  // whose path to node 1 lost every echo and the SYN this round, while 1 -> 6 works: that is loss, not a one-way
  // block (a CI run of the cluster test saw "one-way agent-6 -> agent-1" under 30 % netem loss on node 6)
  const thin = verdicts(cluster(6, (l, s, d) => l === 'host' && s === 6 && d === 1 ? 'down' : (d === 6 && (s === 2 || s === 3)) || (s === 6 && d === 4) ? 'lossy' : 'ok'))
  t.same(sig(thin), [], 'a down path of a node that loses packets is no one-way verdict')
  // the same down path on a node without loss is one
  t.same(sig(verdicts(cluster(6, (l, s, d) => l === 'host' && s === 6 && d === 1 ? 'down' : 'ok'))), ['one-way|agent-6 -> agent-1'])
  // and so it is beside two lossy nodes: their peers see loss with them only, which does not make those peers lossy
  const twoLossy = verdicts(cluster(6, (l, s, d) => l === 'host' && s === 1 && d === 2 ? 'down' : d >= 5 || s >= 5 ? 'lossy' : 'ok'))
  t.ok(sig(twoLossy).includes('one-way|agent-1 -> agent-2'), `a one-way block between two nodes without loss beside two lossy nodes: ${JSON.stringify(sig(twoLossy))}`)

  // a node that filters ICMP on its node IP (common with cloud firewalls) while TCP 22 and its pod are fine.
  const icmpFiltered = verdicts(cluster(6, (l, _s, d) => l === 'host' && d === 6 ? 'noicmp-open' : 'ok'))
  t.notOk(icmpFiltered.some(v => v.kind === 'isolated'), 'TCP open: reachable, not isolated')
  t.notOk(icmpFiltered.some(v => v.kind === 'lossy'), 'all echoes dropped while TCP connects is filtering, not 50 % loss')
})

t.test('11. Service DNS versus endpoints', async t => {
  const dnsMost = verdicts(cluster(6, allOk, { service: i => i === 1 ? svc() : svcDnsFail() }))
  t.same(sig(dnsMost), ['service-dns|web.default.svc.cluster.local:80'], 'DNS failing on 5 of 6: service-dns only')
  const d = one(dnsMost, 'service-dns')
  t.same([d.agree, d.of], [5, 6])
  t.match(d.summary, 'fails on 5 of 6 agents (ENOTFOUND)')
  t.equal(d.evidence.length, 5)
  t.equal(d.evidence[0], 'agent-2: ENOTFOUND')

  const endpoints = verdicts(cluster(6, allOk, { service: () => svcNoEndpoint() }))
  t.same(sig(endpoints), ['service-endpoints|web.default.svc.cluster.local:80'], 'DNS ok, no TCP: endpoints, not DNS')
  const e = one(endpoints, 'service-endpoints')
  t.same([e.agree, e.of], [6, 6])
  t.match(e.summary, 'resolves, but no address accepts TCP port 80 on 6 of 6 agents')

  const dnsOne = verdicts(cluster(6, allOk, { service: i => i === 3 ? svcDnsFail() : svc() }))
  t.same(sig(dnsOne), ['service-dns|web.default.svc.cluster.local:80'])
  const o = one(dnsOne, 'service-dns')
  t.same([o.agree, o.of], [1, 6])
  t.match(o.summary, 'only from agent-3 (1 of 6 agents)')

  // agents without a Service result are not counted
  const partial = verdicts(cluster(6, allOk, { service: i => i <= 2 ? svcDnsFail() : null }))
  t.same(partial.map(v => [v.kind, v.agree, v.of]), [['service-dns', 2, 2]])
})

t.test('12. stale source: results that stop advancing, by the observer\'s own clock', async t => {
  const model = new NetworkModel(modelOptions(10_000, 15_000, { staleAfterMs: 30_000 }))
  const live = cluster(6)
  // agent-4's probe times stop advancing; the others' move on every tick. Its clock is an hour behind, which
  // must not matter: only its own stamps are compared with each other
  const tick = (k: number): Verdict[] => {
    for (const a of live) {
      const stamp = a.identity.podName === 'agent-4' ? NOW - 3_600_000 : NOW + k * 10_000
      for (const layer of ['host', 'pod'] as const) for (const r of a.results[layer].values()) r.checkedAt = stamp
    }
    return model.tick({ now: k * 10_000, wallNow: NOW + k * 10_000, self: 'agent-1', live: live.map(record => ({ record, silentMs: 0 })), lost: [] })
  }
  for (let k = 0; k <= 3; k++) t.same(sig(tick(k)), [], `tick ${k}: not yet stale`)
  t.same(sig(tick(4)), [], 'raised only after it held for two evaluations')
  const vs = tick(5)
  t.same(sig(vs), ['stale|agent-4'], 'exactly one verdict: stale agent-4')
  t.match(one(vs, 'stale').summary, 'agent-4 on node-4 (10.0.0.4) is alive but its probe results have not advanced for 50 s')
})

t.test('13. thin evidence never blames a node', async t => {
  // two agents, link down both ways on both layers: minAgree 2 cannot be met, and nothing is one-way
  const two = verdicts(cluster(2, () => 'down'))
  t.same(nodeBlames(two), [], '2 agents, all down: no node blamed')
  t.same(two, [], 'and no verdict at all')

  // two agents, one direction: a one-way link, not a node
  const oneDir = verdicts(cluster(2, (_l, s) => s === 1 ? 'down' : 'ok'))
  t.same(sig(oneDir), ['one-way|agent-1 -> agent-2'])

  // three agents, one pair down both ways: 1 of 2 observers is no majority
  t.same(verdicts(cluster(3, (_l, s, d) => s + d === 3 ? 'down' : 'ok')), [])

  // 6 agents, node 3 unreachable from 3 of 5 peers only (below majority): not isolated
  const minority = verdicts(cluster(6, (_l, s, d) => d === 3 && s <= 3 ? 'down' : d === 3 && s === 4 ? 'down' : 'ok'))
  t.same(nodeBlames(minority), [], '3 of 5 peers is not a majority of 80 %')
})

t.test('lost agents: what a stale verdict claims', async t => {
  const all = cluster(6, (_l, s, d) => d === 3 && s <= 3 ? 'down' : 'ok')
  const live = all.filter(a => a.identity.podName !== 'agent-3')
  const lost: LostAgent[] = [{ record: all[2] as AgentRecord, silentMs: 30_000 }]
  const vs = verdicts(live, lost)
  t.same(sig(vs), ['stale|agent-3'], 'not isolated (2 of 5), reported stale')
  t.match(one(vs, 'stale').summary, 'has not been heard for 30 s')

  // nobody probes the lost agent at all: zero evidence either way
  const bare = cluster(6).filter(a => a.identity.podName !== 'agent-3')
  for (const a of bare) { a.results.host.delete('10.0.0.3'); a.results.pod.delete('10.1.0.3') }
  const vs2 = verdicts(bare, [{ record: cluster(6)[2] as AgentRecord, silentMs: 30_000 }])
  t.same(sig(vs2), ['stale|agent-3'])
  t.notMatch(one(vs2, 'stale').summary, 'its peers still reach it', 'no "peers reach it" claim without a single measurement')
})

// ---------------------------------------------------------------------------------------------------------------
// buildReport and renderReport

t.test('buildReport: layer totals, failing pairs, service summary', async t => {
  const live = cluster(6, (l, s, d) =>
    s === 3 || d === 3 ? 'down' : l === 'host' && s === 1 && d === 2 ? 'refused' : l === 'pod' && s === 4 && d === 5 ? 'lossy' : 'ok',
  { service: i => i <= 4 ? svc({ dnsMs: i }) : i === 5 ? svcDnsFail() : svcNoEndpoint() })
  const r = buildReport({ live, lost: [], legacyClients: 2, nowWall: NOW, reporter: 'agent-1', maxFailingPairs: 5 })

  t.equal(r.time, NOW_ISO)
  t.equal(r.reporter, 'agent-1')
  t.equal(r.activeAgents, 6)
  t.equal(r.legacyClients, 2)
  t.same(r.hostIps, ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'])
  t.same(r.podIps, ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5', '10.1.0.6'])

  // host: 30 pairs, 10 touch node 3 (down), 1 refused -> 19 ok
  t.same({ total: r.layers.host.total, ok: r.layers.host.ok, failed: r.layers.host.failed }, { total: 30, ok: 19, failed: 11 })
  t.equal(r.layers.host.successRate, 19 / 30)
  t.equal(r.layers.host.totalMs, 10 * 3000 + 20 * 2)
  t.equal(r.layers.host.avgMs, (10 * 3000 + 20 * 2) / 30)
  // pod: 10 down, 1 lossy (still ok for the success rate) -> 20 ok
  t.same({ total: r.layers.pod.total, ok: r.layers.pod.ok, failed: r.layers.pod.failed }, { total: 30, ok: 20, failed: 10 })
  t.equal(r.layers.pod.successRate, 20 / 30)

  // failing pairs: 11 host + 10 pod + 1 lossy pod = 22, bounded to 5, host first, sorted by source then target
  t.equal(r.failingPairsTotal, 22)
  t.equal(r.failingPairs.length, 5)
  t.same(r.failingPairs.map(p => `${p.layer} ${p.source}->${p.target}`), [
    'host node-1->node-2', 'host node-1->node-3', 'host node-2->node-3', 'host node-3->node-1', 'host node-3->node-2'
  ])
  t.same(r.failingPairs[0], { layer: 'host', source: 'node-1', sourceIp: '10.0.0.1', target: 'node-2', targetIp: '10.0.0.2', problem: 'port 22 closed (ICMP 3/3)' })
  t.equal(r.failingPairs[1]?.problem, 'unreachable (ICMP 0/3, TCP timeout)')

  const full = buildReport({ live, lost: [], legacyClients: 0, nowWall: NOW, reporter: null, maxFailingPairs: 100 })
  t.equal(full.failingPairs.length, 22, 'unbounded list has them all')
  t.ok(full.failingPairs.some(p => p.layer === 'pod' && p.source === 'agent-4' && p.target === 'agent-5' && p.problem === 'loss 33% (ICMP 2/3)'),
    'pod pairs named by pod, lossy pair listed with its loss')
  t.equal(buildReport({ live, lost: [], legacyClients: 0, nowWall: NOW, reporter: null }).failingPairs.length, 20, 'default bound is 20')

  t.same(r.service, { name: 'web.default.svc.cluster.local', port: 80, agents: 6, dnsOk: 5, reachable: 4, avgDnsMs: (1 + 2 + 3 + 4 + 2) / 5 })
  // the report carries findVerdicts' output: node 3 isolated; a single refused pair does not close node-2's port
  t.same(sig(r.verdicts), ['isolated|node-3 (10.0.0.3)', 'service-dns|web.default.svc.cluster.local:80', 'service-endpoints|web.default.svc.cluster.local:80'])

  // nothing measured: success rate 1, no average, no service
  const empty = buildReport({ live: cluster(1), lost: [], legacyClients: 0, nowWall: NOW, reporter: null })
  t.same(empty.layers.host, { total: 0, ok: 0, failed: 0, successRate: 1, avgMs: null, totalMs: 0 })
  t.equal(empty.service, null)
  t.equal(empty.failingPairsTotal, 0)
})

t.test('renderReport', async t => {
  const healthy = renderReport(buildReport({ live: cluster(6), lost: [], legacyClients: 0, nowWall: NOW, reporter: 'agent-2' }))
  t.match(healthy, `==== k8snet-checker network report ${NOW_ISO} (reporter agent-2) ====`)
  t.match(healthy, /^Active agents: 6$/m)
  t.match(healthy, /^host\s+30\s+30\s+0\s+100\.0%\s+2\.00ms\s+60\.00ms$/m, 'host row')
  t.match(healthy, /^pod\s+30\s+30\s+0\s+100\.0%\s+2\.00ms\s+60\.00ms$/m, 'pod row')
  t.match(healthy, 'Verdicts: none, no fault localised.')
  t.match(healthy, 'Failing pairs: none')
  t.match(healthy, 'Service: none configured')
  t.ok(healthy.endsWith('==== end of report ====\n'))

  const r = buildReport({
    live: cluster(6, isolatedNode(3), { service: i => i === 3 ? svcDnsFail() : svc() }),
    lost: [],
    legacyClients: 3,
    nowWall: NOW,
    reporter: null,
    maxFailingPairs: 4
  })
  const text = renderReport(r)
  t.match(text, `network report ${NOW_ISO} ====`)
  t.notMatch(text, '(reporter', 'no reporter shown when null')
  t.match(text, /^Active agents: 6 \(\+ 3 legacy clients\)$/m)
  t.match(text, /^host\s+30\s+20\s+10\s+66\.7%/m, 'host row with failures')
  t.match(text, /^pod\s+30\s+20\s+10\s+66\.7%/m, 'pod row with failures')
  t.match(text, 'Service web.default.svc.cluster.local:80: DNS ok on 5/6 agents (avg 2.00ms), reachable over TCP from 5/6')
  t.match(text, `Verdicts (${r.verdicts.length}):`)
  t.equal(r.verdicts.length, 1, 'the isolated node\'s failing Service check is explained by its isolation')
  for (const v of r.verdicts) {
    t.ok(text.includes(`  [${v.kind.toUpperCase()}] ${v.summary} [${v.agree}/${v.of} agree]`), `verdict line for ${v.kind}`)
    for (const e of v.evidence) t.ok(text.includes(`      - ${e}`), `evidence line: ${e}`)
  }
  t.match(text, '[ISOLATED] node-3 (10.0.0.3) is unreachable from 5 of 5 peers and cannot reach 5 of 5 itself: the node or its link is down [5/5 agree]')
  t.notMatch(text, '[SERVICE-DNS]')
  t.match(text, 'Failing pairs (4 of 20):')
  t.match(text, '  host node-1 (10.0.0.1) -> node-3 (10.0.0.3): unreachable (ICMP 0/3, TCP timeout)')
  t.notMatch(text, 'Verdicts: none')
  t.notMatch(text, 'Failing pairs: none')
})

// ---------------------------------------------------------------------------------------------------------------
// the reachability model: groups, the observer's own side, clocks, time

/** Splits a cluster's records into what observer `self` holds: those it hears (live) and those it does not (lost). */
function viewOf (all: AgentRecord[], heard: (i: number) => boolean): { live: AgentRecord[], lost: LostAgent[] } {
  const live = all.filter((_a, i) => heard(i + 1))
  const lost = all.filter((_a, i) => !heard(i + 1)).map(record => ({ record, silentMs: 30_000 }))
  return { live, lost }
}
const sideOf = (i: number): number => i <= 4 ? 0 : 1

t.test('partition {5,6} | {1..4}: one verdict naming both groups, from either side', async t => {
  // each side measures the other down now; what the other side last said (before the cut) was that all was well
  const now = cluster(6, (_l, s, d) => sideOf(s) !== sideOf(d) ? 'down' : 'ok')
  const before = cluster(6)
  const fromMain = viewOf(now.map((a, i) => i < 4 ? a : before[i] as AgentRecord), i => i <= 4)
  const vs = findVerdicts(fromMain.live, fromMain.lost, DEFAULT_VERDICT_OPTIONS, 'agent-1')
  t.same(sig(vs), ['partition|node-1, node-2, node-3, node-4 | node-5, node-6'], 'a partition, not two isolated nodes')
  const p = one(vs, 'partition')
  t.same(p.groups, [['node-1', 'node-2', 'node-3', 'node-4'], ['node-5', 'node-6']])
  t.same(p.culprits, ['node-5', 'node-6'], 'the smaller side is what is cut off')
  t.notOk(p.observer, 'the reporter is on the larger side')
  t.match(p.summary, 'This reporter is on the larger side')

  const fromSmall = viewOf(now.map((a, i) => i >= 4 ? a : before[i] as AgentRecord), i => i > 4)
  const vs2 = findVerdicts(fromSmall.live, fromSmall.lost, DEFAULT_VERDICT_OPTIONS, 'agent-5')
  t.same(sig(vs2), ['partition|node-1, node-2, node-3, node-4 | node-5, node-6'], 'the small side names the same partition, and no stale agents')
  t.equal(one(vs2, 'partition').observer, true, 'and says it is on the cut-off side')
  t.match(one(vs2, 'partition').summary, 'the smaller one')
})

t.test('the observer cut off: its own link, its own gossip, its own pod network', async t => {
  const before = cluster(6)
  // node 1's link is down: it reaches nobody, hears nobody; the others last said all was well
  const linkDown = viewOf([cluster(6, (_l, s) => s === 1 ? 'down' : 'ok')[0] as AgentRecord, ...before.slice(1)], i => i === 1)
  const iso = findVerdicts(linkDown.live, linkDown.lost, DEFAULT_VERDICT_OPTIONS, 'agent-1')
  t.same(sig(iso), [`isolated|${where(1)}`], 'it names itself, nobody else')
  t.equal(one(iso, 'isolated').observer, true)
  t.match(one(iso, 'isolated').summary, 'this agent\'s node')

  // its gossip port blocked: it hears nobody, but its probes reach everyone
  const gossip = viewOf(before, i => i === 1)
  const g = findVerdicts(gossip.live, gossip.lost, DEFAULT_VERDICT_OPTIONS, 'agent-1')
  t.same(sig(g), [`gossip-cut|${where(1)}`], 'its own gossip is blamed, not the five it cannot hear')
  t.equal(one(g, 'gossip-cut').observer, true)
  // and from any other agent: agent-1 silent, its health port answering
  const other = viewOf(before, i => i !== 1)
  t.same(sig(findVerdicts(other.live, other.lost, DEFAULT_VERDICT_OPTIONS, 'agent-2')), [`gossip-cut|${where(1)}`])

  // its pod network cut (host works): pods unreachable, gossip (over pod IPs) silent
  const podCut = viewOf([cluster(6, (l, s) => l === 'pod' && s === 3 ? 'down' : 'ok')[2] as AgentRecord, ...before.filter((_a, i) => i !== 2)], i => i === 1)
  const pc = findVerdicts(podCut.live, podCut.lost, DEFAULT_VERDICT_OPTIONS, 'agent-3')
  t.same(sig(pc), [`overlay|${where(3)}`], 'its own pod network, not "the pod network across the cluster", no stale peers')
  t.equal(one(pc, 'overlay').observer, true)
})

t.test('clock skew: named from the others\' median, by the skewed agent too, and no false staleness', async t => {
  const live = cluster(6)
  const tickWith = (self: string, skew: Map<string, number>): Verdict[] => {
    const model = new NetworkModel(modelOptions(10_000, 15_000))
    let vs: Verdict[] = []
    for (let k = 0; k < 4; k++) vs = model.tick({ now: k * 10_000, wallNow: NOW, self, live: live.map(record => ({ record, silentMs: 0 })), lost: [], skewMs: skew })
    return vs
  }
  const fromOne = tickWith('agent-1', new Map([['agent-2', 40], ['agent-3', -25], ['agent-4', 10], ['agent-5', 0], ['agent-6', 3_600_000]]))
  t.same(sig(fromOne), [`clock-skew|${where(6)}`])
  t.match(one(fromOne, 'clock-skew').summary, 'is 3600 s ahead of the cluster')
  const fromSix = tickWith('agent-6', new Map(['agent-1', 'agent-2', 'agent-3', 'agent-4', 'agent-5'].map(n => [n, -3_600_000])))
  t.same(sig(fromSix), [`clock-skew|${where(6)}`], 'the skewed agent names its own clock, not the five others')
  t.equal(one(fromSix, 'clock-skew').observer, true)
})

t.test('a partition right after a restart: what was last known of a pair a silent record no longer carries still groups', async t => {
  // agent-6 left and came back just before the cut, so agent-5's last record has no result for it yet (and the other
  // way round); the model still knows the pair reached before: nodes 5 and 6 are cut off together, not each isolated
  const model = new NetworkModel(modelOptions(10_000, 15_000))
  let k = 0
  const side = new Set([5, 6])
  const tick = (pick: Pick, silent: Set<number>): string[] => {
    k++
    const records = cluster(6, pick, { checkedAt: () => NOW + k * 10_000 })
    return sig(model.tick({
      now: k * 10_000,
      wallNow: NOW + k * 10_000,
      self: 'agent-1',
      live: records.map((record, i) => ({ record, silentMs: silent.has(i + 1) ? 20_000 : 0 })),
      lost: []
    }))
  }
  for (let i = 0; i < 3; i++) t.same(tick(allOk, new Set()), [], 'healthy: the pairs 5 <-> 6 reach')
  const cut: Pick = (_l, s, d) => (side.has(s) && side.has(d)) ? 'absent' : side.has(s) !== side.has(d) && !side.has(s) ? 'down' : 'ok'
  let last: string[] = []
  for (let i = 0; i < 3; i++) last = tick(cut, side)
  t.same(last, ['partition|node-1, node-2, node-3, node-4 | node-5, node-6'], 'one partition naming both groups')

  // with no history of the pair (a model that never saw it), nothing says they reach each other; but they fell silent
  // at the same moment: cut off together, and the verdict says their mutual reach is unknown
  const noHistory = (silentMs: (i: number) => number): Verdict[] => {
    const m = new NetworkModel(modelOptions(10_000, 15_000))
    let vs: Verdict[] = []
    for (let i = 0; i < 3; i++) vs = m.tick({ now: (10 + i) * 10_000, wallNow: NOW, self: 'agent-1', live: cluster(6, cut).map((record, j) => ({ record, silentMs: side.has(j + 1) ? silentMs(j + 1) : 0 })), lost: [] })
    return vs
  }
  const together = noHistory(i => 20_000 + i * 500)
  t.same(sig(together), ['partition|node-1, node-2, node-3, node-4 | node-5, node-6'], 'silent within a heartbeat of each other: cut off together')
  t.match(one(together, 'partition').summary, 'fell silent at the same moment and whether they reach each other is unknown')
  // silent at moments far apart (one went a minute earlier): two separate failures, each isolated
  t.same(sig(noHistory(i => i === 5 ? 80_000 : 20_000)), [`isolated|${where(5)}`, `isolated|${where(6)}`], 'silent at different moments: two isolated nodes')
})

t.test('a partition right after every agent restarted: the predecessors left on every node change nothing', async t => {
  // every pod was replaced (same nodes, same IPs, new names) and the old ones' goodbyes were lost; then nodes 5 and 6
  // are cut off together. Each predecessor's last word (all reached) is older than its successor's
  const side = new Set([5, 6])
  const cut: Pick = (_l, s, d) => (side.has(s) && side.has(d)) ? 'absent' : side.has(s) !== side.has(d) && !side.has(s) ? 'down' : 'ok'
  const renamed = (r: AgentRecord): AgentRecord => ({ ...r, identity: { ...r.identity, podName: `${r.identity.podName}-new`, peerId: `${r.identity.peerId}New` } })
  for (const expired of [true, false]) {
    const model = new NetworkModel(modelOptions(10_000, 15_000))
    let vs: Verdict[] = []
    for (let k = 0; k < 4; k++) {
      const successors = cluster(6, cut).map((record, i) => ({ record: renamed(record), silentMs: side.has(i + 1) ? 20_000 + k * 10_000 + i * 300 : 0 }))
      const predecessors = cluster(6, allOk).map(record => ({ record, silentMs: 40_000 + k * 10_000 }))
      vs = model.tick({ now: k * 10_000, wallNow: NOW, self: 'agent-1-new', live: expired ? successors : [...successors, ...predecessors], lost: expired ? predecessors : [] })
    }
    t.same(sig(vs), ['partition|node-1, node-2, node-3, node-4 | node-5, node-6'], `one partition naming both groups (predecessors ${expired ? 'expired' : 'still in the view'})`)
  }
  const r = buildReport({
    live: cluster(6).filter((_r, i) => i < 4).map(renamed),
    lost: [...cluster(6).filter((_r, i) => i >= 4).map(renamed).map(record => ({ record, silentMs: 20_000 })), ...cluster(6).map(record => ({ record, silentMs: 40_000 }))],
    legacyClients: 0,
    nowWall: NOW,
    reporter: 'agent-1-new',
    verdicts: []
  })
  t.same(r.silentAgents.map(a => a.agent), ['agent-5-new', 'agent-6-new'], 'the report lists the two cut-off agents as not heard, not their predecessors')
})

t.test('dual-stack: each family judged on its own paths; a fault one family alone shows says which', async t => {
  /** Agents 1..6 on both families: IPv4 paths by pick4, IPv6 paths (fd00::i, fd01::i) by pick6. */
  const dual = (pick4: Pick, pick6: Pick): AgentRecord[] => {
    const v6 = cluster(6, pick6)
    return cluster(6, pick4).map((r, i) => {
      const six = v6[i] as AgentRecord
      const moved = (m: Map<string, PathResult>, from: string, to: string): Array<[string, PathResult]> =>
        [...m.values()].map(p => { const target = p.target.replace(from, to); return [target, { ...p, target }] })
      return {
        ...r,
        identity: { ...r.identity, secondary: { nodeIp: `fd00::${i + 1}`, podIp: `fd01::${i + 1}` } },
        results: {
          host: new Map([...r.results.host, ...moved(six.results.host, '10.0.0.', 'fd00::')]),
          pod: new Map([...r.results.pod, ...moved(six.results.pod, '10.1.0.', 'fd01::')]),
          service: null
        }
      }
    })
  }
  const run = (pick4: Pick, pick6: Pick): Verdict[] => {
    const models = new FamilyModels(() => new NetworkModel(modelOptions(10_000, 15_000)))
    let vs: Verdict[] = []
    for (let k = 0; k < 4; k++) vs = models.tick({ now: k * 10_000, wallNow: NOW, self: 'agent-1', live: dual(pick4, pick6).map(record => ({ record, silentMs: 0 })), lost: [] })
    return vs
  }
  const oneWay: Pick = (_l, s, d) => s === 3 && d === 4 ? 'down' : 'ok'
  t.same(sig(run(allOk, allOk)), [], 'healthy on both: nothing')
  t.same(sig(run(allOk, oneWay)), ['one-way|agent-3 -> agent-4 over IPv6'], 'IPv6 alone blocked: one verdict naming the family')
  t.match(one(run(allOk, oneWay), 'one-way').summary, /^IPv6 only: /)
  t.same(sig(run(oneWay, allOk)), ['one-way|agent-3 -> agent-4 over IPv4'], 'IPv4 alone blocked: named IPv4')
  t.same(sig(run(oneWay, oneWay)), ['one-way|agent-3 -> agent-4'], 'both families blocked: one verdict, no family')
  const down: Pick = (_l, s, d) => s === 5 || d === 5 ? 'down' : 'ok'
  t.same(sig(run(down, down)), [`isolated|${where(5)}`], 'a node down on both: one isolated verdict')
  const r = recordInFamily(dual(allOk, allOk)[1] as AgentRecord, 'IPv6')
  t.match(r?.identity, { nodeIp: 'fd00::2', podIp: 'fd01::2' }, 'the second family\'s model sees an agent by its IPv6 addresses')
  t.equal(recordInFamily(cluster(2)[0] as AgentRecord, 'IPv6'), null, 'and leaves out one without any')
  const listed = buildReport({ live: dual(allOk, allOk).slice(0, 2), lost: [], legacyClients: 0, nowWall: NOW, reporter: 'agent-1', maxFailingPairs: 5 })
  t.same([listed.hostIps, listed.podIps], [['10.0.0.1', '10.0.0.2', 'fd00::1', 'fd00::2'], ['10.1.0.1', '10.1.0.2', 'fd01::1', 'fd01::2']],
    'the report lists every address of both families, as /api/v1/hosts and /pods do')
})

t.test('time: a blip is no verdict, a steady fault is raised once and cleared after clean rounds', async t => {
  const model = new NetworkModel(modelOptions(10_000, 15_000))
  let k = 0
  const tick = (pick: Pick): string[] => {
    k++
    return sig(model.tick({ now: k * 10_000, wallNow: NOW + k * 10_000, self: 'agent-1', live: cluster(6, pick, { checkedAt: () => NOW + k * 10_000 }).map(record => ({ record, silentMs: 0 })), lost: [] }))
  }
  for (let i = 0; i < 3; i++) t.same(tick(allOk), [])
  t.same(tick(isolatedNode(3)), [], 'one round of a fault: nothing yet')
  t.same(tick(allOk), [], 'a blip that went away never raises a verdict')
  t.same(tick(allOk), [])
  // (a fault right after the blip would make three flips in the window: flapping; this one comes later)
  for (let i = 0; i < 12; i++) t.same(tick(allOk), [])
  const seen: string[][] = []
  for (let i = 0; i < 8; i++) seen.push(tick(isolatedNode(3)))
  const firstShown = seen.findIndex(s => s.length > 0)
  t.ok(firstShown >= 2 && firstShown <= 3, `raised after evidence over several rounds (round ${firstShown + 1})`)
  t.same([...new Set(seen.slice(firstShown).map(s => s.join(';')))], [`isolated|${where(3)}`], 'then held without churn')
  t.same(model.pairs(k * 10_000, { source: 'agent-1', target: 'agent-3', layer: 'host' })[0]?.transitions.map(x => x.to), ['up', 'down'], 'the pair\'s history')
  t.same(tick(allOk), [`isolated|${where(3)}`], 'one clean round does not clear it')
  const after: string[][] = []
  for (let i = 0; i < 4; i++) after.push(tick(allOk))
  t.same(after.at(-1), [], 'cleared after clean rounds')
})

t.test('flapping: a node whose link goes up and down is one flapping verdict, not a churn of others', async t => {
  const model = new NetworkModel(modelOptions(10_000, 15_000))
  const shown: string[][] = []
  for (let k = 0; k < 20; k++) {
    const down = k >= 3 && Math.floor(k / 2) % 2 === 0
    shown.push(sig(model.tick({ now: k * 10_000, wallNow: NOW, self: 'agent-1', live: cluster(6, down ? isolatedNode(4) : allOk, { checkedAt: () => NOW + k * 10_000 }).map(record => ({ record, silentMs: 0 })), lost: [] })))
  }
  const flapAt = shown.findIndex(s => s.includes(`flapping|${where(4)}`))
  t.ok(flapAt > 0 && flapAt <= 12, `flapping raised (round ${flapAt + 1})`)
  t.same([...new Set(shown.slice(flapAt + 2).map(s => s.join(';')))], [`flapping|${where(4)}`], 'from then on, only the flapping verdict')
  t.match(model.verdicts[0]?.summary ?? '', /is flapping: its paths with 5 of 5 peers went between reachable and unreachable, \d+ changes in the last 120 s/)

  // a flapping link between two nodes: named as the link
  const m2 = new NetworkModel(modelOptions(10_000, 15_000))
  let last: Verdict[] = []
  for (let k = 0; k < 14; k++) {
    const down = k % 2 === 0
    last = m2.tick({ now: k * 10_000, wallNow: NOW, self: 'agent-1', live: cluster(6, (_l, s, d) => down && ((s === 2 && d === 5) || (s === 5 && d === 2)) ? 'down' : 'ok', { checkedAt: () => NOW + k * 10_000 }).map(record => ({ record, silentMs: 0 })), lost: [] })
  }
  t.same(sig(last), ['flapping|agent-2 <-> agent-5'])

  // a lossy node now and then loses a whole round of one path (every echo and the connect): its loss, not a flapping link
  const m3 = new NetworkModel(modelOptions(10_000, 15_000))
  for (let k = 0; k < 14; k++) {
    const lost = k % 2 === 0
    last = m3.tick({ now: k * 10_000, wallNow: NOW, self: 'agent-1', live: cluster(6, (_l, s, d) => d === 4 || s === 4 ? (lost && s === 2 ? 'down' : 'lossy') : 'ok', { checkedAt: () => NOW + k * 10_000 }).map(record => ({ record, silentMs: 0 })), lost: [] })
  }
  t.same(sig(last), [`lossy|${where(4)}`], 'the lossy node, no flapping link')
})

t.test('the witness: when nobody else took the Lease, the survivor names those gone, not itself', async t => {
  const before = cluster(6)
  const survivor = cluster(6, (_l, s) => s === 1 ? 'down' : 'ok')[0] as AgentRecord
  const view = viewOf([survivor, ...before.slice(1)], i => i === 1)
  const unknown = findVerdicts(view.live, view.lost, DEFAULT_VERDICT_OPTIONS, 'agent-1')
  t.same(sig(unknown), [`isolated|${where(1)}`], 'by the mesh alone, the lone agent takes the fault as its own')
  const e = buildEvidence('agent-1', [{ record: survivor, silentMs: 0, lost: false }, ...view.lost.map(l => ({ ...l, lost: true }))], { freshMs: Infinity }, { othersAlive: false })
  const a = analyseFully(e)
  t.same(sig(a.verdicts), ['partition|node-1 | node-2, node-3, node-4, node-5, node-6'], 'with the witness, the five it cannot reach are what is gone')
  t.same(a.verdicts[0]?.culprits, ['node-2', 'node-3', 'node-4', 'node-5', 'node-6'])
  t.notOk(a.verdicts[0]?.observer)
  t.match(a.verdicts[0]?.evidence.join('\n'), 'no other agent took it')
  t.equal(a.observerCut, true, 'and it still knows it is on the cut-off side by the mesh\'s evidence (its election stays calm)')
})

t.test('renderReport: the agents not heard are listed', async t => {
  const all = cluster(6, isolatedNode(3))
  const text = renderReport(buildReport({ live: all.filter(a => a.identity.podName !== 'agent-3'), lost: [{ record: all[2] as AgentRecord, silentMs: 20_400 }], legacyClients: 0, nowWall: NOW, reporter: null }))
  t.match(text, /^Not heard \(1\): agent-3 on node-3 \(20 s\)$/m)
  t.notMatch(renderReport(buildReport({ live: cluster(3), lost: [], legacyClients: 0, nowWall: NOW, reporter: null })), 'Not heard', 'no line when every agent is heard')
})

t.test('nodes Kubernetes set aside (the Lease holder\'s word): not judged, listed as excluded, their pairs not failing', async t => {
  const ticks = (excluded: Array<{ node: string, reason: string }> | undefined, leader = true): { verdicts: string[], records: AgentRecord[] } => {
    const model = new NetworkModel(modelOptions(10_000, 15_000))
    let records: AgentRecord[] = []
    let vs: Verdict[] = []
    for (let k = 0; k < 4; k++) {
      records = cluster(6, isolatedNode(3), { checkedAt: () => NOW + k * 10_000 })
      const holder = records[0] as AgentRecord
      holder.leader = leader
      if (excluded !== undefined) holder.excluded = excluded
      vs = model.tick({ now: k * 10_000, wallNow: NOW, self: 'agent-2', live: records.map(record => ({ record, silentMs: 0 })), lost: [] })
    }
    return { verdicts: sig(vs), records }
  }
  t.same(ticks(undefined).verdicts, [`isolated|${where(3)}`], 'not excluded: node 3 is isolated')
  const cordoned = ticks([{ node: 'node-3', reason: 'cordoned' }])
  t.same(cordoned.verdicts, [], 'cordoned: not judged')
  t.same(ticks([{ node: 'node-3', reason: 'cordoned' }], false).verdicts, [`isolated|${where(3)}`], 'only the Lease holder\'s record speaks for the cluster')
  const r = buildReport({ live: cordoned.records, lost: [], legacyClients: 0, nowWall: NOW, reporter: 'agent-1', verdicts: [] })
  t.same(r.excluded, [{ node: 'node-3', reason: 'cordoned' }])
  t.equal(r.failingPairsTotal, 0, 'its failing pairs are not counted as failures')
  t.match(renderReport(r), 'Excluded by Kubernetes, not judged (1): node-3 (cordoned)')
  // a link fault elsewhere is still named while node 3 is set aside
  const model = new NetworkModel(modelOptions(10_000, 15_000))
  let vs: Verdict[] = []
  for (let k = 0; k < 4; k++) {
    const records = cluster(6, (l, s, d) => s === 3 || d === 3 ? 'down' : (s === 5 && d === 6) ? 'down' : 'ok', { checkedAt: () => NOW + k * 10_000 })
    Object.assign(records[0] as AgentRecord, { leader: true, excluded: [{ node: 'node-3', reason: 'not ready: KubeletNotReady' }] })
    vs = model.tick({ now: k * 10_000, wallNow: NOW, self: 'agent-2', live: records.map(record => ({ record, silentMs: 0 })), lost: [] })
  }
  t.same(sig(vs), ['one-way|agent-5 -> agent-6'], 'the rest is judged as before')
})

t.test('a pod replaced on its node (a rollout whose goodbye was lost): its silent predecessor is no fault', async t => {
  const tick = (withSuccessor: boolean): string[] => {
    const model = new NetworkModel(modelOptions(10_000, 12_500))
    let vs: Verdict[] = []
    for (let k = 0; k < 4; k++) {
      const records = cluster(6, allOk, { checkedAt: () => NOW + k * 10_000 })
      const old = records[2] as AgentRecord
      // the new pod on node-3: another name, the same node and pod IP, heard now
      const successor: AgentRecord = { ...old, identity: { ...old.identity, podName: 'agent-3-new', peerId: '12D3KooWNewPod' } }
      const live = records.filter(r => r !== old).map(record => ({ record, silentMs: 0 }))
      vs = model.tick({
        now: k * 10_000,
        wallNow: NOW,
        self: 'agent-1',
        live: [...live, { record: old, silentMs: 11_000 + k * 10_000 }, ...(withSuccessor ? [{ record: successor, silentMs: 0 }] : [])],
        lost: []
      })
    }
    return sig(vs)
  }
  t.same(tick(false), [`gossip-cut|${where(3)}`], 'alone on its node, a silent agent whose health port answers: gossip cut')
  t.same(tick(true), [], 'with a heard agent on the same node: the silent one is its predecessor, no verdict')
  const r = buildReport({
    live: cluster(6).map(a => a.identity.podName === 'agent-3' ? { ...a, identity: { ...a.identity, podName: 'agent-3-new' } } : a),
    lost: [{ record: cluster(6)[2] as AgentRecord, silentMs: 11_000 }],
    legacyClients: 0,
    nowWall: NOW,
    reporter: 'agent-1',
    verdicts: []
  })
  t.same(r.silentAgents, [], 'nor is it listed as not heard in the report')
})

t.test('PairHistory: a quiet pair left behind is forgotten sooner than one with a history to tell', async t => {
  const h = new PairHistory({ confirm: 2, flapWindowMs: 120_000, flapMin: 3, keep: 16, forgetMs: 1_200_000, quietForgetMs: 300_000 })
  // quiet: settled up and never changed (last seen at 10 s); changed: settled up, then down (last seen at 30 s)
  for (const at of [0, 10_000]) h.observe('pod', 'a', 'quiet', 'up', at, at)
  for (const at of [0, 10_000]) h.observe('pod', 'a', 'changed', 'up', at, at)
  for (const at of [20_000, 30_000]) h.observe('pod', 'a', 'changed', 'down', at, at)
  h.prune(10_000 + 300_000)
  t.equal(h.size, 2, 'both kept within the quiet time')
  h.prune(10_000 + 300_001)
  t.equal(h.settled('pod', 'a', 'quiet'), null, 'the quiet pair forgotten after it')
  t.equal(h.settled('pod', 'a', 'changed'), 'down', 'the pair with a change kept')
  h.prune(30_000 + 1_200_000)
  t.equal(h.size, 1, 'kept for the whole forget time')
  h.prune(30_000 + 1_200_001)
  t.equal(h.size, 0, 'and forgotten after it')
})
