// Pure: each measured pair's recent past, per layer: its settled state (a new state must hold for several
// observations before it counts), its last state changes with their times, and how often it flipped lately.
import { LAYERS, type Layer, type PathResult } from '../core/record.ts'
import type { PathState } from './evidence.ts'

export interface Transition {
  /** On the observer's monotonic clock. */
  at: number
  /** The observer's wall time then (display only). */
  wallAt: number
  from: PathState | null
  to: PathState
}

interface Track {
  /** The settled state (null until one has held long enough). */
  settled: PathState | null
  /** The latest observed state, and for how many observations in a row its class has held. */
  latest: PathState
  run: number
  /** Loss of ICMP echoes, smoothed over observations (exponentially weighted; null before one with echoes). */
  loss: number | null
  /**
   * When the pair last went between reached and down (raw observations), within the flap window; and its last state
   * changes. Both are replaced, never grown in place, so that each holds exactly its entries: at 1000 agents there are
   * some 50k tracks, most with no flip and one change, and an array grown by push keeps room for 16.
   */
  flips: readonly number[]
  transitions: readonly Transition[]
  lastSeen: number
  /** The last measurement seen of the pair (kept so its last known state can stand in when a record drops it). */
  result: PathResult | undefined
  /** When it was first tracked (a counter): lists of pairs come in this order, whatever the nesting of the table. */
  seq: number
}

export interface PairHistoryOptions {
  /** Observations in a row a new state needs before it is settled (hysteresis). */
  confirm: number
  /** The window flips are counted over, in ms. */
  flapWindowMs: number
  /** Flips within the window that make a pair flapping. */
  flapMin: number
  /** State changes kept per pair. */
  keep: number
  /** A pair not observed for this long is forgotten. */
  forgetMs: number
  /**
   * A quiet pair (no state change since it first settled, no flip in the window) not observed for this long is
   * forgotten (default forgetMs). In a sampled cluster every sample rotation leaves its pairs behind: at 1000
   * agents, forgetMs over all of them held ~7x the pairs measured now, most of the model's memory and tick time.
   */
  quietForgetMs?: number
  /** Counts each settled state change as it happens (the metrics). */
  onChange?: (layer: Layer) => void
}

export interface PairSummary {
  layer: Layer
  source: string
  target: string
  state: PathState | null
  latest: PathState
  flips: number
  transitions: Transition[]
}

const reachedState = (s: PathState): boolean => s !== 'down'

/** The list every track starts with (shared: a list is replaced, never changed). */
const NONE: readonly never[] = Object.freeze([])

/**
 * What hysteresis is about: down, reached with the port closed, or open (answered, with or without loss). A change
 * of class must hold for `confirm` observations; within a class the latest state is taken at once (a lossy path's
 * rounds go between up and lossy, which is its steady state, not news).
 */
const classOf = (s: PathState): 'down' | 'closed' | 'open' => s === 'down' ? 'down' : s === 'closed' ? 'closed' : 'open'

/** Weight of the newest observation in the smoothed loss. */
const LOSS_WEIGHT = 0.3

export class PairHistory {
  readonly o: PairHistoryOptions
  /** Settled state changes seen, per layer (for /metrics). */
  readonly changes: Record<Layer, number> = { host: 0, pod: 0 }
  /** Tracks by layer, source and target: found without building a key string (three lookups an edge a tick). */
  private readonly tracks: Record<Layer, Map<string, Map<string, Track>>> = { host: new Map(), pod: new Map() }
  private count = 0
  private created = 0

  constructor (o: PairHistoryOptions) {
    this.o = o
  }

  private track (layer: Layer, source: string, target: string): Track | undefined { return this.tracks[layer].get(source)?.get(target) }

  /** Every track, with its layer, source and target (in that order of nesting). */
  private each (fn: (layer: Layer, source: string, target: string, t: Track) => void): void {
    // (forEach: a for-of over a Map's entries allocates an array an entry, 40k a tick at 1000 agents)
    for (const layer of LAYERS) this.tracks[layer].forEach((targets, source) => { targets.forEach((t, target) => { fn(layer, source, target, t) }) })
  }

  /**
   * Records one observation of a pair (its state and, when echoes were sent, the share lost); returns its settled
   * state (null: not settled yet).
   */
  observe (layer: Layer, source: string, target: string, state: PathState, now: number, wallNow: number, loss: number | null = null, result?: PathResult): PathState | null {
    let targets = this.tracks[layer].get(source)
    if (targets === undefined) this.tracks[layer].set(source, targets = new Map())
    let t = targets.get(target)
    if (t === undefined) {
      // (every field set here, result too, so that all tracks share one shape with no out-of-object properties)
      t = { settled: null, latest: state, run: 0, loss: null, flips: NONE, transitions: NONE, lastSeen: now, result: undefined, seq: this.created++ }
      targets.set(target, t)
      this.count++
    }
    if (result !== undefined) t.result = result
    if (classOf(state) === classOf(t.latest)) t.run++
    else {
      if (reachedState(state) !== reachedState(t.latest)) t.flips = [...t.flips, now]
      t.run = 1
    }
    t.latest = state
    t.lastSeen = now
    // a path that is down loses everything by definition: its loss is not averaged in
    if (loss !== null && state !== 'down') t.loss = t.loss === null ? loss : t.loss + LOSS_WEIGHT * (loss - t.loss)
    if (t.flips.length > 0 && (t.flips[0] as number) < now - this.o.flapWindowMs) {
      const since = now - this.o.flapWindowMs
      t.flips = t.flips.some(at => at >= since) ? t.flips.filter(at => at >= since) : NONE
    }
    if (t.settled !== null && classOf(t.settled) === classOf(state)) {
      t.settled = state
    } else if (t.run >= this.o.confirm) {
      const next = [...t.transitions, { at: now, wallAt: wallNow, from: t.settled, to: state }]
      t.transitions = next.length > this.o.keep ? next.slice(next.length - this.o.keep) : next
      if (t.settled !== null) { this.changes[layer]++; this.o.onChange?.(layer) }
      t.settled = state
    }
    return t.settled
  }

  /** A pair's smoothed loss of echoes (null when never measured with echoes). */
  loss (layer: Layer, source: string, target: string): number | null {
    return this.track(layer, source, target)?.loss ?? null
  }

  /** The settled state of a pair, if any (no observation made). */
  settled (layer: Layer, source: string, target: string): PathState | null {
    return this.track(layer, source, target)?.settled ?? null
  }

  /** Pairs flipping at least flapMin times within the window that ends now. */
  flapping (now: number): Array<{ layer: Layer, source: string, target: string, transitions: number }> {
    const out: Array<{ layer: Layer, source: string, target: string, transitions: number, seq: number }> = []
    this.each((layer, source, target, t) => {
      if (t.flips.length < this.o.flapMin) return
      const n = t.flips.filter(at => at >= now - this.o.flapWindowMs).length
      if (n >= this.o.flapMin) out.push({ layer, source, target, transitions: n, seq: t.seq })
    })
    return out.sort((a, b) => a.seq - b.seq).map(({ seq: _seq, ...f }) => f)
  }

  /**
   * Pairs out of `sources` with a last measurement that were not observed since `before`, by `${layer}|${source}`:
   * what was last known of pairs a source's latest record no longer carries (a target that left and came back, say).
   */
  remembered (before: number, sources: ReadonlySet<string>): Map<string, Array<{ target: string, state: PathState, result: PathResult }>> {
    const out = new Map<string, Array<{ target: string, state: PathState, result: PathResult }>>()
    if (sources.size === 0) return out
    for (const layer of LAYERS) {
      for (const source of sources) {
        const list: Array<{ target: string, state: PathState, result: PathResult }> = []
        this.tracks[layer].get(source)?.forEach((t, target) => {
          // the settled state, or the one seen last when none had settled yet (it only groups, it never blames)
          if (t.result !== undefined && t.lastSeen < before) list.push({ target, state: t.settled ?? t.latest, result: t.result })
        })
        if (list.length > 0) out.set(`${layer}|${source}`, list)
      }
    }
    return out
  }

  /** Forgets pairs not observed for forgetMs, and quiet ones not observed for quietForgetMs. */
  prune (now: number): void {
    const quietMs = Math.min(this.o.quietForgetMs ?? this.o.forgetMs, this.o.forgetMs)
    for (const layer of LAYERS) {
      const sources = this.tracks[layer]
      sources.forEach((targets, source) => {
        targets.forEach((t, target) => {
          const unseen = now - t.lastSeen
          if (unseen > this.o.forgetMs || (unseen > quietMs && t.transitions.length <= 1 && t.flips.length === 0)) {
            targets.delete(target)
            this.count--
          }
        })
        if (targets.size === 0) sources.delete(source)
      })
    }
  }

  get size (): number { return this.count }

  /** Every pair with at least one state change (or only those matching the filter), most recent change first. */
  summaries (now: number, filter: { layer?: Layer, source?: string, target?: string } = {}): PairSummary[] {
    const out: Array<PairSummary & { seq: number }> = []
    this.each((layer, source, target, t) => {
      if ((filter.layer !== undefined && layer !== filter.layer) || (filter.source !== undefined && source !== filter.source) ||
        (filter.target !== undefined && target !== filter.target)) return
      const flips = t.flips.filter(at => at >= now - this.o.flapWindowMs).length
      if (t.transitions.length <= 1 && flips === 0 && filter.source === undefined) return
      out.push({ layer, source, target, state: t.settled, latest: t.latest, flips, transitions: [...t.transitions], seq: t.seq })
    })
    const last = (s: PairSummary): number => s.transitions[s.transitions.length - 1]?.at ?? -Infinity
    return out.sort((a, b) => last(b) - last(a) || a.seq - b.seq).map(({ seq: _seq, ...p }) => p)
  }
}
