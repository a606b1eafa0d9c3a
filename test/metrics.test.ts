// Metrics: the series count grows with N, never N^2 (pure samples and the real registry over a 1000-agent view),
// counters fed by probe rounds, and GET /metrics on the API with the process and Node.js defaults.
import t from 'tap'
import type { Verdict } from '../src/report/verdicts.ts'
import { VERSION } from '../src/shared/version.ts'
import { Trust } from '../src/core/trust.ts'
import { AgentMetrics } from '../src/api/metrics.ts'
import { Validator } from '@seriousme/openapi-schema-validator'
import { buildApi, OPENAPI_PATH } from '../src/api/app.ts'
import type { ViewSnapshot } from '../src/api/projection.ts'
import type { HealthInfo, LeaderInfo } from '../src/api/routes.ts'
import type { AgentRecord, PathResult } from '../src/core/record.ts'
import { metricSamples } from '../src/report/metric-samples.ts'
import { findVerdicts } from '../src/report/verdicts.ts'

const NOW = Date.UTC(2026, 10, 28)

function path (target: string, port: number, kind: 'ok' | 'down' | 'refused' | 'lossy'): PathResult {
  const base = { target, port, checkedAt: NOW, durationMs: 3 }
  switch (kind) {
    case 'ok': return { ...base, sent: 3, received: 3, rttMs: 0.4, tcp: 'open', connectMs: 0.3 }
    case 'down': return { ...base, sent: 3, received: 0, rttMs: null, tcp: 'timeout', connectMs: null }
    case 'refused': return { ...base, sent: 3, received: 3, rttMs: 0.4, tcp: 'refused', connectMs: 0.2 }
    case 'lossy': return { ...base, sent: 3, received: 2, rttMs: 0.6, tcp: 'open', connectMs: 0.3 }
  }
}

/** n agents; each probes `fanout` others per layer (as sampling does at scale); agent 3 is unreachable. */
function cluster (n: number, fanout = Math.min(n - 1, 20)): AgentRecord[] {
  const ip = (layer: 'host' | 'pod', i: number): string => `10.${layer === 'host' ? 0 : 1}.${Math.floor(i / 250)}.${(i % 250) + 1}`
  return Array.from({ length: n }, (_, i) => {
    const host = new Map<string, PathResult>()
    const pod = new Map<string, PathResult>()
    for (let k = 1; k <= fanout; k++) {
      const j = (i + k * 7) % n
      if (j === i) continue
      const kind = j === 3 || i === 3 ? 'down' : (i + j) % 11 === 0 ? 'lossy' : (i * j) % 13 === 0 ? 'refused' : 'ok'
      host.set(ip('host', j), path(ip('host', j), 22, kind))
      pod.set(ip('pod', j), path(ip('pod', j), 6100, kind === 'refused' ? 'ok' : kind))
    }
    return {
      identity: { podName: `agent-${i}`, nodeName: `node-${i}`, nodeIp: ip('host', i), podIp: ip('pod', i), namespace: 'kube-system', version: i % 2 === 0 ? '0.1.0' : '0.2.0', peerId: `12D3KooW${i}` },
      inc: 1,
      seq: 1,
      rv: 1,
      results: { host, pod, service: null }
    }
  })
}

const seriesOf = (text: string, prefix = 'k8snet_'): string[] => text.split('\n').filter(l => l.startsWith(prefix))

t.test('pure samples: constant per agent, bounded verdicts at the holder, O(N) in total', async t => {
  const small = cluster(10)
  const big = cluster(1000)
  const perAgent = (agents: AgentRecord[], self: string): number => metricSamples({ agents, self, verdicts: null, maxVerdicts: 64 }).length
  const c = perAgent(small, 'agent-1')
  t.equal(perAgent(big, 'agent-1'), c, `a non-holder exports the same ${c} samples with 10 or 1000 agents`)
  t.equal(perAgent(big, 'agent-999'), c, 'whichever agent it is')
  const verdicts = findVerdicts(big, [])
  t.ok(verdicts.length > 0, `the 1000-agent view has verdicts (${verdicts.length})`)
  const holder = metricSamples({ agents: big, self: 'agent-0', verdicts, maxVerdicts: 64 })
  t.ok(holder.length <= c + 64 + 1, `the holder adds at most 65 verdict series (${holder.length - c})`)
  const total = big.reduce((sum, a) => sum + perAgent(big, a.identity.podName), 0) + (holder.length - c)
  t.ok(total <= 1000 * c + 65, `a scrape of all 1000 agents: ${total} series, not ~1000^2`)
  t.ok(total < 1000 * 1000 / 10, 'far from quadratic')

  const me = metricSamples({ agents: small, self: 'agent-3', verdicts: null, maxVerdicts: 64 })
  const get = (name: string, layer: string): number | undefined => me.find(s => s.name === name && s.labels.layer === layer)?.value
  t.equal(get('k8snet_inbound_peers_reaching', 'host'), 0, 'nobody reaches agent-3')
  t.ok((get('k8snet_inbound_peers_measuring', 'host') ?? 0) > 0, 'but peers measure it')
  t.equal(me.find(s => s.name === 'k8snet_paths' && s.labels.layer === 'host' && s.labels.outcome === 'unreachable')?.value, 9, 'and it reaches nobody')
  t.equal(me.find(s => s.name === 'k8snet_view_versions')?.value, 2, 'two versions during a rollout')
})

function sources (agents: AgentRecord[], self: string, isHolder: boolean): ConstructorParameters<typeof AgentMetrics>[0] {
  const snapshot = (): ViewSnapshot => ({ agents: agents.map(record => ({ record, lastHeard: 0, trust: record.identity.podName === self ? Trust.Self : Trust.FirstHand })), externals: [] })
  const health = (): HealthInfo => ({
    pod_name: self,
    node_name: 'n',
    version: '0.1.0',
    peers_connected: 7,
    connections: 7,
    view_size: agents.length,
    uptime_s: 1,
    gossip: { published: 10, accepted: 20, gaps: 1, expired: 0, rejected: { schema: 2 }, ignored: { stale: 3 }, bytes_out: 1000, bytes_in: 2000 },
    sync: { served: 1, pulled: 2, failed: 0 },
    probes: { rounds: 1, last_round_ms: 5, last_targets: 9, icmp_error: null }
  })
  const leader = (): LeaderInfo => ({
    holder: isHolder ? self : 'other',
    holder_node_ip: null,
    is_self: isHolder,
    election_enabled: true,
    contenders: [],
    contending: isHolder,
    lease: { observed_holder: null, transitions: 2, last_renew_ago_ms: null, reports_printed: 4 }
  })
  return { snapshot, health, leader, verdicts: v => findVerdicts(v.agents.map(e => e.record), []), self }
}

t.test('the registry over a 1000-agent view: same k8snet_ series as over 10, the holder a bounded few more', async t => {
  const n10 = seriesOf(await new AgentMetrics(sources(cluster(10), 'agent-1', false)).text())
  const n1000 = seriesOf(await new AgentMetrics(sources(cluster(1000), 'agent-1', false)).text())
  t.equal(n1000.length, n10.length, `${n10.length} k8snet_ series per agent whatever N`)
  const holder = seriesOf(await new AgentMetrics(sources(cluster(1000), 'agent-1', true)).text())
  const extra = holder.length - n1000.length
  t.ok(extra > 0 && extra <= 65, `the holder adds ${extra} verdict series`)
  t.ok(holder.some(l => l.startsWith('k8snet_verdict{kind="isolated",subject="node-3 (10.0.0.4)",node="node-3",source="",target="",layer=""}')), 'the isolated node is a verdict series, its node a label of its own')
  t.notOk(n1000.some(l => l.startsWith('k8snet_verdict')), 'a non-holder exports no verdict series, not even k8snet_verdicts 0')
})

t.test('verdict series: one per culprit, with node, source, target and layer labels that join kube-state-metrics', async t => {
  const v = (kind: Verdict['kind'], subject: string, culprits: string[]): Verdict => ({ kind, subject, summary: '', evidence: [], agree: 3, of: 4, culprits })
  const samples = metricSamples({
    agents: [],
    self: 'agent-1',
    verdicts: [
      v('one-way', 'agent-2 -> agent-5', ['agent-2 -> agent-5']),
      v('overlay', 'node-4 (10.0.0.4)', ['node-4']),
      v('partition', 'node-1, node-2 | node-3, node-4', ['node-3', 'node-4']),
      v('service-dns', 'web.default.svc.cluster.local', ['service']),
      v('test-port', 'TEST_PORT 22', ['TEST_PORT'])
    ],
    maxVerdicts: 50
  }).filter(x => x.name === 'k8snet_verdict')
  t.same(samples.map(x => [x.labels.kind, x.labels.node, x.labels.source, x.labels.target, x.labels.layer]), [
    ['one-way', '', 'agent-2', 'agent-5', ''],
    ['overlay', 'node-4', '', '', 'pod'],
    ['partition', 'node-3', '', '', ''],
    ['partition', 'node-4', '', '', ''],
    ['service-dns', '', '', '', ''],
    ['test-port', '', '', '', 'host']
  ])
  t.ok(samples.every(x => x.value === 0.75), 'the value is the share of observers that agree')
  const many = metricSamples({ agents: [], self: 'a', verdicts: [v('partition', 'big', Array.from({ length: 60 }, (_, i) => `node-${i}`))], maxVerdicts: 50 }).filter(x => x.name === 'k8snet_verdict')
  t.equal(many.length, 20, 'at most 20 culprit series a verdict')
})

t.test('probe rounds feed counters and histograms; totals only grow', async t => {
  const m = new AgentMetrics(sources(cluster(5), 'agent-1', false))
  const round = { host: [path('10.0.0.2', 22, 'ok'), path('10.0.0.3', 22, 'down'), path('10.0.0.4', 22, 'refused')], pod: [path('10.1.0.2', 6100, 'lossy')], service: null, icmpError: null, echoes: new Map(), promoted: 0 }
  m.observeRound(round, 850)
  m.observeRound({ ...round, promoted: 3 }, 900, { host: 2, pod: 1 })
  // what the mesh, anti-entropy, the reporter and the model count as it happens (the metrics are their sink)
  m.gossipRejected('schema')
  m.gossipRejected('schema')
  m.gossipBytes('in', 1500)
  m.gossipBytes('in', 500)
  m.gossipMessage('expired', 3)
  m.syncExchange('pulled')
  for (let i = 0; i < 4; i++) m.reportPrinted(0.05)
  m.modelTicked(0.25)
  m.modelTicked(0.5)
  m.pathChange('pod')
  const text = await m.text()
  t.match(text, 'k8snet_gossip_messages_total{event="expired"} 3')
  t.match(text, 'k8snet_sync_total{event="pulled"} 1')
  t.match(text, 'k8snet_path_state_changes_total{layer="pod"} 1')
  t.match(text, 'k8snet_probe_sweep_promoted_total 3', 'swept targets found failing, counted')
  t.match(text, 'k8snet_probe_watched{layer="host"} 2', 'the watch, by layer')
  t.match(text, 'k8snet_probe_paths_total{layer="host",outcome="ok"} 2')
  t.match(text, 'k8snet_probe_paths_total{layer="host",outcome="unreachable"} 2')
  t.match(text, 'k8snet_probe_paths_total{layer="host",outcome="port-closed"} 2')
  t.match(text, 'k8snet_probe_paths_total{layer="pod",outcome="loss"} 2')
  t.match(text, 'k8snet_probe_rtt_seconds_count{layer="host"} 4', 'only answered echoes have an RTT')
  t.match(text, 'k8snet_probe_round_seconds_bucket{le="1"} 2')
  t.match(text, 'k8snet_gossip_rejected_total{reason="schema"} 2')
  t.match(text, 'k8snet_gossip_payload_bytes_total{direction="in"} 2000')
  t.match(text, 'k8snet_reports_printed_total 4')
  t.match(text, 'k8snet_activity_cpu_seconds_total{activity="report"} 0.2', 'the CPU of the reports, summed')
  t.match(text, 'k8snet_activity_cpu_seconds_total{activity="model"} 0.75', 'the CPU of the model\'s ticks, summed')
  t.match(text, 'k8snet_lease_transitions 2')
  t.match(text, `k8snet_build_info{version="${VERSION}",revision="unknown",nodejs="${process.version}"} 1`, 'build info: version, revision (none outside an image), Node.js')
  m.countUnknownFields('/api/v1/heartbeat', 2)
  t.match(await m.text(), 'k8snet_legacy_unknown_fields_total{route="/api/v1/heartbeat"} 2', 'unknown legacy fields, by route')
  const again = await m.text()
  t.match(again, 'k8snet_gossip_rejected_total{reason="schema"} 2', 'a second scrape does not double a total')
})

t.test('GET /metrics on the API: Prometheus text with the process and Node.js defaults', async t => {
  const src = sources(cluster(6), 'agent-2', false)
  const metrics = new AgentMetrics(src)
  const app = buildApi({ snapshot: src.snapshot, inject: () => {}, health: src.health, leader: src.leader, report: () => { throw new Error('unused') }, coverageK: 2, metrics }, { bodyLimit: 1024 })
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'k8snet_paths', 'k8snet_inbound_peers_reaching', 'k8snet_gossip_peers_connected', 'k8snet_lease_holder']) {
    t.match(res.body, new RegExp(`^${name}`, 'm'), `exports ${name}`)
  }
  await app.close()
})

t.test('OpenAPI: every registered route is documented, and the document is valid OpenAPI 3.1', async t => {
  const src = sources(cluster(4), 'agent-1', false)
  const app = buildApi({ snapshot: src.snapshot, inject: () => {}, health: src.health, leader: src.leader, report: () => { throw new Error('unused') }, coverageK: 2, metrics: new AgentMetrics(src) }, { bodyLimit: 1024 })
  const registered: string[] = []
  app.addHook('onRoute', r => {
    for (const m of [r.method].flat()) if (m !== 'HEAD') registered.push(`${m} ${r.url}`)
  })
  const res = await app.inject({ method: 'GET', url: OPENAPI_PATH })
  t.equal(res.statusCode, 200)
  const doc = JSON.parse(res.body) as { openapi: string, paths: Record<string, Record<string, { summary?: string, requestBody?: unknown, responses?: Record<string, unknown> }>> }
  t.equal(doc.openapi, '3.1.0')
  const documented = Object.entries(doc.paths).flatMap(([url, ops]) => Object.keys(ops).map(m => `${m.toUpperCase()} ${url}`))
  t.ok(registered.length >= 17, `routes registered: ${registered.length}`)
  t.same(registered.filter(r => !documented.includes(r)), [], 'every registered route is in the document')
  for (const [url, ops] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(ops)) {
      t.ok((op.summary ?? '') !== '', `${m} ${url} has a summary`)
      t.ok(op.responses?.['200'] !== undefined, `${m} ${url} documents its answer`)
      if (m === 'post') t.ok(op.requestBody !== undefined, `${m} ${url} documents its body`)
    }
  }
  const verdict = await new Validator().validate(doc as unknown as Record<string, unknown>)
  t.ok(verdict.valid, `valid OpenAPI 3.1 ${verdict.valid ? '' : JSON.stringify(verdict.errors).slice(0, 500)}`)
  await app.close()
})
