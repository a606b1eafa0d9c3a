// Pure: verdicts from the structure of the reachability graph, in one stated order of precedence. Each pass names
// what it explains; later passes leave those members and pairs alone, so one fault gets one verdict.
import type { AgentRecord, Layer } from '../core/record.ts'
import { crossing, direction, groups, reachesWithin, type Crossing } from './components.ts'
import { buildEvidence, type Edge, type Evidence, type Member } from './evidence.ts'
import { lossOf, problemOf } from './paths.ts'
import { numericOrder } from '../shared/numeric-order.ts'

export type VerdictKind =
  | 'flapping' | 'isolated' | 'partition' | 'outbound' | 'inbound' | 'overlay' | 'node-ip' | 'gossip-cut' | 'one-way'
  | 'port-closed' | 'test-port' | 'lossy' | 'service-dns' | 'service-endpoints' | 'stale' | 'clock-skew'

export interface Verdict {
  kind: VerdictKind
  /** What is blamed: a node "name (ip)", a link "a -> b" or "a <-> b", groups "a, b | c, d", or the Service. */
  subject: string
  summary: string
  evidence: string[]
  /** How many independent observers agree, out of how many could tell. */
  agree: number
  of: number
  /** What is at fault, in stable names: node names, links "pod-a -> pod-b" / "pod-a <-> pod-b", "service", "pod network". */
  culprits: string[]
  /** The verdict is about the observing agent itself (it is on the cut-off side, or its own network or clock). */
  observer?: boolean
  /** Partition only: every group, the main one first. */
  groups?: string[][]
}

/** An agent that stopped being heard (expired, not departed): still probed by the others for a while. */
export interface LostAgent { record: AgentRecord, silentMs: number }

export interface VerdictOptions {
  /** Fraction of observers that must agree before a node is blamed. */
  majority: number
  /** Fewest agreeing observers before a node is blamed. */
  minAgree: number
  /** Probe results not advancing for longer than this (observer's monotonic clock) make a source stale. */
  staleAfterMs: number
  /** Most pair-level verdicts (one-way, overlay, flapping links) of each kind. */
  maxPairVerdicts: number
  /** A clock further than this from the cluster's median is a verdict. */
  skewThresholdMs: number
  /**
   * Members that fell silent within this long of each other, with nothing measured between them, were cut off together
   * (about one heartbeat: when each was last heard depends on its heartbeat's phase). 0 turns the rule off.
   */
  togetherMs: number
}

export const DEFAULT_VERDICT_OPTIONS: VerdictOptions = { majority: 0.8, minAgree: 2, staleAfterMs: 90_000, maxPairVerdicts: 10, skewThresholdMs: 5_000, togetherMs: 6_000 }

/**
 * The order of precedence, stated once: a fault explained by an earlier pass is not blamed again by a later one.
 * Flapping first (its pairs are unsettled, nothing else can be read from them); then whole-node and group cuts over
 * both layers; then one layer cut where the other works; then silence on gossip; then single links; then degraded
 * paths; then the Service; then stale sources and clocks.
 */
const PASSES: ReadonlyArray<(c: Ctx) => void> = [flapping, cuts, layerCuts, gossipSilence, oneWayLinks, portClosed, lossy, service, staleResults, clockSkew]

interface Ctx {
  e: Evidence
  o: VerdictOptions
  out: Verdict[]
  /** Members a verdict already explains. */
  blamed: Set<string>
  /** Unordered pairs a verdict already explains ("a|b", a < b). */
  pairs: Set<string>
  /** Members whose silence on gossip a verdict already explains (the observer is the one cut off from them). */
  unheardExplained: Set<string>
  /** The observer is on the cut-off side by the mesh's own evidence (whatever the witness then made of it). */
  observerCut: boolean
  /** losingMembers() of this evidence, once worked out (it reads only the edges). */
  losing?: Set<string>
}

/** The verdicts, and whether the observer found itself on the cut-off side (before the witness's word). */
export interface Analysis { verdicts: Verdict[], observerCut: boolean }

const pct = (x: number): string => `${Math.round(x * 100)}%`
const secs = (ms: number): string => `${Math.round(ms / 1000)} s`
const where = (m: Member): string => `${m.node} (${m.nodeIp})`
const unordered = (a: string, b: string): string => a < b ? `${a}|${b}` : `${b}|${a}`
const BOTH: readonly Layer[] = ['host', 'pod']

export function analyse (e: Evidence, o: VerdictOptions = DEFAULT_VERDICT_OPTIONS): Verdict[] {
  return analyseFully(e, o).verdicts
}

export function analyseFully (e: Evidence, o: VerdictOptions = DEFAULT_VERDICT_OPTIONS): Analysis {
  const c: Ctx = { e, o, out: [], blamed: new Set(), pairs: new Set(), unheardExplained: new Set(), observerCut: false }
  for (const pass of PASSES) pass(c)
  const cutKinds: VerdictKind[] = ['isolated', 'partition', 'gossip-cut', 'overlay', 'flapping']
  return { verdicts: c.out, observerCut: c.observerCut || c.out.some(v => v.observer === true && cutKinds.includes(v.kind)) }
}

/** One snapshot, every measurement taken as settled: for a view with no history (tools, tests). */
export function findVerdicts (live: AgentRecord[], lost: LostAgent[], o: VerdictOptions = DEFAULT_VERDICT_OPTIONS, self: string | null = null): Verdict[] {
  const agents = [...live.map(record => ({ record, silentMs: 0, lost: false })), ...lost.map(l => ({ record: l.record, silentMs: l.silentMs, lost: true }))]
  return analyse(buildEvidence(self, agents, { freshMs: Infinity }), o)
}

const member = (c: Ctx, name: string): Member => c.e.members.get(name) as Member
const nodeOf = (c: Ctx, name: string): string => member(c, name).node
const names = (c: Ctx, ns: Iterable<string>): string => [...ns].map(n => nodeOf(c, n)).sort(byNumber).join(', ')
const byNumber = numericOrder
const unblamed = (c: Ctx): string[] => [...c.e.members.keys()].filter(n => !c.blamed.has(n))
const isSelf = (c: Ctx, n: string): boolean => c.e.self === n
/** Fresh edges of a layer into `target` from members not yet blamed. */
const healthyInto = (c: Ctx, layer: Layer, target: string): Edge[] =>
  c.e.edges[layer].into(target).filter(x => x.fresh && !c.blamed.has(x.source))

/** A share of observers large enough to blame. */
function strong (c: Ctx, agree: number, of: number, need = c.o.minAgree): boolean {
  return of > 0 && agree >= need && agree / of >= c.o.majority
}

// ---- 1. flapping -----------------------------------------------------------------------------------------------

function flapping (c: Ctx): void {
  if (c.e.flaps.length === 0) return
  const flappingPeers = new Map<string, Set<string>>()
  const count = new Map<string, number>()
  const note = (m: Map<string, Set<string>>, a: string, b: string): void => {
    m.set(a, (m.get(a) ?? new Set()).add(b))
    m.set(b, (m.get(b) ?? new Set()).add(a))
  }
  // how many peers a member has current evidence with, either way (a silent member's last word cannot flap)
  const peerCount = (n: string): number => {
    const peers = new Set<string>()
    for (const layer of BOTH) {
      for (const x of c.e.edges[layer].from(n)) if (x.fresh) peers.add(x.target)
      for (const x of c.e.edges[layer].into(n)) if (x.fresh) peers.add(x.source)
    }
    return peers.size
  }
  for (const f of c.e.flaps) {
    note(flappingPeers, f.source, f.target)
    for (const n of [f.source, f.target]) count.set(n, (count.get(n) ?? 0) + f.transitions)
  }
  const window = secs(c.e.flapWindowMs)
  for (const [n, fp] of flappingPeers) {
    const of = peerCount(n) || fp.size
    if (!c.e.members.has(n) || fp.size < Math.min(c.o.minAgree, of) || fp.size * 2 < of) continue
    const m = member(c, n)
    c.blamed.add(n)
    c.out.push({
      kind: 'flapping',
      subject: where(m),
      summary: `${isSelf(c, n) ? 'this agent\'s node ' : ''}${where(m)} is flapping: its paths with ${fp.size} of ${of} peers went between reachable and unreachable, ${count.get(n) ?? 0} changes in the last ${window}`,
      evidence: [`flapping with: ${names(c, fp)}`],
      agree: fp.size,
      of,
      culprits: [m.node],
      ...(isSelf(c, n) ? { observer: true } : {})
    })
  }
  const links = new Map<string, { a: string, b: string, transitions: number }>()
  // a node losing packets on most of its paths loses a whole round of a path now and then: that is its loss (the
  // lossy pass names it), not a flapping link
  const losing = c.losing ??= losingMembers(c)
  for (const f of c.e.flaps) {
    if (c.blamed.has(f.source) || c.blamed.has(f.target) || losing.has(f.source) || losing.has(f.target)) continue
    const k = unordered(f.source, f.target)
    const [a, b] = f.source < f.target ? [f.source, f.target] : [f.target, f.source]
    links.set(k, { a, b, transitions: (links.get(k)?.transitions ?? 0) + f.transitions })
  }
  for (const [k, l] of [...links].slice(0, c.o.maxPairVerdicts)) {
    c.pairs.add(k)
    c.out.push({
      kind: 'flapping',
      subject: `${l.a} <-> ${l.b}`,
      summary: `the link between ${l.a} and ${l.b} is flapping: ${l.transitions} changes between reachable and unreachable in the last ${window}`,
      evidence: [],
      agree: 1,
      of: 1,
      culprits: [`${l.a} <-> ${l.b}`]
    })
  }
}

// ---- 2. cuts over both layers: isolated nodes, one-directional node cuts, partitions --------------------------

interface Cut { group: string[], inward: Crossing, outward: Crossing }

/** Whether a crossing is mostly down, with enough distinct observers (sources or targets) to say so. */
function crossCut (c: Ctx, x: Crossing, distinct: number, need: number): boolean {
  return x.measured > 0 && x.down / x.measured >= c.o.majority && distinct >= need
}
const crossUp = (c: Ctx, x: Crossing): boolean => x.measured > 0 && x.down / x.measured <= 1 - c.o.majority

function cuts (c: Ctx): void {
  const gs = groups(c.e, BOTH, unblamed(c), c.o.togetherMs)
  // the witness: nobody took the Lease while this agent stood aside, so the side it cannot reach is gone, not it
  const selfAt = c.e.self === null ? -1 : gs.findIndex(g => g.includes(c.e.self as string))
  const gone = selfAt > 0 && c.e.othersAlive === false
  if (gone) {
    c.observerCut = true
    gs.unshift(...gs.splice(selfAt, 1))
  }
  const main = gs[0]
  if (main === undefined || gs.length < 2) return
  const mainSet = new Set(main)
  const cut: Cut[] = []
  for (const g of gs.slice(1)) {
    const set = new Set(g)
    cut.push({ group: g, inward: crossing(c.e, BOTH, mainSet, set), outward: crossing(c.e, BOTH, set, mainSet) })
  }
  const partitioned: Cut[] = []
  for (const k of cut) {
    // observers on the main side see the group; the group's own word counts when it is fresh (a lone survivor the
    // witness backs may blame on its own)
    const need = gone ? Math.min(c.o.minAgree, main.length) : c.o.minAgree
    const inCut = crossCut(c, k.inward, k.inward.downSources.size, need)
    const outCut = crossCut(c, k.outward, k.outward.downTargets.size, need)
    if (k.group.length >= 2) {
      if (inCut || outCut) partitioned.push(k)
      continue
    }
    const n = k.group[0] as string
    const m = member(c, n)
    const self = isSelf(c, n)
    const inward = `${k.inward.down} of ${k.inward.measured}`
    const outward = `${k.outward.down} of ${k.outward.measured}`
    let v: Omit<Verdict, 'subject' | 'culprits' | 'observer'> | null = null
    // the observer alone, hearing nobody: what it cannot reach is all there is to know
    if ((inCut && (outCut || k.outward.measured === 0)) || (self && outCut && k.inward.measured === 0)) {
      v = {
        kind: 'isolated',
        summary: self
          ? `this agent's node ${where(m)} is isolated: it reaches none of the ${k.outward.measured} peers it probes (${outward} down) and hears none of them, while they last reached each other: its own network is down, or its pod's (CNI), which from inside the pod looks the same`
          : `${where(m)} is unreachable from ${k.inward.downSources.size} of ${main.length} peers${outCut ? ` and cannot reach ${outward} itself` : ''}${m.fresh ? '' : `; not heard for ${secs(m.silentMs)}`}: the node or its link is down`,
        evidence: [`peers that cannot reach it: ${names(c, k.inward.downSources)}`],
        agree: self ? k.outward.downTargets.size : k.inward.downSources.size,
        of: self ? k.outward.measured : main.length
      }
    } else if (outCut && crossUp(c, k.inward)) {
      v = {
        kind: 'outbound',
        summary: `${self ? 'this agent\'s node ' : ''}${where(m)} cannot reach ${outward} peers, while they reach it: its own outbound path`,
        evidence: [`unreachable from it: ${names(c, k.outward.downTargets)}`],
        agree: k.outward.downTargets.size,
        of: k.outward.measured
      }
    } else if (inCut && crossUp(c, k.outward)) {
      v = {
        kind: 'inbound',
        summary: `${self ? 'this agent\'s node ' : ''}${where(m)} reaches its peers, but ${inward} of their paths to it fail: its inbound path (a firewall on the node or its ingress)`,
        evidence: [`peers that cannot reach it: ${names(c, k.inward.downSources)}`],
        agree: k.inward.downSources.size,
        of: main.length
      }
    }
    if (v === null) continue
    if (gone) v.evidence.push(WITNESS_GONE)
    if (self) explainAllUnheard(c)
    c.blamed.add(n)
    c.out.push({ ...v, subject: where(m), culprits: [m.node], ...(self ? { observer: true } : {}) })
  }
  if (partitioned.length === 0) return
  const all = [main, ...partitioned.map(k => k.group)]
  const selfSide = c.e.self === null ? -1 : all.findIndex(g => g.includes(c.e.self as string))
  // a group is named in full up to a dozen nodes; larger ones by their first few and a count (every node is in groups)
  const label = (g: string[]): string => {
    const ns = g.map(n => nodeOf(c, n)).sort(byNumber)
    return ns.length <= 12 ? ns.join(', ') : `${ns.slice(0, 5).join(', ')} and ${ns.length - 5} more`
  }
  const tie = partitioned.some(k => k.group.length === main.length)
  const side = selfSide < 0
    ? ''
    : gone
      ? ` This reporter (on ${label(main)}) stood aside and no agent of the other side took the reporter Lease: that side is down, not just cut off from this one.`
      : selfSide === 0 && !tie
        ? ` This reporter is on the larger side (${label(main)}).`
        : ` This reporter is on the side of ${label(all[selfSide] as string[])}${tie ? '' : ', the smaller one: the others may well be fine'}.`
  const culprits = partitioned.flatMap(k => k.group.map(n => nodeOf(c, n))).sort(byNumber)
  const directions = partitioned.map(k => {
    const inCut = crossCut(c, k.inward, k.inward.downSources.size, 1)
    const outCut = crossCut(c, k.outward, k.outward.downTargets.size, 1)
    const how = inCut && !outCut ? ' (only towards it)' : outCut && !inCut ? ' (only from it)' : ''
    // grouped only because they fell silent together (components.ts): say what is not known
    return reachesWithin(c.e, BOTH, k.group) ? how : `${how}; its nodes fell silent at the same moment and whether they reach each other is unknown`
  })
  for (const k of partitioned) for (const n of k.group) c.blamed.add(n)
  // on the cut-off side, the other side's silence is the partition's doing
  if (selfSide > 0) for (const g of all) if (!g.includes(c.e.self as string)) for (const n of g) c.unheardExplained.add(n)
  c.out.push({
    kind: 'partition',
    subject: all.map(label).join(' | '),
    summary: `the cluster is split into ${all.length} groups that reach inside and not across: ${all.map(g => `{${label(g)}}`).join(' and ')}; ` +
      `${partitioned.map((k, i) => `{${label(k.group)}} is cut off from the ${main.length} others${directions[i] ?? ''}`).join('; ')}${tie ? ' (groups of equal size: which side is at fault cannot be told)' : ''}.${side}`,
    evidence: [...partitioned.map(k => `{${label(k.group)}}: ${k.inward.down} of ${k.inward.measured} paths into it and ${k.outward.down} of ${k.outward.measured} out of it fail`), ...(gone ? [WITNESS_GONE] : [])],
    agree: partitioned.reduce((a, k) => a + k.inward.downSources.size, 0),
    of: main.length,
    culprits,
    groups: all.map(g => g.map(n => nodeOf(c, n)).sort(byNumber)),
    ...((selfSide > 0 || (selfSide === 0 && tie)) && !gone ? { observer: true } : {})
  })
}

const WITNESS_GONE = 'the witness: this agent stood aside from the reporter Lease and no other agent took it, so those it cannot reach are down (or cut off from the apiserver too), not only from it'

function explainAllUnheard (c: Ctx): void {
  for (const n of c.e.members.keys()) if (!isSelf(c, n)) c.unheardExplained.add(n)
}

// ---- 3. one layer cut while the other works: the pod network (CNI/overlay) or the node IP --------------------

function layerCuts (c: Ctx): void {
  if (clusterWideOverlay(c)) return
  for (const layer of ['pod', 'host'] as const) {
    const other: Layer = layer === 'pod' ? 'host' : 'pod'
    const gs = groups(c.e, [layer], unblamed(c))
    const main = gs[0]
    if (main === undefined || gs.length < 2) continue
    const mainSet = new Set(main)
    for (const g of gs.slice(1)) {
      const set = new Set(g)
      const inward = crossing(c.e, [layer], mainSet, set)
      const outward = crossing(c.e, [layer], set, mainSet)
      const need = c.o.minAgree
      const inCut = crossCut(c, inward, inward.downSources.size, need)
      const outCut = crossCut(c, outward, outward.downTargets.size, need)
      // the other layer must carry traffic across the same cut, or it is not this layer's fault
      const otherIn = crossing(c.e, [other], mainSet, set)
      const otherOut = crossing(c.e, [other], set, mainSet)
      const otherWorks = (otherIn.measured > 0 || otherOut.measured > 0) && !(crossCut(c, otherIn, otherIn.downSources.size, 1) || crossCut(c, otherOut, otherOut.downTargets.size, 1))
      if (!(inCut || outCut) || !otherWorks) continue
      const self = g.includes(c.e.self ?? '')
      const ms = g.map(n => member(c, n))
      const subject = ms.length === 1 ? where(ms[0] as Member) : names(c, g)
      const how = `${inward.down} of ${inward.measured} ${layer} paths into it and ${outward.down} of ${outward.measured} out of it fail, while the ${other} paths between the same nodes work`
      // gossip runs over the pod network: an observer cut off from it hears nobody because of it
      if (self && layer === 'pod') explainAllUnheard(c)
      for (const n of g) c.blamed.add(n)
      const common = {
        subject,
        agree: Math.max(inward.downSources.size, outward.downTargets.size),
        of: main.length,
        culprits: ms.map(m => m.node),
        ...(self ? { observer: true } : {})
      }
      const examples = [...inward.examples, ...outward.examples].slice(0, 3).map(x => `${x.source} -> ${x.target}: ${problemOf(x.result)}`)
      // (the observer alone on its side, hearing nobody: what comes in is unknown, and its cut is taken as whole)
      if (!inCut && !(self && inward.measured === 0)) {
        c.out.push({
          ...common,
          kind: 'outbound',
          summary: `${self ? 'this agent\'s node ' : ''}${subject} cannot reach ${outward.down} of ${outward.measured} peers on the ${layer} layer, which reach it: its own ${layer === 'host' ? 'node' : 'pod'} outbound path (the ${other} layer works)`,
          evidence: [`unreachable from it (${layer}): ${names(c, outward.downTargets)}`, ...examples]
        })
      } else if (layer === 'pod') {
        c.out.push({
          ...common,
          kind: 'overlay',
          summary: `${self ? 'this agent\'s own ' : 'the '}pod network on ${subject} is broken (CNI/overlay): ${how}`,
          evidence: [`pods that cannot reach it: ${names(c, inward.downSources)}`, ...examples]
        })
      } else {
        c.out.push({
          ...common,
          kind: 'node-ip',
          summary: `the node IP of ${subject} is unreachable (a host firewall or node-IP routing, not the node itself): ${how}`,
          evidence: [`peers: ${names(c, inward.downSources)}`, ...examples]
        })
      }
    }
  }
}

/** Pod traffic fails between most pairs whose hosts reach each other: the pod network is down everywhere. */
function clusterWideOverlay (c: Ctx): boolean {
  let told = 0
  let down = 0
  const targets = new Set<string>()
  const sources = new Set<string>()
  const downSources = new Set<string>()
  const examples: Edge[] = []
  for (const x of c.e.edges.pod.all()) {
    if (!x.fresh || c.blamed.has(x.source) || c.blamed.has(x.target)) continue
    const host = c.e.edges.host.get(x.source, x.target)
    if (host === undefined || host.state === 'down') continue
    told++
    sources.add(x.source)
    if (x.state !== 'down') continue
    down++
    targets.add(x.target)
    downSources.add(x.source)
    if (examples.length < 5) examples.push(x)
  }
  // across the cluster: many sources and many targets, not one node's own pod seeing everything fail
  const wide = Math.max(c.o.minAgree, 3)
  if (targets.size < wide || downSources.size < wide || !strong(c, downSources.size, sources.size, wide) || !strong(c, down, told, wide)) return false
  for (const n of targets) c.blamed.add(n)
  c.out.push({
    kind: 'overlay',
    subject: 'pod network',
    summary: `pod-to-pod traffic fails on ${down} of ${told} pairs whose node-to-node traffic works: the pod network (CNI/overlay) is broken across the cluster`,
    evidence: examples.map(x => `${x.source} -> ${x.target}: ${problemOf(x.result)}`),
    agree: down,
    of: told,
    culprits: ['pod network']
  })
  return true
}

// ---- 4. silence on gossip: the observer cut off, an agent cut off or stuck, an agent gone --------------------

function gossipSilence (c: Ctx): void {
  const others = [...c.e.members.values()].filter(m => !m.self)
  const silent = others.filter(m => !m.fresh && !c.blamed.has(m.name) && !c.unheardExplained.has(m.name))
  if (silent.length === 0) return
  const me = c.e.self === null ? undefined : c.e.members.get(c.e.self)
  // the observer hears (nearly) nobody while its own probes reach them: the fault is its own gossip
  if (me !== undefined && !c.blamed.has(me.name) && strong(c, silent.length, others.length)) {
    // of the silent agents it measures (a sample in a large cluster), its own probes reach most
    const measured = silent.filter(m => direction(c.e, BOTH, me.name, m.name) !== 'unknown')
    const reachedByMe = measured.filter(m => direction(c.e, BOTH, me.name, m.name) === 'reach')
    if (reachedByMe.length >= Math.min(c.o.minAgree, measured.length) && reachedByMe.length * 2 > measured.length) {
      c.blamed.add(me.name)
      c.out.push({
        kind: 'gossip-cut',
        subject: where(me),
        summary: `this agent (${me.name} on ${where(me)}) hears none of ${silent.length} of ${others.length} agents, while its own probes reach ${reachedByMe.length} of the ${measured.length} of them it measures: its own gossip is cut (gossip port blocked, or its connections failing); the others are likely fine`,
        evidence: [`not heard: ${names(c, silent.slice(0, 20).map(m => m.name))}${silent.length > 20 ? ` and ${silent.length - 20} more` : ''}`],
        agree: reachedByMe.length,
        of: measured.length,
        culprits: [me.node],
        observer: true
      })
      return
    }
  }
  for (const m of silent) {
    const pod = healthyInto(c, 'pod', m.name)
    const host = healthyInto(c, 'host', m.name)
    const open = pod.filter(x => x.result.tcp === 'open').length
    const refused = pod.filter(x => x.result.tcp === 'refused').length
    const nodeUp = host.filter(x => x.state !== 'down').length
    const heard = `has not been heard for ${secs(m.silentMs)}`
    if (strong(c, open, pod.length)) {
      c.blamed.add(m.name)
      c.out.push({
        kind: 'gossip-cut',
        subject: where(m),
        summary: `${m.name} on ${where(m)} ${heard}, while its pod's health port answers ${open} of ${pod.length} peers: its gossip is cut (port blocked) or the agent is stuck`,
        evidence: [`peers that reach its health port: ${names(c, pod.filter(x => x.result.tcp === 'open').map(x => x.source))}`],
        agree: open,
        of: pod.length,
        culprits: [m.node]
      })
      continue
    }
    const agentDown = strong(c, refused, pod.length, 1) || (pod.length === 0 && strong(c, nodeUp, host.length, 1))
    c.out.push({
      kind: 'stale',
      subject: m.name,
      summary: agentDown
        ? `${m.name} on ${where(m)} ${heard}; its node answers ${nodeUp} of ${host.length} peers${refused > 0 ? ` and its health port refuses connections (${refused} of ${pod.length})` : ''}: the agent is not running (crashed or restarting), the network is fine`
        : pod.length + host.length === 0
          ? `${m.name} on ${where(m)} ${heard}; no peer has measured it, so whether the node is up is unknown`
          : `${m.name} on ${where(m)} ${heard}; ${nodeUp} of ${host.length} peers still reach its node (not enough to call it isolated)`,
      evidence: [],
      agree: agentDown ? Math.max(refused, nodeUp) : 0,
      of: Math.max(pod.length, host.length),
      culprits: [m.name]
    })
  }
}

// ---- 5. single links: one-way blocks and single broken pod pairs -----------------------------------------------

function oneWayLinks (c: Ctx): void {
  const losing = c.losing ??= losingMembers(c)
  const oneWay = new Map<string, { a: string, b: string, layers: Layer[], evidence: string[] }>()
  const overlayOne: Verdict[] = []
  for (const layer of BOTH) {
    for (const x of c.e.edges[layer].all()) {
      const { source: a, target: b } = x
      if (!x.fresh || x.state !== 'down' || c.blamed.has(a) || c.blamed.has(b) || losing.has(a) || losing.has(b) || c.pairs.has(unordered(a, b))) continue
      const back = c.e.edges[layer].get(b, a)
      const host = c.e.edges.host.get(a, b)
      if (back !== undefined && back.fresh && back.state !== 'down') {
        const k = `${a} -> ${b}`
        const held = oneWay.get(k) ?? { a, b, layers: [], evidence: [] }
        held.layers.push(layer)
        held.evidence.push(`${layer} ${a} -> ${b} (${x.result.target}): ${problemOf(x.result)}`, `${layer} ${b} -> ${a}: ${problemOf(back.result)}`)
        oneWay.set(k, held)
      } else if (layer === 'pod' && host !== undefined && host.state !== 'down') {
        overlayOne.push({
          kind: 'overlay',
          subject: `${a} -> ${b}`,
          summary: `pod path ${a} -> ${b} fails while the host path between their nodes works (CNI/overlay)`,
          evidence: [`pod: ${problemOf(x.result)}`],
          agree: 1,
          of: 1,
          culprits: [`${a} -> ${b}`]
        })
      }
    }
  }
  // a one-way block on both layers is one verdict, naming both
  c.out.push(...[...oneWay.entries()].slice(0, c.o.maxPairVerdicts).map(([k, w]): Verdict => ({
    kind: 'one-way',
    subject: k,
    summary: `${w.layers.join(' and ')} path${w.layers.length > 1 ? 's' : ''} ${w.a} -> ${w.b} fail${w.layers.length > 1 ? '' : 's'} while ${w.b} -> ${w.a} works: a one-way block (firewall, NetworkPolicy or asymmetric route)`,
    evidence: w.evidence,
    agree: 1,
    of: 1,
    culprits: [k]
  })), ...overlayOne.slice(0, c.o.maxPairVerdicts))
}

/**
 * A node losing packets (lossy paths, in either direction, with at least two peers and half of those it has paths
 * with) can lose every echo and the SYN of one path in a round: a down path of such a node is loss, not a block.
 */
function losingMembers (c: Ctx): Set<string> {
  const lossyPeers = new Map<string, Set<string>>()
  const pathPeers = new Map<string, Set<string>>()
  const note = (to: Map<string, Set<string>>, a: string, b: string): void => {
    to.set(a, (to.get(a) ?? new Set()).add(b))
    to.set(b, (to.get(b) ?? new Set()).add(a))
  }
  for (const layer of BOTH) {
    for (const x of c.e.edges[layer].all()) {
      if (!x.fresh) continue
      note(pathPeers, x.source, x.target)
      if (x.state === 'lossy' || (x.result.received > 0 && x.result.received < x.result.sent)) note(lossyPeers, x.source, x.target)
    }
  }
  const out = new Set<string>()
  for (const [n, ps] of lossyPeers) if (ps.size >= 2 && ps.size * 2 >= (pathPeers.get(n)?.size ?? 0)) out.add(n)
  return out
}

// ---- 6. TEST_PORT closed or filtered on a node whose ICMP works ------------------------------------------------

function portClosed (c: Ctx): void {
  const found: Array<{ n: string, agreeing: Edge[], of: number }> = []
  let measuredNodes = 0
  for (const n of unblamed(c)) {
    const ms = healthyInto(c, 'host', n).filter(x => x.result.sent > 0 && x.result.received > 0)
    if (ms.length > 0) measuredNodes++
    // refused is proof; a silent port counts only on a path that lost no echo (a lossy path times out connects)
    const closed = (x: Edge): boolean => x.result.tcp === 'refused' || (x.result.tcp !== 'open' && x.result.received === x.result.sent)
    const agreeing = ms.filter(closed)
    if (strong(c, new Set(agreeing.map(x => x.source)).size, ms.length)) found.push({ n, agreeing, of: ms.length })
  }
  // closed on most nodes: nothing listens on TEST_PORT in this cluster (no sshd on Talos, Bottlerocket, firewalled
  // hosts): one configuration finding, not a broken node each
  const port = found[0]?.agreeing[0]?.result.port
  if (found.length >= 3 && found.length >= c.o.majority * measuredNodes && port !== undefined) {
    c.out.push({
      kind: 'test-port',
      subject: `TEST_PORT ${port}`,
      summary: `TEST_PORT ${port} is closed on ${found.length} of ${measuredNodes} nodes, which answer ICMP: nothing listens there in this cluster (no sshd?), so the host-level TCP check says nothing. Set TEST_PORT to a port every node answers, for example the kubelet's 10250`,
      evidence: [`closed on: ${names(c, found.slice(0, 20).map(f => f.n))}${found.length > 20 ? ` and ${found.length - 20} more` : ''}`],
      agree: found.length,
      of: measuredNodes,
      culprits: ['TEST_PORT']
    })
    return
  }
  for (const { n, agreeing, of } of found) {
    const m = member(c, n)
    const first = agreeing[0]?.result
    const how = first?.tcp === 'refused' ? 'closed (connection refused)' : `not answering (${first?.tcp ?? '?'})`
    c.blamed.add(n)
    c.out.push({
      kind: 'port-closed',
      subject: where(m),
      summary: `TEST_PORT ${first?.port ?? '?'} on ${where(m)} is ${how} for ${agreeing.length} of ${of} peers, while the node answers ICMP`,
      evidence: [`peers: ${names(c, agreeing.map(x => x.source))}`],
      agree: agreeing.length,
      of,
      culprits: [m.node]
    })
  }
}

// ---- 7. paths into a node that lose echoes without being down ---------------------------------------------------

function lossy (c: Ctx): void {
  // ICMP filtered outright (no echo, yet TCP answered) is a firewall, not loss; a path that is down counts as an
  // observer that does not see loss, so a half-dead node is not called lossy. Loss is the pair's smoothed loss
  // where the model keeps a history (a round of three echoes at 30 % loss sees none one time in three).
  const counted = (x: Edge): boolean => x.result.sent > 0 && !(x.result.received === 0 && x.state !== 'down')
  const lossOfEdge = (x: Edge): number => x.state === 'down' ? 0 : x.loss ?? lossOf(x.result) ?? 0
  const sees = (x: Edge): boolean => x.state !== 'down' && lossOfEdge(x) >= LOSS_SEEN
  /** Whether any peer not blamed sees loss into n (without it no verdict can agree: nothing is built). */
  const anySees = (n: string): boolean => BOTH.some(layer => c.e.edges[layer].into(n).some(x => x.fresh && !c.blamed.has(x.source) && counted(x) && sees(x)))
  for (const n of unblamed(c)) {
    if (c.o.minAgree > 0 && !anySees(n)) continue
    const ms = [...healthyInto(c, 'host', n), ...healthyInto(c, 'pod', n)].filter(counted)
    const sources = new Set(ms.map(x => x.source))
    const agreeing = new Set(ms.filter(sees).map(x => x.source))
    const losses = ms.filter(x => x.state !== 'down').map(lossOfEdge)
    const mean = losses.length === 0 ? 0 : losses.reduce((a, b) => a + b, 0) / losses.length
    if (!strong(c, agreeing.size, sources.size) || mean < 0.1) continue
    const m = member(c, n)
    c.blamed.add(n)
    c.out.push({
      kind: 'lossy',
      subject: where(m),
      summary: `paths to ${where(m)} lose ${pct(mean)} of ICMP echoes on average; ${agreeing.size} of ${sources.size} peers see loss (degraded, not down)`,
      evidence: [`peers seeing loss: ${names(c, agreeing)}`],
      agree: agreeing.size,
      of: sources.size,
      culprits: [m.node]
    })
  }
}

/** Smoothed loss from which an observer counts as seeing loss (well above noise, well below a 30 % loss). */
const LOSS_SEEN = 0.05

// ---- 8. the Service: DNS versus endpoints ------------------------------------------------------------------------

function service (c: Ctx): void {
  const checks = c.e.services.filter(s => !c.blamed.has(s.member.name))
  const svc = checks[0]?.result
  if (svc === undefined) return
  const subject = `${svc.name}:${svc.port}`
  const dnsFailed = checks.filter(s => !s.result.dnsOk)
  const endpointsFailed = checks.filter(s => s.result.dnsOk && !s.result.paths.some(p => p.tcp === 'open'))
  const scope = (failing: typeof checks): string => failing.length / checks.length >= c.o.majority
    ? `on ${failing.length} of ${checks.length} agents`
    : `only from ${failing.map(s => s.member.name).join(', ')} (${failing.length} of ${checks.length} agents): look at those nodes`
  const culprits = (failing: typeof checks): string[] => failing.length / checks.length >= c.o.majority ? ['service'] : failing.map(s => s.member.node)
  if (dnsFailed.length > 0) {
    const errors = [...new Set(dnsFailed.map(s => s.result.dnsError ?? '?'))].join(', ')
    c.out.push({ kind: 'service-dns', subject, summary: `DNS lookup of ${svc.name} fails ${scope(dnsFailed)} (${errors})`, evidence: dnsFailed.map(s => `${s.member.name}: ${s.result.dnsError ?? '?'}`).slice(0, 10), agree: dnsFailed.length, of: checks.length, culprits: culprits(dnsFailed) })
  }
  if (endpointsFailed.length > 0) {
    c.out.push({
      kind: 'service-endpoints',
      subject,
      summary: `${svc.name} resolves, but no address accepts TCP port ${svc.port} ${scope(endpointsFailed)}: its endpoints (or kube-proxy) fail, not DNS`,
      evidence: endpointsFailed.slice(0, 10).map(s => `${s.member.name}: ${s.result.paths.map(p => `${p.target} ${p.tcp}`).join(', ')}`),
      agree: endpointsFailed.length,
      of: checks.length,
      culprits: culprits(endpointsFailed)
    })
  }
}

// ---- 9. sources heard but no longer probing --------------------------------------------------------------------

function staleResults (c: Ctx): void {
  for (const [n, age] of c.e.resultsAgeMs) {
    const m = c.e.members.get(n)
    if (m === undefined || !m.fresh || c.blamed.has(n) || age <= c.o.staleAfterMs) continue
    c.out.push({
      kind: 'stale',
      subject: n,
      summary: `${n} on ${where(m)} is alive but its probe results have not advanced for ${secs(age)} (by this agent's clock): its probes are stuck`,
      evidence: [],
      agree: 1,
      of: 1,
      culprits: [n]
    })
  }
}

// ---- 10. clocks: a member far from the cluster's median -----------------------------------------------------------

function clockSkew (c: Ctx): void {
  if (c.e.skewMs.size === 0) return
  const offsets = new Map(c.e.skewMs)
  if (c.e.self !== null) offsets.set(c.e.self, 0)
  const sorted = [...offsets.values()].sort((a, b) => a - b)
  if (sorted.length < 3) return
  const median = sorted[Math.floor(sorted.length / 2)] as number
  for (const [n, off] of offsets) {
    const m = c.e.members.get(n)
    const d = off - median
    if (m === undefined || Math.abs(d) <= c.o.skewThresholdMs) continue
    const self = isSelf(c, n)
    c.out.push({
      kind: 'clock-skew',
      subject: where(m),
      summary: `${self ? 'this agent\'s own clock, on ' : 'the clock of '}${where(m)}${self ? ',' : ''} is ${secs(Math.abs(d))} ${d > 0 ? 'ahead of' : 'behind'} the cluster's (the median of ${offsets.size} agents): timestamps it writes are off; ages here are measured on each receiver's own clock`,
      evidence: [],
      agree: offsets.size - 1,
      of: offsets.size - 1,
      culprits: [m.node],
      ...(self ? { observer: true } : {})
    })
  }
}
