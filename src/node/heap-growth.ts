// Bounds how far V8 lets its heap grow between full collections while the view is large, and lifts the bound below.

export interface HeapGrowthOptions {
  /** How far the heap may grow past what survived the last full collection, in % (0: never bound, V8 decides). */
  percent: number
  /** Bound the growth while the view holds more than this many origins (agents and legacy clients). */
  above: number
  /** Sets V8 flags at run time (v8.setFlagsFromString; passed in, so that tests see what would be set). */
  setFlags: (flags: string) => void
  /** Told when the bound is set or lifted. */
  onChange?: (bounded: boolean, origins: number) => void
}

/** The view must shrink below this share of `above` before the bound is lifted (no flapping around the threshold). */
const LIFT_BELOW = 0.8

/**
 * Why: V8 keeps the pages of its heap's highest point for reuse (they stay resident), and under a large cluster's
 * message churn it lets the heap grow to 2-4 times what survives a full collection before the next one. An agent fed
 * a 1000-agent cluster's stream held 296 MB so; with the growth bounded to 20 %, 161 MB (bench/notes/log/stream-1000.md).
 * In a small cluster the bound buys nothing and costs memory: V8's memory reducer, which returns the pooled pages while
 * the agent is quiet, ran less often, and agents at N=10 held 7 MB more. The bound holds from the start until the view
 * is known: a joining agent decodes the whole view at once, the heap's highest point if V8 is left to size it.
 */
export class HeapGrowth {
  private readonly o: HeapGrowthOptions
  private on = false

  constructor (o: HeapGrowthOptions) {
    if (!Number.isInteger(o.percent) || o.percent < 0) throw new RangeError(`heap growth percent must be a whole number >= 0, not ${o.percent}`)
    this.o = o
  }

  /** Whether the bound is set now. */
  get bounded (): boolean { return this.on }

  /** Sets the bound until the view is known (the join: a whole view decoded at once). */
  start (): void {
    if (this.o.percent === 0 || this.on) return
    this.on = true
    this.o.setFlags(`--heap-growing-percent=${this.o.percent}`)
  }

  /** Called with the view's size once it is known (every second): sets or lifts the bound as it crosses the threshold. */
  update (origins: number): void {
    if (this.o.percent === 0) return
    const want = this.on ? origins >= this.o.above * LIFT_BELOW : origins > this.o.above
    if (want === this.on) return
    this.on = want
    // V8 reads the flag each time it sets the next collection's limit; 0 is its default (its own heuristics)
    this.o.setFlags(`--heap-growing-percent=${want ? this.o.percent : 0}`)
    this.o.onChange?.(want, origins)
  }
}
