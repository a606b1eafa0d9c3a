// The REST API's test harness: an agent's API built through Fastify's inject() (no sockets) over a view built the way
// the agent builds it, the requests and error checks, and the exact JSON a known view of four agents answers.
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import t from 'tap'
import { buildApi } from '../../src/api/app.ts'
import { clientCount, type ViewSnapshot } from '../../src/api/projection.ts'
import { type ApiDeps, type HealthInfo, type LeaderInfo } from '../../src/api/routes.ts'
import { decodeMessage, encodeMessage } from '../../src/core/codec.ts'
import { type ExternalBody, type Identity } from '../../src/core/record.ts'
import { SelfRecord } from '../../src/core/self-record.ts'
import { View } from '../../src/core/view.ts'
import { injectExternal } from '../../src/core/inject.ts'
import { buildReport, type Report } from '../../src/report/report.ts'
import { DEFAULT_VERDICT_OPTIONS } from '../../src/report/verdicts.ts'
import { CHECKED, ident, path, service, wire } from '../fixtures.ts'

// ---------------------------------------------------------------------------------------------------------------
// helpers: identities, results and a view built the way the agent builds it (see src/node/agent.ts)

export const TTL = 15_000
export const CHECKED_ISO = '2023-11-14T22:13:20.000Z'
export const CHECKED_SVC_ISO = '2023-11-14T22:13:20.500Z'
export const WALL = 1_800_000_000_000
export const SELF_PEER = '12D3KooWPeer1'
export const SVC = 'my-svc.default.svc.cluster.local'
export const JSON_CT = /^application\/json; charset=utf-8$/

/** JSON with sorted keys: equality of values regardless of key order (and of -0 versus 0, which JSON drops). */
export function canon (v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x instanceof Map) return { map: [...x.entries()] }
    if (x === null || typeof x !== 'object' || Array.isArray(x)) return x
    return Object.fromEntries(Object.keys(x).sort().map(k => [k, (x as Record<string, unknown>)[k]]))
  })
}

export const BASE_HEALTH: HealthInfo = {
  pod_name: 'agent-1',
  node_name: 'node-1',
  version: '0.1.0',
  peers_connected: 3,
  connections: 4,
  view_size: 0,
  uptime_s: 12.345,
  gossip: { published: 10, accepted: 30, gaps: 1, expired: 0, rejected: { schema: 2 }, ignored: { stale: 5, self: 1 } },
  sync: { served: 2, pulled: 1, failed: 0 },
  probes: { rounds: 7, last_round_ms: 412, last_targets: 6, icmp_error: null }
}

export const LEADER_ELECTED: LeaderInfo = {
  holder: 'agent-2',
  holder_node_ip: '10.0.0.2',
  is_self: false,
  election_enabled: true,
  contenders: ['agent-1', 'agent-2', 'agent-3'],
  contending: true,
  lease: { observed_holder: 'agent-2', transitions: 2, last_renew_ago_ms: 850.5, reports_printed: 0 }
}

export const LEADER_NO_API: LeaderInfo = {
  holder: null,
  holder_node_ip: null,
  is_self: false,
  election_enabled: false,
  contenders: [],
  contending: false,
  lease: null
}

export interface Harness {
  app: FastifyInstance
  view: View
  /** The agent's monotonic clock (view expiry) and wall clock (injection times). */
  clock: { mono: number, wall: number }
  health: HealthInfo
  leader: { info: LeaderInfo }
  /** Calls of deps.inject, accepted or not. */
  injects: number
  /** Injected records that a peer's codec would refuse or change: they would never replicate. */
  unsendable: string[]
  /** When set, the next dependency call named here throws this error. */
  fail: { route: 'health' | 'report' | 'inject' | null, error: Error | null }
  logs: Array<{ level: number, msg: string, err?: { stack?: string } }>
  /** What the API reported dropping from legacy bodies: (route, fields). */
  unknownFields: Array<[string, number]>
}

export interface HarnessOptions { maxExternal?: number, bodyLimit?: number, coverageK?: number, agents?: boolean }

/**
 * A view holding four agents with known results, and the ApiDeps the composition root builds over it:
 * agent-1 (this agent, self) probes node 2 (ok) and node 3 (timeout), pod 2 (ok) and pod 4 (ICMP unmeasured);
 * agent-2 is refused by node 1 with 2/3 echoes, reaches pod 1 and checks the Service (one address answers);
 * agent-3 reaches pod 1 and checks the Service without ICMP; agent-4 (another version) cannot resolve the Service.
 */
export function harness (opts: HarnessOptions = {}): Harness {
  const view = new View({ ttlMs: TTL, maxExternal: opts.maxExternal ?? 256 })
  const clock = { mono: 1_000, wall: WALL }
  if (opts.agents ?? true) {
    const self = new SelfRecord(ident(1), 11)
    self.update({
      host: [path('10.0.0.2'), path('10.0.0.3', { received: 0, rttMs: null, tcp: 'timeout', connectMs: null, durationMs: 1000 })],
      pod: [path('10.1.0.2', { port: 6100 }), path('10.1.0.4', { port: 6100, sent: 0, received: 0, rttMs: null, connectMs: 0.4, durationMs: 0.5 })],
      service: null
    })
    view.setSelf(self.record, clock.mono)
    const others: Array<[Identity, Parameters<SelfRecord['update']>[0]]> = [
      [ident(2), {
        host: [path('10.0.0.1', { received: 2, rttMs: 0.25, tcp: 'refused', connectMs: 0.5, durationMs: 3 })],
        pod: [path('10.1.0.1', { port: 6100 })],
        service: service()
      }],
      [ident(3), {
        host: [],
        pod: [path('10.1.0.1', { port: 6100 })],
        service: service({
          dnsMs: 0.25,
          addresses: ['10.96.0.10'],
          paths: [path('10.96.0.10', { port: 80, sent: 0, received: 0, rttMs: null, connectMs: 2, durationMs: 2.5 })]
        })
      }],
      [ident(4, '0.2.0'), {
        host: [],
        pod: [],
        service: service({ dnsOk: false, dnsMs: 1200, dnsError: `getaddrinfo ENOTFOUND ${SVC}`, addresses: [], paths: [] })
      }]
    ]
    for (const [id, results] of others) {
      const w = new SelfRecord(id, 20 + Number(id.podName.slice(-1)))
      w.update(results)
      const outcome = view.apply(wire(w.full()), id.peerId, clock.mono)
      if (outcome !== 'accepted') throw new Error(`harness: ${id.podName} ${outcome}`)
    }
  }

  const logs: Harness['logs'] = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Harness['logs'][number])
      cb()
    }
  })
  const h: Harness = {
    app: undefined as unknown as FastifyInstance,
    view,
    clock,
    health: structuredClone(BASE_HEALTH),
    leader: { info: LEADER_ELECTED },
    injects: 0,
    unsendable: [],
    unknownFields: [],
    fail: { route: null, error: null },
    logs
  }
  const maybeFail = (route: 'health' | 'report' | 'inject'): void => {
    if (h.fail.route === route && h.fail.error !== null) throw h.fail.error
  }

  // as in src/node/agent.ts: the live view, expired origins dropped
  const snapshot = (): ViewSnapshot => {
    view.expire(clock.mono)
    return { agents: view.agentEntries(), externals: view.externalEntries() }
  }
  const report = (v: ViewSnapshot): Report => {
    maybeFail('report')
    return buildReport({
      live: v.agents.map(e => e.record),
      lost: view.lostEntries(clock.mono),
      legacyClients: clientCount(v).active_client_count - v.agents.length,
      nowWall: CHECKED + 30_000,
      reporter: h.leader.info.holder,
      verdictOptions: DEFAULT_VERDICT_OPTIONS
    })
  }
  // the agent's own injection, with mesh.publish replaced by the check every receiving peer makes
  const inject = (body: ExternalBody): void => {
    h.injects++
    maybeFail('inject')
    const msg = injectExternal(view, body, { by: SELF_PEER, wallNow: clock.wall, monoNow: clock.mono, maxExternal: view.maxExternal })
    if (msg === null) throw new Error('without quiet, every report is gossiped')
    const key = msg.t === 'ext' ? msg.record.key : '?'
    try {
      const back = decodeMessage(encodeMessage(msg))
      if (canon(back) !== canon(msg)) h.unsendable.push(`${key}: changed on the wire`)
    } catch (err) {
      h.unsendable.push(`${key.slice(0, 60)}: ${String(err).slice(0, 200)}`)
    }
  }
  const deps: ApiDeps = {
    snapshot,
    inject,
    health: () => { maybeFail('health'); return { ...h.health, view_size: view.agentCount } },
    leader: () => h.leader.info,
    report,
    coverageK: opts.coverageK ?? 2
  }
  const logger = pino({ level: 'debug' }, sink)
  // the write rate limit has its own test (test/security.test.ts): these hundreds of POSTs must all be judged on their bodies
  h.app = buildApi(deps, { bodyLimit: opts.bodyLimit ?? 1_048_576, logger, writes: { enabled: true, token: null, perMinute: 1_000_000 }, onUnknownFields: (url, n) => { h.unknownFields.push([url, n]) } })
  return h
}

export interface Res { statusCode: number, headers: Record<string, unknown>, body: string }

export async function get (h: Harness, url: string): Promise<Res> {
  return await h.app.inject({ method: 'GET', url })
}

export async function getJson<T = unknown> (h: Harness, url: string): Promise<T> {
  const r = await get(h, url)
  if (r.statusCode !== 200) throw new Error(`GET ${url}: ${r.statusCode} ${r.body}`)
  return JSON.parse(r.body) as T
}

export async function post (h: Harness, url: string, body: unknown, contentType: string | null = 'application/json'): Promise<Res> {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
  return await h.app.inject({ method: 'POST', url, payload, headers: contentType === null ? {} : { 'content-type': contentType } })
}

export const READ_URLS = [
  '/api/v1/health', '/api/v1/hosts', '/api/v1/pods', '/api/v1/test-results/hosts', '/api/v1/test-results/pods',
  '/api/v1/test-results/service', '/api/v1/clients/count', '/api/v1/coverage', '/api/v1/leader', '/api/v1/history',
  '/api/v1/report', '/api/v1/results'
]
export const WRITE_URLS = ['/api/v1/heartbeat', '/api/v1/test-results/hosts', '/api/v1/test-results/pods', '/api/v1/test-results/service']

/** Everything a client can read, plus the view's legacy records themselves. */
export async function readAll (h: Harness): Promise<string> {
  const parts: string[] = []
  for (const url of READ_URLS) {
    const r = await get(h, url)
    parts.push(`${url} ${r.statusCode} ${r.body}`)
  }
  parts.push(canon(h.view.externalEntries()))
  return parts.join('\n')
}

/** Stack traces, source paths or internals in a response body. */
export const LEAK = /\n\s+at |\bat [^\s]+ \(|"stack"|node_modules|file:\/\/|\/work\/|\.ts:\d+|\.js:\d+/

export type Asserts = Pick<typeof t, 'equal' | 'match' | 'notMatch' | 'ok' | 'type' | 'strictSame' | 'same'>

/** Checks an error answer: status, JSON content type, {code, message[, details]} and no stack; returns the body. */
export function errorOf (t: Asserts, r: Res, status: number, code: string, what: string): { code: string, message: string, details?: unknown } {
  t.equal(r.statusCode, status, `${what}: status ${status}`)
  t.match(String(r.headers['content-type']), JSON_CT, `${what}: JSON content type`)
  let body: { code: string, message: string, details?: unknown } = { code: '', message: '' }
  try {
    body = JSON.parse(r.body) as typeof body
  } catch {
    t.ok(false, `${what}: the error body is JSON (${r.body.slice(0, 100)})`)
  }
  t.equal(body.code, code, `${what}: code ${code}`)
  t.ok(typeof body.message === 'string' && body.message.length > 0, `${what}: a message`)
  t.same(Object.keys(body).filter(k => !['code', 'message', 'details'].includes(k)), [], `${what}: only code, message, details`)
  t.notMatch(r.body, LEAK, `${what}: no stack trace`)
  return body
}

export function success (t: Asserts, r: Res, message: string, what: string): void {
  t.equal(r.statusCode, 200, `${what}: 200 (${r.body.slice(0, 200)})`)
  t.match(String(r.headers['content-type']), JSON_CT, `${what}: JSON content type`)
  t.strictSame(JSON.parse(r.body), { status: 'success', message }, `${what}: the original success body`)
}

// ---------------------------------------------------------------------------------------------------------------
// expected answers, written out by hand from the harness's results

export const OK22 = {
  ping: 'reachable',
  port_status: 'open',
  test_duration: '2.25ms',
  port: 22,
  rtt: '1.50ms',
  rtt_ms: 1.5,
  loss: 0,
  echoes_sent: 3,
  echoes_received: 3,
  tcp: 'open',
  connect_ms: 0.75,
  checked_at: CHECKED_ISO,
  source: 'agent'
}
export const OK6100 = { ...OK22, port: 6100 }
export const OK80 = { ...OK22, port: 80 }
export const TIMEOUT22 = {
  ping: 'unreachable',
  port_status: 'closed',
  test_duration: '1.00s',
  port: 22,
  rtt: null,
  rtt_ms: null,
  loss: 1,
  echoes_sent: 3,
  echoes_received: 0,
  tcp: 'timeout',
  connect_ms: null,
  checked_at: CHECKED_ISO,
  source: 'agent'
}
export const NOICMP6100 = {
  ping: 'unknown',
  port_status: 'open',
  test_duration: '500.00µs',
  port: 6100,
  rtt: null,
  rtt_ms: null,
  loss: null,
  echoes_sent: 0,
  echoes_received: 0,
  tcp: 'open',
  connect_ms: 0.4,
  checked_at: CHECKED_ISO,
  source: 'agent'
}
export const REFUSED22 = {
  ping: 'reachable',
  port_status: 'closed',
  test_duration: '3.00ms',
  port: 22,
  rtt: '250.00µs',
  rtt_ms: 0.25,
  loss: 0.333,
  echoes_sent: 3,
  echoes_received: 2,
  tcp: 'refused',
  connect_ms: 0.5,
  checked_at: CHECKED_ISO,
  source: 'agent'
}
export const REFUSED80_NOECHO = {
  ping: 'unreachable',
  port_status: 'closed',
  test_duration: '2.25ms',
  port: 80,
  rtt: null,
  rtt_ms: null,
  loss: 1,
  echoes_sent: 3,
  echoes_received: 0,
  tcp: 'refused',
  connect_ms: 0.75,
  checked_at: CHECKED_ISO,
  source: 'agent'
}

export const HOST_RESULTS = {
  '10.0.0.1': { '10.0.0.2': OK22, '10.0.0.3': TIMEOUT22 },
  '10.0.0.2': { '10.0.0.1': REFUSED22 },
  '10.0.0.3': {},
  '10.0.0.4': {}
}
export const POD_RESULTS = {
  '10.1.0.1': { '10.1.0.2': OK6100, '10.1.0.4': NOICMP6100 },
  '10.1.0.2': { '10.1.0.1': OK6100 },
  '10.1.0.3': { '10.1.0.1': OK6100 },
  '10.1.0.4': {}
}
export const SERVICE_RESULTS = {
  '10.1.0.2': {
    source_ip: '10.1.0.2',
    target_ip: '10.96.0.10',
    ping_status: 'reachable',
    port_status: { 80: 'open' },
    latency: '1.50ms',
    test_duration: '2.75ms',
    timestamp: CHECKED_SVC_ISO,
    reachable: true,
    service_name: SVC,
    dns: { ok: true, time: '500.00µs', addresses: ['10.96.0.10', 'fd00::10'], error: null },
    targets: { '10.96.0.10': OK80, 'fd00::10': REFUSED80_NOECHO },
    source: 'agent'
  },
  '10.1.0.3': {
    source_ip: '10.1.0.3',
    target_ip: '10.96.0.10',
    ping_status: 'unknown',
    port_status: { 80: 'open' },
    latency: '2.00ms',
    test_duration: '2.75ms',
    timestamp: CHECKED_SVC_ISO,
    reachable: true,
    service_name: SVC,
    dns: { ok: true, time: '250.00µs', addresses: ['10.96.0.10'], error: null },
    targets: {
      '10.96.0.10': {
        ping: 'unknown',
        port_status: 'open',
        test_duration: '2.50ms',
        port: 80,
        rtt: null,
        rtt_ms: null,
        loss: null,
        echoes_sent: 0,
        echoes_received: 0,
        tcp: 'open',
        connect_ms: 2,
        checked_at: CHECKED_ISO,
        source: 'agent'
      }
    },
    source: 'agent'
  },
  '10.1.0.4': {
    source_ip: '10.1.0.4',
    target_ip: '',
    ping_status: 'unreachable',
    port_status: { 80: 'closed' },
    latency: '',
    test_duration: '1.20s',
    timestamp: CHECKED_SVC_ISO,
    reachable: false,
    service_name: SVC,
    dns: { ok: false, time: '1.20s', addresses: [], error: `getaddrinfo ENOTFOUND ${SVC}` },
    targets: {},
    source: 'agent'
  }
}
export const HOST_IPS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']
export const POD_IPS = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4']
export const COUNT = { active_client_count: 4, versions: { '0.1.0': 3, '0.2.0': 1 } }

// ---------------------------------------------------------------------------------------------------------------
// 1. read routes

/** The original client's heartbeat body, and one with some fields changed. */
export const LEGACY_TS = '2026-11-25T10:00:00.123456789+08:00'
export const HEARTBEAT = { namespace: 'kube-system', node_ip: '10.5.0.1', pod_ip: '10.6.0.1', pod_name: 'k8snet-checker-client-x7k2p', timestamp: LEGACY_TS }
export const hb = (over: Record<string, unknown>): Record<string, unknown> => ({ ...HEARTBEAT, ...over })
