// One probe round: DNS for the Service, then one fping batch for every IP alongside bounded TCP connects.
import type { PathResult, ServiceResult } from '../core/record.ts'
import type { DnsResult } from './dns-probe.ts'
import type { EchoResult } from './fping.ts'
import { mapLimit } from './limit.ts'
import type { ProbeTarget, RoundPlan } from './targets.ts'
import type { TcpResult } from './tcp-probe.ts'
import { failing } from './watch.ts'

/** The probers, passed in so tests and benchmarks can run rounds against anything. */
export interface Probers {
  /** ICMP echoes to every IP (`echoes` each; default: the configured count). */
  icmp: (ips: string[], echoes?: number) => Promise<Map<string, EchoResult>>
  tcp: (ip: string, port: number, timeoutMs: number) => Promise<TcpResult>
  dns: (name: string, timeoutMs: number) => Promise<DnsResult>
  /** Epoch ms, stamped on results (display only). */
  wallNow: () => number
}

export interface RoundOptions {
  timeoutMs: number
  concurrency: number
  service: { name: string, port: number } | null
  /** Whether a swept target's echoes call for a full probe now (watch.ts); without it the sweep only pings. */
  suspect?: (ip: string, echo: EchoResult | undefined) => boolean
  /** More suspects than this on a layer in one round: none is promoted (a wide outage is the sample's to show). */
  maxPromoted?: number
}

export interface RoundResult {
  host: PathResult[]
  pod: PathResult[]
  service: ServiceResult | null
  /** Set when ICMP could not run at all (then every path has sent = 0). */
  icmpError: string | null
  /** Every echo result of the round, the sweep's included. */
  echoes: Map<string, EchoResult>
  /** Swept targets found silent whose full probe failed too (their results are in host and pod). */
  promoted: number
}

const unique = (targets: ProbeTarget[]): string[] => [...new Set(targets.map(t => t.ip))]

const mean = (xs: number[]): number | null => xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length

function pathResult (target: string, port: number, echo: EchoResult | undefined, tcp: TcpResult, timeoutMs: number, at: number): PathResult {
  const sent = echo?.sent ?? 0
  const received = echo?.received ?? 0
  // the slowest of the target's checks: its slowest echo (or the timeout when one was lost) and its connect
  const icmpMs = sent === 0 ? 0 : received < sent ? timeoutMs : Math.max(...(echo?.rttsMs ?? [0]))
  const tcpMs = tcp.connectMs ?? timeoutMs
  return {
    target,
    port,
    sent,
    received,
    rttMs: mean(echo?.rttsMs ?? []),
    tcp: tcp.tcp,
    connectMs: tcp.connectMs,
    durationMs: Math.max(icmpMs, tcpMs),
    checkedAt: at
  }
}

/** Echoes per swept target: one, since a silent one is probed again in full before anything is reported. */
export const SWEEP_ECHOES = 1

export async function runRound (plan: RoundPlan, opts: RoundOptions, probers: Probers): Promise<RoundResult> {
  const dns = opts.service === null ? null : await probers.dns(opts.service.name, opts.timeoutMs)
  const svcTargets = dns === null || opts.service === null ? [] : dns.addresses.map(ip => ({ ip, port: opts.service?.port ?? 0 }))
  const all = [...plan.host, ...plan.pod, ...svcTargets]
  const swept = [...plan.sweep?.host ?? [], ...plan.sweep?.pod ?? []]
  let icmpError: string | null = null
  const icmp = async (ips: string[], echoes?: number): Promise<Map<string, EchoResult>> => ips.length === 0
    ? new Map()
    : await probers.icmp(ips, echoes).catch((err: unknown) => { icmpError = (err as Error).message; return new Map<string, EchoResult>() })
  const tcp = async (targets: ProbeTarget[]): Promise<TcpResult[]> => await mapLimit(targets, opts.concurrency, async t => await probers.tcp(t.ip, t.port, opts.timeoutMs))
  // the round's own targets, then (beside their TCP checks) the sweep of everyone else with ICMP alone
  const [[echoes, sweepEchoes], tcps] = await Promise.all([
    icmp(unique(all)).then(async e => [e, await icmp(unique(swept), SWEEP_ECHOES)] as const),
    tcp(all)
  ])
  // a swept target gone silent is probed again in full now; it is reported only if that probe fails too
  const suspect = opts.suspect
  const pick = (list: ProbeTarget[] | undefined): ProbeTarget[] => {
    if (suspect === undefined || icmpError !== null) return []
    const silent = (list ?? []).filter(t => suspect(t.ip, sweepEchoes.get(t.ip)))
    // more gone silent at once than the watch holds is a wide outage (or this agent's own): the unbiased sample
    // shows it as it is, where a watch full of failures would tilt every share this agent's evidence is judged by
    return silent.length > (opts.maxPromoted ?? Infinity) ? [] : silent
  }
  const silent = { host: pick(plan.sweep?.host), pod: pick(plan.sweep?.pod) }
  const recheck = [...silent.host, ...silent.pod]
  const [confirmEchoes, confirmTcps] = await Promise.all([icmp(unique(recheck)), tcp(recheck)])
  const at = probers.wallNow()
  const result = (t: ProbeTarget, e: Map<string, EchoResult>, r: TcpResult | undefined): PathResult =>
    pathResult(t.ip, t.port, e.get(t.ip), r ?? { tcp: 'unreachable', connectMs: null }, opts.timeoutMs, at)
  const results = all.map((t, i) => result(t, echoes, tcps[i]))
  const confirmed = recheck.map((t, i) => result(t, confirmEchoes, confirmTcps[i]))
  const failed = (from: number, to: number): PathResult[] => confirmed.slice(from, to).filter(failing)
  const late = { host: failed(0, silent.host.length), pod: failed(silent.host.length, recheck.length) }
  const host = [...results.slice(0, plan.host.length), ...late.host]
  const pod = [...results.slice(plan.host.length, plan.host.length + plan.pod.length), ...late.pod]
  let service: ServiceResult | null = null
  if (dns !== null && opts.service !== null) {
    service = {
      name: opts.service.name,
      port: opts.service.port,
      dnsOk: dns.ok,
      dnsMs: dns.ms,
      dnsError: dns.error,
      addresses: dns.addresses,
      paths: results.slice(plan.host.length + plan.pod.length),
      checkedAt: at
    }
  }
  return { host, pod, service, icmpError, echoes: new Map([...sweepEchoes, ...echoes, ...confirmEchoes]), promoted: late.host.length + late.pod.length }
}
