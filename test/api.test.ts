// The REST API's read side through Fastify's inject() (no sockets): every read route's exact JSON over a known view
// of four agents, routing (404), history, readiness, a dependency that throws (500 without a stack trace), the deferred schema
// compilers, and large bodies' early release over a real socket.
import t from 'tap'
import { buildApi } from '../src/api/app.ts'
import Fastify from 'fastify'
import { connect } from 'node:net'
import { sendReleasing } from '../src/api/release-body.ts'
import { lazySerializers, lazyValidators } from '../src/api/lazy-compilers.ts'
import { readRoutes, writeRoutes, type ApiDeps, type HealthInfo } from '../src/api/routes.ts'
import { type Report } from '../src/report/report.ts'
import { CHECKED } from './fixtures.ts'
import { BASE_HEALTH, COUNT, HOST_IPS, HOST_RESULTS, type Harness, JSON_CT, LEADER_ELECTED, LEADER_NO_API, POD_IPS, POD_RESULTS, READ_URLS, SERVICE_RESULTS, SVC, TTL, WRITE_URLS, errorOf, get, getJson, harness, post, readAll, HEARTBEAT, hb } from './harness/api.ts'

t.test('the route table is what this file covers', async t => {
  t.strictSame(readRoutes.map(r => r.url), READ_URLS, 'every GET route (a new one must be added here)')
  t.strictSame(writeRoutes.map(r => r.url), WRITE_URLS, 'every POST route')
  const h = harness()
  await h.app.ready() // the routes load as a plugin after the OpenAPI generator
  for (const url of READ_URLS) t.ok(h.app.hasRoute({ method: 'GET', url }), `GET ${url} registered`)
  for (const url of WRITE_URLS) t.ok(h.app.hasRoute({ method: 'POST', url }), `POST ${url} registered`)
})

t.test('GET routes over a view of four agents: exact JSON in the original shapes', async t => {
  const h = harness()

  t.test('every GET answers 200 JSON', async t => {
    for (const url of READ_URLS) {
      const r = await get(h, url)
      t.equal(r.statusCode, 200, `${url}: 200`)
      t.match(String(r.headers['content-type']), JSON_CT, `${url}: application/json`)
      t.doesNotThrow(() => JSON.parse(r.body), `${url}: a JSON body`)
    }
  })

  t.test('/api/v1/health', async t => {
    t.strictSame(await getJson(h, '/api/v1/health'), {
      status: 'healthy',
      ...BASE_HEALTH,
      view_size: 4
    }, 'status healthy, identity, counters of gossip, sync and probes, the view size')
    h.health.probes = { rounds: 0, last_round_ms: null, last_targets: 0, icmp_error: 'fping: permission denied' }
    h.health.gossip.rejected = {}
    const body = await getJson<HealthInfo & { status: string }>(h, '/api/v1/health')
    t.strictSame(body.probes, h.health.probes, 'null round time and an ICMP error are kept')
    t.strictSame(body.gossip.rejected, {}, 'empty counter maps')
  })

  t.test('/api/v1/hosts and /api/v1/pods', async t => {
    t.strictSame(await getJson(h, '/api/v1/hosts'), { host_ips: HOST_IPS, count: 4 }, 'host_ips sorted, count')
    t.strictSame(await getJson(h, '/api/v1/pods'), { pod_ips: POD_IPS, count: 4 }, 'pod_ips sorted, count')
  })

  t.test('/api/v1/test-results/hosts', async t => {
    t.strictSame(await getJson(h, '/api/v1/test-results/hosts'), { results: HOST_RESULTS },
      'source node IP -> target IP -> {ping, port_status, test_duration} + detail; an agent without results has an empty row')
  })

  t.test('/api/v1/test-results/pods', async t => {
    t.strictSame(await getJson(h, '/api/v1/test-results/pods'), { results: POD_RESULTS },
      'source pod IP -> target IP; ping "unknown" when ICMP was not measured')
  })

  t.test('/api/v1/test-results/service', async t => {
    t.strictSame(await getJson(h, '/api/v1/test-results/service'), { results: SERVICE_RESULTS },
      'source pod IP -> the original row (source_ip, target_ip, ping_status, port_status, latency, test_duration, timestamp) + DNS detail')
  })

  t.test('/api/v1/clients/count', async t => {
    t.strictSame(await getJson(h, '/api/v1/clients/count'), COUNT, 'active_client_count and the versions breakdown')
  })

  t.test('/api/v1/results', async t => {
    t.strictSame(await getJson(h, '/api/v1/results'), {
      ...COUNT,
      host_ips: HOST_IPS,
      pod_ips: POD_IPS,
      host_test_results: HOST_RESULTS,
      pod_test_results: POD_RESULTS,
      service_test_results: SERVICE_RESULTS
    }, 'the summary of every other route')
  })

  t.test('/api/v1/coverage', async t => {
    t.strictSame(await getJson(h, '/api/v1/coverage'), {
      k: 2,
      agents: {
        'agent-1': { node_ip: '10.0.0.1', pod_ip: '10.1.0.1', host: 1, pod: 2 },
        'agent-2': { node_ip: '10.0.0.2', pod_ip: '10.1.0.2', host: 1, pod: 1 },
        'agent-3': { node_ip: '10.0.0.3', pod_ip: '10.1.0.3', host: 1, pod: 0 },
        'agent-4': { node_ip: '10.0.0.4', pod_ip: '10.1.0.4', host: 0, pod: 1 }
      },
      gaps: ['agent-2', 'agent-3', 'agent-4']
    }, 'probers per agent and the agents probed by fewer than k others')
    const wide = harness({ coverageK: 10 })
    const c = await getJson<{ k: number, gaps: string[] }>(wide, '/api/v1/coverage')
    t.equal(c.k, 3, 'k is capped at the number of other agents')
    t.strictSame(c.gaps, ['agent-1', 'agent-2', 'agent-3', 'agent-4'], 'everyone below 3 probers is a gap')
    const alone = harness({ agents: false })
    t.strictSame(await getJson(alone, '/api/v1/coverage'), { k: 0, agents: {}, gaps: [] }, 'an empty view')
  })

  t.test('/api/v1/leader', async t => {
    t.strictSame(await getJson(h, '/api/v1/leader'), LEADER_ELECTED, 'holder, contenders and the Lease as observed')
    h.leader.info = LEADER_NO_API
    t.strictSame(await getJson(h, '/api/v1/leader'), LEADER_NO_API, 'no Kubernetes API: nobody holds it, lease null')
    h.leader.info = { ...LEADER_ELECTED, holder: 'agent-1', holder_node_ip: '10.0.0.1', is_self: true, lease: { ...LEADER_ELECTED.lease!, last_renew_ago_ms: null, reports_printed: 3 } }
    t.strictSame(await getJson(h, '/api/v1/leader'), h.leader.info, 'this agent holds it')
    h.leader.info = LEADER_ELECTED
  })

  t.test('/api/v1/report', async t => {
    const r = await getJson<Report>(h, '/api/v1/report')
    t.equal(r.time, new Date(CHECKED + 30_000).toISOString(), 'time')
    t.equal(r.reporter, 'agent-2', 'reporter: the Lease holder')
    t.equal(r.activeAgents, 4, 'activeAgents: the live view')
    t.equal(r.legacyClients, 0, 'legacyClients')
    t.strictSame(r.hostIps, HOST_IPS, 'hostIps')
    t.strictSame(r.podIps, POD_IPS, 'podIps')
    t.strictSame(r.layers.host, { total: 3, ok: 1, failed: 2, successRate: 1 / 3, avgMs: 1005.25 / 3, totalMs: 1005.25 }, 'host layer summary')
    t.strictSame(r.layers.pod, { total: 4, ok: 4, failed: 0, successRate: 1, avgMs: 7.25 / 4, totalMs: 7.25 }, 'pod layer summary')
    t.strictSame(r.service, { name: SVC, port: 80, agents: 3, dnsOk: 2, reachable: 2, avgDnsMs: 0.375 }, 'service summary')
    t.strictSame(r.failingPairs, [
      { layer: 'host', source: 'node-1', sourceIp: '10.0.0.1', target: 'node-3', targetIp: '10.0.0.3', problem: 'unreachable (ICMP 0/3, TCP timeout)' },
      { layer: 'host', source: 'node-2', sourceIp: '10.0.0.2', target: 'node-1', targetIp: '10.0.0.1', problem: 'port 22 closed (ICMP 2/3)' }
    ], 'failing pairs with names and problems')
    t.equal(r.failingPairsTotal, 2, 'failingPairsTotal')
    t.ok(Array.isArray(r.verdicts), 'verdicts is a list')
  })

  t.test('HEAD and query strings on read routes', async t => {
    const head = await h.app.inject({ method: 'HEAD', url: '/api/v1/hosts' })
    t.equal(head.statusCode, 200, 'HEAD answers 200')
    t.equal(head.body, '', 'HEAD has no body')
    t.strictSame(await getJson(h, '/api/v1/hosts?pretty=1&x=%00'), { host_ips: HOST_IPS, count: 4 }, 'a query string is ignored')
  })

  t.test('an empty view', async t => {
    const e = harness({ agents: false })
    t.strictSame(await getJson(e, '/api/v1/hosts'), { host_ips: [], count: 0 }, 'no hosts')
    t.strictSame(await getJson(e, '/api/v1/pods'), { pod_ips: [], count: 0 }, 'no pods')
    t.strictSame(await getJson(e, '/api/v1/clients/count'), { active_client_count: 0, versions: {} }, 'no clients')
    t.strictSame(await getJson(e, '/api/v1/results'), {
      active_client_count: 0, versions: {}, host_ips: [], pod_ips: [], host_test_results: {}, pod_test_results: {}, service_test_results: {}
    }, 'empty results')
    t.equal((await getJson<{ view_size: number }>(e, '/api/v1/health')).view_size, 0, 'view size 0')
  })

  t.test('an agent expired from the view leaves with all its results (no ghost rows)', async t => {
    const x = harness()
    x.clock.mono += TTL + 1
    t.strictSame(await getJson(x, '/api/v1/hosts'), { host_ips: ['10.0.0.1'], count: 1 }, 'only this agent is left')
    t.strictSame(await getJson(x, '/api/v1/test-results/hosts'), { results: { '10.0.0.1': HOST_RESULTS['10.0.0.1'] } }, 'only its row')
    t.strictSame(await getJson(x, '/api/v1/test-results/service'), { results: {} }, 'no Service rows')
    t.strictSame(await getJson(x, '/api/v1/clients/count'), { active_client_count: 1, versions: { '0.1.0': 1 } }, 'one client')
  })
})

// ---------------------------------------------------------------------------------------------------------------
// 2. write routes: the original Go clients' bodies

t.test('routing: unknown paths and wrong methods are 404 JSON', async t => {
  const h = harness()
  const before = await readAll(h)
  const cases: Array<[string, string]> = [
    ['POST', '/'],
    ['GET', '/api/v1'],
    ['GET', '/api/v2/hosts'],
    ['GET', '/api/v1/host'],
    ['GET', '/api/v1/hosts/'],
    ['GET', '/API/V1/HOSTS'],
    ['GET', '/api/v1/heartbeat'],
    ['POST', '/api/v1/hosts'],
    ['POST', '/api/v1/results'],
    ['POST', '/api/v1/unknown'],
    ['PUT', '/api/v1/heartbeat'],
    ['PATCH', '/api/v1/test-results/hosts'],
    ['DELETE', '/api/v1/test-results/pods'],
    ['DELETE', '/api/v1/hosts'],
    ['OPTIONS', '/api/v1/health'],
    ['GET', `/${'x'.repeat(5000)}`],
    ['GET', '/api/v1/hosts/../../etc/passwd']
  ]
  for (const [method, url] of cases) {
    const r = await h.app.inject({ method: method as 'GET', url, ...(method === 'GET' || method === 'OPTIONS' ? {} : { payload: HEARTBEAT }) })
    const e = errorOf(t, r, 404, 'NOT_FOUND', `${method} ${url.slice(0, 40)}`)
    t.match(e.message, new RegExp(`^no route ${method} `), `${method} ${url.slice(0, 40)}: says which route`)
  }
  t.equal(await readAll(h), before, 'the view is unchanged')
})

function emptyApi (h: Harness, extra: Partial<ApiDeps>): ReturnType<typeof buildApi> {
  return buildApi({
    snapshot: () => ({ agents: [], externals: [] }),
    inject: () => {},
    health: () => h.health,
    leader: () => h.leader.info,
    report: () => { throw new Error('not asked') },
    coverageK: 2,
    ...extra
  }, { bodyLimit: 1 << 20 })
}

t.test('GET /api/v1/history: a validated filter, the model\'s answer passed through', async t => {
  const h = harness()
  const seen: unknown[] = []
  const pair = {
    layer: 'pod' as const,
    source: 'agent-1',
    target: 'agent-2',
    state: 'closed' as const,
    latest: 'closed' as const,
    flips_in_window: 1,
    flapping: false,
    transitions: [{ at: '2026-12-06T10:00:00.000Z', ago_s: 12.5, from: null, to: 'up' as const }, { at: '2026-12-06T10:00:10.000Z', ago_s: 2.5, from: 'up' as const, to: 'closed' as const }]
  }
  const answer = { window_s: 120, flapping_after: 3, total: 1, pairs: [pair] }
  const app = emptyApi(h, { history: q => { seen.push(q); return answer } })
  const ok = await app.inject({ method: 'GET', url: '/api/v1/history?layer=pod&source=agent-1&target=agent-2' })
  t.equal(ok.statusCode, 200)
  t.strictSame(ok.json(), answer, 'every field of a pair and its transitions serialised as given (null states included)')
  t.same(seen, [{ layer: 'pod', source: 'agent-1', target: 'agent-2' }], 'the filter reaches the model as given')
  for (const bad of ['?layer=service', '?nodes=1', `?source=${'a'.repeat(300)}`]) {
    const r = await app.inject({ method: 'GET', url: `/api/v1/history${bad}` })
    t.equal(r.statusCode, 400, `${bad.slice(0, 20)}: refused`)
  }
  t.same((await h.app.inject({ method: 'GET', url: '/api/v1/history' })).json(), { window_s: 0, pairs: [], total: 0 }, 'without a model: an empty history')
  await app.close()
})

t.test('GET /api/v1/ready: 503 while the view is being pulled, 200 once settled; always 200 without a readiness source', async t => {
  const h = harness()
  let state = { ready: false, reason: 'pulling the cluster\'s view from a peer' }
  const app = emptyApi(h, { ready: () => state })
  const starting = await app.inject({ method: 'GET', url: '/api/v1/ready' })
  t.equal(starting.statusCode, 503, 'starting: 503')
  t.same(starting.json(), state, 'with the reason')
  state = { ready: true, reason: 'the view was pulled from a peer' }
  const ready = await app.inject({ method: 'GET', url: '/api/v1/ready' })
  t.equal(ready.statusCode, 200, 'settled: 200')
  t.same(ready.json(), state)
  t.equal((await h.app.inject({ method: 'GET', url: '/api/v1/ready' })).statusCode, 200, 'no readiness source: ready')
  await app.close()
})

t.test('a dependency that throws: 500 INTERNAL, no stack, logged at error level', async t => {
  const h = harness()
  const boom = new Error('boom at /work/main/src/secret.ts:12:3')
  for (const [route, method, url, body] of [
    ['health', 'GET', '/api/v1/health', undefined],
    ['report', 'GET', '/api/v1/report', undefined],
    ['inject', 'POST', '/api/v1/heartbeat', HEARTBEAT]
  ] as const) {
    h.fail = { route, error: boom }
    h.logs.length = 0
    const r = await h.app.inject({ method, url, ...(body === undefined ? {} : { payload: body }) })
    const e = errorOf(t, r, 500, 'INTERNAL', `${route} throws`)
    t.equal(e.message, 'internal error', `${route}: a generic message`)
    t.notMatch(r.body, /boom|secret/, `${route}: the error's text stays in the log`)
    const logged = h.logs.find(l => l.level === 50)
    t.equal(logged?.msg, 'request failed', `${route}: logged at error level`)
    t.match(logged?.err?.stack ?? '', /boom/, `${route}: with the stack, in the log only`)
  }
  h.fail = { route: 'inject', error: Object.assign(new Error('odd'), { statusCode: 599 }) }
  errorOf(t, await post(h, '/api/v1/heartbeat', HEARTBEAT), 500, 'INTERNAL', 'an error with an odd status code')
  h.fail = { route: null, error: null }
  h.logs.length = 0
  errorOf(t, await post(h, '/api/v1/heartbeat', hb({ node_ip: 'x' })), 400, 'INVALID_REQUEST', 'a bad body')
  t.notOk(h.logs.some(l => l.level >= 40), 'a rejected body is not logged as a warning or error')
  t.ok(h.logs.some(l => l.level === 20 && l.msg === 'request rejected'), 'it is logged at debug level')
})

t.test('schema compilers are deferred to a route\'s first use: starting compiles nothing, answers and refusals are unchanged', async t => {
  const app = Fastify({ schemaController: { compilersFactory: { buildValidator: lazyValidators(), buildSerializer: lazySerializers() } } })
  // a response schema fast-json-stringify cannot compile (a reference to nothing): an eager compiler fails ready()
  app.get('/broken', { schema: { response: { 200: { type: 'object', properties: { a: { $ref: '#/definitions/none' } } } } } }, async () => ({ a: 1 }))
  app.get('/fine', { schema: { response: { 200: { type: 'object', properties: { a: { type: 'integer' } } } } } }, async () => ({ a: 1, hidden: 2 }))
  app.post('/body', { schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } }, additionalProperties: false } } }, async req => req.body)
  await t.resolves(async () => await app.ready(), 'the app starts: nothing was compiled yet')
  t.equal((await app.inject({ method: 'GET', url: '/broken' })).statusCode, 500, 'the broken schema fails at its first answer')
  t.same((await app.inject({ method: 'GET', url: '/fine' })).json(), { a: 1 }, 'serialised by its schema (unknown fields dropped)')
  t.same((await app.inject({ method: 'POST', url: '/body', payload: { n: 3 } })).json(), { n: 3 }, 'a valid body passes')
  const bad = await app.inject({ method: 'POST', url: '/body', payload: { n: 'x' } })
  t.equal(bad.statusCode, 400, 'an invalid body is refused')
  t.match(bad.json(), { message: /body\/n must be integer/ }, 'with Ajv\'s reasons, read from the compiled validator')
  await app.close()
})

t.test('large bodies are freed once sent, never before: a slow reader over a real socket gets every byte', async t => {
  const app = Fastify()
  const sent: Buffer[] = []
  const make = (n: number, seed: number): Buffer => {
    const b = Buffer.allocUnsafeSlow(n)
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff
    return b
  }
  app.get('/big', async (_req, reply) => {
    const body = make(8 * 1024 * 1024, sent.length)
    sent.push(body)
    return await sendReleasing(reply, body)
  })
  app.get('/pooled', async (_req, reply) => {
    const body = Buffer.from('x'.repeat(100)) // a slice of Buffer's shared pool: never released
    sent.push(body)
    return await sendReleasing(reply, body)
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close() })
  // the client reads nothing for a while, so most of the body waits in the server's socket, then reads it all
  const { port } = new URL(url)
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1', () => { s.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'); s.pause(); setTimeout(() => { s.resume() }, 300) })
    const chunks: Buffer[] = []
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('end', () => { resolve(Buffer.concat(chunks)) })
    s.on('error', reject)
  })
  const body = raw.subarray(raw.indexOf('\r\n\r\n') + 4)
  t.equal(body.length, 8 * 1024 * 1024, 'every byte arrived')
  t.ok(body.equals(make(8 * 1024 * 1024, 0)), 'and each is what was sent (the memory was not freed under a pending write)')
  t.equal(((sent[0] as Buffer).buffer as ArrayBuffer).detached, true, 'once sent, its memory is given back')
  const small = await fetch(`${url}/pooled`)
  t.equal(await small.text(), 'x'.repeat(100), 'a small body is sent as is')
  t.equal(((sent[1] as Buffer).buffer as ArrayBuffer).detached, false, 'and left to the collector (it shares the pool)')
})
