// Pure: the view-derived metric samples of one agent, shaped so that N agents export O(N) series in total:
// its own paths by outcome, what its peers see of it, and (the Lease holder only) the current verdicts.
import type { AgentRecord, Layer } from '../core/record.ts'
import { outcomeOf, PATH_OUTCOMES, type PathOutcome } from './paths.ts'
import type { Verdict } from './verdicts.ts'

export interface MetricSample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface MetricSampleInput {
  /** Live agents of the view, this agent among them. */
  agents: AgentRecord[]
  /** This agent's pod name. */
  self: string
  /** The verdicts, when this agent holds the Lease; null otherwise (only the holder exports them). */
  verdicts: Verdict[] | null
  /** At most this many verdict series (the report bounds them already; this is the last line of defence). */
  maxVerdicts: number
}

const LAYERS: readonly Layer[] = ['host', 'pod']
const ipOf = (a: AgentRecord, layer: Layer): string => layer === 'host' ? a.identity.nodeIp : a.identity.podIp

function median (xs: number[]): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

export function metricSamples (input: MetricSampleInput): MetricSample[] {
  const out: MetricSample[] = []
  const me = input.agents.find(a => a.identity.podName === input.self)
  for (const layer of LAYERS) {
    // my own outbound paths, by outcome (every outcome exported, zero included, so series never come and go)
    const counts = new Map<PathOutcome, number>(PATH_OUTCOMES.map(o => [o, 0]))
    for (const r of me?.results[layer].values() ?? []) counts.set(outcomeOf(r), (counts.get(outcomeOf(r)) ?? 0) + 1)
    for (const [outcome, n] of counts) out.push({ name: 'k8snet_paths', labels: { layer, outcome }, value: n })

    // what the others report about reaching me
    const myIp = me === undefined ? null : ipOf(me, layer)
    let measuring = 0
    let reaching = 0
    const rtts: number[] = []
    for (const a of input.agents) {
      if (a.identity.podName === input.self || myIp === null) continue
      const r = a.results[layer].get(myIp)
      if (r === undefined) continue
      measuring++
      const o = outcomeOf(r)
      if (o !== 'unreachable') reaching++
      if (r.rttMs !== null) rtts.push(r.rttMs / 1000)
    }
    out.push({ name: 'k8snet_inbound_peers_measuring', labels: { layer }, value: measuring })
    out.push({ name: 'k8snet_inbound_peers_reaching', labels: { layer }, value: reaching })
    out.push({ name: 'k8snet_inbound_rtt_median_seconds', labels: { layer }, value: median(rtts) ?? Number.NaN })
  }
  out.push({ name: 'k8snet_view_agents', labels: {}, value: input.agents.length })
  out.push({ name: 'k8snet_view_versions', labels: {}, value: new Set(input.agents.map(a => a.identity.version)).size })
  if (input.verdicts !== null) {
    // one series per culprit (at most MAX_CULPRIT_SERIES a verdict), labelled to join kube-state-metrics: a node
    // culprit as node="<node name>", a link "a -> b" as source/target pod names, the layer where the kind has one
    let series = 0
    for (const v of input.verdicts) {
      const value = v.of === 0 ? 1 : v.agree / v.of
      for (const culprit of (v.culprits.length === 0 ? [''] : v.culprits).slice(0, MAX_CULPRIT_SERIES)) {
        if (series++ >= input.maxVerdicts) break
        out.push({ name: 'k8snet_verdict', labels: { kind: v.kind, subject: v.subject, ...culpritLabels(culprit), layer: LAYER_OF[v.kind] ?? '' }, value })
      }
    }
    // labelled with the reporter: a gauge without labels would read 0 on every non-holder (never absent)
    out.push({ name: 'k8snet_verdicts', labels: { reporter: input.self }, value: input.verdicts.length })
  }
  return out
}

/** Culprit series per verdict (a partition names every node of the cut side: the first ones suffice to alert). */
const MAX_CULPRIT_SERIES = 20
/** The layer a verdict kind is about, where it is about one. */
const LAYER_OF: Partial<Record<Verdict['kind'], string>> = { overlay: 'pod', 'node-ip': 'host', 'port-closed': 'host', 'test-port': 'host' }

/** A culprit as labels: a link's two ends, a node's name, or neither (the Service, the pod network, TEST_PORT). */
function culpritLabels (culprit: string): { node: string, source: string, target: string } {
  const link = /^(\S+) (?:->|<->) (\S+)$/.exec(culprit)
  if (link !== null) return { node: '', source: link[1] ?? '', target: link[2] ?? '' }
  const node = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(culprit) && !NOT_NODES.has(culprit) ? culprit : ''
  return { node, source: '', target: '' }
}
const NOT_NODES = new Set(['service'])
