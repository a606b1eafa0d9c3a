// Pure: bounds what a legacy client's full-mesh results post keeps, the way agents sample their own probes at scale.
import type { ExternalBody, LegacyPathResult } from '../core/record.ts'

export interface ThinOptions {
  /** A post of at most this many rows is kept whole (PROBE_SAMPLE_ABOVE: below it, agents probe everyone too). */
  keepAllUpTo: number
  /** Rows that passed kept per post above that (PROBE_COVERAGE), a window rotating with `round`. */
  sample: number
  /** Failing rows kept per post at most (the first by target; the rest are only counted). */
  failingMax: number
  /** The shared sample round (wall-clock probe round over PROBE_SAMPLE_HOLD): it moves the window of passing rows. */
  round: number
}

export interface Thinned {
  body: ExternalBody
  /** Rows the post carried and rows left out. */
  posted: number
  dropped: number
}

/** A row that says something is wrong: the ping got no answer or a port was closed. */
export function legacyRowFails (r: LegacyPathResult): boolean {
  return r.ping === 'unreachable' || Object.values(r.ports).includes('closed')
}

const byTarget = (a: LegacyPathResult, b: LegacyPathResult): number => a.target < b.target ? -1 : a.target > b.target ? 1 : 0

/**
 * A host or pod results body as it is kept: whole up to `keepAllUpTo` rows; above, every failing row (up to
 * `failingMax`, in target order) and a window of `sample` passing rows that walks through all of them over the
 * rounds, so a 5000-node cluster's legacy clients cost every agent what its own sampled probes do. Other bodies
 * pass unchanged.
 */
export function thinLegacyResults (body: ExternalBody, o: ThinOptions): Thinned {
  if (body.part !== 'host' && body.part !== 'pod') return { body, posted: 1, dropped: 0 }
  const posted = body.value.length
  if (posted <= o.keepAllUpTo) return { body, posted, dropped: 0 }
  const failing = body.value.filter(legacyRowFails).sort(byTarget).slice(0, Math.max(0, o.failingMax))
  const passing = body.value.filter(r => !legacyRowFails(r)).sort(byTarget)
  const take = Math.min(Math.max(0, o.sample), passing.length)
  const start = passing.length === 0 ? 0 : ((o.round % passing.length) * take) % passing.length
  const window = Array.from({ length: take }, (_, i) => passing[(start + i) % passing.length] as LegacyPathResult)
  const value = [...failing, ...window].sort(byTarget)
  return { body: { part: body.part, source: body.source, value }, posted, dropped: posted - value.length }
}
