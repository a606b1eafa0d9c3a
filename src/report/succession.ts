// Pure: one agent per node (a DaemonSet): a silent record that a later-heard one on the same node outlived is its
// predecessor (a pod replaced by a rollout or a restart whose goodbye was lost), not a member to judge.
import type { AgentRecord } from '../core/record.ts'

export interface HeardRecord { record: AgentRecord, silentMs: number }

/**
 * The pod names of predecessors: records silent for longer than `freshMs` on a node where another record was heard
 * more recently. The observer (`self`) counts as heard now and is never a predecessor.
 */
export function predecessorsOf (agents: Iterable<HeardRecord>, self: string | null, freshMs: number): Set<string> {
  // per pod (a name can be both live and lost): when it was last heard, and on which node
  const pods = new Map<string, { node: string, silentMs: number }>()
  for (const a of agents) {
    const name = a.record.identity.podName
    const silentMs = name === self ? 0 : a.silentMs
    const held = pods.get(name)
    if (held === undefined || silentMs < held.silentMs) pods.set(name, { node: a.record.identity.nodeName, silentMs })
  }
  const newest = new Map<string, number>()
  for (const p of pods.values()) newest.set(p.node, Math.min(p.silentMs, newest.get(p.node) ?? Infinity))
  const out = new Set<string>()
  for (const [name, p] of pods) if (p.silentMs > freshMs && p.silentMs > (newest.get(p.node) ?? p.silentMs)) out.add(name)
  return out
}
