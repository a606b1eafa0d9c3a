// Pure scoring of the verdicts an observer shows in a round against the true culprits, and churn over rounds.
import type { Verdict } from '../../src/report/verdicts.ts'

export type Shown = Pick<Verdict, 'kind' | 'subject' | 'culprits'> & { observer?: boolean }

/**
 * A culprit in the truth's terms. Stale verdicts name a pod ("agent-7") where every other verdict names its node:
 * `nodeOf` maps a bare pod name to its node (the simulator's agent-i runs on node-i); anything else is kept.
 */
export function normalise (culprit: string, nodeOf: (pod: string) => string | undefined = simNodeOf): string {
  return nodeOf(culprit) ?? culprit
}

export function simNodeOf (pod: string): string | undefined {
  const m = /^agent-(\d+)$/.exec(pod)
  return m === null ? undefined : `node-${m[1] ?? ''}`
}

export const verdictKey = (v: { kind: string, subject: string }): string => `${v.kind}|${v.subject}`

export interface RoundScore {
  /** Shown verdicts whose culprits are all true culprits, over those shown (1 when none is shown). */
  precision: number
  /** True culprits named by at least one shown verdict, over all true culprits (1 when there are none). */
  recall: number
  /** Keys of the verdicts naming something not at fault (or nothing at all). */
  falsePositives: string[]
  /** True culprits no verdict names. */
  missed: string[]
}

export function scoreRound (shown: readonly Shown[], truth: readonly string[], nodeOf = simNodeOf): RoundScore {
  const isTrue = new Set(truth)
  const named = new Set<string>()
  const falsePositives: string[] = []
  for (const v of shown) {
    const cs = v.culprits.map(c => normalise(c, nodeOf))
    for (const c of cs) named.add(c)
    if (cs.length === 0 || cs.some(c => !isTrue.has(c))) falsePositives.push(verdictKey(v))
  }
  const missed = [...isTrue].filter(c => !named.has(c))
  return {
    precision: shown.length === 0 ? 1 : (shown.length - falsePositives.length) / shown.length,
    recall: isTrue.size === 0 ? 1 : (isTrue.size - missed.length) / isTrue.size,
    falsePositives,
    missed
  }
}

/** Of `culprits` (one fault's), the fraction some shown verdict names. */
export function namedFraction (shown: readonly Shown[], culprits: readonly string[], nodeOf = simNodeOf): number {
  if (culprits.length === 0) return 1
  const named = new Set(shown.flatMap(v => v.culprits.map(c => normalise(c, nodeOf))))
  return culprits.filter(c => named.has(c)).length / culprits.length
}

/** Whether the observer names itself: a verdict about the observer (observer: true) naming its own node. */
export function namesSelf (shown: readonly Shown[], selfNode: string, nodeOf = simNodeOf): boolean {
  return shown.some(v => v.observer === true && v.culprits.some(c => normalise(c, nodeOf) === selfNode))
}

/** How many times the set of shown verdict keys changed from one round to the next. */
export function churn (rounds: ReadonlyArray<readonly Shown[]>): number {
  let changes = 0
  let last: string | null = null
  for (const shown of rounds) {
    const k = shown.map(verdictKey).sort().join('\n')
    if (last !== null && k !== last) changes++
    last = k
  }
  return changes
}

export const mean = (xs: readonly number[]): number => xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length
