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
  /** The report as text (default: ours, renderReport). */
  render?: (r: Report) => string
  print: (text: string) => void
  wallNow: () => number
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
    try {
      const text = (this.deps.render ?? renderReport)(this.deps.build())
      if (!isLeader()) return false
      this.deps.print(text)
      this.lastPrinted = interval
      this.printed++
      return true
    } catch (err) {
      this.deps.log.error({ err }, 'report failed')
      return false
    }
  }
}
