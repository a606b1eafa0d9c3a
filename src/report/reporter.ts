// Prints the report every REPORT_INTERVAL, on wall-clock boundaries, only while this agent holds the Lease
// (checked right before printing: a holder that lost the apiserver past its renew deadline stays silent).
import type { Logger } from 'pino'
import { renderReport } from './render.ts'
import type { Report } from './report.ts'

export interface ReporterDeps {
  intervalMs: number
  /** The fence: true only while the Lease is held and renewed within the renew deadline. */
  isLeader: () => boolean
  build: () => Report
  /** The report as text (default: ours, renderReport); '' prints none (the JSON record alone). */
  render?: (r: Report) => string
  print: (text: string) => void
  /** Counts each printed report as it happens, with the CPU seconds building and printing it took (the metrics). */
  events?: { reportPrinted: (cpuSeconds: number) => void }
  wallNow: () => number
  /** CPU ms of this thread so far (a clock for the cost of a report; absent: not measured, 0). */
  cpuNow?: () => number
  log: Logger
}

export class Reporter {
  /** The wall-clock interval index last printed (one print per interval at most). */
  lastPrinted: number | null = null
  printed = 0
  private readonly deps: ReporterDeps
  private timer: NodeJS.Timeout | undefined

  constructor (deps: ReporterDeps) {
    this.deps = deps
  }

  start (): void { this.schedule() }
  stop (): void { clearTimeout(this.timer) }

  private schedule (): void {
    const { intervalMs, wallNow } = this.deps
    const delay = intervalMs - (wallNow() % intervalMs)
    this.timer = setTimeout(() => { this.tick(); this.schedule() }, delay)
  }

  /** Prints this interval's report if this agent is the fenced leader and has not printed it yet. */
  tick (): boolean {
    const { intervalMs, wallNow, isLeader } = this.deps
    // timers fire at (or just after) a boundary: rounding names the boundary being served
    const interval = Math.round(wallNow() / intervalMs)
    if (interval === this.lastPrinted || !isLeader()) return false
    const cpu0 = this.deps.cpuNow?.() ?? 0
    try {
      const report = this.deps.build()
      const text = (this.deps.render ?? renderReport)(report)
      if (!isLeader()) return false
      if (text !== '') this.deps.print(text)
      // the same report as one JSON log record, for log pipelines (whatever the text's format)
      const record = reportRecord(report)
      const cpuMs = (this.deps.cpuNow?.() ?? 0) - cpu0
      this.deps.log.info({ report: record, cpu_ms: Math.round(cpuMs * 10) / 10 }, 'network report')
      this.lastPrinted = interval
      this.printed++
      this.deps.events?.reportPrinted(cpuMs / 1000)
      return true
    } catch (err) {
      this.deps.log.error({ err }, 'report failed')
      return false
    }
  }
}

/**
 * The report as one structured log record: counts, verdicts (kind, subject, culprits, summary, agreement), the
 * failing pairs (already bounded), the silent agents and the excluded nodes; the IP lists are left out (their counts stay).
 */
export function reportRecord (r: Report): Record<string, unknown> {
  return {
    time: r.time,
    reporter: r.reporter,
    agents: r.activeAgents,
    legacyClients: r.legacyClients,
    hosts: r.hostIps.length,
    pods: r.podIps.length,
    layers: r.layers,
    service: r.service,
    verdicts: r.verdicts.map(v => ({ kind: v.kind, subject: v.subject, culprits: v.culprits, summary: v.summary, agree: v.agree, of: v.of, ...(v.observer === true ? { observer: true } : {}) })),
    failingPairs: r.failingPairs,
    failingPairsTotal: r.failingPairsTotal,
    silentAgents: r.silentAgents,
    excluded: r.excluded,
    clockOffsetMs: r.clockOffsetMs
  }
}
