// Pure: each measured pair's recent past, per layer: its settled state (a new state must hold for several
// observations before it counts), its last state changes with their times, and how often it flipped lately.
import { LAYERS, type Layer, type PathResult } from '../core/record.ts'
import type { PathState } from './evidence.ts'
import { codeOf, NO_STATE, PairSlots, stateAt } from './pair-slots.ts'

export interface Transition {
  /** On the observer's monotonic clock. */
  at: number
  /** The observer's wall time then (display only). */
  wallAt: number
  from: PathState | null
  to: PathState
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
  /** Each pair's slot by layer, source and target: found without building a key string (three lookups an edge a tick). */
  private readonly slots: Record<Layer, Map<string, Map<string, number>>> = { host: new Map(), pod: new Map() }
  private readonly s = new PairSlots()
  /** The few pairs with flips in the window, and with more than one state change (by slot). */
  private readonly flips = new Map<number, number[]>()
  private readonly more = new Map<number, Transition[]>()
  private count = 0
  private created = 0

  constructor (o: PairHistoryOptions) {
    this.o = o
  }

  private slot (layer: Layer, source: string, target: string): number | undefined { return this.slots[layer].get(source)?.get(target) }

  /** Every pair, with its layer, source, target and slot (in that order of nesting). */
  private each (fn: (layer: Layer, source: string, target: string, i: number) => void): void {
    // (forEach: a for-of over a Map's entries allocates an array an entry, 40k a tick at 1000 agents)
    for (const layer of LAYERS) this.slots[layer].forEach((targets, source) => { targets.forEach((i, target) => { fn(layer, source, target, i) }) })
  }

  private transitionCount (i: number): number {
    return this.more.get(i)?.length ?? (this.s.firstTo[i] === NO_STATE ? 0 : 1)
  }

  /** A pair's state changes, oldest first (a new list). */
  private transitionsOf (i: number): Transition[] {
    const more = this.more.get(i)
    if (more !== undefined) return [...more]
    const to = stateAt(this.s.firstTo[i] as number)
    return to === null ? [] : [{ at: this.s.firstAt[i] as number, wallAt: this.s.firstWallAt[i] as number, from: stateAt(this.s.firstFrom[i] as number), to }]
  }

  private addTransition (i: number, t: Transition): void {
    const all = [...this.transitionsOf(i), t]
    const kept = all.length > this.o.keep ? all.slice(all.length - this.o.keep) : all
    const only = kept.length === 1 ? kept[0] : undefined
    this.s.firstTo[i] = codeOf(only?.to ?? null)
    if (only !== undefined) {
      this.s.firstAt[i] = only.at
      this.s.firstWallAt[i] = only.wallAt
      this.s.firstFrom[i] = codeOf(only.from)
    }
    if (kept.length > 1) this.more.set(i, kept)
    else this.more.delete(i)
  }

  /** Flips within the window that ends now. */
  private flipsSince (i: number, now: number): number {
    return this.flips.get(i)?.filter(at => at >= now - this.o.flapWindowMs).length ?? 0
  }

  /**
   * Records one observation of a pair (its state and, when echoes were sent, the share lost); returns its settled
   * state (null: not settled yet).
   */
  observe (layer: Layer, source: string, target: string, state: PathState, now: number, wallNow: number, loss: number | null = null, result?: PathResult): PathState | null {
    let targets = this.slots[layer].get(source)
    if (targets === undefined) this.slots[layer].set(source, targets = new Map())
    let i = targets.get(target)
    const s = this.s
    if (i === undefined) {
      i = s.alloc(state, now, this.created++)
      targets.set(target, i)
      this.count++
    }
    if (result !== undefined) s.results[i] = result
    const latest = stateAt(s.latest[i] as number) as PathState
    if (classOf(state) === classOf(latest)) s.run[i] = (s.run[i] as number) + 1
    else {
      if (reachedState(state) !== reachedState(latest)) {
        const f = this.flips.get(i)
        if (f === undefined) this.flips.set(i, [now])
        else f.push(now)
      }
      s.run[i] = 1
    }
    s.latest[i] = codeOf(state)
    s.lastSeen[i] = now
    // a path that is down loses everything by definition: its loss is not averaged in
    if (loss !== null && state !== 'down') {
      const old = s.loss[i] as number
      s.loss[i] = Number.isNaN(old) ? loss : old + LOSS_WEIGHT * (loss - old)
    }
    const flips = this.flips.get(i)
    if (flips !== undefined && (flips[0] as number) < now - this.o.flapWindowMs) {
      const kept = flips.filter(at => at >= now - this.o.flapWindowMs)
      if (kept.length === 0) this.flips.delete(i)
      else this.flips.set(i, kept)
    }
    const settled = stateAt(s.settled[i] as number)
    if (settled !== null && classOf(settled) === classOf(state)) {
      s.settled[i] = codeOf(state)
    } else if ((s.run[i] as number) >= this.o.confirm) {
      this.addTransition(i, { at: now, wallAt: wallNow, from: settled, to: state })
      if (settled !== null) { this.changes[layer]++; this.o.onChange?.(layer) }
      s.settled[i] = codeOf(state)
    }
    return stateAt(s.settled[i] as number)
  }

  /** A pair's smoothed loss of echoes (null when never measured with echoes). */
  loss (layer: Layer, source: string, target: string): number | null {
    const i = this.slot(layer, source, target)
    const loss = i === undefined ? NaN : this.s.loss[i] as number
    return Number.isNaN(loss) ? null : loss
  }

  /** The settled state of a pair, if any (no observation made). */
  settled (layer: Layer, source: string, target: string): PathState | null {
    const i = this.slot(layer, source, target)
    return i === undefined ? null : stateAt(this.s.settled[i] as number)
  }

  /** Pairs flipping at least flapMin times within the window that ends now. */
  flapping (now: number): Array<{ layer: Layer, source: string, target: string, transitions: number }> {
    const out: Array<{ layer: Layer, source: string, target: string, transitions: number, seq: number }> = []
    if (this.flips.size === 0) return out
    this.each((layer, source, target, i) => {
      if ((this.flips.get(i)?.length ?? 0) < this.o.flapMin) return
      const n = this.flipsSince(i, now)
      if (n >= this.o.flapMin) out.push({ layer, source, target, transitions: n, seq: this.s.seq[i] as number })
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
    const s = this.s
    for (const layer of LAYERS) {
      for (const source of sources) {
        const list: Array<{ target: string, state: PathState, result: PathResult }> = []
        this.slots[layer].get(source)?.forEach((i, target) => {
          // the settled state, or the one seen last when none had settled yet (it only groups, it never blames)
          const result = s.results[i]
          const state = stateAt(s.settled[i] as number) ?? stateAt(s.latest[i] as number)
          if (result !== undefined && state !== null && (s.lastSeen[i] as number) < before) list.push({ target, state, result })
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
      const sources = this.slots[layer]
      sources.forEach((targets, source) => {
        targets.forEach((i, target) => {
          const unseen = now - (this.s.lastSeen[i] as number)
          if (unseen > this.o.forgetMs || (unseen > quietMs && this.transitionCount(i) <= 1 && !this.flips.has(i))) {
            targets.delete(target)
            this.flips.delete(i)
            this.more.delete(i)
            this.s.release(i)
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
    const s = this.s
    this.each((layer, source, target, i) => {
      if ((filter.layer !== undefined && layer !== filter.layer) || (filter.source !== undefined && source !== filter.source) ||
        (filter.target !== undefined && target !== filter.target)) return
      const flips = this.flipsSince(i, now)
      if (this.transitionCount(i) <= 1 && flips === 0 && filter.source === undefined) return
      out.push({ layer, source, target, state: stateAt(s.settled[i] as number), latest: stateAt(s.latest[i] as number) as PathState, flips, transitions: this.transitionsOf(i), seq: s.seq[i] as number })
    })
    const last = (p: PairSummary): number => p.transitions[p.transitions.length - 1]?.at ?? -Infinity
    return out.sort((a, b) => last(b) - last(a) || a.seq - b.seq).map(({ seq: _seq, ...p }) => p)
  }
}
