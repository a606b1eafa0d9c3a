// Pure projections of the view into the original tool's JSON shapes (extra detail keys added, none removed).
import { addressesOf, familyOf, primaryOf } from '../core/families.ts'
import type { Layer, LegacyPathResult, PathResult, ServiceResult } from '../core/record.ts'
import type { AgentEntry, ExternalEntry } from '../core/view.ts'
import { coverage } from '../probe/targets.ts'
import { formatDuration } from '../shared/duration.ts'

export interface ViewSnapshot {
  agents: AgentEntry[]
  externals: ExternalEntry[]
}

/** "unknown" when ICMP could not be measured at all (no fping or no CAP_NET_RAW): never blamed on the network. */
import type { ClientCount, CoverageAnswer, PairMap, PairResult, PingStatus, ServiceRow } from './schemas.ts'
import { numericOrder } from '../shared/numeric-order.ts'
export type { PairMap, PairResult, PingStatus, ServiceRow }

const iso = (epochMs: number): string => new Date(epochMs).toISOString()
const sortIps = (ips: Iterable<string>): string[] => [...new Set(ips)].sort(numericOrder)

const pingStatus = (r: PathResult): PingStatus => r.sent === 0 ? 'unknown' : r.received > 0 ? 'reachable' : 'unreachable'

function agentPair (r: PathResult): PairResult {
  return {
    ping: pingStatus(r),
    port_status: r.tcp === 'open' ? 'open' : 'closed',
    test_duration: formatDuration(r.durationMs),
    port: r.port,
    rtt: r.rttMs === null ? null : formatDuration(r.rttMs),
    rtt_ms: r.rttMs,
    loss: r.sent === 0 ? null : Math.round((1 - r.received / r.sent) * 1000) / 1000,
    echoes_sent: r.sent,
    echoes_received: r.received,
    tcp: r.tcp,
    connect_ms: r.connectMs,
    checked_at: iso(r.checkedAt),
    source: 'agent'
  }
}

function legacyPortStatus (ports: Record<string, 'open' | 'closed'>): 'open' | 'closed' {
  const values = Object.values(ports)
  return values.length > 0 && values.every(v => v === 'open') ? 'open' : 'closed'
}

function legacyPair (r: LegacyPathResult): PairResult {
  return {
    ping: r.ping,
    port_status: legacyPortStatus(r.ports),
    test_duration: r.durationUs === null ? '' : formatDuration(r.durationUs / 1000),
    rtt: r.latencyUs === null ? null : formatDuration(r.latencyUs / 1000),
    rtt_ms: r.latencyUs === null ? null : r.latencyUs / 1000,
    checked_at: r.timestamp,
    source: 'legacy'
  }
}

/** Every node address (both families on a dual-stack cluster), legacy clients' included. */
export function hostIps (v: ViewSnapshot): string[] {
  return sortIps([...v.agents.flatMap(e => addressesOf(e.record.identity, 'host')), ...legacyHeartbeats(v).map(h => h.nodeIp)])
}

/** How many nodes (host) or pods (pod) the view holds, legacy clients' included: one a member, whatever its families. */
export function memberCount (v: ViewSnapshot, layer: Layer): number {
  return new Set([...v.agents.map(e => primaryOf(e.record.identity, layer)), ...legacyHeartbeats(v).map(h => primaryOf(h, layer))]).size
}

/** Every pod address (both families on a dual-stack cluster), legacy clients' included. */
export function podIps (v: ViewSnapshot): string[] {
  return sortIps([...v.agents.flatMap(e => addressesOf(e.record.identity, 'pod')), ...legacyHeartbeats(v).map(h => h.podIp)])
}

function legacyHeartbeats (v: ViewSnapshot): Array<{ nodeIp: string, podIp: string }> {
  return v.externals.flatMap(e => e.record.body.part === 'hb' ? [e.record.body.value] : [])
}

/**
 * The rows of one layer's pair map, in the order pairResults writes them (a later row for the same source replaces
 * an earlier one in its place). `from` is the object the row is projected from and `version` its version: a legacy
 * record never changes; an agent's results map changes in place only with a new results version (a delta), and is
 * replaced otherwise (a full record, the agent's own probe round). Same `from` and `version`: same row.
 */
export interface PairRowSource { source: string, from: object, version: number, row: () => Record<string, PairResult> }

export function pairRowSources (v: ViewSnapshot, layer: Layer): PairRowSource[] {
  const out: PairRowSource[] = []
  for (const e of v.externals) {
    const b = e.record.body
    if (b.part !== layer) continue
    out.push({
      source: b.source,
      from: e.record,
      version: 0,
      row: () => { const row: Record<string, PairResult> = {}; for (const r of b.value) row[r.target] = legacyPair(r); return row }
    })
  }
  for (const e of v.agents) {
    const results = e.record.results[layer]
    const sources = addressesOf(e.record.identity, layer)
    // dual-stack: each family's paths are a row of their own, under the agent's address of that family
    const mine = (target: string, source: string): boolean => sources.length === 1 || familyOf(target) === familyOf(source)
    for (const source of sources) {
      out.push({
        source,
        from: results,
        version: e.record.rv,
        row: () => { const row: Record<string, PairResult> = {}; for (const r of results.values()) if (mine(r.target, source)) row[r.target] = agentPair(r); return row }
      })
    }
  }
  return out
}

/** source IP -> target IP -> result, for one layer. An agent's own data wins over a legacy report for its IP. */
export function pairResults (v: ViewSnapshot, layer: Layer): PairMap {
  const out: PairMap = {}
  for (const s of pairRowSources(v, layer)) out[s.source] = s.row()
  return out
}

function agentServiceRow (src: string, s: ServiceResult): ServiceRow {
  const reachable = s.paths.find(p => p.received > 0)
  const open = s.paths.some(p => p.tcp === 'open')
  const connected = s.paths.find(p => p.tcp === 'open')
  const pathTime = s.paths.reduce((m, p) => Math.max(m, p.durationMs), 0)
  const latencyMs = reachable?.rttMs ?? connected?.connectMs ?? null
  const targets: Record<string, PairResult> = {}
  for (const p of s.paths) targets[p.target] = agentPair(p)
  return {
    source_ip: src,
    target_ip: s.addresses[0] ?? '',
    ping_status: reachable !== undefined ? 'reachable' : s.paths.length > 0 && s.paths.every(p => p.sent === 0) ? 'unknown' : 'unreachable',
    port_status: { [String(s.port)]: open ? 'open' : 'closed' },
    reachable: open,
    latency: latencyMs === null ? '' : formatDuration(latencyMs),
    test_duration: formatDuration(s.dnsMs + pathTime),
    timestamp: iso(s.checkedAt),
    service_name: s.name,
    dns: { ok: s.dnsOk, time: formatDuration(s.dnsMs), addresses: s.addresses, error: s.dnsError },
    targets,
    source: 'agent'
  }
}

/** source IP -> the Service check it reported. */
export function serviceResults (v: ViewSnapshot): Record<string, ServiceRow> {
  const out: Record<string, ServiceRow> = {}
  for (const e of v.externals) {
    const b = e.record.body
    if (b.part !== 'svc') continue
    const r = b.value
    out[r.source] = {
      source_ip: r.source,
      target_ip: r.target,
      ping_status: r.ping,
      port_status: r.ports,
      latency: r.latencyUs === null ? '' : formatDuration(r.latencyUs / 1000),
      test_duration: r.durationUs === null ? '' : formatDuration(r.durationUs / 1000),
      timestamp: r.timestamp,
      source: 'legacy'
    }
  }
  for (const e of v.agents) {
    const s = e.record.results.service
    if (s !== null) out[e.record.identity.podIp] = agentServiceRow(e.record.identity.podIp, s)
  }
  return out
}

/** Live agents plus live legacy clients (by heartbeat), and how many run each software version. */
export function clientCount (v: ViewSnapshot): ClientCount {
  const versions: Record<string, number> = {}
  for (const e of v.agents) versions[e.record.identity.version] = (versions[e.record.identity.version] ?? 0) + 1
  const legacy = legacyHeartbeats(v).length
  if (legacy > 0) versions.legacy = legacy
  return { active_client_count: v.agents.length + legacy, versions }
}

/** Per agent: how many other agents currently hold a result for its node (host) and its pod (pod). */
export function coverageReport (v: ViewSnapshot, k: number): CoverageAnswer {
  const records = v.agents.map(e => e.record)
  const cov = coverage(records)
  const agents: CoverageAnswer['agents'] = {}
  const want = Math.min(k, Math.max(0, records.length - 1))
  const gaps: string[] = []
  for (const r of records) {
    const c = cov.get(r.identity.podName) ?? { host: 0, pod: 0 }
    const second = r.identity.secondary
    agents[r.identity.podName] = {
      node_ip: r.identity.nodeIp,
      pod_ip: r.identity.podIp,
      ...(second?.nodeIp === undefined ? {} : { second_node_ip: second.nodeIp }),
      ...(second?.podIp === undefined ? {} : { second_pod_ip: second.podIp }),
      host: c.host,
      pod: c.pod
    }
    if (c.pod < want) gaps.push(r.identity.podName)
  }
  return { k: want, agents, gaps: gaps.sort() }
}
