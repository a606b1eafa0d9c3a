// One probe round: DNS for the Service, then one fping batch for every IP alongside bounded TCP connects.
import type { PathResult, ServiceResult } from '../gossip/record.ts'
import type { DnsResult } from './dns-probe.ts'
import type { EchoResult } from './fping.ts'
import { mapLimit } from './limit.ts'
import type { RoundPlan } from './targets.ts'
import type { TcpResult } from './tcp-probe.ts'

/** The probers, passed in so tests and benchmarks can run rounds against anything. */
export interface Probers {
  icmp: (ips: string[]) => Promise<Map<string, EchoResult>>
  tcp: (ip: string, port: number, timeoutMs: number) => Promise<TcpResult>
  dns: (name: string, timeoutMs: number) => Promise<DnsResult>
  /** Epoch ms, stamped on results (display only). */
  wallNow: () => number
}

export interface RoundOptions {
  timeoutMs: number
  concurrency: number
  service: { name: string, port: number } | null
}

export interface RoundResult {
  host: PathResult[]
  pod: PathResult[]
  service: ServiceResult | null
  /** Set when ICMP could not run at all (then every path has sent = 0). */
  icmpError: string | null
}

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

export async function runRound (plan: RoundPlan, opts: RoundOptions, probers: Probers): Promise<RoundResult> {
  const dns = opts.service === null ? null : await probers.dns(opts.service.name, opts.timeoutMs)
  const svcTargets = dns === null || opts.service === null ? [] : dns.addresses.map(ip => ({ ip, port: opts.service?.port ?? 0 }))
  const all = [...plan.host, ...plan.pod, ...svcTargets]
  const ips = [...new Set(all.map(t => t.ip))]
  let icmpError: string | null = null
  const [echoes, tcps] = await Promise.all([
    probers.icmp(ips).catch((err: unknown) => { icmpError = (err as Error).message; return new Map<string, EchoResult>() }),
    mapLimit(all, opts.concurrency, async t => await probers.tcp(t.ip, t.port, opts.timeoutMs))
  ])
  const at = probers.wallNow()
  const results = all.map((t, i) => pathResult(t.ip, t.port, echoes.get(t.ip), tcps[i] ?? { tcp: 'unreachable', connectMs: null }, opts.timeoutMs, at))
  const host = results.slice(0, plan.host.length)
  const pod = results.slice(plan.host.length, plan.host.length + plan.pod.length)
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
  return { host, pod, service, icmpError }
}
