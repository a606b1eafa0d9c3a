// How a probe round's results are gossiped: every round in a small cluster, a held sample's changes in a large one.
import type { ResultsUpdate } from '../core/self-record.ts'
import type { RoundResult } from './round.ts'
import type { RoundPlan } from './targets.ts'

/** Where results go: the gossip mesh (passed in by the composition root), or anything that takes them. */
export interface ResultsSink { updateResults: (u: ResultsUpdate, keptMs?: number) => void }

/** PROBE_SAMPLE_HOLD and PROBE_INTERVAL, as the configuration holds them. */
export interface SampleTiming { probeSampleHold: number, probeIntervalS: number }

/** How long a sampled agent's results stand before its next sample replaces them (one round of slack). */
export const sampleKeptMs = (c: SampleTiming): number => (c.probeSampleHold + 1) * c.probeIntervalS * 1000

/**
 * Gossips a probe round's results. A sample is kept PROBE_SAMPLE_HOLD rounds: peers hear its changes of outcome or
 * loss at once, its times with the next sample, which comes within (hold + 1) rounds.
 */
export function publishRound (mesh: ResultsSink, r: RoundResult, plan: RoundPlan, c: SampleTiming): void {
  if (!plan.sampled) mesh.updateResults({ host: r.host, pod: r.pod, service: r.service })
  else mesh.updateResults({ host: r.host, pod: r.pod, service: r.service, coarse: true }, sampleKeptMs(c))
}
