// Pure: verdict hysteresis: a verdict is shown once it has held for several evaluations in a row and stays until
// it has been absent for several, so a fault in transit (peers noticing it one round apart) causes no churn.
import type { Verdict } from './verdicts.ts'

export interface StabiliserOptions {
  /** Evaluations in a row a verdict must hold before it is shown. */
  raise: number
  /** Evaluations in a row a shown verdict must be absent before it is cleared. */
  clear: number
}

interface Held { verdict: Verdict, present: number, absent: number, shown: boolean, since: number }

const keyOf = (v: Verdict): string => `${v.kind}|${v.subject}`

export class VerdictStabiliser {
  private readonly o: StabiliserOptions
  private held = new Map<string, Held>()

  constructor (o: StabiliserOptions) {
    this.o = o
  }

  /** Takes one evaluation's raw verdicts; returns those shown, in the raw order, then the ones clearing. */
  update (raw: readonly Verdict[], now: number): Verdict[] {
    const next = new Map<string, Held>()
    for (const v of raw) {
      const k = keyOf(v)
      if (next.has(k)) continue
      const h = this.held.get(k)
      const present = (h?.present ?? 0) + 1
      next.set(k, { verdict: v, present, absent: 0, shown: (h?.shown ?? false) || present >= this.o.raise, since: h?.since ?? now })
    }
    const clearing: Held[] = []
    for (const [k, h] of this.held) {
      if (next.has(k) || !h.shown) continue
      const absent = h.absent + 1
      if (absent >= this.o.clear) continue
      const kept = { ...h, present: 0, absent }
      next.set(k, kept)
      clearing.push(kept)
    }
    this.held = next
    return [...next.values()].filter(h => h.shown).map(h => h.verdict)
  }

  /** When a shown verdict was first raised (the observer's monotonic clock). */
  since (v: Verdict): number | undefined { return this.held.get(keyOf(v))?.since }
}
