// The JSON shape of GET /api/v1/report, as a schema: it serialises the answer and documents it in the OpenAPI
// document; a compile-time check below holds it and the core's Report type to each other, so neither can drift.
import type { FromSchema } from 'json-schema-to-ts'
import type { Report } from '../report/report.ts'

const str = { type: 'string' } as const
const int = { type: 'integer' } as const
const num = { type: 'number' } as const
const nullableNum = { type: ['number', 'null'] } as const
const strings = { type: 'array', items: str } as const
const layer = { type: 'string', enum: ['host', 'pod'] } as const

const layerSummary = {
  type: 'object',
  required: ['total', 'ok', 'failed', 'successRate', 'avgMs', 'totalMs'],
  properties: { total: int, ok: int, failed: int, successRate: num, avgMs: nullableNum, totalMs: num },
  additionalProperties: false
} as const

const verdict = {
  type: 'object',
  required: ['kind', 'subject', 'summary', 'evidence', 'agree', 'of', 'culprits'],
  properties: {
    kind: {
      type: 'string',
      enum: ['flapping', 'isolated', 'partition', 'outbound', 'inbound', 'overlay', 'node-ip', 'gossip-cut', 'one-way',
        'port-closed', 'test-port', 'lossy', 'service-dns', 'service-endpoints', 'stale', 'clock-skew']
    },
    subject: str,
    summary: str,
    evidence: strings,
    agree: int,
    of: int,
    culprits: strings,
    observer: { type: 'boolean' },
    groups: { type: 'array', items: strings }
  },
  additionalProperties: false
} as const

export const reportSchema = {
  type: 'object',
  required: ['time', 'clockOffsetMs', 'reporter', 'activeAgents', 'legacyClients', 'hostIps', 'podIps', 'layers', 'service',
    'failingPairs', 'failingPairsTotal', 'verdicts', 'silentAgents', 'excluded'],
  properties: {
    time: str,
    clockOffsetMs: num,
    reporter: { type: ['string', 'null'] },
    activeAgents: int,
    legacyClients: int,
    hostIps: strings,
    podIps: strings,
    layers: { type: 'object', required: ['host', 'pod'], properties: { host: layerSummary, pod: layerSummary }, additionalProperties: false },
    service: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          required: ['name', 'port', 'agents', 'dnsOk', 'reachable', 'avgDnsMs'],
          properties: { name: str, port: int, agents: int, dnsOk: int, reachable: int, avgDnsMs: nullableNum },
          additionalProperties: false
        }
      ]
    },
    failingPairs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['layer', 'source', 'sourceIp', 'target', 'targetIp', 'problem'],
        properties: { layer, source: str, sourceIp: str, target: str, targetIp: str, problem: str },
        additionalProperties: false
      }
    },
    failingPairsTotal: int,
    verdicts: { type: 'array', items: verdict },
    silentAgents: {
      type: 'array',
      items: { type: 'object', required: ['agent', 'node', 'silentS'], properties: { agent: str, node: str, silentS: num }, additionalProperties: false }
    },
    excluded: {
      type: 'array',
      items: { type: 'object', required: ['node', 'reason'], properties: { node: str, reason: str }, additionalProperties: false }
    }
  },
  additionalProperties: false
} as const

type ReportJson = FromSchema<typeof reportSchema>
// the schema and the core's type describe the same object: each assignable to the other (a field added to one and
// not the other fails the type check; readonly arrays aside, which FromSchema does not produce)
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
// ...and name the same fields, optional ones too (an optional field only one of them has is still assignable)
type SameKeys<A, B> = Mutual<keyof A, keyof B>
type Item<T> = T extends ReadonlyArray<infer I> ? I : never
const sameShape: [
  Mutual<ReportJson, Report>,
  SameKeys<ReportJson, Report>,
  SameKeys<Item<ReportJson['verdicts']>, Item<Report['verdicts']>>,
  SameKeys<ReportJson['layers']['host'], Report['layers']['host']>,
  SameKeys<NonNullable<ReportJson['service']>, NonNullable<Report['service']>>,
  SameKeys<Item<ReportJson['failingPairs']>, Item<Report['failingPairs']>>
] = [true, true, true, true, true, true]
void sameShape
