// Pure: verdicts that localise a fault (isolated node, outbound failure, one-way link, overlay/CNI, closed port,
// lossy paths, Service DNS vs endpoints, stale sources), each with its evidence and how many peers agree.
import type { AgentRecord, Layer, PathResult } from '../gossip/record.ts'
import { add, lossOf, PathIndex, problemOf, reached, type Measurement } from './paths.ts'

export type VerdictKind =
  | 'isolated' | 'outbound' | 'node-ip' | 'one-way' | 'overlay' | 'port-closed' | 'lossy' | 'service-dns' | 'service-endpoints' | 'stale'

export interface Verdict {
  kind: VerdictKind
  /** What is blamed: a node, a link "a -> b", or the Service. */
  subject: string
  summary: string
  evidence: string[]
  /** How many independent observers agree, out of how many could tell. */
  agree: number
  of: number
}

/** An agent that stopped being heard (expired, not departed): still probed by the others for a while. */
export interface LostAgent { record: AgentRecord, silentMs: number }

export interface VerdictOptions {
  /** Fraction of observers that must agree before a node is blamed. */
  majority: number
  /** Fewest agreeing observers before a node is blamed. */
  minAgree: number
  /** Results older than this (prober's clock) make a source stale. */
  staleAfterMs: number
  /** Most pair-level verdicts (one-way, overlay) of each kind. */
  maxPairVerdicts: number
}

export const DEFAULT_VERDICT_OPTIONS: VerdictOptions = { majority: 0.8, minAgree: 2, staleAfterMs: 90_000, maxPairVerdicts: 10 }

const name = (a: AgentRecord): string => a.identity.podName
const where = (a: AgentRecord): string => `${a.identity.nodeName} (${a.identity.nodeIp})`
const pct = (x: number): string => `${Math.round(x * 100)}%`
const ipOf = (a: AgentRecord, layer: Layer): string => layer === 'host' ? a.identity.nodeIp : a.identity.podIp

interface Tally { agree: number, of: number, agreeing: string[] }

function tally (ms: Measurement[], pick: (m: Measurement) => boolean, by: (m: Measurement) => string): Tally {
  const agreeing = new Set<string>()
  const all = new Set<string>()
  for (const m of ms) {
    all.add(by(m))
    if (pick(m)) agreeing.add(by(m))
  }
  return { agree: agreeing.size, of: all.size, agreeing: [...agreeing].sort() }
}

const down = (m: Measurement): boolean => !reached(m.result)

/** One observation of "can source reach target at all": reached on either layer, down when measured and never reached. */
interface Pair { source: string, target: string, down: boolean }

/** Pair-level reachability across both layers: a node is unreachable only when no layer gets through. */
function pairsOf (idx: Record<Layer, PathIndex>): { bySource: Map<string, Pair[]>, byTarget: Map<string, Pair[]> } {
  const merged = new Map<string, Pair>()
  for (const layer of ['host', 'pod'] as const) {
    for (const m of idx[layer].all()) {
      const key = `${name(m.source)}>${name(m.target)}`
      const prev = merged.get(key)
      merged.set(key, { source: name(m.source), target: name(m.target), down: (prev?.down ?? true) && down(m) })
    }
  }
  const bySource = new Map<string, Pair[]>()
  const byTarget = new Map<string, Pair[]>()
  for (const p of merged.values()) {
    add(bySource, p.source, p)
    add(byTarget, p.target, p)
  }
  return { bySource, byTarget }
}

export function findVerdicts (live: AgentRecord[], lost: LostAgent[], nowWall: number, o: VerdictOptions = DEFAULT_VERDICT_OPTIONS): Verdict[] {
  const targets = [...live, ...lost.map(l => l.record)]
  const silent = new Map(lost.map(l => [name(l.record), l.silentMs]))
  const idx = { host: new PathIndex('host', live, targets), pod: new PathIndex('pod', live, targets) }
  const both = (get: (i: PathIndex) => Measurement[] | undefined): Measurement[] => [...(get(idx.host) ?? []), ...(get(idx.pod) ?? [])]
  const pairs = pairsOf(idx)
  const strong = (t: Tally): boolean => t.agree >= o.minAgree && t.of > 0 && t.agree / t.of >= o.majority
  const pairTally = (ps: Pair[], by: (p: Pair) => string): Tally => {
    const agreeing = ps.filter(p => p.down).map(by).sort()
    return { agree: agreeing.length, of: ps.length, agreeing }
  }
  const verdicts: Verdict[] = []

  // sources that cannot reach most of what they probe (on any layer): their failures say nothing about the targets
  const outboundBroken = new Set<string>()
  for (const s of live) {
    const t = pairTally(pairs.bySource.get(name(s)) ?? [], p => p.target)
    if (t.of >= o.minAgree && t.agree / t.of >= o.majority) outboundBroken.add(name(s))
  }
  const healthy = (source: string): boolean => !outboundBroken.has(source)
  const fromHealthy = (ms: Measurement[]): Measurement[] => ms.filter(m => healthy(name(m.source)))
  const healthyPairsTo = (target: string): Pair[] => (pairs.byTarget.get(target) ?? []).filter(p => healthy(p.source))

  // inbound: a target most healthy peers cannot reach on any layer
  const inbound = new Map<string, Tally>()
  for (const t of targets) {
    const tl = pairTally(healthyPairsTo(name(t)), p => p.source)
    if (strong(tl)) inbound.set(name(t), tl)
  }

  const blamed = new Set<string>()
  for (const t of targets) {
    const tin = inbound.get(name(t))
    const outbound = outboundBroken.has(name(t))
    if (tin === undefined && !outbound) continue
    const out = pairTally(pairs.bySource.get(name(t)) ?? [], p => p.target)
    // an outbound failure must be confirmed: what it cannot reach, the others can
    const othersReach = out.agreeing.filter(target => {
      const peers = healthyPairsTo(target).filter(p => p.source !== name(t))
      return peers.length > 0 && peers.filter(p => !p.down).length / peers.length >= o.majority
    })
    const quiet = silent.get(name(t))
    const quietNote = quiet === undefined ? [] : [`not heard over gossip for ${Math.round(quiet / 1000)} s`]
    if (tin !== undefined) {
      blamed.add(name(t))
      verdicts.push({
        kind: 'isolated',
        subject: where(t),
        summary: `${where(t)} is unreachable from ${tin.agree} of ${tin.of} peers` +
          (outbound ? ` and cannot reach ${out.agree} of ${out.of} itself` : ''),
        evidence: [`peers that cannot reach it: ${tin.agreeing.join(', ')}`, ...quietNote],
        agree: tin.agree,
        of: tin.of
      })
    } else if (othersReach.length >= o.minAgree) {
      blamed.add(name(t))
      verdicts.push({
        kind: 'outbound',
        subject: where(t),
        summary: `${where(t)} cannot reach ${out.agree} of ${out.of} peers, which the other agents reach: its own outbound path`,
        evidence: [`unreachable from it: ${out.agreeing.join(', ')}`, `reached by the others: ${othersReach.length} of those`],
        agree: othersReach.length,
        of: out.of
      })
    }
  }

  // the node IP does not answer at all while the node's pod does: a host firewall or node-IP routing
  for (const t of targets) {
    if (blamed.has(name(t))) continue
    const ms = fromHealthy(idx.host.byTarget.get(name(t)) ?? []).filter(m => {
      const pod = idx.pod.get(name(m.source), name(m.target))
      return pod !== undefined && reached(pod.result)
    })
    const tl = tally(ms, down, m => name(m.source))
    if (!strong(tl)) continue
    blamed.add(name(t))
    verdicts.push({
      kind: 'node-ip',
      subject: where(t),
      summary: `the node IP of ${where(t)} is unreachable from ${tl.agree} of ${tl.of} peers that reach its pod: a host firewall or node-IP routing, not the node itself`,
      evidence: [`peers: ${tl.agreeing.join(', ')}`, ...tl.agreeing.slice(0, 3).map(s => `${s} -> ${name(t)}: ${problemOf((idx.host.get(s, name(t)) as Measurement).result)}`)],
      agree: tl.agree,
      of: tl.of
    })
  }

  // host works, pod network does not: overlay / CNI
  const overlayPairs: Measurement[] = []
  for (const m of idx.pod.all()) {
    const host = idx.host.get(name(m.source), name(m.target))
    if (host !== undefined && reached(host.result) && down(m)) overlayPairs.push(m)
  }
  // pairs that can tell: the host path between the same two nodes works
  const podPairsWithHost = idx.pod.all().filter(m => {
    const host = idx.host.get(name(m.source), name(m.target))
    return host !== undefined && reached(host.result)
  })
  const overlayTargets = new Set(overlayPairs.map(m => name(m.target)))
  const clusterWide = overlayTargets.size >= o.minAgree && podPairsWithHost.length > 0 &&
    overlayPairs.length / podPairsWithHost.length >= o.majority
  const explainedOverlay = new Set<string>()
  if (clusterWide) {
    verdicts.push({
      kind: 'overlay',
      subject: 'pod network',
      summary: `pod-to-pod traffic fails on ${overlayPairs.length} of ${podPairsWithHost.length} pairs whose node-to-node traffic works: the pod network (CNI/overlay) is broken across the cluster`,
      evidence: overlayPairs.slice(0, 5).map(m => `${name(m.source)} -> ${name(m.target)}: ${problemOf(m.result)}`),
      agree: overlayPairs.length,
      of: podPairsWithHost.length
    })
    for (const m of overlayPairs) explainedOverlay.add(`${name(m.source)}>${name(m.target)}`)
  } else {
    for (const t of targets) {
      if (blamed.has(name(t))) continue
      const ms = fromHealthy(podPairsWithHost.filter(m => name(m.target) === name(t)))
      const tl = tally(ms, m => overlayPairs.includes(m), m => name(m.source))
      if (!strong(tl)) continue
      blamed.add(name(t))
      for (const m of ms) explainedOverlay.add(`${name(m.source)}>${name(m.target)}`)
      verdicts.push({
        kind: 'overlay',
        subject: where(t),
        summary: `the pod on ${where(t)} (${t.identity.podIp}) is unreachable from ${tl.agree} of ${tl.of} peers whose host-level probes of that node work: its pod network (CNI/overlay) is broken`,
        evidence: [`peers that see it: ${tl.agreeing.join(', ')}`],
        agree: tl.agree,
        of: tl.of
      })
    }
  }

  // one layer's outbound path broken (the other works): e.g. host routing from the node, or its pod's egress
  for (const s of live) {
    if (blamed.has(name(s))) continue
    for (const layer of ['host', 'pod'] as const) {
      const out = tally(idx[layer].bySource.get(name(s)) ?? [], down, m => name(m.target))
      if (out.of < o.minAgree || out.agree / out.of < o.majority) continue
      const othersReach = out.agreeing.filter(target => {
        const peers = fromHealthy(idx[layer].byTarget.get(target) ?? []).filter(m => name(m.source) !== name(s))
        return peers.length > 0 && peers.filter(m => !down(m)).length / peers.length >= o.majority
      })
      if (othersReach.length < o.minAgree) continue
      blamed.add(name(s))
      verdicts.push({
        kind: 'outbound',
        subject: where(s),
        summary: `${where(s)} cannot reach ${out.agree} of ${out.of} peers on the ${layer} layer, which the other agents reach: its own ${layer === 'host' ? 'node' : 'pod'} outbound path`,
        evidence: [`unreachable from it (${layer}): ${out.agreeing.join(', ')}`, `reached by the others: ${othersReach.length} of those`],
        agree: othersReach.length,
        of: out.of
      })
      break
    }
  }

  // TEST_PORT closed or filtered on a node whose ICMP works
  for (const t of targets) {
    if (blamed.has(name(t))) continue
    const ms = fromHealthy(idx.host.byTarget.get(name(t)) ?? []).filter(m => m.result.sent > 0 && m.result.received > 0)
    // refused is proof; a silent port counts only on a path that lost no echo (a lossy path times out connects)
    const closed = (m: Measurement): boolean => m.result.tcp === 'refused' || (m.result.tcp !== 'open' && m.result.received === m.result.sent)
    const tl = tally(ms, closed, m => name(m.source))
    if (!strong(tl)) continue
    const first = ms.find(closed)?.result
    const how = first?.tcp === 'refused' ? 'closed (connection refused)' : `not answering (${first?.tcp ?? '?'})`
    blamed.add(name(t))
    verdicts.push({
      kind: 'port-closed',
      subject: where(t),
      summary: `TEST_PORT ${first?.port ?? '?'} on ${where(t)} is ${how} for ${tl.agree} of ${tl.of} peers, while the node answers ICMP`,
      evidence: [`peers: ${tl.agreeing.join(', ')}`],
      agree: tl.agree,
      of: tl.of
    })
  }

  // paths into a node that lose echoes without being down. Observed: every healthy path with echoes sent, except
  // those where ICMP is filtered outright (no echo, yet TCP got an answer): that is a firewall, not loss.
  // A path that is down counts as an observer that does not see loss, so a half-dead node is not called lossy.
  for (const t of targets) {
    if (blamed.has(name(t))) continue
    const ms = fromHealthy(both(i => i.byTarget.get(name(t))))
      .filter(m => m.result.sent > 0 && !(m.result.received === 0 && reached(m.result)))
    const lossy = (m: Measurement): boolean => m.result.received > 0 && m.result.received < m.result.sent
    const tl = tally(ms, lossy, m => name(m.source))
    const losses = ms.filter(m => m.result.received > 0).map(m => lossOf(m.result) ?? 0)
    const mean = losses.length === 0 ? 0 : losses.reduce((a, b) => a + b, 0) / losses.length
    if (!strong(tl) || mean < 0.1) continue
    blamed.add(name(t))
    verdicts.push({
      kind: 'lossy',
      subject: where(t),
      summary: `paths to ${where(t)} lose ${pct(mean)} of ICMP echoes on average; ${tl.agree} of ${tl.of} peers see loss (degraded, not down)`,
      evidence: [`peers seeing loss: ${tl.agreeing.join(', ')}`],
      agree: tl.agree,
      of: tl.of
    })
  }

  // A node losing packets (lossy paths, in either direction, with at least two peers and half of those it has paths
  // with) can lose every echo and the SYN of one path in a round, even in a round where its loss is too thin for a
  // verdict: a path of such a node that is down is loss, not a one-way block or a broken overlay pair. (The peers of a
  // lossy node see loss with that one node only, so they do not count as losing.)
  const lossyPeers = new Map<string, Set<string>>()
  const pathPeers = new Map<string, Set<string>>()
  const note = (to: Map<string, Set<string>>, a: string, b: string): void => {
    to.set(a, (to.get(a) ?? new Set()).add(b))
    to.set(b, (to.get(b) ?? new Set()).add(a))
  }
  for (const m of both(i => i.all())) {
    note(pathPeers, name(m.source), name(m.target))
    if (m.result.received > 0 && m.result.received < m.result.sent) note(lossyPeers, name(m.source), name(m.target))
  }
  const losing = (n: string): boolean => {
    const lossy = lossyPeers.get(n)?.size ?? 0
    return lossy >= 2 && lossy * 2 >= (pathPeers.get(n)?.size ?? 0)
  }

  // one-way links and single overlay pairs not explained by a node-level verdict
  const oneWay: Verdict[] = []
  const overlayOne: Verdict[] = []
  for (const layer of ['host', 'pod'] as const) {
    for (const m of idx[layer].all()) {
      const a = name(m.source)
      const b = name(m.target)
      if (blamed.has(a) || blamed.has(b) || outboundBroken.has(a) || !down(m) || losing(a) || losing(b)) continue
      const back = idx[layer].get(b, a)
      if (back !== undefined && reached(back.result)) {
        oneWay.push({
          kind: 'one-way',
          subject: `${a} -> ${b}`,
          summary: `${layer} path ${a} -> ${b} (${ipOf(m.target, layer)}) fails while ${b} -> ${a} works: a one-way block (firewall, NetworkPolicy or asymmetric route)`,
          evidence: [`${a} -> ${b}: ${problemOf(m.result)}`, `${b} -> ${a}: ${problemOf(back.result)}`],
          agree: 1,
          of: 1
        })
      } else if (layer === 'pod' && overlayPairs.includes(m) && !explainedOverlay.has(`${a}>${b}`)) {
        overlayOne.push({
          kind: 'overlay',
          subject: `${a} -> ${b}`,
          summary: `pod path ${a} -> ${b} fails while the host path between their nodes works (CNI/overlay)`,
          evidence: [`pod: ${problemOf(m.result)}`],
          agree: 1,
          of: 1
        })
      }
    }
  }
  verdicts.push(...oneWay.slice(0, o.maxPairVerdicts), ...overlayOne.slice(0, o.maxPairVerdicts))

  verdicts.push(...serviceVerdicts(live, o))

  // sources whose data is old (alive but not probing), and silent agents nobody has blamed yet
  for (const s of live) {
    const times = [...s.results.host.values(), ...s.results.pod.values()].map((r: PathResult) => r.checkedAt)
    if (times.length === 0) continue
    const age = nowWall - Math.max(...times)
    if (age > o.staleAfterMs) {
      verdicts.push({ kind: 'stale', subject: name(s), summary: `${name(s)} on ${where(s)} is alive but its probe results are ${Math.round(age / 1000)} s old`, evidence: [], agree: 1, of: 1 })
    }
  }
  for (const l of lost) {
    if (blamed.has(name(l.record))) continue
    const ps = healthyPairsTo(name(l.record))
    const reaching = ps.filter(p => !p.down).length
    const seen = ps.length === 0
      ? 'no peer has measured it, so whether the node is up is unknown'
      : reaching === ps.length
        ? `its peers still reach it (${reaching} of ${ps.length}), so the agent itself may be stuck or its gossip port blocked`
        : `${reaching} of ${ps.length} peers still reach it (not enough to call it isolated)`
    verdicts.push({
      kind: 'stale',
      subject: name(l.record),
      summary: `${name(l.record)} on ${where(l.record)} has not been heard for ${Math.round(l.silentMs / 1000)} s; ${seen}`,
      evidence: ps.filter(p => p.down).map(p => `${p.source} cannot reach it`).slice(0, 5),
      agree: reaching,
      of: ps.length
    })
  }
  return verdicts
}

function serviceVerdicts (live: AgentRecord[], o: VerdictOptions): Verdict[] {
  const withSvc = live.filter(a => a.results.service !== null)
  const svc = withSvc[0]?.results.service
  if (svc === undefined || svc === null) return []
  const subject = `${svc.name}:${svc.port}`
  const out: Verdict[] = []
  const dnsFailed = withSvc.filter(a => a.results.service?.dnsOk === false)
  const endpointsFailed = withSvc.filter(a => a.results.service?.dnsOk === true && !(a.results.service.paths.some(p => p.tcp === 'open')))
  const scope = (failing: AgentRecord[]): string => failing.length / withSvc.length >= o.majority
    ? `on ${failing.length} of ${withSvc.length} agents`
    : `only from ${failing.map(name).join(', ')} (${failing.length} of ${withSvc.length} agents): look at those nodes`
  if (dnsFailed.length > 0) {
    const errors = [...new Set(dnsFailed.map(a => a.results.service?.dnsError ?? '?'))].join(', ')
    out.push({ kind: 'service-dns', subject, summary: `DNS lookup of ${svc.name} fails ${scope(dnsFailed)} (${errors})`, evidence: dnsFailed.map(a => `${name(a)}: ${a.results.service?.dnsError ?? '?'}`).slice(0, 10), agree: dnsFailed.length, of: withSvc.length })
  }
  if (endpointsFailed.length > 0) {
    out.push({
      kind: 'service-endpoints',
      subject,
      summary: `${svc.name} resolves, but no address accepts TCP port ${svc.port} ${scope(endpointsFailed)}: its endpoints (or kube-proxy) fail, not DNS`,
      evidence: endpointsFailed.slice(0, 10).map(a => `${name(a)}: ${(a.results.service?.paths ?? []).map(p => `${p.target} ${p.tcp}`).join(', ')}`),
      agree: endpointsFailed.length,
      of: withSvc.length
    })
  }
  return out
}
