// Pure: the nodes Kubernetes has set aside, as the Lease holder's record says (its watch of the Node objects), and
// what that means for judging: agents on those nodes, and pairs with them, are not judged.
import type { AgentRecord, ExcludedNode } from '../core/record.ts'
import { numericOrder } from '../shared/numeric-order.ts'

/** Node name -> why it is excluded, from every record that holds the Lease (two, briefly, during a handover). */
export function exclusionsOf (records: Iterable<AgentRecord>): Map<string, string> {
  const out = new Map<string, string>()
  for (const r of records) {
    if (r.leader !== true) continue
    for (const x of r.excluded ?? []) if (!out.has(x.node)) out.set(x.node, x.reason)
  }
  return out
}

/** The excluded nodes as a sorted list. */
export function excludedList (m: ReadonlyMap<string, string>): ExcludedNode[] {
  return [...m].map(([node, reason]) => ({ node, reason })).sort((a, b) => numericOrder(a.node, b.node))
}

/** Whether an agent's record is on an excluded node (and is not the observer itself, which always judges itself). */
export const onExcludedNode = (r: AgentRecord, excluded: ReadonlyMap<string, string>, self: string | null): boolean =>
  excluded.size > 0 && r.identity.podName !== self && excluded.has(r.identity.nodeName)
