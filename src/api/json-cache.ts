// JSON of the pair-map routes built from cached rows. Over a 100-agent view /api/v1/results is ~5 MB, and
// projecting and serialising it whole for every request made it 10x slower than sending the same bytes. Each row
// (one source's results) is serialised by the serializer Fastify compiles from the route's own schema and kept until
// its results change, so a request re-serialises only the rows that changed and sends exactly the bytes Fastify's
// serialisation of the whole answer would (fast-json-stringify writes an object as `{"key":value,...}`, properties
// in schema order, undefined ones left out, extra keys of additionalProperties as asString(key):value).
import type { FastifyReply } from 'fastify'
import type { Layer } from '../core/record.ts'
import { pairRowSources, type ViewSnapshot } from './projection.ts'

interface ObjectSchema { properties?: Record<string, object>, additionalProperties?: object | boolean }

const STRING_SCHEMA = { type: 'string' } as const

/** JSON as UTF-8 pieces, in order (joined once, when the answer is complete). */
export type JsonPieces = Buffer[]

/** What a route's `json` answer builds its body with (bound to one request's reply). */
export interface JsonOut {
  /**
   * An object of `schema`: each property from `raw` (already JSON) or else serialised from `values` by the property's
   * schema; properties absent from both are left out, as Fastify's serializer does with undefined ones.
   */
  object: (schema: object, values: Record<string, unknown>, raw?: Record<string, JsonPieces>) => JsonPieces
  /** A pair map (source IP -> target IP -> result) of the view, `schema` being the map's schema. */
  pairMap: (schema: object, view: ViewSnapshot, layer: Layer) => JsonPieces
}

const OPEN = Buffer.from('{')
const COMMA = Buffer.from(',')
const COLON = Buffer.from(':')
const CLOSE = Buffer.from('}')
const EMPTY = Buffer.from('{}')

/**
 * A string's UTF-8 in a buffer of its own. Buffer.from puts small strings in 8 KB slabs it shares: a kept row would
 * hold its whole slab, and the rows replaced beside it, until it is replaced too.
 */
function ownBytes (s: string): Buffer {
  const b = Buffer.allocUnsafeSlow(Buffer.byteLength(s))
  b.write(s)
  return b
}

/**
 * Rows are kept as bytes: a serializer's string is a rope of thousands of pieces, and walking it again for every
 * request (to measure and encode it) cost more than all the rest; copying bytes is cheap.
 */
export class JsonCache {
  /** Per projected object, per source (an agent on a dual-stack cluster has a row per family): its row's bytes. */
  private readonly rows = new WeakMap<object, Map<string, { version: number, json: Buffer }>>()

  out (reply: FastifyReply): JsonOut {
    const serializer = (schema: object): ((v: unknown) => string) => {
      const fn = reply.compileSerializationSchema(schema as Record<string, unknown>)
      return v => fn(v as Record<string, unknown>)
    }
    return {
      object: (schema, values, raw = {}) => {
        const props = (schema as ObjectSchema).properties ?? {}
        const parts: JsonPieces = []
        for (const [key, sub] of Object.entries(props)) {
          const part = raw[key] ?? (values[key] === undefined ? undefined : [Buffer.from(serializer(sub)(values[key]))])
          if (part === undefined) continue
          parts.push(parts.length === 0 ? OPEN : COMMA, Buffer.from(JSON.stringify(key) + ':'), ...part)
        }
        if (parts.length === 0) return [EMPTY]
        parts.push(CLOSE)
        return parts
      },
      pairMap: (schema, view, layer) => {
        const rowSchema = (schema as ObjectSchema).additionalProperties
        if (typeof rowSchema !== 'object') throw new Error('a pair map schema has an object schema for its rows')
        const row = serializer(rowSchema)
        const key = serializer(STRING_SCHEMA)
        // the same insertion order as the projected object (a later row for a source keeps the earlier one's place)
        const rows: Record<string, Buffer> = {}
        for (const s of pairRowSources(view, layer)) {
          let held = this.rows.get(s.from)
          if (held === undefined) this.rows.set(s.from, held = new Map())
          const hit = held.get(s.source)
          if (hit !== undefined && hit.version === s.version) {
            rows[s.source] = hit.json
          } else {
            const json = ownBytes(row(s.row()))
            held.set(s.source, { version: s.version, json })
            rows[s.source] = json
          }
        }
        const parts: JsonPieces = []
        for (const source of Object.keys(rows)) parts.push(parts.length === 0 ? OPEN : COMMA, Buffer.from(key(source)), COLON, rows[source] as Buffer)
        if (parts.length === 0) return [EMPTY]
        parts.push(CLOSE)
        return parts
      }
    }
  }
}
