// Ground truth for the verdict simulator: the fault kinds, drawn on distinct nodes, with their culprits.

export const FAULT_KINDS = [
  'node-down', 'partition', 'one-way', 'flapping-node', 'flapping-link', 'pod-network', 'port-closed', 'lossy', 'gossip-cut', 'clock-skew'
] as const
export type FaultKind = typeof FAULT_KINDS[number]

/** Kinds whose culprit agent, when alive, must know where it stands: it names itself (observer: true). */
export const SELF_AWARE_KINDS: readonly FaultKind[] = ['partition', 'gossip-cut', 'pod-network']

/** The verdict kinds that diagnose each fault correctly (as the main side sees it); other kinds naming it only point at it. */
export const EXPECTED_VERDICTS: Record<FaultKind, readonly string[]> = {
  'node-down': ['isolated'],
  partition: ['partition'],
  'one-way': ['one-way'],
  'flapping-node': ['flapping'],
  'flapping-link': ['flapping'],
  'pod-network': ['overlay'],
  'port-closed': ['port-closed'],
  lossy: ['lossy'],
  'gossip-cut': ['gossip-cut'],
  'clock-skew': ['clock-skew']
}

/** Packet loss on paths into a lossy node (per ICMP echo; a TCP connect times out with this squared). */
export const LOSSY_P = 0.3

export interface Fault {
  kind: FaultKind
  /** The agents (1..n) involved: the node, the link's two ends (from, to), or the cut-off group. */
  nodes: number[]
  /** Flapping kinds: per fault round, whether the node or link is down. */
  down?: boolean[]
  /** clock-skew: the node's wall clock minus true time, ms. */
  offsetMs?: number
  /** What a verdict should name: node names, "agent-a -> agent-b", "agent-a <-> agent-b". */
  culprits: string[]
}

export const podName = (i: number): string => `agent-${i}`
export const nodeName = (i: number): string => `node-${i}`

const int = (rng: () => number, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1))

/** Down/up phases of 1-2 rounds each, starting down, covering `rounds` rounds. */
export function flapSchedule (rng: () => number, rounds: number): boolean[] {
  const out: boolean[] = []
  let down = true
  while (out.length < rounds) {
    const len = int(rng, 1, 2)
    for (let k = 0; k < len && out.length < rounds; k++) out.push(down)
    down = !down
  }
  return out
}

/** `count` distinct agents drawn from `free` (removed from it). */
function take (rng: () => number, free: number[], count: number): number[] {
  const out: number[] = []
  for (let k = 0; k < count; k++) {
    const j = Math.floor(rng() * free.length)
    out.push(free[j] as number)
    free.splice(j, 1)
  }
  return out
}

/**
 * One fault of `kind` on agents drawn from `free` (and removed from it, so several faults never share a node).
 * A partition's group has 2..max(2, floor(n/3)) nodes: always the smaller side.
 */
export function drawFault (kind: FaultKind, n: number, rng: () => number, free: number[], rounds: number): Fault {
  switch (kind) {
    case 'partition': {
      const size = Math.min(int(rng, 2, Math.max(2, Math.floor(n / 3))), free.length - 1)
      const group = take(rng, free, size).sort((a, b) => a - b)
      return { kind, nodes: group, culprits: group.map(nodeName) }
    }
    case 'one-way': {
      const [a, b] = take(rng, free, 2) as [number, number]
      return { kind, nodes: [a, b], culprits: [`${podName(a)} -> ${podName(b)}`] }
    }
    case 'flapping-link': {
      const [a, b] = take(rng, free, 2).map(podName).sort() as [string, string]
      const nodes = [a, b].map(p => Number(p.slice('agent-'.length)))
      return { kind, nodes, down: flapSchedule(rng, rounds), culprits: [`${a} <-> ${b}`] }
    }
    case 'flapping-node': {
      const [x] = take(rng, free, 1) as [number]
      return { kind, nodes: [x], down: flapSchedule(rng, rounds), culprits: [nodeName(x)] }
    }
    case 'clock-skew': {
      const [x] = take(rng, free, 1) as [number]
      const offsetMs = (rng() < 0.5 ? -1 : 1) * int(rng, 60, 3600) * 1000
      return { kind, nodes: [x], offsetMs, culprits: [nodeName(x)] }
    }
    default: {
      const [x] = take(rng, free, 1) as [number]
      return { kind, nodes: [x], culprits: [nodeName(x)] }
    }
  }
}

/** The faults of one scenario: `kinds` in order, on distinct nodes of a cluster of n. */
export function drawFaults (kinds: readonly FaultKind[], n: number, rng: () => number, rounds: number): Fault[] {
  const free = Array.from({ length: n }, (_, i) => i + 1)
  return kinds.map(k => drawFault(k, n, rng, free, rounds))
}

/** A fault in a few words, for logs and the results file. */
export function describe (f: Fault): string {
  const extra = f.kind === 'clock-skew' ? ` (${Math.round((f.offsetMs ?? 0) / 1000)} s)` : ''
  return `${f.kind}: ${f.culprits.length > 4 ? `${f.culprits.slice(0, 4).join(', ')}, ... (${f.culprits.length})` : f.culprits.join(', ')}${extra}`
}
