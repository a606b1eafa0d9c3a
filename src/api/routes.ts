// The seed's REST endpoints as one table: read routes project the view, write routes inject legacy reports.
import type { ExternalBody } from '../core/record.ts'
import type { Report } from '../report/report.ts'
import type { JsonOut, JsonPieces } from './json-cache.ts'
import {
  clientCount, coverageReport, hostIps, pairResults, podIps, serviceResults, type ViewSnapshot
} from './projection.ts'
import {
  heartbeatSchema, normaliseHeartbeat, normaliseResults, normaliseService, resultsSchema, serviceSchema,
  type HeartbeatBody, type ResultsBody, type ServiceBody
} from './legacy.ts'

export interface HealthInfo {
  pod_name: string
  node_name: string
  version: string
  peers_connected: number
  connections: number
  view_size: number
  uptime_s: number
  gossip: {
    published: number
    accepted: number
    gaps: number
    expired: number
    rejected: Record<string, number>
    ignored: Record<string, number>
    /** Payload bytes of own published and of received messages (gossipsub's envelope and framing not counted). */
    bytes_out?: number
    bytes_in?: number
    /** Own published messages and their payload bytes, by message type. */
    sent?: Record<string, number>
    sent_bytes?: Record<string, number>
    /** Peers in the gossipsub mesh of the view topic (each message is forwarded to them). */
    mesh_peers?: number | null
    /** Inbound connections refused before the handshake (not from a discovered member). */
    refused_connections?: number
    /** Connected peers whose gossipsub score is negative (penalised for invalid messages), and graylisted ones. */
    penalised_peers?: number
    graylisted_peers?: number
    /**
     * Large clusters: beats sent to aggregators (ok / failed), beats heard and refused as an aggregator, liveness
     * entries applied from aggregators' digests, digests refused (not from an aggregator). Any cluster: legacy
     * heartbeats refreshed by the entries of the agents their clients posted to.
     */
    liveness?: { beats_sent: number, beats_failed: number, beats_heard: number, beats_refused: number, beats_cut: number, entries_applied: number, digests_refused: number, legacy_entries_applied: number }
  }
  sync: { served: number, pulled: number, failed: number }
  /**
   * Identities: whether peers' records must carry a verified token (once the cluster's keys are known), whether this
   * agent has its own, peers' records refused by reason, and fetches of the cluster's keys.
   */
  identity?: { required: boolean, own_token: boolean, refused: Record<string, number>, keys_fetched: number, keys_failed: number }
  probes: { rounds: number, last_round_ms: number | null, last_targets: number, icmp_error: string | null }
}

const counts = { type: 'object', additionalProperties: { type: 'integer' } } as const

export interface LeaderInfo {
  /** The Lease holder as gossiped by its own record (null when nobody holds it). */
  holder: string | null
  holder_node_ip: string | null
  is_self: boolean
  /** False when the agent has no Kubernetes API to talk to. */
  election_enabled: boolean
  contenders: string[]
  contending: boolean
  /** What this agent last saw of the Lease itself (contenders only read it). */
  lease: { observed_holder: string | null, transitions: number, last_renew_ago_ms: number | null, reports_printed: number } | null
}

/** Everything the API needs from the agent, passed in by the composition root. */
export interface ApiDeps {
  /** The live view (expired origins already dropped). */
  snapshot: () => ViewSnapshot
  /** Injects a legacy report into the mesh; throws InjectError when it cannot be kept. */
  inject: (body: ExternalBody) => void
  health: () => HealthInfo
  leader: () => LeaderInfo
  /** The same report the Lease holder prints, as JSON, built from the given view. */
  report: (view: ViewSnapshot) => Report
  /** Probers per target the sampling rule aims for (PROBE_COVERAGE). */
  coverageK: number
  /** The reachability model's per-pair history, filtered (absent: no history route answers 404). */
  history?: (filter: HistoryQuery) => unknown
  /** Readiness for GET /api/v1/ready: false until the view was pulled from a peer (absent: always ready). */
  ready?: () => Readiness
  /** Prometheus exposition for GET /metrics (absent: no metrics route). */
  metrics?: { text: () => Promise<string>, contentType: string }
}

/** Whether this agent answers from a view worth serving yet, and why. */
export interface Readiness { ready: boolean, reason: string }

/** GET /api/v1/history's filter: a layer, a source and a target pod name, each optional. */
export interface HistoryQuery { layer?: 'host' | 'pod', source?: string, target?: string }

export interface ReadRoute {
  url: string
  /** Query parameters the route takes (validated; unknown ones refused). */
  querystring?: object
  /** One line for the OpenAPI document. */
  summary: string
  /** Serialises (and documents) the answer; routes with free-form answers leave it out. */
  response?: object
  answer: (view: ViewSnapshot, deps: ApiDeps, query: never) => unknown
  /** The same answer as JSON, built from cached rows (the large pair maps); when present the route serves this. */
  json?: (view: ViewSnapshot, deps: ApiDeps, out: JsonOut) => JsonPieces
}

export interface WriteRoute {
  url: string
  /** One line for the OpenAPI document. */
  summary: string
  body: object
  normalise: (body: never) => ExternalBody
  accepted: string
}

// ---- response schemas (they also serialise) ----

const str = { type: 'string' } as const
const nullableStr = { type: ['string', 'null'] } as const
const nullableNum = { type: ['number', 'null'] } as const
const ipList = { type: 'array', items: str } as const

const pair = {
  type: 'object',
  properties: {
    ping: str,
    port_status: str,
    test_duration: str,
    port: { type: 'integer' },
    rtt: nullableStr,
    rtt_ms: nullableNum,
    loss: nullableNum,
    echoes_sent: { type: 'integer' },
    echoes_received: { type: 'integer' },
    tcp: str,
    connect_ms: nullableNum,
    checked_at: str,
    source: str
  }
} as const

const pairMap = { type: 'object', additionalProperties: { type: 'object', additionalProperties: pair } } as const

const serviceRow = {
  type: 'object',
  properties: {
    source_ip: str,
    target_ip: str,
    ping_status: str,
    port_status: { type: 'object', additionalProperties: str },
    latency: str,
    test_duration: str,
    timestamp: str,
    reachable: { type: 'boolean' },
    service_name: str,
    dns: {
      type: 'object',
      properties: { ok: { type: 'boolean' }, time: str, addresses: ipList, error: nullableStr }
    },
    targets: { type: 'object', additionalProperties: pair },
    source: str
  }
} as const

const serviceMap = { type: 'object', additionalProperties: serviceRow } as const
const countSchema = {
  type: 'object',
  properties: {
    active_client_count: { type: 'integer' },
    versions: { type: 'object', additionalProperties: { type: 'integer' } }
  }
} as const

const objectOf = (properties: Record<string, object>): object => ({ type: 'object', properties })
/** An object of integer counters. */
const integers = (...names: string[]): object => objectOf(Object.fromEntries(names.map(n => [n, { type: 'integer' }])))
const hostResults = objectOf({ results: pairMap })
const podResults = objectOf({ results: pairMap })
const allResults = objectOf({
  active_client_count: { type: 'integer' },
  versions: { type: 'object', additionalProperties: { type: 'integer' } },
  host_ips: ipList,
  pod_ips: ipList,
  host_test_results: pairMap,
  pod_test_results: pairMap,
  service_test_results: serviceMap
})

export const readRoutes: ReadRoute[] = [
  {
    url: '/api/v1/health',
    summary: 'This agent\'s health: identity, connections, view size, gossip, sync and probe counters',
    response: objectOf({
      status: str,
      pod_name: str,
      node_name: str,
      version: str,
      peers_connected: { type: 'integer' },
      connections: { type: 'integer' },
      view_size: { type: 'integer' },
      uptime_s: { type: 'number' },
      gossip: objectOf({
        published: { type: 'integer' },
        accepted: { type: 'integer' },
        gaps: { type: 'integer' },
        expired: { type: 'integer' },
        rejected: counts,
        ignored: counts,
        bytes_out: { type: 'integer' },
        bytes_in: { type: 'integer' },
        sent: counts,
        sent_bytes: counts,
        mesh_peers: { type: ['integer', 'null'] },
        refused_connections: { type: 'integer' },
        penalised_peers: { type: 'integer' },
        graylisted_peers: { type: 'integer' },
        liveness: integers('beats_sent', 'beats_failed', 'beats_heard', 'beats_refused', 'beats_cut', 'entries_applied', 'digests_refused', 'legacy_entries_applied')
      }),
      sync: integers('served', 'pulled', 'failed'),
      identity: objectOf({ required: { type: 'boolean' }, own_token: { type: 'boolean' }, refused: counts, keys_fetched: { type: 'integer' }, keys_failed: { type: 'integer' } }),
      probes: objectOf({ rounds: { type: 'integer' }, last_round_ms: nullableNum, last_targets: { type: 'integer' }, icmp_error: nullableStr })
    }),
    answer: (_v, deps) => ({ status: 'healthy', ...deps.health() })
  },
  {
    url: '/api/v1/hosts',
    summary: 'Node IPs of every live agent (and legacy client) in the view',
    response: objectOf({ host_ips: ipList, count: { type: 'integer' } }),
    answer: v => { const ips = hostIps(v); return { host_ips: ips, count: ips.length } }
  },
  {
    url: '/api/v1/pods',
    summary: 'Pod IPs of every live agent (and legacy client) in the view',
    response: objectOf({ pod_ips: ipList, count: { type: 'integer' } }),
    answer: v => { const ips = podIps(v); return { pod_ips: ips, count: ips.length } }
  },
  {
    url: '/api/v1/test-results/hosts',
    summary: 'Host-level results, source node IP -> target node IP -> pair result',
    response: hostResults,
    answer: v => ({ results: pairResults(v, 'host') }),
    json: (v, _deps, out) => out.object(hostResults, {}, { results: out.pairMap(pairMap, v, 'host') })
  },
  {
    url: '/api/v1/test-results/pods',
    summary: 'Pod-level results, source pod IP -> target pod IP -> pair result',
    response: podResults,
    answer: v => ({ results: pairResults(v, 'pod') }),
    json: (v, _deps, out) => out.object(podResults, {}, { results: out.pairMap(pairMap, v, 'pod') })
  },
  {
    url: '/api/v1/test-results/service',
    summary: 'The custom Service check of every agent, by source IP',
    response: objectOf({ results: serviceMap }),
    answer: v => ({ results: serviceResults(v) })
  },
  {
    url: '/api/v1/clients/count',
    summary: 'Active agents and clients, with their versions',
    response: countSchema,
    answer: v => clientCount(v)
  },
  {
    url: '/api/v1/coverage',
    summary: 'How many agents probe each target (k-coverage of the sampling rule)',
    response: objectOf({
      k: { type: 'integer' },
      agents: { type: 'object', additionalProperties: objectOf({ node_ip: str, pod_ip: str, host: { type: 'integer' }, pod: { type: 'integer' } }) },
      gaps: { type: 'array', items: str }
    }),
    answer: (v, deps) => coverageReport(v, deps.coverageK)
  },
  {
    url: '/api/v1/leader',
    summary: 'The reporter Lease holder as gossiped, and what this agent saw of the Lease',
    response: objectOf({
      holder: nullableStr,
      holder_node_ip: nullableStr,
      is_self: { type: 'boolean' },
      election_enabled: { type: 'boolean' },
      contenders: { type: 'array', items: str },
      contending: { type: 'boolean' },
      lease: {
        type: ['object', 'null'],
        properties: { observed_holder: nullableStr, transitions: { type: 'integer' }, last_renew_ago_ms: nullableNum, reports_printed: { type: 'integer' } }
      }
    }),
    answer: (_v, deps) => deps.leader()
  },
  {
    url: '/api/v1/history',
    summary: 'The reachability model\'s history of each pair: its settled state, its last state changes with their times, and how often it flipped within the flapping window',
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { layer: { type: 'string', enum: ['host', 'pod'] }, source: { type: 'string', maxLength: 253 }, target: { type: 'string', maxLength: 253 } }
    },
    answer: (_v, deps, q: HistoryQuery) => deps.history?.(q) ?? { window_s: 0, pairs: [], total: 0 }
  },
  {
    url: '/api/v1/report',
    summary: 'The report the Lease holder prints, as JSON, built from this agent\'s view',
    answer: (v, deps) => deps.report(v)
  },
  {
    url: '/api/v1/results',
    summary: 'Everything at once: counts, IPs and the results of every layer',
    response: allResults,
    answer: v => ({
      ...clientCount(v),
      host_ips: hostIps(v),
      pod_ips: podIps(v),
      host_test_results: pairResults(v, 'host'),
      pod_test_results: pairResults(v, 'pod'),
      service_test_results: serviceResults(v)
    }),
    json: (v, _deps, out) => out.object(allResults, { ...clientCount(v), host_ips: hostIps(v), pod_ips: podIps(v), service_test_results: serviceResults(v) }, {
      host_test_results: out.pairMap(pairMap, v, 'host'),
      pod_test_results: out.pairMap(pairMap, v, 'pod')
    })
  }
]

export const writeRoutes: WriteRoute[] = [
  {
    url: '/api/v1/heartbeat',
    summary: 'A legacy client\'s heartbeat (the original tool\'s body), injected into the mesh',
    body: heartbeatSchema,
    normalise: (b: HeartbeatBody) => normaliseHeartbeat(b),
    accepted: 'heartbeat received'
  },
  {
    url: '/api/v1/test-results/hosts',
    summary: 'A legacy client\'s host-level results, injected into the mesh',
    body: resultsSchema,
    normalise: (b: ResultsBody) => normaliseResults('host', b),
    accepted: 'host test results received'
  },
  {
    url: '/api/v1/test-results/pods',
    summary: 'A legacy client\'s pod-level results, injected into the mesh',
    body: resultsSchema,
    normalise: (b: ResultsBody) => normaliseResults('pod', b),
    accepted: 'pod test results received'
  },
  {
    url: '/api/v1/test-results/service',
    summary: 'A legacy client\'s Service result, injected into the mesh',
    body: serviceSchema,
    normalise: (b: ServiceBody) => normaliseService(b),
    accepted: 'service test result received'
  }
]
