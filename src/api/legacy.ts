// The original Go clients' report bodies: strict JSON schemas, then normalisation into external record bodies.
import { isIP } from 'node:net'
import type { FromSchema } from 'json-schema-to-ts'
import { shareLegacyRow } from '../core/intern.ts'
import type { ExternalBody, LegacyPathResult } from '../core/record.ts'
import { parseGoDuration } from '../shared/duration.ts'

/** A report body that passed the schema but says something impossible (bad IP, unparsable duration...). */
export class InvalidReport extends Error {
  readonly details: Array<{ field: string, problem: string }>
  constructor (details: Array<{ field: string, problem: string }>) {
    super(details.map(d => `${d.field}: ${d.problem}`).join('; '))
    this.name = 'InvalidReport'
    this.details = details
  }
}

const ipString = { type: 'string', minLength: 2, maxLength: 45 } as const
const durationValue = { type: ['string', 'integer'], maxLength: 64, minimum: 0 } as const
const timestamp = { type: 'string', maxLength: 64 } as const

export const heartbeatSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['pod_name', 'node_ip', 'pod_ip'],
  properties: {
    // a Kubernetes namespace is a DNS label (the wire counts UTF-16 units, so only ASCII may pass the API)
    namespace: { type: 'string', maxLength: 63, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$' },
    node_ip: ipString,
    pod_ip: ipString,
    pod_name: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$' },
    timestamp
  }
} as const

const resultSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['source_ip', 'target_ip', 'ping_status', 'port_status'],
  properties: {
    source_ip: ipString,
    target_ip: { type: 'string', minLength: 1, maxLength: 253 },
    ping_status: { type: 'string', enum: ['reachable', 'unreachable'] },
    port_status: {
      type: 'object',
      maxProperties: 16,
      propertyNames: { pattern: '^[0-9]{1,5}$' },
      additionalProperties: { type: 'string', enum: ['open', 'closed'] }
    },
    latency: durationValue,
    test_duration: durationValue,
    timestamp
  }
} as const

export const resultsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['source_ip', 'results'],
  properties: { source_ip: ipString, results: { type: 'array', maxItems: 5000, items: resultSchema } }
} as const

export const serviceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['source_ip', 'result'],
  properties: { source_ip: ipString, result: resultSchema }
} as const

// the bodies' types come from their schemas (one source: what validates is what the code reads)
export type HeartbeatBody = FromSchema<typeof heartbeatSchema>
export type ResultBody = FromSchema<typeof resultSchema>
export type ResultsBody = FromSchema<typeof resultsSchema>
export type ServiceBody = FromSchema<typeof serviceSchema>

type Problems = Array<{ field: string, problem: string }>

function checkIp (v: string, field: string, problems: Problems): void {
  if (isIP(v) === 0) problems.push({ field, problem: `"${v}" is not an IP address` })
}

/** RFC 3339 as Go's time.Time marshals it (Date.parse alone accepts "1" or any text holding a year). */
const RFC3339 = /^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$/

function checkTimestamp (v: string | undefined, field: string, problems: Problems): string {
  if (v === undefined) return ''
  if (!RFC3339.test(v) || Number.isNaN(Date.parse(v))) problems.push({ field, problem: 'not an RFC 3339 timestamp' })
  return v
}

/** A DNS name (RFC 1123 labels), for a Service target reported by name. */
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/

function checkTarget (v: string, field: string, problems: Problems): void {
  // all-numeric labels are a malformed IP ("10.0.0.256"), not a name
  if (isIP(v) === 0 && (!DNS_NAME.test(v) || /^[0-9.]+$/.test(v))) problems.push({ field, problem: 'not an IP address nor a DNS name' })
}

/** Go clients send time.Duration either as a string ("1.5ms") or as integer nanoseconds. */
function durationUs (v: string | number | undefined, field: string, problems: Problems): number | null {
  if (v === undefined) return null
  if (typeof v === 'number') {
    const us = Math.round(v / 1000)
    // the wire carries µs as a safe integer: a larger value would be refused by every peer
    if (!Number.isSafeInteger(us)) problems.push({ field, problem: 'duration out of range' })
    return us
  }
  const parsed = parseGoDuration(v)
  if (parsed === null) problems.push({ field, problem: `"${v}" is not a duration such as "12.34ms"` })
  return parsed
}

function normaliseResult (r: ResultBody, source: string, field: string, problems: Problems): LegacyPathResult {
  checkIp(r.source_ip, `${field}.source_ip`, problems)
  checkTarget(r.target_ip, `${field}.target_ip`, problems)
  if (r.source_ip !== source) problems.push({ field: `${field}.source_ip`, problem: `differs from the body's source_ip ${source}` })
  for (const p of Object.keys(r.port_status)) {
    if (Number(p) < 1 || Number(p) > 65535) problems.push({ field: `${field}.port_status`, problem: `port ${p} out of range` })
  }
  return shareLegacyRow({
    source: r.source_ip,
    target: r.target_ip,
    ping: r.ping_status,
    ports: r.port_status,
    latencyUs: durationUs(r.latency, `${field}.latency`, problems),
    durationUs: durationUs(r.test_duration, `${field}.test_duration`, problems),
    timestamp: checkTimestamp(r.timestamp, `${field}.timestamp`, problems)
  })
}

function done<T> (value: T, problems: Problems): T {
  if (problems.length > 0) throw new InvalidReport(problems)
  return value
}

export function normaliseHeartbeat (b: HeartbeatBody): ExternalBody {
  const problems: Problems = []
  checkIp(b.node_ip, 'node_ip', problems)
  checkIp(b.pod_ip, 'pod_ip', problems)
  const ts = checkTimestamp(b.timestamp, 'timestamp', problems)
  return done({
    part: 'hb',
    value: { podName: b.pod_name, nodeIp: b.node_ip, podIp: b.pod_ip, namespace: b.namespace ?? '', timestamp: ts }
  }, problems)
}

export function normaliseResults (part: 'host' | 'pod', b: ResultsBody): ExternalBody {
  const problems: Problems = []
  checkIp(b.source_ip, 'source_ip', problems)
  const value = b.results.map((r, i) => normaliseResult(r, b.source_ip, `results[${i}]`, problems))
  return done({ part, source: b.source_ip, value }, problems)
}

export function normaliseService (b: ServiceBody): ExternalBody {
  const problems: Problems = []
  checkIp(b.source_ip, 'source_ip', problems)
  const value = normaliseResult(b.result, b.source_ip, 'result', problems)
  return done({ part: 'svc', value }, problems)
}
