// Pure: GET /api/v1/history's answer from the reachability model's pair summaries (bounded, most recent change first).
import type { PairSummary } from '../report/pair-history.ts'

const MAX_PAIRS = 200

export function historyAnswer (pairs: PairSummary[], now: number, windowMs: number, flapMin: number): unknown {
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
