// Pure: what one observer knows at one instant: the members it knows of, how recently it heard each, and every
// measured path between them, per layer, as a directed edge with a state. The verdict engine reads only this.
import type { AgentRecord, Layer, PathResult, ServiceResult } from '../core/record.ts'
import { reached } from './paths.ts'

/** A path's state for the reachability model: reached or not, and if reached, how well. */
export type PathState = 'up' | 'lossy' | 'closed' | 'down'

export function stateOf (r: PathResult): PathState {
  if (!reached(r)) return 'down'
  if (r.tcp !== 'open') return 'closed'
  if (r.sent > 0 && r.received < r.sent) return 'lossy'
  return 'up'
}

export interface Member {
  name: string
  node: string
  nodeIp: string
  podIp: string
  record: AgentRecord
  /** Heard recently enough (on the observer's monotonic clock) that its measurements are current evidence. */
  fresh: boolean
  /** Since it was last heard, on the observer's monotonic clock (0 for the observer itself). */
  silentMs: number
  /** Expired from the view (not heard for longer than the TTL). */
  lost: boolean
  self: boolean
}

/**
 * One directed measurement. `fresh`: its source is heard now, so it is current evidence; otherwise it is the source's
 * last word before it fell silent, good for telling who reached whom, never for blaming.
 */
export interface Edge {
  layer: Layer
  source: string
  target: string
  result: PathResult
  state: PathState
  fresh: boolean
  /** The share of echoes lost, smoothed over the pair's recent rounds where a history is kept (else this round's). */
  loss?: number | null
}

/** Edges of one layer, indexed both ways. */
export class EdgeIndex {
  readonly bySource = new Map<string, Edge[]>()
  readonly byTarget = new Map<string, Edge[]>()
  /** Every edge in the order added (a pair added again keeps its place), and each pair's place by source, then target:
   * a lookup builds no key string (the verdicts look up pairs ~10^5 times a tick at N = 1000). */
  private readonly list: Edge[] = []
  private readonly at = new Map<string, Map<string, number>>()
  /** Whether a pair was added twice (a dual-stack member measured at both its addresses): from() and into() then list it twice. */
  hasRepeats = false

  add (e: Edge): void {
    let targets = this.at.get(e.source)
    if (targets === undefined) this.at.set(e.source, targets = new Map())
    const i = targets.get(e.target)
    if (i === undefined) {
      targets.set(e.target, this.list.length)
      this.list.push(e)
    } else {
      this.list[i] = e
      this.hasRepeats = true
    }
    push(this.bySource, e.source, e)
    push(this.byTarget, e.target, e)
  }

  get (source: string, target: string): Edge | undefined {
    const i = this.at.get(source)?.get(target)
    return i === undefined ? undefined : this.list[i]
  }

  /** Every edge, in the order added (the index's own list: read it, never change it). */
  all (): readonly Edge[] { return this.list }
  get size (): number { return this.list.length }
  from (source: string): Edge[] { return this.bySource.get(source) ?? [] }
  into (target: string): Edge[] { return this.byTarget.get(target) ?? [] }
}

function push<T> (m: Map<string, T[]>, k: string, v: T): void {
  const l = m.get(k)
  if (l === undefined) m.set(k, [v])
  else l.push(v)
}

/** A pair whose reachability changed state often within the window. */
export interface Flap { layer: Layer, source: string, target: string, transitions: number }

export interface Evidence {
  /** The observing agent's name (null when the observer is not a member, e.g. a tool). */
  self: string | null
  members: Map<string, Member>
  edges: Record<Layer, EdgeIndex>
  /** Fresh members' Service checks. */
  services: Array<{ member: Member, result: ServiceResult }>
  /** Pairs flapping within the window (already over the threshold). */
  flaps: Flap[]
  /** The window flapping is counted over, in ms. */
  flapWindowMs: number
  /** Since each fresh member's probe results last advanced, on the observer's monotonic clock. */
  resultsAgeMs: Map<string, number>
  /** Each member's clock minus the observer's, in ms, where estimated. */
  skewMs: Map<string, number>
  /**
   * The witness outside the mesh (the reporter Lease): whether the agents this observer cannot reach are alive (another
   * holds the Lease), gone (nobody took it while this agent stood aside), or unknown (null).
   */
  othersAlive: boolean | null
}

export interface KnownAgent { record: AgentRecord, silentMs: number, lost: boolean }

export interface EvidenceOptions {
  /** A member heard within this long counts as current evidence. */
  freshMs: number
  /**
   * Which edges to keep, and with what state (the model passes settled states; default: as measured). It is given
   * a new edge of its own, which it may change and return.
   */
  edge?: (e: Edge) => Edge | null
  /**
   * For a silent member, what was last known of pairs its last record no longer carries, by `${layer}|${name}`
   * (the model's pair history): part of its last word, so it still groups (never blames).
   */
  remembered?: Map<string, Array<{ target: string, state: PathState, result: PathResult }>>
}

/** Whether member `a` was heard more recently than `b` (a live record before a lost one). */
const heardLater = (a: Member | undefined, b: Member): boolean =>
  a !== undefined && (a.lost !== b.lost ? !a.lost : a.silentMs < b.silentMs)

/** Builds the evidence from the agents an observer knows (live and lost), each with how long it has been silent. */
export function buildEvidence (self: string | null, agents: KnownAgent[], o: EvidenceOptions,
  extra: Partial<Pick<Evidence, 'flaps' | 'flapWindowMs' | 'resultsAgeMs' | 'skewMs' | 'othersAlive'>> = {}): Evidence {
  const members = new Map<string, Member>()
  const byIp: Record<Layer, Map<string, string>> = { host: new Map(), pod: new Map() }
  for (const a of agents) {
    const id = a.record.identity
    const isSelf = id.podName === self
    // a name twice (a live record and a lost one): the live one wins
    const held = members.get(id.podName)
    if (held !== undefined && !held.lost) continue
    members.set(id.podName, {
      name: id.podName,
      node: id.nodeName,
      nodeIp: id.nodeIp,
      podIp: id.podIp,
      record: a.record,
      fresh: isSelf || (!a.lost && a.silentMs <= o.freshMs),
      silentMs: isSelf ? 0 : a.silentMs,
      lost: a.lost,
      self: isSelf
    })
    // an address held twice (a pod and its predecessor, or a reused IP): it names the member heard most recently
    for (const [layer, ip] of [['host', id.nodeIp], ['pod', id.podIp]] as const) {
      const holder = members.get(byIp[layer].get(ip) ?? '')
      if (holder === undefined || holder.name === id.podName || heardLater(members.get(id.podName), holder)) byIp[layer].set(ip, id.podName)
    }
  }
  const edges: Record<Layer, EdgeIndex> = { host: new EdgeIndex(), pod: new EdgeIndex() }
  const services: Evidence['services'] = []
  for (const m of members.values()) {
    for (const layer of ['host', 'pod'] as const) {
      for (const result of m.record.results[layer].values()) {
        const target = byIp[layer].get(result.target)
        if (target === undefined || target === m.name) continue
        const raw: Edge = { layer, source: m.name, target, result, state: stateOf(result), fresh: m.fresh, loss: null }
        const e = o.edge === undefined ? raw : o.edge(raw)
        if (e !== null) edges[layer].add(e)
      }
      if (m.fresh) continue
      for (const r of o.remembered?.get(`${layer}|${m.name}`) ?? []) {
        if (r.target === m.name || !members.has(r.target) || edges[layer].get(m.name, r.target) !== undefined) continue
        edges[layer].add({ layer, source: m.name, target: r.target, result: r.result, state: r.state, fresh: false, loss: null })
      }
    }
    if (m.fresh && m.record.results.service !== null) services.push({ member: m, result: m.record.results.service })
  }
  return {
    self,
    members,
    edges,
    services,
    flaps: extra.flaps ?? [],
    flapWindowMs: extra.flapWindowMs ?? 0,
    resultsAgeMs: extra.resultsAgeMs ?? new Map(),
    skewMs: extra.skewMs ?? new Map(),
    othersAlive: extra.othersAlive ?? null
  }
}
