// Pure: which agents to probe this round (everyone, or a rotating sample covering each target k times) and coverage.
import { addressesOf, addressIn, familyOf } from '../core/families.ts'
import type { AgentRecord, Identity, Layer } from '../core/record.ts'

/** What the plan needs of a target: an agent's record, or a legacy client's heartbeat seen as one. */
export interface ProbeCandidate { identity: Pick<Identity, 'podName' | 'nodeIp' | 'podIp' | 'secondary'> }

export interface ProbeTarget { ip: string, port: number }
export interface RoundPlan {
  host: ProbeTarget[]
  pod: ProbeTarget[]
  sampled: boolean
  /** Targets outside the sample swept with ICMP alone; one that stopped answering is probed fully (watch.ts). */
  sweep?: { host: ProbeTarget[], pod: ProbeTarget[] }
}

export interface PlanOptions {
  testPort: number
  clientPort: number
  /** Above this many live agents, probe a sample. */
  sampleAbove: number
  /** Probers per target per round when sampling. */
  k: number
  /** Round number shared by all agents (wall-clock interval index); it rotates the sample. */
  round: number
  /** Rounds each sample is kept for (default 1): peers then hear only its changes until the next one. */
  hold?: number
}

/**
 * Offsets (1..n-1) from each agent to the agents it probes in `round`: k consecutive values of a sequence that
 * walks through every offset, so each target is probed by exactly k agents per round (when views agree), never
 * by itself, and every ordered pair is probed within ceil((n-1)/k) rounds.
 */
export function sampleOffsets (n: number, k: number, round: number): number[] {
  const span = n - 1
  const kk = Math.min(k, span)
  const start = ((round % span) * kk) % span
  return Array.from({ length: kk }, (_, m) => 1 + ((start + m) % span))
}

/** The agents (by pod name) that `self` probes this round, chosen from the sorted list of live agents. */
export function chooseAgents (names: string[], self: string, opts: Pick<PlanOptions, 'sampleAbove' | 'k' | 'round'>): string[] {
  const sorted = [...names].sort()
  const others = sorted.filter(n => n !== self)
  if (sorted.length <= opts.sampleAbove || !sorted.includes(self)) return others
  const i = sorted.indexOf(self)
  return sampleOffsets(sorted.length, opts.k, opts.round).map(o => sorted[(i + o) % sorted.length] ?? '')
}

/**
 * Host targets (node IP : TEST_PORT) and pod targets (pod IP : CLIENT_PORT) of the candidates on each layer (what a
 * sweep covers), never self's own IPs. On a dual-stack cluster each family is its own path: a candidate's address of
 * every family this agent has on that layer.
 */
export function allTargets (agents: ProbeCandidate[], self: ProbeCandidate, ports: Pick<PlanOptions, 'testPort' | 'clientPort'>): { host: ProbeTarget[], pod: ProbeTarget[] } {
  const out = { host: new Map<string, ProbeTarget>(), pod: new Map<string, ProbeTarget>() }
  for (const layer of ['host', 'pod'] as const) {
    const own = addressesOf(self.identity, layer)
    const families = own.map(familyOf)
    const port = layer === 'host' ? ports.testPort : ports.clientPort
    for (const a of agents) {
      for (const family of families) {
        const ip = addressIn(a.identity, layer, family)
        if (ip !== undefined && !own.includes(ip)) out[layer].set(ip, { ip, port })
      }
    }
  }
  return { host: [...out.host.values()], pod: [...out.pod.values()] }
}

export function planRound (agents: ProbeCandidate[], self: ProbeCandidate, opts: PlanOptions): RoundPlan {
  const byName = new Map(agents.map(a => [a.identity.podName, a]))
  const chosen = chooseAgents([...byName.keys()], self.identity.podName, { ...opts, round: Math.floor(opts.round / Math.max(1, opts.hold ?? 1)) })
  const picked = chosen.map(name => byName.get(name)).filter(a => a !== undefined)
  return { ...allTargets(picked, self, opts), sampled: chosen.length < byName.size - 1 }
}

export interface Coverage { host: number, pod: number }

/** How many agents currently hold a result for each agent's node IP (host) and pod IP (pod): a gap is visible. */
export function coverage (agents: AgentRecord[]): Map<string, Coverage> {
  // one pass over every record's results (linear in the paths held, not agents x agents): holders by target address
  const holders = { host: new Map<string, number>(), pod: new Map<string, number>() }
  for (const a of agents) {
    for (const layer of ['host', 'pod'] as const) {
      for (const ip of a.results[layer].keys()) holders[layer].set(ip, (holders[layer].get(ip) ?? 0) + 1)
    }
  }
  // an agent's result for its own address is not coverage by another agent
  const count = (layer: Layer, a: AgentRecord, ip: string): number => (holders[layer].get(ip) ?? 0) - (a.results[layer].has(ip) ? 1 : 0)
  return new Map(agents.map(a => [a.identity.podName, { host: count('host', a, a.identity.nodeIp), pod: count('pod', a, a.identity.podIp) }]))
}
