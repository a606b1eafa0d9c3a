// Runs a probe round every interval, jittered so agents do not probe in lockstep; rounds never overlap.
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import type { RoundResult } from './round.ts'
import type { RoundPlan } from './targets.ts'

export interface SchedulerDeps {
  /** The targets for a round; `round` is the shared interval index that rotates sampling. */
  plan: (round: number) => RoundPlan
  run: (plan: RoundPlan) => Promise<RoundResult>
  /** Publishes a round's results; `plan` says whether they are a sample. */
  publish: (result: RoundResult, plan: RoundPlan) => void
  log: Logger
  intervalMs: number
  wallNow: () => number
  random?: () => number
  /** Delay before the first round (lets discovery and anti-entropy fill the view first). */
  firstDelayMs?: number
}

export interface SchedulerStats { rounds: number, lastRoundMs: number | null, lastTargets: number, icmpError: string | null }

export class ProbeScheduler {
  readonly stats: SchedulerStats = { rounds: 0, lastRoundMs: null, lastTargets: 0, icmpError: null }
  private readonly deps: SchedulerDeps
  private readonly random: () => number
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | null = null
  private stopped = true

  constructor (deps: SchedulerDeps) {
    this.deps = deps
    this.random = deps.random ?? Math.random
  }

  start (): void {
    this.stopped = false
    const first = (this.deps.firstDelayMs ?? 1_000) + this.random() * Math.min(1_000, this.deps.intervalMs / 2)
    this.timer = setTimeout(() => { this.tick() }, first)
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
  }

  private tick (): void {
    if (this.stopped) return
    const started = performance.now()
    this.running = this.round().finally(() => {
      this.running = null
      if (this.stopped) return
      // next start: one interval (+-10 % jitter) after this one started, never before this one ended
      const next = this.deps.intervalMs * (0.9 + 0.2 * this.random())
      const wait = Math.max(100, next - (performance.now() - started))
      this.timer = setTimeout(() => { this.tick() }, wait)
    })
  }

  private async round (): Promise<void> {
    const { deps } = this
    const started = performance.now()
    try {
      const plan = deps.plan(Math.floor(deps.wallNow() / deps.intervalMs))
      const result = await deps.run(plan)
      if (this.stopped) return
      deps.publish(result, plan)
      this.stats.rounds++
      this.stats.lastRoundMs = performance.now() - started
      this.stats.lastTargets = plan.host.length + plan.pod.length
      if (result.icmpError !== this.stats.icmpError) {
        if (result.icmpError !== null) deps.log.warn({ err: result.icmpError }, 'ICMP probes unavailable (fping missing, net.ipv4.ping_group_range not covering this group, or an fping with a file capability the container cannot exec; see README, Troubleshooting); TCP probes go on')
        else deps.log.info('ICMP probes available again')
        this.stats.icmpError = result.icmpError
      }
      deps.log.debug({ ms: Math.round(this.stats.lastRoundMs), host: plan.host.length, pod: plan.pod.length, sampled: plan.sampled }, 'probe round')
    } catch (err) {
      deps.log.error({ err }, 'probe round failed')
    }
  }
}
