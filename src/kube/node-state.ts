// Pure: whether Kubernetes has set a Node aside (cordoned or draining, not ready, being removed), read from the few
// fields of a Node object that say so; everything else in the object is ignored.
import type { ExcludedNode } from '../core/record.ts'
import { numericOrder } from '../shared/numeric-order.ts'

/** The taint the cluster autoscaler puts on a node it is about to remove. */
export const AUTOSCALER_TAINT = 'ToBeDeletedByClusterAutoscaler'

type Obj = Record<string, unknown>
const objOf = (v: unknown): Obj | null => typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Obj : null
const listOf = (v: unknown): Obj[] => Array.isArray(v) ? v.map(objOf).filter((x): x is Obj => x !== null) : []
const text = (v: unknown, max = 80): string => typeof v === 'string' ? v.slice(0, max) : ''

/** A Node object's name and resourceVersion, or null when it has none (not a Node). */
export function nodeMeta (node: unknown): { name: string, resourceVersion: string } | null {
  const meta = objOf(objOf(node)?.metadata)
  const name = text(meta?.name, 253)
  return name === '' ? null : { name, resourceVersion: text(meta?.resourceVersion, 64) }
}

/**
 * Why a node is set aside, or null when it is in service. In order: being deleted, being removed by the autoscaler,
 * not ready (its Ready condition False or Unknown: the kubelet stopped reporting), cordoned (spec.unschedulable,
 * which `kubectl drain` sets first).
 */
export function exclusionOf (node: unknown): string | null {
  const o = objOf(node)
  if (o === null) return null
  const meta = objOf(o.metadata)
  if (text(meta?.deletionTimestamp) !== '') return 'being deleted'
  const spec = objOf(o.spec)
  if (listOf(spec?.taints).some(t => t.key === AUTOSCALER_TAINT)) return 'being removed by the cluster autoscaler'
  const ready = listOf(objOf(o.status)?.conditions).find(c => c.type === 'Ready')
  if (ready !== undefined && ready.status !== 'True') {
    const why = text(ready.reason)
    return `not ready${why === '' ? '' : `: ${why}`}`
  }
  if (spec?.unschedulable === true) return 'cordoned'
  return null
}

/** The excluded nodes of a set of Node objects held by name, sorted by name. */
export function excludedNodes (reasons: ReadonlyMap<string, string>): ExcludedNode[] {
  return [...reasons].map(([node, reason]) => ({ node, reason })).sort((a, b) => numericOrder(a.node, b.node))
}
