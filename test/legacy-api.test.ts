// The original Go clients' POST routes through Fastify's inject(): their bodies accepted and visible on every read
// route, bad ones 400 naming the field with nothing changed, the limits (413, 503), media types, prototype poisoning,
// a seeded junk-body fuzz that must never answer 5xx nor change the view, and the thinning of large result posts.
import t from 'tap'
import { legacyRowFails, thinLegacyResults } from '../src/api/legacy-thin.ts'
import { externalKey, type ExternalBody, type ExternalRecord, type LegacyPathResult } from '../src/core/record.ts'
import { type Report } from '../src/report/report.ts'
import { mulberry32 } from './fixtures.ts'
import { COUNT, HOST_IPS, HOST_RESULTS, LEAK, POD_IPS, POD_RESULTS, type Res, SERVICE_RESULTS, TTL, WALL, WRITE_URLS, errorOf, get, getJson, harness, post, readAll, success, HEARTBEAT, hb } from './harness/api.ts'

function result (source: string, target: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { source_ip: source, target_ip: target, ping_status: 'reachable', port_status: { 22: 'open' }, latency: '1.5ms', test_duration: '2.5ms', timestamp: '2026-11-25T10:00:00Z', ...over }
}

const HOSTS_BODY = {
  source_ip: '10.5.0.1',
  results: [
    // Go marshals time.Duration as integer nanoseconds
    result('10.5.0.1', '10.0.0.1', { latency: 1_500_000, test_duration: 2_500_000_000 }),
    result('10.5.0.1', '10.0.0.2', { ping_status: 'unreachable', port_status: { 22: 'closed', 80: 'open' }, latency: undefined, test_duration: 850_000, timestamp: undefined }),
    result('10.5.0.1', '10.0.0.3', { port_status: {}, latency: '1m2.5s', test_duration: '0' })
  ]
}
const HOSTS_ROW = {
  '10.0.0.1': { ping: 'reachable', port_status: 'open', test_duration: '2.50s', rtt: '1.50ms', rtt_ms: 1.5, checked_at: '2026-11-25T10:00:00Z', source: 'legacy' },
  '10.0.0.2': { ping: 'unreachable', port_status: 'closed', test_duration: '850.00µs', rtt: null, rtt_ms: null, checked_at: '', source: 'legacy' },
  '10.0.0.3': { ping: 'reachable', port_status: 'closed', test_duration: '0.00µs', rtt: '62.50s', rtt_ms: 62500, checked_at: '2026-11-25T10:00:00Z', source: 'legacy' }
}
const PODS_BODY = {
  source_ip: '10.6.0.1',
  results: [result('10.6.0.1', '10.1.0.1', { port_status: { 6100: 'open' }, latency: '850µs', test_duration: '1.2ms' })]
}
const PODS_ROW = {
  '10.1.0.1': { ping: 'reachable', port_status: 'open', test_duration: '1.20ms', rtt: '850.00µs', rtt_ms: 0.85, checked_at: '2026-11-25T10:00:00Z', source: 'legacy' }
}
const SERVICE_BODY = {
  source_ip: '10.6.0.1',
  result: result('10.6.0.1', '10.96.0.10', { port_status: { 80: 'open', 443: 'closed' }, latency: '1.2ms', test_duration: '3ms' })
}
const SERVICE_ROW = {
  source_ip: '10.6.0.1',
  target_ip: '10.96.0.10',
  ping_status: 'reachable',
  port_status: { 80: 'open', 443: 'closed' },
  latency: '1.20ms',
  test_duration: '3.00ms',
  timestamp: '2026-11-25T10:00:00Z',
  source: 'legacy'
}

t.test('POST with the original bodies: accepted, then visible on every read route as legacy records', async t => {
  const h = harness()

  t.test('heartbeat', async t => {
    success(t, await post(h, '/api/v1/heartbeat', HEARTBEAT), 'heartbeat received', 'heartbeat')
    t.strictSame(await getJson(h, '/api/v1/hosts'), { host_ips: [...HOST_IPS, '10.5.0.1'], count: 5 }, 'its node IP is a host')
    t.strictSame(await getJson(h, '/api/v1/pods'), { pod_ips: [...POD_IPS, '10.6.0.1'], count: 5 }, 'its pod IP is a pod')
    t.strictSame(await getJson(h, '/api/v1/clients/count'), { active_client_count: 5, versions: { ...COUNT.versions, legacy: 1 } }, 'counted as a legacy client')
    const report = await getJson<Report>(h, '/api/v1/report')
    t.equal(report.legacyClients, 1, 'the report counts it')
    t.equal(report.activeAgents, 4, 'but not as an agent')
    t.equal((await getJson<{ view_size: number }>(h, '/api/v1/health')).view_size, 4, 'the view size counts agents only')

    // a second client with a node IP that sorts numerically (10.0.0.10 after 10.0.0.4), and the minimal body
    success(t, await post(h, '/api/v1/heartbeat', { pod_name: 'legacy-2', node_ip: '10.0.0.10', pod_ip: 'fd00::2' }), 'heartbeat received', 'minimal heartbeat')
    t.strictSame((await getJson<{ host_ips: string[] }>(h, '/api/v1/hosts')).host_ips, [...HOST_IPS, '10.0.0.10', '10.5.0.1'], 'numeric IP order')
    t.strictSame((await getJson<{ pod_ips: string[] }>(h, '/api/v1/pods')).pod_ips, [...POD_IPS, '10.6.0.1', 'fd00::2'], 'IPv6 pod IP')
    t.equal((await getJson<{ active_client_count: number }>(h, '/api/v1/clients/count')).active_client_count, 6, 'two legacy clients')

    // the same client again, moved: last writer wins, no duplicate
    success(t, await post(h, '/api/v1/heartbeat', { pod_name: 'legacy-2', node_ip: '10.0.0.11', pod_ip: 'fd00::3' }), 'heartbeat received', 'heartbeat again')
    t.strictSame((await getJson<{ host_ips: string[] }>(h, '/api/v1/hosts')).host_ips, [...HOST_IPS, '10.0.0.11', '10.5.0.1'], 'the newer heartbeat replaces the older')
    t.equal((await getJson<{ active_client_count: number }>(h, '/api/v1/clients/count')).active_client_count, 6, 'still two legacy clients')
  })

  t.test('test-results/hosts', async t => {
    success(t, await post(h, '/api/v1/test-results/hosts', HOSTS_BODY), 'host test results received', 'host results')
    t.strictSame(await getJson(h, '/api/v1/test-results/hosts'), { results: { ...HOST_RESULTS, '10.5.0.1': HOSTS_ROW } },
      'a legacy row: durations from ns integers and Go strings, ports folded into open/closed, no detail it did not send')
    t.strictSame((await getJson<{ host_test_results: unknown }>(h, '/api/v1/results')).host_test_results, { ...HOST_RESULTS, '10.5.0.1': HOSTS_ROW }, 'in /results too')
    t.equal((await getJson<{ active_client_count: number }>(h, '/api/v1/clients/count')).active_client_count, 6, 'results are not heartbeats')
  })

  t.test('test-results/pods', async t => {
    success(t, await post(h, '/api/v1/test-results/pods', PODS_BODY), 'pod test results received', 'pod results')
    t.strictSame(await getJson(h, '/api/v1/test-results/pods'), { results: { ...POD_RESULTS, '10.6.0.1': PODS_ROW } }, 'a legacy pod row')
    t.strictSame((await getJson<{ pod_test_results: unknown }>(h, '/api/v1/results')).pod_test_results, { ...POD_RESULTS, '10.6.0.1': PODS_ROW }, 'in /results too')
    t.strictSame((await getJson<{ results: unknown }>(h, '/api/v1/test-results/hosts')).results, { ...HOST_RESULTS, '10.5.0.1': HOSTS_ROW }, 'host rows untouched')
  })

  t.test('test-results/service', async t => {
    success(t, await post(h, '/api/v1/test-results/service', SERVICE_BODY), 'service test result received', 'service result')
    t.strictSame(await getJson(h, '/api/v1/test-results/service'), { results: { ...SERVICE_RESULTS, '10.6.0.1': SERVICE_ROW } }, 'the original Service row')
    t.strictSame((await getJson<{ service_test_results: unknown }>(h, '/api/v1/results')).service_test_results, { ...SERVICE_RESULTS, '10.6.0.1': SERVICE_ROW }, 'in /results too')
  })

  t.test('a newer report from the same source replaces the older one', async t => {
    const next = { source_ip: '10.5.0.1', results: [result('10.5.0.1', '10.0.0.4', { ping_status: 'unreachable', latency: 0, test_duration: 5 })] }
    success(t, await post(h, '/api/v1/test-results/hosts', next), 'host test results received', 'second host report')
    t.strictSame((await getJson<{ results: Record<string, unknown> }>(h, '/api/v1/test-results/hosts')).results['10.5.0.1'], {
      '10.0.0.4': { ping: 'unreachable', port_status: 'open', test_duration: '0.00µs', rtt: '0.00µs', rtt_ms: 0, checked_at: '2026-11-25T10:00:00Z', source: 'legacy' }
    }, 'only the newer row is left (5 ns round to 0 µs)')
    success(t, await post(h, '/api/v1/test-results/hosts', { source_ip: '10.5.0.1', results: [] }), 'host test results received', 'an empty report')
    t.strictSame((await getJson<{ results: Record<string, unknown> }>(h, '/api/v1/test-results/hosts')).results['10.5.0.1'], {}, 'an empty row')
  })

  t.test('an agent\'s own results win over a legacy report for its IP', async t => {
    success(t, await post(h, '/api/v1/test-results/hosts', { source_ip: '10.0.0.2', results: [result('10.0.0.2', '10.0.0.9')] }), 'host test results received', 'legacy report for an agent IP')
    t.strictSame((await getJson<{ results: Record<string, unknown> }>(h, '/api/v1/test-results/hosts')).results['10.0.0.2'], HOST_RESULTS['10.0.0.2'], 'the agent row is shown')
  })

  t.test('every accepted report crosses the wire unchanged', async t => {
    t.strictSame(h.unsendable, [], 'a peer decodes every injected record to the same value')
  })

  t.test('legacy records expire like any origin', async t => {
    h.clock.mono += TTL + 1
    t.strictSame(await getJson(h, '/api/v1/hosts'), { host_ips: ['10.0.0.1'], count: 1 }, 'the heartbeats are gone')
    t.strictSame((await getJson<{ results: Record<string, unknown> }>(h, '/api/v1/test-results/hosts')).results, { '10.0.0.1': HOST_RESULTS['10.0.0.1'] }, 'the legacy rows are gone')
    t.strictSame((await getJson<{ results: Record<string, unknown> }>(h, '/api/v1/test-results/service')).results, {}, 'the legacy Service row is gone')
  })
})

t.test('POST good bodies: every optional field may be left out, durations in both Go forms', async t => {
  const cases: Array<[string, string, unknown]> = [
    ['heartbeat without namespace and timestamp', '/api/v1/heartbeat', { pod_name: 'a', node_ip: '10.7.0.1', pod_ip: '10.8.0.1' }],
    ['heartbeat with an empty namespace', '/api/v1/heartbeat', { pod_name: 'b.c-d', node_ip: '::1', pod_ip: '10.8.0.2', namespace: '' }],
    ['heartbeat with a UTC timestamp', '/api/v1/heartbeat', { pod_name: 'c', node_ip: '10.7.0.3', pod_ip: '10.8.0.3', timestamp: '2026-01-02T03:04:05Z' }],
    ['results without latency, duration, timestamp', '/api/v1/test-results/pods', { source_ip: '10.8.0.1', results: [{ source_ip: '10.8.0.1', target_ip: '10.8.0.2', ping_status: 'unreachable', port_status: {} }] }],
    ['results with a DNS name as target', '/api/v1/test-results/pods', { source_ip: '10.8.0.3', results: [result('10.8.0.3', 'svc.ns.svc.cluster.local')] }],
    ['results with every Go unit', '/api/v1/test-results/hosts', { source_ip: '10.7.0.1', results: ['1ns', '1us', '1µs', '1μs', '1ms', '1s', '1m', '1h', '1h2m3.5s'].map((d, i) => result('10.7.0.1', `10.9.0.${i + 1}`, { latency: d, test_duration: d })) }],
    ['results with 16 ports, from 1 to 65535', '/api/v1/test-results/hosts', { source_ip: '10.7.0.2', results: [result('10.7.0.2', '10.9.0.1', { port_status: Object.fromEntries([1, 65535, ...Array.from({ length: 14 }, (_, i) => 1000 + i)].map(p => [String(p), 'open'])) })] }],
    ['service with IPv6 addresses', '/api/v1/test-results/service', { source_ip: 'fd00::1', result: result('fd00::1', 'fd00::10', { ping_status: 'unreachable', port_status: { 80: 'closed' } }) }],
    ['JSON with charset and whitespace', '/api/v1/heartbeat', '\n {"pod_name" : "d", "node_ip":"10.7.0.4",\t"pod_ip":"10.8.0.4"}\n']
  ]
  const h = harness()
  for (const [what, url, body] of cases) {
    const r = await post(h, url, body, what.includes('charset') ? 'application/json; charset=utf-8' : 'application/json')
    t.equal(r.statusCode, 200, `${what}: accepted (${r.body.slice(0, 200)})`)
  }
  const hosts = await getJson<{ results: Record<string, Record<string, { rtt: string, test_duration: string }>> }>(h, '/api/v1/test-results/hosts')
  t.strictSame(Object.values(hosts.results['10.7.0.1'] ?? {}).map(r => r.rtt),
    ['0.00µs', '1.00µs', '1.00µs', '1.00µs', '1.00ms', '1.00s', '60.00s', '3600.00s', '3723.50s'],
    'each Go unit is read (1 ns rounds to 0 µs)')
  t.strictSame(h.unsendable, [], 'every accepted report crosses the wire unchanged')
})

// ---- bad bodies ----

type Bad = [what: string, body: unknown, mentions: RegExp]
const withoutKey = (o: Record<string, unknown>, k: string): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([x]) => x !== k))
const hostsFrom = (source: string): unknown => ({ source_ip: source, results: [result(source, '10.0.0.1')] })
const hostsWith = (over: Record<string, unknown>): unknown => ({ source_ip: '10.5.0.1', results: [result('10.5.0.1', '10.0.0.1', over)] })
const svcWith = (over: Record<string, unknown>): unknown => ({ source_ip: '10.6.0.1', result: result('10.6.0.1', '10.96.0.10', over) })

/** Field problems shared by the three results routes, as overrides of one result. */
const RESULT_PROBLEMS: Array<[string, Record<string, unknown>, RegExp]> = [
  ['target_ip missing', { target_ip: undefined }, /target_ip/],
  ['ping_status missing', { ping_status: undefined }, /ping_status/],
  ['port_status missing', { port_status: undefined }, /port_status/],
  ['source_ip missing in the result', { source_ip: undefined }, /source_ip/],
  ['target_ip a number', { target_ip: 1 }, /target_ip/],
  ['target_ip empty', { target_ip: '' }, /target_ip/],
  ['target_ip not an IP nor a DNS name', { target_ip: 'not an ip!' }, /target_ip/],
  ['target_ip "__proto__"', { target_ip: '__proto__' }, /target_ip/],
  ['target_ip an octet over 255', { target_ip: '10.0.0.256' }, /target_ip/],
  ['target_ip a CIDR', { target_ip: '10.0.0.0/24' }, /target_ip/],
  ['target_ip of 253 astral characters', { target_ip: '😀'.repeat(253) }, /target_ip/],
  ['target_ip nested', { target_ip: { ip: '10.0.0.1' } }, /target_ip/],
  ['ping_status not in the enum', { ping_status: 'up' }, /ping_status/],
  ['ping_status a boolean', { ping_status: true }, /ping_status/],
  ['ping_status "unknown" (the original never sent it)', { ping_status: 'unknown' }, /ping_status/],
  ['port_status value a boolean', { port_status: { 22: true } }, /port_status/],
  ['port_status value upper case', { port_status: { 22: 'OPEN' } }, /port_status/],
  ['port_status key a service name', { port_status: { ssh: 'open' } }, /port_status|propertyName/],
  ['port_status port 0', { port_status: { 0: 'open' } }, /port_status/],
  ['port_status port 65536', { port_status: { 65536: 'open' } }, /port_status/],
  ['port_status port 6 digits', { port_status: { 100000: 'open' } }, /port_status|propertyName/],
  ['port_status an array', { port_status: [{ 22: 'open' }] }, /port_status/],
  ['port_status nested one level more', { port_status: { 22: { status: 'open' } } }, /port_status/],
  ['port_status with 17 ports', { port_status: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [String(i + 1), 'open'])) }, /port_status/],
  ['latency "5": a number in a string, not a duration', { latency: '5' }, /latency/],
  ['latency a fraction of a ns', { latency: 1.5 }, /latency/],
  ['latency negative', { latency: -1 }, /latency/],
  ['latency a negative duration string', { latency: '-1ms' }, /latency/],
  ['latency in exponent notation', { latency: '1e3ms' }, /latency/],
  ['latency with a space', { latency: '1.5 ms' }, /latency/],
  ['latency without unit', { latency: '1.5' }, /latency/],
  ['latency empty', { latency: '' }, /latency/],
  ['latency null', { latency: null }, /latency/],
  ['latency a boolean', { latency: true }, /latency/],
  ['latency nested', { latency: { ms: 1 } }, /latency/],
  ['latency beyond any clock (1e25 ns)', { latency: 1e25 }, /latency/],
  ['latency beyond a safe integer of µs (as a string)', { latency: '9999999999999999999h' }, /latency/],
  ['test_duration negative', { test_duration: -5 }, /test_duration/],
  ['test_duration a string of a number', { test_duration: '2500000' }, /test_duration/],
  ['test_duration over 64 characters', { test_duration: '1'.repeat(63) + 'ms' }, /test_duration/],
  ['timestamp a number', { timestamp: 1_764_064_800 }, /timestamp/],
  ['timestamp not a date', { timestamp: 'yesterday' }, /timestamp/],
  ['timestamp "1" (not RFC 3339)', { timestamp: '1' }, /timestamp/],
  ['timestamp prose with a year (not RFC 3339)', { timestamp: 'x 2020 1' }, /timestamp/],
  ['timestamp of astral characters around a year', { timestamp: '😀'.repeat(55) + ' 2020 1' }, /timestamp/],
  ['latency a list', { latency: ['1ms'] }, /latency/]
]

const BAD_HEARTBEATS: Bad[] = [
  ['pod_name missing', withoutKey(HEARTBEAT, 'pod_name'), /pod_name/],
  ['node_ip missing', withoutKey(HEARTBEAT, 'node_ip'), /node_ip/],
  ['pod_ip missing', withoutKey(HEARTBEAT, 'pod_ip'), /pod_ip/],
  ['an empty object', {}, /pod_name|node_ip|pod_ip/],
  ['pod_name a number', hb({ pod_name: 5 }), /pod_name/],
  ['pod_name empty', hb({ pod_name: '' }), /pod_name/],
  ['pod_name not a DNS name', hb({ pod_name: 'Client_1' }), /pod_name/],
  ['pod_name "__proto__"', hb({ pod_name: '__proto__' }), /pod_name/],
  ['pod_name over 253 characters', hb({ pod_name: 'a'.repeat(254) }), /pod_name/],
  ['node_ip a number', hb({ node_ip: 1 }), /node_ip/],
  ['node_ip null', hb({ node_ip: null }), /node_ip/],
  ['node_ip a boolean', hb({ node_ip: true }), /node_ip/],
  ['node_ip not an IP', hb({ node_ip: 'nope' }), /node_ip/],
  ['node_ip an octet over 255', hb({ node_ip: '10.0.0.256' }), /node_ip/],
  ['node_ip with leading zeros', hb({ node_ip: '010.0.0.1' }), /node_ip/],
  ['node_ip a CIDR', hb({ node_ip: '10.0.0.1/24' }), /node_ip/],
  ['node_ip with a port', hb({ node_ip: '10.0.0.1:22' }), /node_ip/],
  ['node_ip with a space', hb({ node_ip: '10.0.0.1 ' }), /node_ip/],
  ['node_ip a host name', hb({ node_ip: 'node-1.cluster.local' }), /node_ip/],
  ['node_ip in an array', hb({ node_ip: ['10.0.0.1'] }), /node_ip/],
  ['node_ip nested', hb({ node_ip: { ip: '10.0.0.1' } }), /node_ip/],
  ['pod_ip not an IP', hb({ pod_ip: '10.1.0' }), /pod_ip/],
  ['pod_ip too long', hb({ pod_ip: '1'.repeat(46) }), /pod_ip/],
  ['namespace a number', hb({ namespace: 5 }), /namespace/],
  ['namespace over 63 characters', hb({ namespace: 'a'.repeat(64) }), /namespace/],
  ['namespace of 63 astral characters', hb({ namespace: '😀'.repeat(63) }), /namespace/],
  ['namespace not a DNS label', hb({ namespace: 'Kube System' }), /namespace/],
  ['namespace with a lone surrogate', hb({ namespace: 'a\ud800b' }), /namespace/],
  ['timestamp a number', hb({ timestamp: 1_764_064_800 }), /timestamp/],
  ['timestamp not a date', hb({ timestamp: 'now' }), /timestamp/],
  ['timestamp "1" (not RFC 3339)', hb({ timestamp: '1' }), /timestamp/],
  ['timestamp with month 13', hb({ timestamp: '2026-13-01T00:00:00Z' }), /timestamp/],
  ['the body nested one level more', { heartbeat: HEARTBEAT }, /heartbeat|additional|pod_name/],
  ['the body in an array', [HEARTBEAT], /object/],
  ['a JSON string', '"x"', /object/],
  ['a JSON number', 5, /object/],
  ['JSON null', null, /object/],
  ['two invalid IPs: both named', hb({ node_ip: 'a.b', pod_ip: 'c.d' }), /node_ip.*pod_ip/]
]

const BAD_RESULTS = (source: string): Bad[] => [
  ['source_ip missing', { results: [] }, /source_ip/],
  ['results missing', { source_ip: source }, /results/],
  ['source_ip not an IP', { source_ip: 'me', results: [] }, /source_ip/],
  ['source_ip a number', { source_ip: 10, results: [] }, /source_ip/],
  ['results an object', { source_ip: source, results: result(source, '10.0.0.1') }, /results/],
  ['results nested in an array', { source_ip: source, results: [[result(source, '10.0.0.1')]] }, /results/],
  ['a result that is a string', { source_ip: source, results: ['10.0.0.1'] }, /results/],
  ['a result from another source', { source_ip: source, results: [result('10.9.9.9', '10.0.0.1')] }, /source_ip/],
  ['5001 results', { source_ip: source, results: Array.from({ length: 5001 }, () => ({ source_ip: source, target_ip: 'a', ping_status: 'reachable', port_status: {} })) }, /results/],
  ['"result" instead of "results"', { source_ip: source, result: result(source, '10.0.0.1') }, /results|result/],
  ...RESULT_PROBLEMS.map(([what, over, re]): Bad => [what, { source_ip: source, results: [result(source, '10.0.0.1'), result(source, '10.0.0.2', over)] }, re])
]

const BAD_SERVICE: Bad[] = [
  ['result missing', { source_ip: '10.6.0.1' }, /result/],
  ['source_ip missing', { result: result('10.6.0.1', '10.96.0.10') }, /source_ip/],
  ['result in an array (the results route\'s shape)', { source_ip: '10.6.0.1', result: [result('10.6.0.1', '10.96.0.10')] }, /result/],
  ['"results" instead of "result"', { source_ip: '10.6.0.1', results: [result('10.6.0.1', '10.96.0.10')] }, /result/],
  ['a result from another source', { source_ip: '10.6.0.1', result: result('10.6.0.2', '10.96.0.10') }, /source_ip/],
  ['result null', { source_ip: '10.6.0.1', result: null }, /result/],
  ...RESULT_PROBLEMS.map(([what, over, re]): Bad => [what, svcWith(over), re])
]

t.test('POST with fields the schema does not know: dropped and counted, as the original\'s server ignored them', async t => {
  const h = harness()
  const counted = h.unknownFields
  const send = async (url: string, body: unknown): Promise<Res> => await post(h, url, body)
  t.equal((await send('/api/v1/heartbeat', hb({ version: '1.0.0', Extra: { a: 1 } }))).statusCode, 200, 'a heartbeat with two unknown fields')
  const hosts = { source_ip: '10.5.0.1', extra: 1, results: [result('10.5.0.1', '10.0.0.1', { rtt: '1ms', Latency: '2ms' })] }
  t.equal((await send('/api/v1/test-results/hosts', hosts)).statusCode, 200, 'results with one unknown top-level field and two in a result')
  t.equal((await send('/api/v1/test-results/service', { ...(svcWith({ rtt: '1ms' }) as object), note: 'x' })).statusCode, 200, 'a Service result with two')
  t.strictSame(counted, [['/api/v1/heartbeat', 2], ['/api/v1/test-results/hosts', 3], ['/api/v1/test-results/service', 2]], 'each route counts what it dropped')
  const held = h.view.externalEntries().find(e => e.record.key === 'host:10.5.0.1')?.record.body
  t.strictSame(held?.part === 'host' ? held.value.map(r => r.target) : null, ['10.0.0.1'], 'the known fields reach the view')
  t.notOk(JSON.stringify(held).includes('rtt'), 'nothing unknown does')
  const bad = await send('/api/v1/heartbeat', hb({ version: '1.0.0', node_ip: 'not-an-ip' }))
  t.equal(bad.statusCode, 400, 'a malformed known field is still refused, unknown fields or not')
})

t.test('POST bad bodies: 400 INVALID_REQUEST naming the field, nothing injected, the view unchanged', async t => {
  const h = harness()
  success(t, await post(h, '/api/v1/heartbeat', HEARTBEAT), 'heartbeat received', 'a legacy client first')
  const before = await readAll(h)
  const injects = h.injects
  const table: Array<[string, Bad[]]> = [
    ['/api/v1/heartbeat', BAD_HEARTBEATS],
    ['/api/v1/test-results/hosts', BAD_RESULTS('10.5.0.1')],
    ['/api/v1/test-results/pods', BAD_RESULTS('10.6.0.1')],
    ['/api/v1/test-results/service', BAD_SERVICE]
  ]
  for (const [url, bads] of table) {
    t.test(url, async t => {
      for (const [what, body, mentions] of bads) {
        const r = await post(h, url, body)
        const e = errorOf(t, r, 400, 'INVALID_REQUEST', `${url} ${what}`)
        t.match(`${e.message} ${JSON.stringify(e.details ?? null)}`, mentions, `${url} ${what}: names the problem (${e.message.slice(0, 120)})`)
        if (e.details !== undefined) t.ok(Array.isArray(e.details), `${url} ${what}: details is a list`)
      }
    })
  }
  t.test('nothing changed', async t => {
    t.equal(h.injects, injects, 'no bad body reached the mesh')
    t.equal(await readAll(h), before, 'every read route answers as before')
  })
})

t.test('400 details: schema errors and semantic errors', async t => {
  const h = harness()
  const missing = errorOf(t, await post(h, '/api/v1/heartbeat', withoutKey(HEARTBEAT, 'pod_ip')), 400, 'INVALID_REQUEST', 'missing pod_ip')
  t.match(missing.message, /must have required property 'pod_ip'/, 'the message says what is missing')
  t.match(missing.details, [{ field: '(body)', problem: /pod_ip/, params: { missingProperty: 'pod_ip' } }], 'details name the field')
  const type = errorOf(t, await post(h, '/api/v1/heartbeat', hb({ pod_name: 5 })), 400, 'INVALID_REQUEST', 'pod_name a number')
  t.match(type.details, [{ field: '/pod_name', problem: 'must be string' }], 'no coercion of 5 to "5"')
  const nested = errorOf(t, await post(h, '/api/v1/test-results/hosts', hostsWith({ port_status: { 22: 1 } })), 400, 'INVALID_REQUEST', 'a port status of 1')
  t.match(nested.details, [{ field: '/results/0/port_status/22' }], 'details point into the nested field')
  const absent = errorOf(t, await post(h, '/api/v1/heartbeat', withoutKey(HEARTBEAT, 'pod_ip')), 400, 'INVALID_REQUEST', 'a missing field')
  t.match(absent.details, [{ params: { missingProperty: 'pod_ip' } }], 'details name the missing field')
  const two = errorOf(t, await post(h, '/api/v1/heartbeat', hb({ node_ip: 'a.b', pod_ip: 'c.d' })), 400, 'INVALID_REQUEST', 'two bad IPs')
  t.strictSame(two.details, [
    { field: 'node_ip', problem: '"a.b" is not an IP address' },
    { field: 'pod_ip', problem: '"c.d" is not an IP address' }
  ], 'every semantic problem is listed')
  t.equal(two.message, 'node_ip: "a.b" is not an IP address; pod_ip: "c.d" is not an IP address', 'and joined in the message')
  const deep = errorOf(t, await post(h, '/api/v1/test-results/pods', { source_ip: '10.6.0.1', results: [result('10.6.0.1', '10.1.0.1'), result('10.6.0.1', '10.1.0.2', { latency: 'soon' })] }), 400, 'INVALID_REQUEST', 'a bad duration in the second result')
  t.match(deep.details, [{ field: 'results[1].latency', problem: /"soon" is not a duration/ }], 'the semantic error names the item')
})

// ---------------------------------------------------------------------------------------------------------------
// 3. limits: size, media type, routing, capacity

t.test('body size: over the configured limit is 413, at the limit is fine', async t => {
  const h = harness({ bodyLimit: 1024 })
  const json = JSON.stringify(hb({ pod_name: 'padded' }))
  const exact = json + ' '.repeat(1024 - Buffer.byteLength(json))
  t.equal(Buffer.byteLength(exact), 1024, 'a body of exactly the limit')
  success(t, await post(h, '/api/v1/heartbeat', exact), 'heartbeat received', 'exactly the limit')
  const before = await readAll(h)
  errorOf(t, await post(h, '/api/v1/heartbeat', exact + ' '), 413, 'PAYLOAD_TOO_LARGE', 'one byte over')
  errorOf(t, await post(h, '/api/v1/test-results/hosts', { source_ip: '10.5.0.1', results: Array.from({ length: 100 }, (_, i) => result('10.5.0.1', `10.0.1.${i}`)) }), 413, 'PAYLOAD_TOO_LARGE', 'many results')
  errorOf(t, await post(h, '/api/v1/test-results/service', 'x'.repeat(10_000)), 413, 'PAYLOAD_TOO_LARGE', 'junk over the limit is refused before parsing')
  errorOf(t, await post(h, '/api/v1/heartbeat', Buffer.alloc(5000, 0xff)), 413, 'PAYLOAD_TOO_LARGE', 'binary over the limit')
  t.equal(await readAll(h), before, 'the view is unchanged')
})

t.test('media type: any content type, or none, is read as JSON (the original\'s clients); a body that is not JSON is 400', async t => {
  const h = harness()
  const body = JSON.stringify(HEARTBEAT)
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'application/jsonx', 'application/octet-stream', 'text/html; charset=utf-8']) {
    success(t, await post(h, '/api/v1/heartbeat', body, ct), 'heartbeat received', `content-type ${ct}: read as JSON`)
  }
  success(t, await post(h, '/api/v1/heartbeat', body, null), 'heartbeat received', 'no content type: read as JSON')
  errorOf(t, await post(h, '/api/v1/heartbeat', body, 'json'), 415, 'UNSUPPORTED_MEDIA_TYPE', 'a content type that is not a media type at all')
  const before = await readAll(h)
  for (const url of WRITE_URLS) {
    errorOf(t, await post(h, url, 'pod_name=a&node_ip=10.0.0.1', 'application/x-www-form-urlencoded'), 400, 'INVALID_REQUEST', `${url} a form: not JSON`)
  }
  errorOf(t, await post(h, '/api/v1/heartbeat', '', 'application/json'), 400, 'INVALID_REQUEST', 'an empty JSON body')
  errorOf(t, await h.app.inject({ method: 'POST', url: '/api/v1/heartbeat' }), 400, 'INVALID_REQUEST', 'no body at all')
  t.equal(await readAll(h), before, 'the view is unchanged by what was refused')
})

t.test('malformed JSON and prototype poisoning are 400', async t => {
  const h = harness()
  const before = await readAll(h)
  const cases: Array<[string, string | Buffer]> = [
    ['truncated', '{"pod_name":"a","node_ip":"10.0.0.1"'],
    ['trailing garbage', `${JSON.stringify(HEARTBEAT)}x`],
    ['two documents', `${JSON.stringify(HEARTBEAT)}${JSON.stringify(HEARTBEAT)}`],
    ['single quotes', '{\'pod_name\':\'a\'}'],
    ['a comment', '{/* */"pod_name":"a"}'],
    ['NaN', '{"latency":NaN}'],
    ['__proto__ key', '{"pod_name":"a","node_ip":"10.0.0.1","pod_ip":"10.0.0.2","__proto__":{"polluted":true}}'],
    ['nested __proto__ key', '{"source_ip":"10.5.0.1","results":[{"__proto__":{"polluted":true}}]}'],
    ['constructor.prototype', '{"pod_name":"a","node_ip":"10.0.0.1","pod_ip":"10.0.0.2","constructor":{"prototype":{"polluted":true}}}'],
    ['invalid UTF-8 in a key', Buffer.concat([Buffer.from('{"pod_name'), Buffer.from([0xff, 0xfe]), Buffer.from('":"a","node_ip":"10.0.0.1","pod_ip":"10.0.0.2"}')])],
    ['invalid UTF-8 in the pod name', Buffer.concat([Buffer.from('{"pod_name":"a'), Buffer.from([0xc3, 0x28]), Buffer.from('","node_ip":"10.0.0.1","pod_ip":"10.0.0.2"}')])],
    ['invalid UTF-8 in the namespace', Buffer.concat([Buffer.from('{"pod_name":"a","namespace":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('","node_ip":"10.0.0.1","pod_ip":"10.0.0.2"}')])],
    ['a NUL byte', '{"pod_name":"a\u0000","node_ip":"10.0.0.1","pod_ip":"10.0.0.2"}'],
    ['deep nesting', `${'['.repeat(50_000)}${']'.repeat(50_000)}`],
    ['deep object nesting', `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`]
  ]
  for (const [what, body] of cases) {
    const r = await post(h, '/api/v1/heartbeat', body)
    errorOf(t, r, 400, 'INVALID_REQUEST', what)
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted')
  t.equal(await readAll(h), before, 'the view is unchanged')
})

t.test('the legacy-client cap: 503 CAPACITY_EXCEEDED for a new client, a held client\'s reports and updates still accepted', async t => {
  const h = harness({ maxExternal: 2 })
  success(t, await post(h, '/api/v1/heartbeat', hb({ pod_name: 'one' })), 'heartbeat received', 'first client')
  // its results (from its node IP and its pod IP) are the same client: they do not count again
  success(t, await post(h, '/api/v1/test-results/hosts', HOSTS_BODY), 'host test results received', 'its host results')
  success(t, await post(h, '/api/v1/test-results/pods', PODS_BODY), 'pod test results received', 'its pod results')
  success(t, await post(h, '/api/v1/test-results/service', SERVICE_BODY), 'service test result received', 'its Service result')
  success(t, await post(h, '/api/v1/heartbeat', hb({ pod_name: 'two', node_ip: '10.5.0.2', pod_ip: '10.6.0.2' })), 'heartbeat received', 'second client')
  const before = await readAll(h)
  for (const [url, body] of [
    ['/api/v1/heartbeat', hb({ pod_name: 'three', node_ip: '10.5.0.3', pod_ip: '10.6.0.3' })],
    ['/api/v1/test-results/pods', { ...PODS_BODY, source_ip: '10.6.0.7', results: [] }],
    ['/api/v1/test-results/hosts', { ...HOSTS_BODY, source_ip: '10.5.0.7', results: [] }]
  ] as Array<[string, unknown]>) {
    const e = errorOf(t, await post(h, url, body), 503, 'CAPACITY_EXCEEDED', `${url}: a third client`)
    t.match(e.message, /MAX_EXTERNAL_ORIGINS/, `${url}: names the setting`)
  }
  t.equal(await readAll(h), before, 'the view is unchanged by refused clients')
  success(t, await post(h, '/api/v1/test-results/hosts', hostsFrom('10.5.0.2')), 'host test results received', 'the second client\'s results, at capacity')
  success(t, await post(h, '/api/v1/heartbeat', hb({ pod_name: 'one', namespace: 'monitoring' })), 'heartbeat received', 'an update of a held client')
  h.clock.mono += TTL + 1
  h.view.expire(h.clock.mono) // the mesh's periodic sweep
  success(t, await post(h, '/api/v1/heartbeat', hb({ pod_name: 'three', node_ip: '10.5.0.3', pod_ip: '10.6.0.3' })), 'heartbeat received', 'room again once the others expired')
  const zero = harness({ maxExternal: 0 })
  errorOf(t, await post(zero, '/api/v1/heartbeat', HEARTBEAT), 503, 'CAPACITY_EXCEEDED', 'MAX_EXTERNAL_ORIGINS=0 refuses every report')
})

t.test('a report the view refuses for another reason is not called a capacity problem', async t => {
  // another agent, its clock an hour ahead, injected this client; the origin expired here and its tombstone
  // holds that future time, so this agent's own injection is older: the view answers 'stale'
  const h = harness({ agents: false })
  const body: ExternalBody = { part: 'hb', value: { podName: 'skewed', nodeIp: '10.5.0.1', podIp: '10.6.0.1', namespace: '', timestamp: '' } }
  const rec: ExternalRecord = { key: externalKey(body), at: WALL + 3_600_000, by: '12D3KooWPeer9', body }
  t.equal(h.view.apply({ t: 'ext', record: rec }, rec.by, h.clock.mono), 'accepted', 'held from the skewed peer')
  h.clock.mono += TTL + 1
  h.view.expire(h.clock.mono)
  const before = await readAll(h)
  const e = errorOf(t, await post(h, '/api/v1/heartbeat', hb({ pod_name: 'skewed' })), 409, 'CONFLICT', 'a stale injection')
  t.match(e.message, /not accepted \(stale\)/, 'the message says why')
  t.equal(await readAll(h), before, 'the view is unchanged')
})

t.test('a report too large for one gossip message must not be accepted for this agent alone', async t => {
  const h = harness({ bodyLimit: 4 * 1024 * 1024 })
  const name = (i: number): string => `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.target-${i}.example`
  const ports = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [String(10000 + i), 'closed']))
  const body = { source_ip: '10.5.0.1', results: Array.from({ length: 5000 }, (_, i) => result('10.5.0.1', name(i), { port_status: ports })) }
  const r = await post(h, '/api/v1/test-results/hosts', body)
  t.notMatch(r.body, LEAK, 'no stack')
  t.ok(r.statusCode !== 200 || h.unsendable.length === 0, `accepted only if every peer can take it (status ${r.statusCode}, ${h.unsendable.join('; ').slice(0, 120)})`)
  errorOf(t, r, 413, 'TOO_LARGE', 'refused as larger than one gossip message')
  t.equal(h.view.externalEntries().length, 0, 'and not kept here alone')
})

// ---------------------------------------------------------------------------------------------------------------
// failures inside the agent: 500 without a stack, logged (section 5 of the brief runs through every errorOf)

/** An API over an empty view with the harness's health and leader, plus the optional dependencies given. */
// ---------------------------------------------------------------------------------------------------------------
// 4. robustness: seeded junk bodies never 5xx, never change the view when refused, and anything accepted replicates

/** A JSON value whose objects keep duplicate and __proto__ keys (a plain object would swallow them). */
class JObj {
  readonly entries: Array<[string, J]>
  constructor (entries: Array<[string, J]>) { this.entries = entries }
}
type J = null | boolean | number | string | J[] | JObj | { raw: string }

function toJ (v: unknown): J {
  if (Array.isArray(v)) return v.map(toJ)
  if (v !== null && typeof v === 'object') return new JObj(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, toJ(x)]))
  return v as J
}

function jtext (v: J): string {
  if (v instanceof JObj) return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${jtext(x)}`).join(',')}}`
  if (Array.isArray(v)) return `[${v.map(jtext).join(',')}]`
  if (v !== null && typeof v === 'object') return v.raw
  if (typeof v === 'number' && Object.is(v, -0)) return '-0'
  return JSON.stringify(v)
}

const FIELDS = [
  'source_ip', 'target_ip', 'ping_status', 'port_status', 'latency', 'test_duration', 'timestamp', 'results', 'result',
  'pod_name', 'node_ip', 'pod_ip', 'namespace', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty',
  '', '22', '0', '65536', 'open', 'closed', 'reachable', 'unreachable', 'Source_IP', 'source_ip '
]

class Junk {
  private readonly r: () => number
  constructor (seed: number) { this.r = mulberry32(seed) }
  int (n: number): number { return Math.floor(this.r() * n) }
  chance (p: number): boolean { return this.r() < p }
  pick<T> (xs: readonly T[]): T { return xs[this.int(xs.length)] as T }

  string (): string {
    switch (this.int(10)) {
      case 0: return this.pick(['10.0.0.1', '10.5.0.1', '10.6.0.1', '::1', 'fd00::1', '10.0.0.256', '1.2.3', '::ffff:10.0.0.1', 'fe80::1%eth0', '0.0.0.0'])
      case 1: return this.pick(['1ms', '1.5s', '0', '-1ms', '1e3ms', '850µs', '1h2m', 'NaNms', '9999999999999999999h', '1..5ms', '.5s', ''])
      case 2: return this.pick(['reachable', 'unreachable', 'open', 'closed', 'unknown', 'OPEN', '2026-11-25T10:00:00Z', '2026-11-25T10:00:00.1+08:00', '1', 'now'])
      case 3: return this.pick(FIELDS)
      case 4: return 'a'.repeat(this.int(300))
      case 5: return '😀'.repeat(this.int(300))
      case 6: return String.fromCharCode(...Array.from({ length: this.int(40) }, () => this.int(0x10000)))
      case 7: return String.fromCodePoint(...Array.from({ length: this.int(40) }, () => this.pick([0, 0x1f, 0x7f, 0x200e, 0x202e, 0xfeff, 0xfffe, 0xd800, 0xdfff, 0x10ffff, 0x1f600, 0x41])))
      case 8: return this.chance(0.2) ? 'x'.repeat(50_000 + this.int(1_100_000)) : 'z'.repeat(this.int(5000))
      default: return Array.from({ length: this.int(20) }, () => String.fromCharCode(0x20 + this.int(95))).join('')
    }
  }

  number (): J {
    if (this.chance(0.15)) return { raw: this.pick(['1e999', '-1e999', '1'.repeat(400), '0.000000000000000000001', '-0.0', '1E3', '9007199254740993']) }
    return this.pick([0, -0, 1, -1, 1.5, 22, 65535, 65536, 1e21, -1e21, 2 ** 53, 2 ** 64, Number.MAX_VALUE, Number.MIN_VALUE, 1_500_000, this.int(1e9) - 5e8])
  }

  value (depth: number): J {
    const k = this.int(depth <= 0 ? 4 : 7)
    switch (k) {
      case 0: return this.pick([null, true, false])
      case 1: return this.number()
      case 2:
      case 3: return this.string()
      case 4: return Array.from({ length: this.int(6) }, () => this.value(depth - 1))
      case 5: return this.object(depth)
      default: return this.nested()
    }
  }

  object (depth: number): JObj {
    return new JObj(Array.from({ length: this.int(7) }, () => [this.chance(0.7) ? this.pick(FIELDS) : this.string().slice(0, 50), this.value(depth - 1)]))
  }

  nested (): J {
    const n = 1 + this.int(this.chance(0.3) ? 20_000 : 100)
    return this.chance(0.5) ? { raw: `${'['.repeat(n)}${']'.repeat(n)}` } : { raw: `${'{"results":'.repeat(n)}{}${'}'.repeat(n)}` }
  }

  /** A valid body with one to three random edits. */
  mutate (good: unknown): J {
    let root = toJ(good)
    for (let i = 1 + this.int(3); i > 0; i--) root = this.edit(root)
    return root
  }

  private edit (root: J): J {
    const nodes: Array<{ parent: JObj | J[], index: number }> = []
    const walk = (v: J): void => {
      if (v instanceof JObj) v.entries.forEach(([, x], i) => { nodes.push({ parent: v, index: i }); walk(x) })
      else if (Array.isArray(v)) v.forEach((x, i) => { nodes.push({ parent: v, index: i }); walk(x) })
    }
    walk(root)
    if (nodes.length === 0 || this.chance(0.05)) return this.chance(0.5) ? [root] : new JObj([[this.pick(FIELDS), root]])
    const { parent, index } = this.pick(nodes)
    const getv = (): J => parent instanceof JObj ? (parent.entries[index] as [string, J])[1] : parent[index] as J
    const setv = (x: J): void => { if (parent instanceof JObj) (parent.entries[index] as [string, J])[1] = x; else parent[index] = x }
    const old = getv()
    switch (this.int(9)) {
      case 0: setv(this.value(2)); break
      case 1: if (parent instanceof JObj) parent.entries.splice(index, 1); else parent.splice(index, 1); break
      case 2: if (parent instanceof JObj) parent.entries.push([this.pick(FIELDS), this.value(1)]); else parent.push(this.value(1)); break
      case 3: if (parent instanceof JObj) parent.entries.push([(parent.entries[index] as [string, J])[0], this.value(1)]); break // a duplicate key
      case 4: setv(this.chance(0.5) ? [old] : new JObj([['value', old]])); break // one level more
      case 5: setv(typeof old === 'number' ? String(old) : typeof old === 'string' && old !== '' && !Number.isNaN(Number(old)) ? Number(old) : typeof old === 'string' ? old.length : String(old)); break // coercion bait
      case 6: setv(this.string()); break
      case 7: if (parent instanceof JObj) (parent.entries[index] as [string, J])[0] = this.chance(0.5) ? '__proto__' : this.string().slice(0, 30); break
      default: setv(this.number())
    }
    return root
  }

  /** A valid body with one leaf (string or number) replaced by a junk string or number. */
  leaf (good: unknown): J {
    const root = toJ(good)
    const leaves: Array<{ parent: JObj | J[], index: number }> = []
    const walk = (v: J): void => {
      const visit = (x: J, parent: JObj | J[], index: number): void => {
        if (x instanceof JObj || Array.isArray(x)) walk(x)
        else leaves.push({ parent, index })
      }
      if (v instanceof JObj) v.entries.forEach(([, x], i) => { visit(x, v, i) })
      else if (Array.isArray(v)) v.forEach((x, i) => { visit(x, v, i) })
    }
    walk(root)
    const { parent, index } = this.pick(leaves)
    const x = this.chance(0.8) ? this.string().slice(0, this.pick([8, 40, 63, 64, 253, 1000])) : this.number()
    if (parent instanceof JObj) (parent.entries[index] as [string, J])[1] = x
    else parent[index] = x
    return root
  }

  /** Raw bytes: invalid UTF-8, truncation, BOM, trailing garbage, control bytes. */
  bytes (good: unknown): Buffer {
    const text = Buffer.from(JSON.stringify(good))
    const at = this.int(text.length)
    const bad = Buffer.from(this.pick([[0xff], [0xfe, 0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0x00], [0xef, 0xbb, 0xbf]]))
    switch (this.int(5)) {
      case 0: return Buffer.concat([text.subarray(0, at), bad, text.subarray(at)])
      case 1: return text.subarray(0, at)
      case 2: return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text])
      case 3: return Buffer.concat([text, bad])
      default: {
        // inside a string value: find a quote after `at`
        const q = text.indexOf(0x22, at)
        return q < 0 ? Buffer.concat([bad, text]) : Buffer.concat([text.subarray(0, q + 1), bad, text.subarray(q + 1)])
      }
    }
  }
}

const GOOD: Record<string, unknown> = {
  '/api/v1/heartbeat': HEARTBEAT,
  '/api/v1/test-results/hosts': HOSTS_BODY,
  '/api/v1/test-results/pods': PODS_BODY,
  '/api/v1/test-results/service': SERVICE_BODY
}
const FUZZ_PER_ROUTE = 300

t.test(`fuzz: ${FUZZ_PER_ROUTE} seeded junk bodies per POST route`, async t => {
  for (const [n, url] of WRITE_URLS.entries()) {
    t.test(url, async t => {
      const h = harness({ maxExternal: 100_000 })
      const junk = new Junk(0x5eed + n)
      const good = GOOD[url]
      let view = await readAll(h)
      const tally: Record<string, number> = {}
      const problems: string[] = []
      for (let i = 0; i < FUZZ_PER_ROUTE; i++) {
        const kind = junk.pick(['value', 'mutate', 'mutate', 'leaf', 'leaf', 'bytes', 'type'] as const)
        let payload: string | Buffer
        let ct = 'application/json'
        switch (kind) {
          case 'value': payload = jtext(junk.chance(0.7) ? junk.object(4) : junk.value(4)); break
          case 'mutate': payload = jtext(junk.mutate(good)); break
          case 'leaf': payload = jtext(junk.leaf(good)); break
          case 'bytes': payload = junk.bytes(good); break
          case 'type':
            payload = JSON.stringify(good)
            ct = junk.pick(['text/plain', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'Application/JSON', 'application/problem+json', '', ';', 'application/json, text/plain', 'x/y; a="b'])
            break
        }
        const unsendable = h.unsendable.length
        const r = await h.app.inject({ method: 'POST', url, payload, headers: ct === '' ? {} : { 'content-type': ct } })
        tally[r.statusCode] = (tally[r.statusCode] ?? 0) + 1
        const label = `#${i} ${kind} ${ct} ${String(payload).slice(0, 80)}`
        if (![200, 400, 413, 415].includes(r.statusCode)) problems.push(`${label}: status ${r.statusCode} ${r.body.slice(0, 200)}`)
        if (LEAK.test(r.body)) problems.push(`${label}: a stack in ${r.body.slice(0, 200)}`)
        let parsed: { code?: string, status?: string } = {}
        try { parsed = JSON.parse(r.body) as typeof parsed } catch { problems.push(`${label}: not JSON: ${r.body.slice(0, 100)}`) }
        const after = await readAll(h)
        if (r.statusCode === 200) {
          if (parsed.status !== 'success') problems.push(`${label}: 200 without success`)
          if (h.unsendable.length > unsendable) problems.push(`${label}: accepted but a peer would refuse it: ${h.unsendable.slice(unsendable).join('; ')}`)
          view = after
        } else {
          if (typeof parsed.code !== 'string') problems.push(`${label}: an error without a code`)
          if (after !== view) problems.push(`${label}: refused (${r.statusCode}) but the view changed`)
        }
      }
      t.comment(`${url}: statuses ${JSON.stringify(tally)}`)
      t.strictSame(problems.slice(0, 10), [], `no 5xx, no stack, no change on refusal, every acceptance replicable (${problems.length} problems)`)
      t.ok((tally[400] ?? 0) > FUZZ_PER_ROUTE / 2, 'most junk is refused as invalid')
      t.equal((await get(h, '/api/v1/health')).statusCode, 200, 'the app still answers')
      t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted')
    })
  }
})

// ---------------------------------------------------------------------------------------------------------------
// 5. a big cluster's legacy posts: thinned the way agents sample their own probes

t.test('legacy results thinning: whole up to the bound, then failing rows and a rotating window of passing ones', async t => {
  const row = (i: number, fails = false): LegacyPathResult => ({
    source: '10.0.0.1',
    target: `10.1.${Math.floor(i / 250)}.${i % 250}`,
    ping: fails && i % 2 === 0 ? 'unreachable' : 'reachable',
    ports: { 22: fails && i % 2 === 1 ? 'closed' : 'open' },
    latencyUs: 1200,
    durationUs: 3000,
    timestamp: ''
  })
  const body = (rows: LegacyPathResult[]): ExternalBody => ({ part: 'host', source: '10.0.0.1', value: rows })
  const opts = { keepAllUpTo: 100, sample: 10, failingMax: 100, round: 0 }
  const small = body(Array.from({ length: 100 }, (_, i) => row(i)))
  t.equal(thinLegacyResults(small, opts).body, small, 'a post of 100 rows is kept whole')
  const svc: ExternalBody = { part: 'svc', value: row(1) }
  t.same(thinLegacyResults(svc, opts), { body: svc, posted: 1, dropped: 0 }, 'a Service result passes unchanged')

  // 4999 rows (a 5000-node cluster), 7 of them failing (ping or port)
  const big = Array.from({ length: 4999 }, (_, i) => row(i, [3, 100, 101, 2000, 3333, 4000, 4998].includes(i)))
  const thin = thinLegacyResults(body(big), opts)
  const kept = thin.body.part === 'host' ? thin.body.value : []
  t.equal(kept.length, 17, 'above the bound: 7 failing rows and a window of 10 passing ones')
  t.equal(thin.posted, 4999)
  t.equal(thin.dropped, 4999 - 17)
  t.same(kept.filter(legacyRowFails).map(r => r.target).sort(), big.filter(legacyRowFails).map(r => r.target).sort(), 'every failing row is kept')
  t.same(kept.map(r => r.target), [...kept.map(r => r.target)].sort(), 'in target order')

  // the windows of successive rounds walk through every passing row
  const passing = new Set(big.filter(r => !legacyRowFails(r)).map(r => r.target))
  const seen = new Set<string>()
  for (let round = 0; round < Math.ceil(passing.size / 10); round++) {
    const b = thinLegacyResults(body(big), { ...opts, round }).body
    for (const r of b.part === 'host' ? b.value : []) if (!legacyRowFails(r)) seen.add(r.target)
  }
  t.equal(seen.size, passing.size, `every one of the ${passing.size} passing rows is shown within ceil(${passing.size}/10) rounds`)

  // a cluster-wide failure: the failing rows are capped, the first by target kept
  const allFail = Array.from({ length: 600 }, (_, i) => row(i, true))
  const capped = thinLegacyResults(body(allFail), opts)
  t.equal(capped.posted - capped.dropped, 100, 'at most failingMax failing rows (and no passing row to show)')
  t.same(capped.body.part === 'host' ? capped.body.value.map(r => r.target) : [], allFail.map(r => r.target).sort().slice(0, 100), 'the first 100 by target')
})
