// The seed's REST endpoints as one table: read routes project the view, write routes inject legacy reports.
import type { FromSchema, JSONSchema } from 'json-schema-to-ts'
import type { ExternalBody } from '../core/record.ts'
import type { Report } from '../report/report.ts'
import type { JsonOut, JsonPieces } from './json-cache.ts'
import { healthSchema, historyQuerySchema, leaderSchema, type HealthInfo, type HistoryQuery, type LeaderInfo, type Readiness } from './agent-schemas.ts'
import { historySchema, type HistoryAnswer } from './history.ts'
import { reportSchema } from './report-schema.ts'
import { countSchema, coverageSchema, pairMapSchema, serviceMapSchema } from './schemas.ts'
import {
  clientCount, coverageReport, hostIps, memberCount, pairResults, podIps, serviceResults, type ViewSnapshot
} from './projection.ts'
import { heartbeatSchema, normaliseHeartbeat, normaliseResults, normaliseService, resultsSchema, serviceSchema } from './legacy.ts'
export type { HealthInfo, HistoryQuery, LeaderInfo, Readiness }

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
  history?: (filter: HistoryQuery) => HistoryAnswer
  /** Readiness for GET /api/v1/ready: false until the view was pulled from a peer (absent: always ready). */
  ready?: () => Readiness
  /** Prometheus exposition for GET /metrics (absent: no metrics route). */
  metrics?: { text: () => Promise<string>, contentType: string }
}

/** What a schema describes, as a TypeScript type: what validation admits (a query, a body) or serialisation writes (an answer). */
export type Typed<S> = S extends JSONSchema ? FromSchema<S> : never

/** A route's documented place: its URL and its one line in the OpenAPI document. */
interface RouteText { url: string, summary: string }

export interface ReadRoute extends RouteText {
  /** Query parameters the route takes (validated; unknown ones refused). */
  querystring?: object
  /** Serialises (and documents) the answer. */
  response: object
  answer: (view: ViewSnapshot, deps: ApiDeps, query: never) => unknown
  /** The same answer as JSON, built from cached rows (the large pair maps); when present the route serves this. */
  json?: (view: ViewSnapshot, deps: ApiDeps, out: JsonOut) => JsonPieces
}

export interface WriteRoute extends RouteText {
  body: object
  normalise: (body: never) => ExternalBody
  accepted: string
}

/** The query of a route that takes none. */
interface NoQuery { type: 'object', additionalProperties: false }

/**
 * A read route typed from its schemas (the role a Fastify type provider plays for a route registered alone): its
 * answer must be what the response schema describes, its query is what the querystring schema admits. The schemas
 * are fixed by this call, then the route's functions are checked against them (inferring both in one call is more
 * than TypeScript can do with FromSchema).
 */
function answering<const R extends object, const Q extends object = NoQuery> (response: R, querystring?: Q) {
  return (route: RouteText & {
    answer: (view: ViewSnapshot, deps: ApiDeps, query: Typed<Q>) => Typed<R>
    json?: ReadRoute['json']
  }): ReadRoute => ({ ...route, response, ...(querystring === undefined ? {} : { querystring }) })
}

/** A write route typed from its body schema: normalise takes what the schema admits. */
function accepting<const B extends object> (body: B) {
  return (route: RouteText & { normalise: (body: Typed<B>) => ExternalBody, accepted: string }): WriteRoute => ({ ...route, body })
}

// ---- response schemas (they also serialise) ----

const int = { type: 'integer' } as const
const ipList = { type: 'array', items: { type: 'string' } } as const
const results = <const M extends object>(map: M) => ({ type: 'object', required: ['results'], properties: { results: map }, additionalProperties: false }) as const
const hostResults = results(pairMapSchema)
const podResults = results(pairMapSchema)
const allResults = {
  type: 'object',
  required: ['active_client_count', 'versions', 'host_ips', 'pod_ips', 'host_test_results', 'pod_test_results', 'service_test_results'],
  properties: {
    ...countSchema.properties,
    host_ips: ipList,
    pod_ips: ipList,
    host_test_results: pairMapSchema,
    pod_test_results: pairMapSchema,
    service_test_results: serviceMapSchema
  },
  additionalProperties: false
} as const
const hostsSchema = { type: 'object', required: ['host_ips', 'count'], properties: { host_ips: ipList, count: int }, additionalProperties: false } as const
const podsSchema = { type: 'object', required: ['pod_ips', 'count'], properties: { pod_ips: ipList, count: int }, additionalProperties: false } as const

export const readRoutes: ReadRoute[] = [
  answering(healthSchema)({
    url: '/api/v1/health',
    summary: 'This agent\'s health: identity, connections, view size, gossip, sync and probe counters',
    answer: (_v, deps) => ({ status: 'healthy', ...deps.health() })
  }),
  answering(hostsSchema)({
    url: '/api/v1/hosts',
    summary: 'Node IPs of every live agent (and legacy client) in the view, both families on a dual-stack cluster; count: nodes',
    answer: v => ({ host_ips: hostIps(v), count: memberCount(v, 'host') })
  }),
  answering(podsSchema)({
    url: '/api/v1/pods',
    summary: 'Pod IPs of every live agent (and legacy client) in the view, both families on a dual-stack cluster; count: pods',
    answer: v => ({ pod_ips: podIps(v), count: memberCount(v, 'pod') })
  }),
  answering(hostResults)({
    url: '/api/v1/test-results/hosts',
    summary: 'Host-level results, source node IP -> target node IP -> pair result',
    answer: v => ({ results: pairResults(v, 'host') }),
    json: (v, _deps, out) => out.object(hostResults, {}, { results: out.pairMap(pairMapSchema, v, 'host') })
  }),
  answering(podResults)({
    url: '/api/v1/test-results/pods',
    summary: 'Pod-level results, source pod IP -> target pod IP -> pair result',
    answer: v => ({ results: pairResults(v, 'pod') }),
    json: (v, _deps, out) => out.object(podResults, {}, { results: out.pairMap(pairMapSchema, v, 'pod') })
  }),
  answering(results(serviceMapSchema))({
    url: '/api/v1/test-results/service',
    summary: 'The custom Service check of every agent, by source IP',
    answer: v => ({ results: serviceResults(v) })
  }),
  answering(countSchema)({
    url: '/api/v1/clients/count',
    summary: 'Active agents and clients, with their versions',
    answer: v => clientCount(v)
  }),
  answering(coverageSchema)({
    url: '/api/v1/coverage',
    summary: 'How many agents probe each target (k-coverage of the sampling rule)',
    answer: (v, deps) => coverageReport(v, deps.coverageK)
  }),
  answering(leaderSchema)({
    url: '/api/v1/leader',
    summary: 'The reporter Lease holder as gossiped, and what this agent saw of the Lease',
    answer: (_v, deps) => deps.leader()
  }),
  answering(historySchema, historyQuerySchema)({
    url: '/api/v1/history',
    summary: 'The reachability model\'s history of each pair: its settled state, its last state changes with their times, and how often it flipped within the flapping window',
    answer: (_v, deps, q) => deps.history?.(q) ?? { window_s: 0, pairs: [], total: 0 }
  }),
  answering(reportSchema)({
    url: '/api/v1/report',
    summary: 'The report the Lease holder prints, as JSON, built from this agent\'s view',
    answer: (v, deps) => deps.report(v)
  }),
  answering(allResults)({
    url: '/api/v1/results',
    summary: 'Everything at once: counts, IPs and the results of every layer',
    answer: v => ({
      ...clientCount(v),
      host_ips: hostIps(v),
      pod_ips: podIps(v),
      host_test_results: pairResults(v, 'host'),
      pod_test_results: pairResults(v, 'pod'),
      service_test_results: serviceResults(v)
    }),
    json: (v, _deps, out) => out.object(allResults, { ...clientCount(v), host_ips: hostIps(v), pod_ips: podIps(v), service_test_results: serviceResults(v) }, {
      host_test_results: out.pairMap(pairMapSchema, v, 'host'),
      pod_test_results: out.pairMap(pairMapSchema, v, 'pod')
    })
  })
]

export const writeRoutes: WriteRoute[] = [
  accepting(heartbeatSchema)({
    url: '/api/v1/heartbeat',
    summary: 'A legacy client\'s heartbeat (the original tool\'s body), injected into the mesh',
    normalise: b => normaliseHeartbeat(b),
    accepted: 'heartbeat received'
  }),
  accepting(resultsSchema)({
    url: '/api/v1/test-results/hosts',
    summary: 'A legacy client\'s host-level results, injected into the mesh',
    normalise: b => normaliseResults('host', b),
    accepted: 'host test results received'
  }),
  accepting(resultsSchema)({
    url: '/api/v1/test-results/pods',
    summary: 'A legacy client\'s pod-level results, injected into the mesh',
    normalise: b => normaliseResults('pod', b),
    accepted: 'pod test results received'
  }),
  accepting(serviceSchema)({
    url: '/api/v1/test-results/service',
    summary: 'A legacy client\'s Service result, injected into the mesh',
    normalise: b => normaliseService(b),
    accepted: 'service test result received'
  })
]
