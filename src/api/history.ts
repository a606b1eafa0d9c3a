// GET /api/v1/history: its answer's schema (where its type comes from) and the pure projection of the reachability
// model's pair summaries into it (bounded, most recent change first).
import type { FromSchema } from 'json-schema-to-ts'
import type { PairSummary } from '../report/pair-history.ts'

const MAX_PAIRS = 200

const int = { type: 'integer' } as const
const num = { type: 'number' } as const
const str = { type: 'string' } as const
const state = { type: 'string', enum: ['up', 'lossy', 'closed', 'down'] } as const
const nullableState = { type: ['string', 'null'], enum: ['up', 'lossy', 'closed', 'down', null] } as const

const transitionSchema = {
  type: 'object',
  required: ['at', 'ago_s', 'from', 'to'],
  properties: { at: str, ago_s: num, from: nullableState, to: state },
  additionalProperties: false
} as const

const pairSchema = {
  type: 'object',
  required: ['layer', 'source', 'target', 'state', 'latest', 'flips_in_window', 'flapping', 'transitions'],
  properties: {
    layer: { type: 'string', enum: ['host', 'pod'] },
    source: str,
    target: str,
    /** The settled state (null until the pair has one), and the latest one measured. */
    state: nullableState,
    latest: state,
    flips_in_window: int,
    flapping: { type: 'boolean' },
    transitions: { type: 'array', items: transitionSchema }
  },
  additionalProperties: false
} as const

/** The answer: the window flips are counted over, how many flips make a pair flapping, and the pairs (at most 200 of total). */
export const historySchema = {
  type: 'object',
  required: ['window_s', 'total', 'pairs'],
  properties: { window_s: num, flapping_after: int, total: int, pairs: { type: 'array', items: pairSchema } },
  additionalProperties: false
} as const

export type HistoryAnswer = FromSchema<typeof historySchema>

export function historyAnswer (pairs: PairSummary[], now: number, windowMs: number, flapMin: number): HistoryAnswer {
  return {
    window_s: windowMs / 1000,
    flapping_after: flapMin,
    total: pairs.length,
    pairs: pairs.slice(0, MAX_PAIRS).map(p => ({
      layer: p.layer,
      source: p.source,
      target: p.target,
      state: p.state,
      latest: p.latest,
      flips_in_window: p.flips,
      flapping: p.flips >= flapMin,
      transitions: p.transitions.map(x => ({ at: new Date(x.wallAt).toISOString(), ago_s: Math.round((now - x.at) / 100) / 10, from: x.from, to: x.to }))
    }))
  }
}
