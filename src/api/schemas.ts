// The JSON shapes of the original tool's result rows, as schemas: they serialise the answers, document them in the
// OpenAPI document, and are where the rows' TypeScript types come from (one source for all three).
import type { FromSchema } from 'json-schema-to-ts'

const str = { type: 'string' } as const
const nullableStr = { type: ['string', 'null'] } as const
const nullableNum = { type: ['number', 'null'] } as const
const int = { type: 'integer' } as const
const ping = { type: 'string', enum: ['reachable', 'unreachable', 'unknown'] } as const
const openClosed = { type: 'string', enum: ['open', 'closed'] } as const
const origin = { type: 'string', enum: ['agent', 'legacy'] } as const

/** One measured pair: the original's three fields, then the detail beyond it. */
export const pairSchema = {
  type: 'object',
  required: ['ping', 'port_status', 'test_duration'],
  properties: {
    ping,
    port_status: openClosed,
    test_duration: str,
    port: int,
    rtt: nullableStr,
    rtt_ms: nullableNum,
    loss: nullableNum,
    echoes_sent: int,
    echoes_received: int,
    tcp: str,
    connect_ms: nullableNum,
    checked_at: str,
    source: origin
  },
  additionalProperties: false
} as const

export type PingStatus = FromSchema<typeof ping>
export type PairResult = FromSchema<typeof pairSchema>

/** source IP -> target IP -> pair. */
export const pairMapSchema = { type: 'object', additionalProperties: { type: 'object', additionalProperties: pairSchema } } as const
export type PairMap = Record<string, Record<string, PairResult>>

/** One agent's check of the custom Service, in the original's row shape. */
export const serviceRowSchema = {
  type: 'object',
  required: ['source_ip', 'target_ip', 'ping_status', 'port_status', 'latency', 'test_duration', 'timestamp'],
  properties: {
    source_ip: str,
    target_ip: str,
    ping_status: ping,
    port_status: { type: 'object', additionalProperties: openClosed },
    latency: str,
    test_duration: str,
    timestamp: str,
    /** The truth for a Service: some resolved address accepted the TCP connect (a ClusterIP may ignore ICMP). */
    reachable: { type: 'boolean' },
    service_name: str,
    dns: {
      type: 'object',
      required: ['ok', 'time', 'addresses', 'error'],
      properties: { ok: { type: 'boolean' }, time: str, addresses: { type: 'array', items: str }, error: nullableStr },
      additionalProperties: false
    },
    targets: { type: 'object', additionalProperties: pairSchema },
    source: origin
  },
  additionalProperties: false
} as const

export type ServiceRow = FromSchema<typeof serviceRowSchema>

export const serviceMapSchema = { type: 'object', additionalProperties: serviceRowSchema } as const

/** Active agents and legacy clients, with their versions (GET /api/v1/clients/count, and inside /api/v1/results). */
export const countSchema = {
  type: 'object',
  required: ['active_client_count', 'versions'],
  properties: {
    active_client_count: int,
    versions: { type: 'object', additionalProperties: int }
  },
  additionalProperties: false
} as const

export type ClientCount = FromSchema<typeof countSchema>

/** How many agents probe each agent's node and pod (GET /api/v1/coverage). */
export const coverageSchema = {
  type: 'object',
  required: ['k', 'agents', 'gaps'],
  properties: {
    k: int,
    agents: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['node_ip', 'pod_ip', 'host', 'pod'],
        // second_*: the other family's addresses, on a dual-stack cluster only
        properties: { node_ip: str, pod_ip: str, second_node_ip: str, second_pod_ip: str, host: int, pod: int },
        additionalProperties: false
      }
    },
    gaps: { type: 'array', items: str }
  },
  additionalProperties: false
} as const

export type CoverageAnswer = FromSchema<typeof coverageSchema>
