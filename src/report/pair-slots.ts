// Pure: the fields of every tracked pair in columns (typed arrays, a slot a pair), grown by doubling, slots reused.
import type { PathResult } from '../core/record.ts'
import type { PathState } from './evidence.ts'

/** States as small numbers (NO_STATE: none). */
const STATES: readonly PathState[] = ['up', 'lossy', 'closed', 'down']
export const NO_STATE = -1
const CODES: Readonly<Record<PathState, number>> = { up: 0, lossy: 1, closed: 2, down: 3 }
export const codeOf = (s: PathState | null): number => s === null ? NO_STATE : CODES[s]
export const stateAt = (code: number): PathState | null => STATES[code] ?? null

const FIRST_CAPACITY = 256

/**
 * At 1000 agents some 50k pairs are tracked: as objects they took ~550 B each, and 6 heap objects for every full
 * collection to mark; in columns ~50 B (150-200 B with the index's entry and the last result) and none.
 */
export class PairSlots {
  /** The settled state and the latest observed one (codes). */
  settled = new Int8Array(FIRST_CAPACITY)
  latest = new Int8Array(FIRST_CAPACITY)
  /** Observations in a row the latest state's class has held. */
  run = new Int32Array(FIRST_CAPACITY)
  /** Smoothed loss of echoes (NaN: never measured with echoes). */
  loss = new Float64Array(FIRST_CAPACITY)
  /** When last observed (the observer's monotonic clock), and the order pairs were first tracked in. */
  lastSeen = new Float64Array(FIRST_CAPACITY)
  seq = new Float64Array(FIRST_CAPACITY)
  /** The pair's one state change while it has only one (firstTo NO_STATE: none); more are kept apart. */
  firstAt = new Float64Array(FIRST_CAPACITY)
  firstWallAt = new Float64Array(FIRST_CAPACITY)
  firstFrom = new Int8Array(FIRST_CAPACITY)
  firstTo = new Int8Array(FIRST_CAPACITY)
  /** The last measurement seen of each pair. */
  readonly results: Array<PathResult | undefined> = []
  private used = 0
  private readonly free: number[] = []

  /** A slot for a new pair, its fields reset. */
  alloc (latest: PathState, now: number, seq: number): number {
    const i = this.free.pop() ?? this.used++
    if (i >= this.settled.length) this.grow()
    this.settled[i] = NO_STATE
    this.latest[i] = codeOf(latest)
    this.run[i] = 0
    this.loss[i] = NaN
    this.lastSeen[i] = now
    this.seq[i] = seq
    this.firstTo[i] = NO_STATE
    this.firstFrom[i] = NO_STATE
    this.results[i] = undefined
    return i
  }

  /** Gives a slot back (its measurement let go). */
  release (i: number): void {
    this.results[i] = undefined
    this.free.push(i)
  }

  private grow (): void {
    const n = this.settled.length * 2
    const wider = <T extends Int8Array | Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (length: number) => T)(n)
      b.set(a)
      return b
    }
    this.settled = wider(this.settled)
    this.latest = wider(this.latest)
    this.run = wider(this.run)
    this.loss = wider(this.loss)
    this.lastSeen = wider(this.lastSeen)
    this.seq = wider(this.seq)
    this.firstAt = wider(this.firstAt)
    this.firstWallAt = wider(this.firstWallAt)
    this.firstFrom = wider(this.firstFrom)
    this.firstTo = wider(this.firstTo)
  }
}
