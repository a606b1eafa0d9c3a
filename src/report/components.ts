// Pure: the structure of the reachability graph: which members reach each other (directly or through others),
// as groups, and how the traffic between two groups fares in each direction.
import type { Layer } from '../core/record.ts'
import type { Edge, Evidence } from './evidence.ts'

/**
 * One direction between two members, over the layers given: reached (measured now, or only by the source's last word
 * before it fell silent), cut (measured down now, or in the last word), or unknown.
 */
export type Direction = 'reach' | 'reach-last-word' | 'cut' | 'cut-last-word' | 'unknown'

export function direction (e: Evidence, layers: readonly Layer[], source: string, target: string): Direction {
  let d: Direction = 'unknown'
  for (const layer of layers) {
    const edge = e.edges[layer].get(source, target)
    if (edge === undefined) continue
    if (edge.state !== 'down') {
      if (edge.fresh) return 'reach'
      d = 'reach-last-word'
    } else if (edge.fresh) {
      if (d !== 'reach-last-word') d = 'cut'
    } else if (d === 'unknown') d = 'cut-last-word'
  }
  return d
}

const reaches = (d: Direction): boolean => d === 'reach' || d === 'reach-last-word'

/**
 * Two members belong together when one reaches the other now, or, both being silent, one did by its last word; and
 * neither is measured cut from the other now. (A silent member's last word about a member heard now joins nothing:
 * what is measured now about the two of them decides, or a cut-off member would be pulled back into the main group.)
 */
function linked (a: Direction, b: Direction, bothSilent: boolean): boolean {
  if (a === 'cut' || b === 'cut') return false
  return a === 'reach' || b === 'reach' || (bothSilent && (reaches(a) || reaches(b)))
}

/**
 * Groups of members that reach each other (transitively), largest first (ties: by first name). Measurements made now
 * link first; then two silent members' last words may link them, but only outside the largest group that now links:
 * a silent member that the main group reaches now is on its side, and its last word (older than what is measured
 * now) must not pull a member the main group now finds cut back into it (two faults at once: a gossip cut beside a
 * node whose pod network is down).
 */
export function groups (e: Evidence, layers: readonly Layer[], names: readonly string[], togetherMs = 0): string[][] {
  // union-find over member indices, by size with path compression: 40k pairs at 1000 agents, three times a tick
  const index = new Map(names.map((n, i) => [n, i]))
  const parent = Int32Array.from(names.keys())
  const weight = new Int32Array(names.length).fill(1)
  const find = (i: number): number => {
    let r = i
    while (parent[r] !== r) r = parent[r] as number
    for (let x = i; x !== r;) {
      const next = parent[x] as number
      parent[x] = r
      x = next
    }
    return r
  }
  const union = (i: number, j: number): void => {
    const [ri, rj] = [find(i), find(j)]
    if (ri === rj) return
    const [small, large] = (weight[ri] as number) < (weight[rj] as number) ? [ri, rj] : [rj, ri]
    parent[small] = large
    weight[large] = (weight[large] as number) + (weight[small] as number)
  }
  const pairs: Array<{ a: number, b: number, ab: Direction, ba: Direction, bothSilent: boolean }> = []
  // each unordered pair once (no key string built per edge)
  const seen = new Map<number, Set<number>>()
  for (const layer of layers) {
    for (const edge of e.edges[layer].all()) {
      const a = index.get(edge.source)
      const b = index.get(edge.target)
      if (a === undefined || b === undefined) continue
      const [lo, hi] = a < b ? [a, b] : [b, a]
      let his = seen.get(lo)
      if (his === undefined) seen.set(lo, his = new Set())
      if (his.has(hi)) continue
      his.add(hi)
      const bothSilent = e.members.get(edge.source)?.fresh === false && e.members.get(edge.target)?.fresh === false
      pairs.push({ a, b, ab: direction(e, layers, edge.source, edge.target), ba: direction(e, layers, edge.target, edge.source), bothSilent })
    }
  }
  for (const p of pairs) if (linked(p.ab, p.ba, false)) union(p.a, p.b)
  const size = new Map<number, number>()
  for (let i = 0; i < names.length; i++) size.set(find(i), (size.get(find(i)) ?? 0) + 1)
  // the main group must be one that several heard members measure now: an observer hearing nobody (its own gossip or
  // pod network cut) has only its own word, and the silent members' last words are all it has to group them by
  const largest = [...size.entries()].sort((x, y) => y[1] - x[1])[0]?.[0]
  const heardIn = (root: number | undefined): number => names.filter((n, i) => find(i) === root && e.members.get(n)?.fresh === true).length
  const mainRoot = heardIn(largest) >= 2 ? largest : undefined
  for (const p of pairs) {
    if (!p.bothSilent || find(p.a) === mainRoot || find(p.b) === mainRoot) continue
    if (linked(p.ab, p.ba, true)) union(p.a, p.b)
  }
  if (togetherMs > 0) {
    const at = (n: string): number => index.get(n) as number
    linkFellSilentTogether(e, layers, names.filter((_n, i) => find(i) !== mainRoot), togetherMs, (a, b) => find(at(a)) === find(at(b)), (a, b) => { union(at(a), at(b)) })
  }
  const byRoot = new Map<number, string[]>()
  for (const [i, n] of names.entries()) {
    const r = find(i)
    const g = byRoot.get(r)
    if (g === undefined) byRoot.set(r, [n])
    else g.push(n)
  }
  const out = [...byRoot.values()].map(g => g.sort())
  return out.sort((x, y) => y.length - x.length || (x[0] ?? '').localeCompare(y[0] ?? ''))
}

/** Above this many silent members outside the main group, the pairwise pass below is skipped (it is quadratic). */
const MAX_SILENT_PAIRS = 5000

/**
 * Members outside the main group that fell silent within `togetherMs` of each other, with nothing ever measured
 * between them in either direction, were cut off at the same moment: together, whether they reach each other being
 * unknown (an agent restarted just before the cut never measured its neighbour). Members silent at different times,
 * or measured cut from each other, stay apart.
 */
function linkFellSilentTogether (e: Evidence, layers: readonly Layer[], outside: readonly string[], togetherMs: number,
  joined: (a: string, b: string) => boolean, link: (a: string, b: string) => void): void {
  const silent = outside.flatMap(n => { const m = e.members.get(n); return m !== undefined && !m.fresh && !m.self ? [m] : [] })
  if (silent.length < 2 || silent.length > MAX_SILENT_PAIRS) return
  silent.sort((a, b) => a.silentMs - b.silentMs)
  for (let i = 0; i < silent.length; i++) {
    const a = silent[i]
    if (a === undefined) continue
    for (let j = i + 1; j < silent.length; j++) {
      const b = silent[j]
      if (b === undefined || b.silentMs - a.silentMs > togetherMs) break
      if (joined(a.name, b.name)) continue
      if (direction(e, layers, a.name, b.name) === 'unknown' && direction(e, layers, b.name, a.name) === 'unknown') link(a.name, b.name)
    }
  }
}

/** Whether any member of a group is known to reach another of it (measured now, or by a last word). */
export function reachesWithin (e: Evidence, layers: readonly Layer[], group: readonly string[]): boolean {
  const set = new Set(group)
  for (const n of group) {
    for (const layer of layers) for (const edge of e.edges[layer].from(n)) if (set.has(edge.target) && reaches(direction(e, layers, n, edge.target))) return true
  }
  return false
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
