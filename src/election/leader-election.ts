// Lease-based leader election with client-go's semantics: acquire when expired or released, renew within the
// renew deadline or step down, optimistic concurrency on resourceVersion, release on shutdown.
import type { Logger } from 'pino'
import { LeaseConflict, type LeaseRecord, type LeaseStore } from './lease-store.ts'

export interface ElectionOptions {
  identity: string
  leaseDurationMs: number
  renewDeadlineMs: number
  retryPeriodMs: number
  /** Monotonic clock (ms) for every expiry decision; the Lease's own times are informational. */
  now: () => number
  wallNow: () => Date
  random?: () => number
  /** Waits `ms` on the `now` clock (default: a timer); a simulated clock passes its own. */
  delay?: (ms: number) => Promise<void>
  log: Logger
  onStartedLeading: () => void
  onStoppedLeading: (reason: string) => void
}

export interface ElectionState {
  enabled: boolean
  leading: boolean
  holder: string | null
  transitions: number
  lastRenewAgoMs: number | null
  /** Another agent holds the Lease and renewed it within its duration, as this agent last read it. */
  heldByOther: boolean
  attempts: number
  failures: number
}

async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no answer within ${ms} ms`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

const sameRecord = (a: LeaseRecord | null, b: LeaseRecord | null): boolean =>
  a !== null && b !== null && a.resourceVersion === b.resourceVersion && a.holder === b.holder

export class LeaderElection {
  private readonly store: LeaseStore
  private readonly o: ElectionOptions
  private readonly random: () => number
  private enabled = false
  private leading = false
  private lastRenewAt = -Infinity
  private observed: LeaseRecord | null = null
  private observedAt = -Infinity
  /** When the Lease last seen held by another expires by this agent's clock (Infinity: not held by another). */
  private heldUntil = Infinity
  private attempts = 0
  private failures = 0
  private wake: (() => void) | null = null
  private loop: Promise<void> | null = null

  constructor (store: LeaseStore, opts: ElectionOptions) {
    if (!(opts.leaseDurationMs > opts.renewDeadlineMs && opts.renewDeadlineMs > opts.retryPeriodMs)) {
      throw new Error('lease duration > renew deadline > retry period is required')
    }
    this.store = store
    this.o = opts
    this.random = opts.random ?? Math.random
  }

  /** Leader and still inside its own renew deadline: the fence to check right before acting as leader. */
  isLeader (): boolean {
    return this.leading && this.o.now() - this.lastRenewAt < this.o.renewDeadlineMs
  }

  state (): ElectionState {
    return {
      enabled: this.enabled,
      leading: this.isLeader(),
      holder: this.observed === null || this.observed.holder === '' ? null : this.observed.holder,
      transitions: this.observed?.transitions ?? 0,
      lastRenewAgoMs: this.lastRenewAt === -Infinity ? null : Math.round(this.o.now() - this.lastRenewAt),
      heldByOther: this.heldUntil !== Infinity && this.heldUntil > this.o.now(),
      attempts: this.attempts,
      failures: this.failures
    }
  }

  /** Starts contending (idempotent). */
  enable (): void {
    if (this.enabled) return
    this.enabled = true
    this.loop = this.run()
  }

  /** Stops contending; a leader releases the Lease so another contender takes over at once. */
  async disable (): Promise<void> {
    if (!this.enabled) return
    this.enabled = false
    this.wake?.()
    await this.loop
    if (this.leading) await this.release()
  }

  /** Try now instead of at the next retry (e.g. the leader was seen leaving). */
  poke (): void { this.wake?.() }

  private async sleep (ms: number): Promise<void> {
    const delay = this.o.delay
    await new Promise<void>(resolve => {
      if (delay === undefined) {
        const t = setTimeout(() => { this.wake = null; resolve() }, ms)
        this.wake = () => { clearTimeout(t); this.wake = null; resolve() }
        return
      }
      const done = (): void => { this.wake = null; resolve() }
      this.wake = done
      void delay(ms).then(() => { if (this.wake === done) done() })
    })
  }

  private async run (): Promise<void> {
    while (this.enabled) {
      const ok = await this.tryAcquireOrRenew()
      if (!this.enabled) break
      const now = this.o.now()
      if (ok) {
        this.lastRenewAt = now
        if (!this.leading) {
          this.leading = true
          this.o.log.info({ transitions: this.observed?.transitions }, 'became the reporter (Lease acquired)')
          this.o.onStartedLeading()
        }
      } else if (this.leading && now - this.lastRenewAt >= this.o.renewDeadlineMs) {
        this.leading = false
        this.o.log.warn('stopped being the reporter: Lease not renewed within the renew deadline')
        this.o.onStoppedLeading('renew deadline passed')
      }
      // leaders renew every retry period; contenders look twice as often, and once more right when the Lease they
      // saw held expires, so that after a holder dies the takeover comes within lease duration + half a retry
      // period of its last renewal (the observation lags the renewal by at most one look)
      const base = this.leading ? this.o.retryPeriodMs : this.o.retryPeriodMs / 2
      // (an expiry already past, e.g. the apiserver failing since, gives no early wake: never a tight loop)
      const wait = base * (0.95 + 0.1 * this.random())
      const untilExpiry = this.leading ? Infinity : this.heldUntil - this.o.now()
      await this.sleep(untilExpiry > 0 ? Math.min(wait, untilExpiry) : wait)
    }
  }

  private desired (old: LeaseRecord | null): Omit<LeaseRecord, 'resourceVersion'> {
    const wall = this.o.wallNow()
    const mine = old !== null && old.holder === this.o.identity
    return {
      holder: this.o.identity,
      durationS: Math.ceil(this.o.leaseDurationMs / 1000),
      acquireTime: mine ? old.acquireTime : wall,
      renewTime: wall,
      transitions: old === null ? 0 : mine ? old.transitions : old.transitions + 1
    }
  }

  /** One attempt; true when this agent holds the Lease afterwards. */
  private async tryAcquireOrRenew (): Promise<boolean> {
    this.attempts++
    const timeout = Math.max(500, Math.min(this.o.renewDeadlineMs / 2, 5_000))
    try {
      const old = await withTimeout(this.store.get(), timeout)
      if (old === null) {
        this.observed = await withTimeout(this.store.create(this.desired(null)), timeout)
        this.observedAt = this.o.now()
        return true
      }
      if (!sameRecord(old, this.observed)) {
        this.observed = old
        this.observedAt = this.o.now()
      }
      const heldByOther = old.holder !== '' && old.holder !== this.o.identity
      this.heldUntil = heldByOther ? this.observedAt + old.durationS * 1000 : Infinity
      if (heldByOther && this.heldUntil > this.o.now()) return false
      this.observed = await withTimeout(this.store.update(this.desired(old), old.resourceVersion), timeout)
      this.observedAt = this.o.now()
      return true
    } catch (err) {
      if (!(err instanceof LeaseConflict)) {
        this.failures++
        this.o.log.debug({ err: (err as Error).message }, 'lease attempt failed')
      }
      return false
    }
  }

  /** Gives the Lease up: empty holder, 1 s duration, so the next contender need not wait it out. */
  private async release (): Promise<void> {
    const was = this.leading
    this.leading = false
    try {
      const old = await withTimeout(this.store.get(), 2_000)
      if (old !== null && old.holder === this.o.identity) {
        const wall = this.o.wallNow()
        await withTimeout(this.store.update({ holder: '', durationS: 1, acquireTime: wall, renewTime: wall, transitions: old.transitions }, old.resourceVersion), 2_000)
        this.o.log.info('released the Lease')
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'could not release the Lease; it will expire')
    }
    if (was) this.o.onStoppedLeading('released')
  }
}
