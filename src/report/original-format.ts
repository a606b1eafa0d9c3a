// Pure: the periodic report in the original tool's printed layout and language (REPORT_FORMAT=original), then our verdicts.
import type { ExternalBody, LegacyPathResult } from '../core/record.ts'
import type { Report } from './report.ts'
import { verdictLines } from './render.ts'
import { numericOrder } from '../shared/numeric-order.ts'

const RULE = '='.repeat(80)
const THIN = '-'.repeat(80)
const LEGACY = ' (legacy)'

/** Go's time.Duration String() for a whole number of nanoseconds ("0s", "850ns", "1.5µs", "2.004ms", "1m30.5s"). */
export function goDuration (ns: number): string {
  if (ns === 0) return '0s'
  const sign = ns < 0 ? '-' : ''
  let u = Math.abs(Math.round(ns))
  const frac = (v: number, unit: number, digits: number): string => {
    const whole = Math.floor(v / unit)
    const rest = v - whole * unit
    return rest === 0 ? String(whole) : `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`
  }
  if (u < 1e3) return `${sign}${u}ns`
  if (u < 1e6) return `${sign}${frac(u, 1e3, 3)}µs`
  if (u < 1e9) return `${sign}${frac(u, 1e6, 6)}ms`
  const h = Math.floor(u / 3.6e12)
  u -= h * 3.6e12
  const m = Math.floor(u / 6e10)
  u -= m * 6e10
  const s = `${frac(u, 1e9, 9)}s`
  return sign + (h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s)
}

/** Go's "%.2f": like toFixed(2), but an exact tie rounds half to even. */
export function goFixed2 (x: number): string {
  const exact = x.toFixed(100)
  const dot = exact.indexOf('.')
  if (dot >= 0 && /^50*$/.test(exact.slice(dot + 3))) {
    const kept = exact.slice(0, dot + 3)
    if (Number(kept.at(-1)) % 2 === 0) return kept
  }
  return x.toFixed(2)
}

interface Summary { total: number, ok: number, ns: number }

const legacyOk = (r: LegacyPathResult): boolean => {
  const ports = Object.values(r.ports)
  return r.ping === 'reachable' && ports.length > 0 && ports.every(p => p === 'open')
}

function ipList (title: string, agentIps: string[], legacyIps: string[]): string[] {
  const agents = new Set(agentIps)
  const all = [...new Set([...agentIps, ...legacyIps])].sort(numericOrder)
  const lines = [`${title} (共${all.length}个):`]
  if (all.length === 0) lines.push('  无')
  all.forEach((ip, i) => lines.push(`  ${i + 1}. ${ip}${agents.has(ip) ? '' : LEGACY}`))
  lines.push('')
  return lines
}

function testSummary (title: string, s: Summary): string[] {
  const lines = [
    `${title}:`,
    `  总测试数: ${s.total}`,
    `  成功: ${s.ok}`,
    `  失败: ${s.total - s.ok}`,
    `  成功率: ${goFixed2(s.total === 0 ? 0 : s.ok / s.total * 100)}%`
  ]
  if (s.total > 0) {
    lines.push(`  平均耗时: ${goDuration(Math.trunc(s.ns / s.total))}`)
    lines.push(`  总耗时: ${goDuration(s.ns)}`)
  }
  lines.push('')
  return lines
}

/**
 * The report as the original's generator printed it, line for line (its Chinese headings, 80-column rules, numbered
 * IP lists, per-layer counts, success rate with two decimals and Go durations), from our report plus the legacy
 * clients' records held in the view (`legacy`: the external bodies): they count in the lists and totals, and an IP
 * only they bring is marked " (legacy)". An agent's own results win over a legacy report from the same source IP, as
 * in /api/v1 results. Our verdicts and failing pairs follow the original part.
 */
export function renderOriginal (r: Report, legacy: readonly ExternalBody[] = []): string[] {
  const heartbeats = legacy.flatMap(b => b.part === 'hb' ? [b.value] : [])
  const agentSources = { host: new Set(r.hostIps), pod: new Set(r.podIps) }
  const layer = (name: 'host' | 'pod'): Summary => {
    const ours = r.layers[name]
    const s: Summary = { total: ours.total, ok: ours.ok, ns: Math.round(ours.totalMs * 1e6) }
    for (const b of legacy) {
      if (b.part !== name || agentSources[name].has(b.source)) continue
      for (const p of b.value) {
        s.total++
        if (legacyOk(p)) s.ok++
        s.ns += (p.durationUs ?? 0) * 1000
      }
    }
    return s
  }
  const legacySvc = legacy.flatMap(b => b.part === 'svc' && !agentSources.pod.has(b.value.source) ? [b.value] : [])

  const lines: string[] = ['', RULE, '网络连通性报告', RULE]
  lines.push(`生成时间: ${r.time.slice(0, 10)} ${r.time.slice(11, 19)}`)
  lines.push(THIN)
  lines.push(`活跃客户端数量: ${r.activeAgents + r.legacyClients}`)
  lines.push('')
  lines.push(...ipList('宿主机IP列表', r.hostIps, heartbeats.map(h => h.nodeIp)))
  lines.push(...ipList('Pod IP列表', r.podIps, heartbeats.map(h => h.podIp)))
  lines.push(...testSummary('宿主机连通性测试统计', layer('host')))
  lines.push(...testSummary('Pod连通性测试统计', layer('pod')))
  const svcTotal = (r.service?.agents ?? 0) + legacySvc.length
  if (svcTotal > 0) {
    // ours succeed when some resolved address accepted the TCP connect; the original's clients by ping
    const ok = (r.service?.reachable ?? 0) + legacySvc.filter(s => s.ping === 'reachable').length
    lines.push(
      '自定义服务连通性测试统计:',
      `  服务名称: ${r.service?.name ?? legacySvc[0]?.target ?? ''}`,
      `  总测试数: ${svcTotal}`,
      `  成功: ${ok}`,
      `  失败: ${svcTotal - ok}`,
      `  成功率: ${goFixed2(ok / svcTotal * 100)}%`,
      ''
    )
  }
  lines.push(RULE, '')

  // ours, after the original's part
  lines.push(...verdictLines(r))
  return lines
}
