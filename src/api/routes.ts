// The seed's REST endpoints as one table: read routes project the view, write routes inject legacy reports.
import type { FromSchema } from 'json-schema-to-ts'
import type { ExternalBody } from '../core/record.ts'
import type { Report } from '../report/report.ts'
import type { JsonOut, JsonPieces } from './json-cache.ts'
import { reportSchema } from './report-schema.ts'
import { countSchema, coverageSchema, pairMapSchema, serviceMapSchema } from './schemas.ts'
import {
  clientCount, coverageReport, hostIps, memberCount, pairResults, podIps, serviceResults, type ViewSnapshot
} from './projection.ts'
import {
  heartbeatSchema, normaliseHeartbeat, normaliseResults, normaliseService, resultsSchema, serviceSchema,
  type HeartbeatBody, type ResultsBody, type ServiceBody
} from './legacy.ts'

const counts = { type: 'object', additionalProperties: { type: 'integer' } } as const

const int = { type: 'integer' } as const
const integerMap = counts

/**
 * GET /api/v1/health's answer: the schema validates nothing (it is ours) but serialises it, documents it in the
 * OpenAPI document, and is where its TypeScript type comes from (HealthInfo).
 */
const healthSchema = {
  type: 'object',
  required: ['pod_name', 'node_name', 'version', 'peers_connected', 'connections', 'view_size', 'uptime_s', 'gossip', 'sync', 'probes'],
  properties: {
    status: { type: 'string' },
    pod_name: { type: 'string' },
    node_name: { type: 'string' },
    version: { type: 'string' },
    peers_connected: int,
    connections: int,
    view_size: int,
    uptime_s: { type: 'number' },
    gossip: {
      type: 'object',
      required: ['published', 'accepted', 'gaps', 'expired', 'rejected', 'ignored'],
      properties: {
        published: int,
        accepted: int,
        gaps: int,
        expired: int,
        rejected: integerMap,
        ignored: integerMap,
        /** Payload bytes of own published and of received messages (gossipsub's envelope and framing not counted). */
        bytes_out: int,
        bytes_in: int,
        /** Own published messages and their payload bytes, by message type. */
        sent: integerMap,
        sent_bytes: integerMap,
        /** Peers in the gossipsub mesh of the view topic (each message is forwarded to them). */
        mesh_peers: { type: ['integer', 'null'] },
        /** Inbound connections refused before the handshake (not from a discovered member). */
        refused_connections: int,
        /** Connected peers whose gossipsub score is negative (penalised for invalid messages), and graylisted ones. */
        penalised_peers: int,
        graylisted_peers: int,
        /**
         * Large clusters: beats sent to aggregators (ok / failed), beats heard and refused as an aggregator, liveness
         * entries applied from aggregators' digests, digests refused (not from an aggregator). Any cluster: legacy
         * heartbeats refreshed by the entries of the agents their clients posted to.
         */
        liveness: {
          type: 'object',
          required: ['beats_sent', 'beats_failed', 'beats_heard', 'beats_refused', 'beats_cut', 'entries_applied', 'digests_refused', 'legacy_entries_applied'],
          properties: { beats_sent: int, beats_failed: int, beats_heard: int, beats_refused: int, beats_cut: int, entries_applied: int, digests_refused: int, legacy_entries_applied: int },
          additionalProperties: false
        }
      },
      additionalProperties: false
    },
    sync: { type: 'object', required: ['served', 'pulled', 'failed'], properties: { served: int, pulled: int, failed: int }, additionalProperties: false },
    /**
     * Identities: whether peers' records must carry a verified token (once the cluster's keys are known), whether this
     * agent has its own, peers' records refused by reason, and fetches of the cluster's keys.
     */
    identity: {
      type: 'object',
      required: ['required', 'own_token', 'refused', 'keys_fetched', 'keys_failed'],
      properties: { required: { type: 'boolean' }, own_token: { type: 'boolean' }, refused: integerMap, keys_fetched: int, keys_failed: int },
      additionalProperties: false
    },
    probes: {
      type: 'object',
      required: ['rounds', 'last_round_ms', 'last_targets', 'icmp_error'],
      properties: { rounds: int, last_round_ms: { type: ['number', 'null'] }, last_targets: int, icmp_error: { type: ['string', 'null'] } },
      additionalProperties: false
    }
  },
  additionalProperties: false
} as const

/** This agent's health, as the composition root reports it (the answer adds `status`). */
export type HealthInfo = Omit<FromSchema<typeof healthSchema>, 'status'>

/** GET /api/v1/leader's answer, and its type (LeaderInfo). */
const leaderSchema = {
  type: 'object',
  required: ['holder', 'holder_node_ip', 'is_self', 'election_enabled', 'contenders', 'contending', 'lease'],
  properties: {
    /** The Lease holder as gossiped by its own record (null when nobody holds it). */
    holder: { type: ['string', 'null'] },
    holder_node_ip: { type: ['string', 'null'] },
    is_self: { type: 'boolean' },
    /** False when the agent has no Kubernetes API to talk to. */
    election_enabled: { type: 'boolean' },
    contenders: { type: 'array', items: { type: 'string' } },
    contending: { type: 'boolean' },
    /** What this agent last saw of the Lease itself (contenders only read it). */
    lease: {
      type: ['object', 'null'],
      required: ['observed_holder', 'transitions', 'last_renew_ago_ms', 'reports_printed'],
      properties: { observed_holder: { type: ['string', 'null'] }, transitions: int, last_renew_ago_ms: { type: ['number', 'null'] }, reports_printed: int },
      additionalProperties: false
    }
  },
  additionalProperties: false
} as const

export type LeaderInfo = FromSchema<typeof leaderSchema>

/** GET /api/v1/history's filter: a layer, a source and a target pod name, each optional (validated, unknown ones refused). */
const historyQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { layer: { type: 'string', enum: ['host', 'pod'] }, source: { type: 'string', maxLength: 253 }, target: { type: 'string', maxLength: 253 } }
} as const

export type HistoryQuery = FromSchema<typeof historyQuerySchema>

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
const ipList = { type: 'array', items: str } as const

const pairMap = pairMapSchema
const serviceMap = serviceMapSchema
const objectOf = (properties: Record<string, object>): object => ({ type: 'object', properties })
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
    response: healthSchema,
    answer: (_v, deps) => ({ status: 'healthy', ...deps.health() })
  },
  {
    url: '/api/v1/hosts',
    summary: 'Node IPs of every live agent (and legacy client) in the view, both families on a dual-stack cluster; count: nodes',
    response: objectOf({ host_ips: ipList, count: { type: 'integer' } }),
    answer: v => ({ host_ips: hostIps(v), count: memberCount(v, 'host') })
  },
  {
    url: '/api/v1/pods',
    summary: 'Pod IPs of every live agent (and legacy client) in the view, both families on a dual-stack cluster; count: pods',
    response: objectOf({ pod_ips: ipList, count: { type: 'integer' } }),
    answer: v => ({ pod_ips: podIps(v), count: memberCount(v, 'pod') })
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
    response: coverageSchema,
    answer: (v, deps) => coverageReport(v, deps.coverageK)
  },
  {
    url: '/api/v1/leader',
    summary: 'The reporter Lease holder as gossiped, and what this agent saw of the Lease',
    response: leaderSchema,
    answer: (_v, deps) => deps.leader()
  },
  {
    url: '/api/v1/history',
    summary: 'The reachability model\'s history of each pair: its settled state, its last state changes with their times, and how often it flipped within the flapping window',
    querystring: historyQuerySchema,
    answer: (_v, deps, q: HistoryQuery) => deps.history?.(q) ?? { window_s: 0, pairs: [], total: 0 }
  },
  {
    url: '/api/v1/report',
    summary: 'The report the Lease holder prints, as JSON, built from this agent\'s view',
    response: reportSchema,
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
