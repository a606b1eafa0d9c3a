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
  // union-find over member indices, by size with path compression: 40k pairs at 1000 agents, three times a tick; the
  // pairs are kept in typed arrays, not as objects (a tick's allocations are what grows V8's heap at 1000)
  const n = names.length
  const index = new Map<string, number>()
  for (let i = 0; i < n; i++) index.set(names[i] as string, i)
  const parent = new Int32Array(n)
  for (let i = 0; i < n; i++) parent[i] = i
  const weight = new Int32Array(n).fill(1)
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
    const ri = find(i)
    const rj = find(j)
    if (ri === rj) return
    const small = (weight[ri] as number) < (weight[rj] as number) ? ri : rj
    const large = small === ri ? rj : ri
    parent[small] = large
    weight[large] = (weight[large] as number) + (weight[small] as number)
  }
  // each unordered pair once (keyed by its two indices, no string built): its members, and how it links
  let capacity = 0
  for (const layer of layers) capacity += e.edges[layer].size
  const first = new Int32Array(capacity)
  const second = new Int32Array(capacity)
  const links = new Uint8Array(capacity)
  const NOW = 1
  const BY_LAST_WORDS = 2
  let count = 0
  const seen = new Set<number>()
  for (const layer of layers) {
    for (const edge of e.edges[layer].all()) {
      const a = index.get(edge.source)
      const b = index.get(edge.target)
      if (a === undefined || b === undefined) continue
      const key = a < b ? a * n + b : b * n + a
      if (seen.has(key)) continue
      seen.add(key)
      const bothSilent = e.members.get(edge.source)?.fresh === false && e.members.get(edge.target)?.fresh === false
      const ab = direction(e, layers, edge.source, edge.target)
      const ba = direction(e, layers, edge.target, edge.source)
      first[count] = a
      second[count] = b
      links[count] = (linked(ab, ba, false) ? NOW : 0) | (bothSilent && linked(ab, ba, true) ? BY_LAST_WORDS : 0)
      count++
    }
  }
  for (let k = 0; k < count; k++) if (((links[k] as number) & NOW) !== 0) union(first[k] as number, second[k] as number)
  const size = new Map<number, number>()
  for (let i = 0; i < n; i++) size.set(find(i), (size.get(find(i)) ?? 0) + 1)
  // the main group must be one that several heard members measure now: an observer hearing nobody (its own gossip or
  // pod network cut) has only its own word, and the silent members' last words are all it has to group them by
  const largest = [...size.entries()].sort((x, y) => y[1] - x[1])[0]?.[0]
  const heardIn = (root: number | undefined): number => names.filter((m, i) => find(i) === root && e.members.get(m)?.fresh === true).length
  const mainRoot = heardIn(largest) >= 2 ? largest : undefined
  for (let k = 0; k < count; k++) {
    const a = first[k] as number
    const b = second[k] as number
    if (((links[k] as number) & BY_LAST_WORDS) === 0 || find(a) === mainRoot || find(b) === mainRoot) continue
    union(a, b)
  }
  if (togetherMs > 0) {
    const at = (m: string): number => index.get(m) as number
    linkFellSilentTogether(e, layers, names.filter((_m, i) => find(i) !== mainRoot), togetherMs, (a, b) => find(at(a)) === find(at(b)), (a, b) => { union(at(a), at(b)) })
  }
  const byRoot = new Map<number, string[]>()
  for (let i = 0; i < n; i++) {
    const r = find(i)
    const m = names[i] as string
    const g = byRoot.get(r)
    if (g === undefined) byRoot.set(r, [m])
    else g.push(m)
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
  // each (source, target) once over the layers, in the order first met. Where no layer holds a pair twice (one
  // address a member and layer), a pair is new unless an earlier layer measured it fresh: no set built per source
  const repeats = layers.some(l => e.edges[l].hasRepeats)
  const seenBefore = (li: number, s: string, t: string): boolean => {
    for (let k = 0; k < li; k++) if (e.edges[layers[k] as Layer].get(s, t)?.fresh === true) return true
    return false
  }
  const count = (s: string, t: string): void => {
    c.measured++
    if (direction(e, layers, s, t) !== 'cut') return
    c.down++
    c.downSources.add(s)
    c.downTargets.add(t)
    if (c.examples.length < 3) {
      const ex = layers.map(l => e.edges[l].get(s, t)).find(x => x !== undefined)
      if (ex !== undefined) c.examples.push(ex)
    }
  }
  for (const s of from) {
    const met = repeats ? new Set<string>() : null
    for (let li = 0; li < layers.length; li++) {
      for (const edge of e.edges[layers[li] as Layer].from(s)) {
        const t = edge.target
        if (!edge.fresh || !to.has(t)) continue
        if (met === null ? seenBefore(li, s, t) : met.has(t)) continue
        met?.add(t)
        count(s, t)
      }
    }
  }
  return c
}
