// REPORT_FORMAT=original: the report in the original tool's printed layout (src/report/original-format.ts, from its
// pkg/report/generator.go printReport), legacy clients counted and marked, our verdicts appended; and the variable.
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import type { AgentRecord, ExternalBody, PathResult, ServiceResult } from '../src/core/record.ts'
import { parseConfig } from '../src/node/config.ts'
import { ConfigError } from '../src/shared/config-error.ts'
import { goDuration, goFixed2, renderOriginal } from '../src/report/original-format.ts'
import { buildReport } from '../src/report/report.ts'
import { Reporter } from '../src/report/reporter.ts'
import type { Verdict } from '../src/report/verdicts.ts'
import { ident, serviceResult } from './fixtures.ts'

const NOW = Date.UTC(2026, 2, 4, 5, 6, 7)
const RULE = '='.repeat(80)
const THIN = '-'.repeat(80)

const ok = (target: string, port: number, durationMs: number): PathResult =>
  ({ target, port, checkedAt: NOW, sent: 3, received: 3, rttMs: 0.5, tcp: 'open', connectMs: 0.4, durationMs })
const down = (target: string, port: number, durationMs: number): PathResult =>
  ({ target, port, checkedAt: NOW, sent: 3, received: 0, rttMs: null, tcp: 'timeout', connectMs: null, durationMs })
const svc = (open: boolean): ServiceResult => serviceResult([open ? ok('10.96.0.10', 80, 1) : down('10.96.0.10', 80, 1000)], NOW)

/** Two agents: host 1 -> 2 ok (2 ms), 2 -> 1 down (3 s); pod both ways ok (1.5 ms); the Service open from agent 1 only. */
function agents (): AgentRecord[] {
  const a1 = ident(1)
  const a2 = ident(2)
  return [
    { identity: a1, inc: 1, seq: 1, rv: 1, results: { host: new Map([[a2.nodeIp, ok(a2.nodeIp, 22, 2)]]), pod: new Map([[a2.podIp, ok(a2.podIp, 6100, 1.5)]]), service: svc(true) } },
    { identity: a2, inc: 1, seq: 1, rv: 1, results: { host: new Map([[a1.nodeIp, down(a1.nodeIp, 22, 3000)]]), pod: new Map([[a1.podIp, ok(a1.podIp, 6100, 1.5)]]), service: svc(false) } }
  ]
}

const legacyResult = (source: string, target: string, ping: 'reachable' | 'unreachable', port: string, state: 'open' | 'closed', durationUs: number | null) =>
  ({ source, target, ping, ports: { [port]: state }, latencyUs: 500, durationUs, timestamp: '2026-03-04T05:06:00Z' })

/** One legacy client (node 10.0.0.9, pod 10.1.0.9) with host, pod and Service results, plus a host report from agent 1's IP. */
const LEGACY: ExternalBody[] = [
  { part: 'hb', value: { podName: 'k8snet-checker-old', nodeIp: '10.0.0.9', podIp: '10.1.0.9', namespace: 'k8snet', timestamp: '2026-03-04T05:06:00Z' } },
  { part: 'host', source: '10.0.0.9', value: [legacyResult('10.0.0.9', '10.0.0.1', 'reachable', '22', 'open', 1500)] },
  { part: 'pod', source: '10.1.0.9', value: [legacyResult('10.1.0.9', '10.1.0.1', 'unreachable', '6100', 'closed', 2_000_000)] },
  { part: 'svc', value: legacyResult('10.1.0.9', '10.96.0.10', 'reachable', '80', 'open', 3000) },
  // an agent's own results win over a legacy report for its IP (as in /api/v1 results): not counted
  { part: 'host', source: '10.0.0.1', value: [legacyResult('10.0.0.1', '10.0.0.2', 'unreachable', '22', 'closed', 9_000_000)] }
]

const VERDICT: Verdict = {
  kind: 'one-way',
  subject: 'agent-2 -> agent-1',
  summary: 'node-2 cannot reach node-1, the other way works',
  evidence: ['host: agent-2 -> agent-1 unreachable'],
  agree: 1,
  of: 1,
  culprits: ['agent-2 -> agent-1']
}

const report = (verdicts: Verdict[] = [VERDICT]) =>
  buildReport({ live: agents(), lost: [], legacyClients: 1, nowWall: NOW, reporter: 'agent-1', verdicts })

t.test('the original layout, line for line, legacy client counted and marked, our verdicts after it', async t => {
  const lines = renderOriginal(report(), LEGACY)
  const original = [
    '',
    RULE,
    '网络连通性报告',
    RULE,
    '生成时间: 2026-03-04 05:06:07',
    THIN,
    '活跃客户端数量: 3',
    '',
    '宿主机IP列表 (共3个):',
    '  1. 10.0.0.1',
    '  2. 10.0.0.2',
    '  3. 10.0.0.9 (legacy)',
    '',
    'Pod IP列表 (共3个):',
    '  1. 10.1.0.1',
    '  2. 10.1.0.2',
    '  3. 10.1.0.9 (legacy)',
    '',
    '宿主机连通性测试统计:',
    '  总测试数: 3',
    '  成功: 2',
    '  失败: 1',
    '  成功率: 66.67%',
    '  平均耗时: 1.001166666s',
    '  总耗时: 3.0035s',
    '',
    'Pod连通性测试统计:',
    '  总测试数: 3',
    '  成功: 2',
    '  失败: 1',
    '  成功率: 66.67%',
    '  平均耗时: 667.666666ms',
    '  总耗时: 2.003s',
    '',
    '自定义服务连通性测试统计:',
    '  服务名称: web.default.svc.cluster.local',
    '  总测试数: 3',
    '  成功: 2',
    '  失败: 1',
    '  成功率: 66.67%',
    '',
    RULE,
    ''
  ]
  const ours = [
    'Verdicts (1):',
    '  [ONE-WAY] node-2 cannot reach node-1, the other way works [1/1 agree]',
    '      - host: agent-2 -> agent-1 unreachable',
    'Failing pairs (1 of 1):',
    '  host node-2 (10.0.0.2) -> node-1 (10.0.0.1): unreachable (ICMP 0/3, TCP timeout)'
  ]
  t.strictSame(lines, [...original, ...ours], 'the original part, then ours')
  t.equal(lines.indexOf('Verdicts (1):'), original.length, 'the verdicts come right after the original\'s closing rule')
})

t.test('no legacy client, nothing measured: the original\'s empty forms', async t => {
  const empty = buildReport({ live: [], lost: [], legacyClients: 0, nowWall: NOW, reporter: null, verdicts: [] })
  t.strictSame(renderOriginal(empty), [
    '', RULE, '网络连通性报告', RULE, '生成时间: 2026-03-04 05:06:07', THIN,
    '活跃客户端数量: 0', '',
    '宿主机IP列表 (共0个):', '  无', '',
    'Pod IP列表 (共0个):', '  无', '',
    // no tests: a 0.00% rate and no duration lines, and no Service block at all
    '宿主机连通性测试统计:', '  总测试数: 0', '  成功: 0', '  失败: 0', '  成功率: 0.00%', '',
    'Pod连通性测试统计:', '  总测试数: 0', '  成功: 0', '  失败: 0', '  成功率: 0.00%', '',
    RULE, '',
    'Verdicts: none, no fault localised.',
    'Failing pairs: none'
  ])
  const agentsOnly = renderOriginal(report([]))
  t.notOk(agentsOnly.some(l => l.includes('(legacy)')), 'no legacy mark without legacy clients')
  t.ok(agentsOnly.includes('活跃客户端数量: 3'), 'the count still includes the Report\'s legacyClients')
})

t.test('Go formats: time.Duration String() and %.2f', async t => {
  const cases: Array<[number, string]> = [
    [0, '0s'], [850, '850ns'], [1_000, '1µs'], [1_500, '1.5µs'], [2_004_000, '2.004ms'], [1_000_000_000, '1s'],
    [90_500_000_000, '1m30.5s'], [3_600_000_000_000, '1h0m0s'], [3_723_000_000_000, '1h2m3s'], [-1_500, '-1.5µs']
  ]
  for (const [ns, s] of cases) t.equal(goDuration(ns), s, `${ns} ns`)
  t.equal(goFixed2(100), '100.00')
  t.equal(goFixed2(200 / 3), '66.67')
  t.equal(goFixed2(12.125), '12.12', 'an exact tie rounds half to even, as Go does')
  t.equal(goFixed2(12.375), '12.38', 'an exact tie rounds half to even, as Go does (up)')
})

t.test('the Reporter: the text in the chosen format, and always one JSON log record of the same report', async t => {
  const records: Array<Record<string, any>> = []
  const sink = new Writable({ write (chunk: Buffer, _enc, done) { records.push(...chunk.toString().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, any>)); done() } })
  const log = pino({ level: 'info' }, sink)
  const printed: string[] = []
  // a CPU clock that advances 7 ms during each report; the metrics hear of the same cost
  let cpu = 100
  const costs: number[] = []
  const reporter = (render?: (r: ReturnType<typeof report>) => string): Reporter => new Reporter({
    intervalMs: 1000,
    isLeader: () => true,
    build: () => { cpu += 7; return report() },
    print: text => { printed.push(text) },
    wallNow: () => NOW,
    cpuNow: () => cpu,
    events: { reportPrinted: s => { costs.push(s) } },
    log,
    ...(render === undefined ? {} : { render })
  })
  t.ok(reporter().tick(), 'ours: printed')
  t.match(printed[0], /^==== k8snet-checker network report/, 'the text')
  t.ok(reporter(() => '').tick(), 'json: a tick that prints no text')
  t.equal(printed.length, 1, 'no text for the JSON-only format')
  await new Promise(resolve => setImmediate(resolve))
  const logged = records.filter(r => r.msg === 'network report')
  t.equal(logged.length, 2, 'one record per report, whatever the text format')
  t.match(logged[0]?.report, { reporter: 'agent-1', legacyClients: 1, verdicts: [{ kind: VERDICT.kind, subject: VERDICT.subject, culprits: VERDICT.culprits }] }, 'verdicts with kind, subject and culprits')
  t.notOk('hostIps' in (logged[0]?.report ?? {}), 'IP lists left out (their counts stay)')
  t.equal(logged[0]?.cpu_ms, 7, 'the record says what the report cost in CPU')
  t.same(costs, [0.007, 0.007], 'and so do the metrics, in seconds')
})

t.test('REPORT_FORMAT parses', async t => {
  t.equal(parseConfig({ NODE_IP: '10.0.0.1', POD_IP: '10.1.0.1', POD_NAME: 'p', NAMESPACE: 'k8snet', REPORT_FORMAT: 'json' }).reportFormat, 'json', 'json: the log record alone')
  const ENV = { NODE_IP: '10.0.0.1', POD_IP: '10.1.0.1', POD_NAME: 'k8snet-checker-abcde', NAMESPACE: 'k8snet' }
  t.equal(parseConfig(ENV).reportFormat, 'ours', 'ours by default')
  t.equal(parseConfig({ ...ENV, REPORT_FORMAT: 'ours' }).reportFormat, 'ours')
  t.equal(parseConfig({ ...ENV, REPORT_FORMAT: ' original ' }).reportFormat, 'original', 'original (trimmed)')
  for (const v of ['Original', 'go', 'legacy']) {
    let err: unknown
    try { parseConfig({ ...ENV, REPORT_FORMAT: v }) } catch (e) { err = e }
    t.ok(err instanceof ConfigError, `${v}: a ConfigError`)
    if (!(err instanceof ConfigError)) continue
    t.equal(err.variable, 'REPORT_FORMAT')
    t.equal(err.value, v)
    t.match(err.message, /^REPORT_FORMAT="[^"]+": expected one of ours, original/, 'names the variable and the accepted values')
  }
})
