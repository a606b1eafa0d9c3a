// Pure: the report as text for a person reading the lease holder's log.
import { formatDuration } from '../shared/duration.ts'
import type { Report } from './report.ts'

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`
const ms = (v: number | null): string => v === null ? '-' : formatDuration(v)

export function renderReport (r: Report): string {
  const lines: string[] = []
  lines.push(`==== k8snet-checker network report ${r.time}${r.reporter === null ? '' : ` (reporter ${r.reporter})`} ====`)
  if (r.clockOffsetMs !== 0) {
    lines.push(`(this agent's clock is ${formatDuration(Math.abs(r.clockOffsetMs))} ${r.clockOffsetMs > 0 ? 'ahead of' : 'behind'} the cluster's; the time above is the cluster's)`)
  }
  lines.push(`Active agents: ${r.activeAgents}${r.legacyClients > 0 ? ` (+ ${r.legacyClients} legacy clients)` : ''}`)
  if (r.silentAgents.length > 0) {
    lines.push(`Not heard (${r.silentAgents.length}): ${r.silentAgents.slice(0, 10).map(a => `${a.agent} on ${a.node} (${a.silentS} s)`).join(', ')}${r.silentAgents.length > 10 ? ', ...' : ''}`)
  }
  if (r.excluded.length > 0) {
    lines.push(`Excluded by Kubernetes, not judged (${r.excluded.length}): ${r.excluded.slice(0, 20).map(x => `${x.node} (${x.reason})`).join(', ')}${r.excluded.length > 20 ? ', ...' : ''}`)
  }
  lines.push(`Host IPs (${r.hostIps.length}): ${r.hostIps.join(', ')}`)
  lines.push(`Pod IPs (${r.podIps.length}): ${r.podIps.join(', ')}`)
  lines.push('')
  lines.push('Layer   Total      OK  Failed  Success   Avg time  Total time')
  for (const [name, l] of Object.entries(r.layers)) {
    lines.push(`${name.padEnd(6)} ${String(l.total).padStart(6)} ${String(l.ok).padStart(7)} ${String(l.failed).padStart(7)} ${pct(l.successRate).padStart(8)} ${ms(l.avgMs).padStart(10)} ${ms(l.totalMs).padStart(11)}`)
  }
  if (r.service !== null) {
    const s = r.service
    lines.push(`Service ${s.name}:${s.port}: DNS ok on ${s.dnsOk}/${s.agents} agents (avg ${ms(s.avgDnsMs)}), reachable over TCP from ${s.reachable}/${s.agents}`)
  } else {
    lines.push('Service: none configured (CUSTOM_SERVICE_NAME)')
  }
  lines.push('')
  lines.push(...verdictLines(r))
  lines.push('==== end of report ====')
  return lines.join('\n') + '\n'
}

/** The report's verdicts with their evidence, then its failing pairs: the part every report format ends with. */
export function verdictLines (r: Report): string[] {
  const lines: string[] = []
  if (r.verdicts.length === 0) {
    lines.push('Verdicts: none, no fault localised.')
  } else {
    lines.push(`Verdicts (${r.verdicts.length}):`)
    for (const v of r.verdicts) {
      lines.push(`  [${v.kind.toUpperCase()}] ${v.summary} [${v.agree}/${v.of} agree]`)
      for (const e of v.evidence) lines.push(`      - ${e}`)
    }
  }
  if (r.failingPairsTotal > 0) {
    lines.push(`Failing pairs (${r.failingPairs.length} of ${r.failingPairsTotal}):`)
    for (const p of r.failingPairs) lines.push(`  ${p.layer.padEnd(4)} ${p.source} (${p.sourceIp}) -> ${p.target} (${p.targetIp}): ${p.problem}`)
  } else {
    lines.push('Failing pairs: none')
  }
  return lines
}
