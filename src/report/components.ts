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
  const parent = new Map(names.map(n => [n, n]))
  const find = (n: string): string => {
    let r = n
    while (parent.get(r) !== r) r = parent.get(r) as string
    parent.set(n, r)
    return r
  }
  const inSet = new Set(names)
  const pairs: Array<{ a: string, b: string, ab: Direction, ba: Direction, bothSilent: boolean }> = []
  const seen = new Set<string>()
  for (const layer of layers) {
    for (const edge of e.edges[layer].all()) {
      const { source: a, target: b } = edge
      if (!inSet.has(a) || !inSet.has(b)) continue
      const k = a < b ? `${a}>${b}` : `${b}>${a}`
      if (seen.has(k)) continue
      seen.add(k)
      const bothSilent = e.members.get(a)?.fresh === false && e.members.get(b)?.fresh === false
      pairs.push({ a, b, ab: direction(e, layers, a, b), ba: direction(e, layers, b, a), bothSilent })
    }
  }
  for (const p of pairs) if (linked(p.ab, p.ba, false)) parent.set(find(p.a), find(p.b))
  const size = new Map<string, number>()
  for (const n of names) size.set(find(n), (size.get(find(n)) ?? 0) + 1)
  // the main group must be one that several heard members measure now: an observer hearing nobody (its own gossip or
  // pod network cut) has only its own word, and the silent members' last words are all it has to group them by
  const largest = [...size.entries()].sort((x, y) => y[1] - x[1])[0]?.[0]
  const heardIn = (root: string | undefined): number => names.filter(n => find(n) === root && e.members.get(n)?.fresh === true).length
  const mainRoot = heardIn(largest) >= 2 ? largest : undefined
  for (const p of pairs) {
    if (!p.bothSilent || find(p.a) === mainRoot || find(p.b) === mainRoot) continue
    if (linked(p.ab, p.ba, true)) parent.set(find(p.a), find(p.b))
  }
  if (togetherMs > 0) {
    linkFellSilentTogether(e, layers, names.filter(n => find(n) !== mainRoot), togetherMs, (a, b) => find(a) === find(b), (a, b) => { parent.set(find(a), find(b)) })
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
