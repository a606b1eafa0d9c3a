// Pure: the periodic network report built from a view: the original tool's summary, failing pairs and verdicts.
import { addressesOf, addressIn, familyOf, primaryOf } from '../core/families.ts'
import type { AgentRecord, ExcludedNode, Layer } from '../core/record.ts'
import { excludedList, exclusionsOf } from './exclusions.ts'
import { pairOk, problemOf } from './paths.ts'
import { findVerdicts, type LostAgent, type Verdict, type VerdictOptions } from './verdicts.ts'
import { predecessorsOf } from './succession.ts'
import { numericOrder } from '../shared/numeric-order.ts'

export interface LayerSummary {
  total: number
  ok: number
  failed: number
  /** ok / total, 0..1 (1 when nothing was measured). */
  successRate: number
  avgMs: number | null
  totalMs: number
}

export interface FailingPair { layer: Layer, source: string, sourceIp: string, target: string, targetIp: string, problem: string }

export interface ServiceSummary {
  name: string
  port: number
  agents: number
  dnsOk: number
  reachable: number
  avgDnsMs: number | null
}

export interface Report {
  time: string
  /** This agent's clock minus the cluster's median, when beyond the skew threshold (the time above is corrected); else 0. */
  clockOffsetMs: number
  reporter: string | null
  activeAgents: number
  legacyClients: number
  /** Every live agent's node and pod addresses, both families on a dual-stack cluster (as GET /api/v1/hosts and /pods). */
  hostIps: string[]
  podIps: string[]
  layers: Record<Layer, LayerSummary>
  service: ServiceSummary | null
  failingPairs: FailingPair[]
  failingPairsTotal: number
  verdicts: Verdict[]
  /** Agents this reporter no longer hears (expired, not departed), newest silence first: still probed for a while. */
  silentAgents: Array<{ agent: string, node: string, silentS: number }>
  /** Nodes Kubernetes has set aside (cordoned, not ready, being removed): not judged, their pairs not counted failing. */
  excluded: ExcludedNode[]
}

export interface ReportInput {
  live: AgentRecord[]
  lost: LostAgent[]
  legacyClients: number
  /** The reporter's wall clock, corrected by its estimated offset from the cluster's median (display only). */
  nowWall: number
  clockOffsetMs?: number
  reporter: string | null
  maxFailingPairs?: number
  /** The verdicts, from the reachability model; without them, those of this one snapshot (findVerdicts). */
  verdicts?: Verdict[]
  verdictOptions?: VerdictOptions
  /** Excluded nodes (node -> why); default: what the Lease holder's record in `live` says. */
  excluded?: ReadonlyMap<string, string>
}

const sortIps = (ips: Iterable<string>): string[] => [...new Set(ips)].sort(numericOrder)

function summarise (live: AgentRecord[], layer: Layer): LayerSummary {
  let ok = 0
  let total = 0
  let totalMs = 0
  for (const a of live) {
    for (const r of a.results[layer].values()) {
      total++
      totalMs += r.durationMs
      if (pairOk(r)) ok++
    }
  }
  return { total, ok, failed: total - ok, successRate: total === 0 ? 1 : ok / total, avgMs: total === 0 ? null : totalMs / total, totalMs }
}

function serviceSummary (live: AgentRecord[]): ServiceSummary | null {
  const svcs = live.flatMap(a => a.results.service === null ? [] : [a.results.service])
  const first = svcs[0]
  if (first === undefined) return null
  const ok = svcs.filter(s => s.dnsOk)
  return {
    name: first.name,
    port: first.port,
    agents: svcs.length,
    dnsOk: ok.length,
    reachable: svcs.filter(s => s.paths.some(p => p.tcp === 'open')).length,
    avgDnsMs: ok.length === 0 ? null : ok.reduce((a, s) => a + s.dnsMs, 0) / ok.length
  }
}

export function buildReport (input: ReportInput): Report {
  const { live } = input
  const excluded = input.excluded ?? exclusionsOf(live)
  const replaced = predecessorsOf([...live.map(record => ({ record, silentMs: 0 })), ...input.lost], null, 0)
  const names = new Map<string, string>()
  const setAside = new Set<string>()
  for (const a of [...live, ...input.lost.map(l => l.record)]) {
    for (const layer of ['host', 'pod'] as const) {
      for (const ip of addressesOf(a.identity, layer)) {
        names.set(`${layer}:${ip}`, layer === 'host' ? a.identity.nodeName : a.identity.podName)
        if (excluded.has(a.identity.nodeName)) setAside.add(`${layer}:${ip}`)
      }
    }
  }
  const failing: FailingPair[] = []
  for (const layer of ['host', 'pod'] as const) {
    for (const a of live) {
      if (excluded.has(a.identity.nodeName)) continue
      for (const r of a.results[layer].values()) {
        const problem = problemOf(r)
        if (problem === 'ok' || setAside.has(`${layer}:${r.target}`)) continue
        failing.push({
          layer,
          source: layer === 'host' ? a.identity.nodeName : a.identity.podName,
          sourceIp: addressIn(a.identity, layer, familyOf(r.target)) ?? primaryOf(a.identity, layer),
          target: names.get(`${layer}:${r.target}`) ?? r.target,
          targetIp: r.target,
          problem
        })
      }
    }
  }
  failing.sort((x, y) => x.layer.localeCompare(y.layer) || x.source.localeCompare(y.source) || x.target.localeCompare(y.target))
  return {
    time: new Date(input.nowWall).toISOString(),
    clockOffsetMs: input.clockOffsetMs ?? 0,
    reporter: input.reporter,
    activeAgents: live.length,
    legacyClients: input.legacyClients,
    hostIps: sortIps(live.flatMap(a => addressesOf(a.identity, 'host'))),
    podIps: sortIps(live.flatMap(a => addressesOf(a.identity, 'pod'))),
    layers: { host: summarise(live, 'host'), pod: summarise(live, 'pod') },
    service: serviceSummary(live),
    failingPairs: failing.slice(0, input.maxFailingPairs ?? 20),
    failingPairsTotal: failing.length,
    verdicts: input.verdicts ?? findVerdicts(live, input.lost, input.verdictOptions),
    // (a silent pod that a later-heard one on its node outlived was replaced, not lost)
    silentAgents: input.lost.filter(l => !replaced.has(l.record.identity.podName)).slice(0, 50).map(l => ({ agent: l.record.identity.podName, node: l.record.identity.nodeName, silentS: Math.round(l.silentMs / 1000) })),
    excluded: excludedList(excluded)
  }
}
