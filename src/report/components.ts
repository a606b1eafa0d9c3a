// Pure: the structure of the reachability graph: which members reach each other (directly or through others),
// as groups, and how the traffic between two groups fares in each direction.
import type { Layer } from '../gossip/record.ts'
import type { Edge, Evidence } from './evidence.ts'

/** One direction between two members, over the layers given: reached, cut (measured down now), or unknown. */
export type Direction = 'reach' | 'cut' | 'cut-last-word' | 'unknown'

export function direction (e: Evidence, layers: readonly Layer[], source: string, target: string): Direction {
  let cut: Direction = 'unknown'
  for (const layer of layers) {
    const edge = e.edges[layer].get(source, target)
    if (edge === undefined) continue
    if (edge.state !== 'down') return 'reach'
    if (edge.fresh) cut = 'cut'
    else if (cut === 'unknown') cut = 'cut-last-word'
  }
  return cut
}

/** Two members belong together when either reaches the other and neither is measured cut from the other now. */
function linked (a: Direction, b: Direction): boolean {
  return (a === 'reach' || b === 'reach') && a !== 'cut' && b !== 'cut'
}

/** Groups of members that reach each other (transitively), largest first (ties: by first name). */
export function groups (e: Evidence, layers: readonly Layer[], names: readonly string[]): string[][] {
  const parent = new Map(names.map(n => [n, n]))
  const find = (n: string): string => {
    let r = n
    while (parent.get(r) !== r) r = parent.get(r) as string
    parent.set(n, r)
    return r
  }
  const inSet = new Set(names)
  const seen = new Set<string>()
  for (const layer of layers) {
    for (const edge of e.edges[layer].all()) {
      const { source: a, target: b } = edge
      if (!inSet.has(a) || !inSet.has(b)) continue
      const k = a < b ? `${a}>${b}` : `${b}>${a}`
      if (seen.has(k)) continue
      seen.add(k)
      if (linked(direction(e, layers, a, b), direction(e, layers, b, a))) parent.set(find(a), find(b))
    }
  }
  const byRoot = new Map<string, string[]>()
  for (const n of names) {
    const r = find(n)
    const g = byRoot.get(r)
    if (g === undefined) byRoot.set(r, [n])
    else g.push(n)
  }
  const out = [...byRoot.values()].map(g => g.sort())
  return out.sort((x, y) => y.length - x.length || (x[0] ?? '').localeCompare(y[0] ?? ''))
}

/** The fresh measurements from one group into another, over the layers given, counted per observer pair. */
export interface Crossing {
  /** Pairs measured now (a pair counts once, down only when no layer reached). */
  measured: number
  down: number
  /** Distinct sources with a down pair, and distinct targets of down pairs. */
  downSources: Set<string>
  downTargets: Set<string>
  examples: Edge[]
}

export function crossing (e: Evidence, layers: readonly Layer[], from: ReadonlySet<string>, to: ReadonlySet<string>): Crossing {
  const c: Crossing = { measured: 0, down: 0, downSources: new Set(), downTargets: new Set(), examples: [] }
  for (const s of from) {
    const targets = new Set<string>()
    for (const layer of layers) {
      for (const edge of e.edges[layer].from(s)) if (edge.fresh && to.has(edge.target)) targets.add(edge.target)
    }
    for (const t of targets) {
      const d = direction(e, layers, s, t)
      c.measured++
      if (d !== 'cut') continue
      c.down++
      c.downSources.add(s)
      c.downTargets.add(t)
      if (c.examples.length < 3) {
        const ex = layers.map(l => e.edges[l].get(s, t)).find(x => x !== undefined)
        if (ex !== undefined) c.examples.push(ex)
      }
    }
  }
  return c
}
