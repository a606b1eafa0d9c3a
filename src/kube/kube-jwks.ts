// The cluster's service-account signing keys (GET /openid/v1/jwks), fetched at start, refreshed hourly, and again
// (at most once a minute) when a token names a key not held: one small request per agent per hour at any size.
import type { Logger } from 'pino'
import { parseJwks, type Jwks } from '../core/sa-token.ts'
import type { KubeAccess } from './kube-access.ts'
import { kubeHttp } from './kube-http.ts'

export interface JwksSourceOptions {
  refreshMs?: number
  /** Retry after a failure (start-up, apiserver away). */
  retryMs?: number
  /** Least time between two fetches asked for by an unknown key. */
  minGapMs?: number
  now: () => number
  log: Logger
  onKeys: (jwks: Jwks) => void
}

export class JwksSource {
  fetched = 0
  failed = 0
  /**
   * The apiserver's clock minus this agent's, from its last answer: tokens are the apiserver's and carry its times,
   * so they are judged on its clock, whatever this node's says (null until an answer came).
   */
  issuerClockOffsetMs: number | null = null
  private readonly o: Required<Omit<JwksSourceOptions, 'log' | 'now' | 'onKeys'>> & JwksSourceOptions
  private readonly http: ReturnType<typeof kubeHttp>
  private timer: NodeJS.Timeout | undefined
  private lastFetch = -Infinity
  private inflight: Promise<void> | null = null
  private stopped = false

  constructor (access: KubeAccess, o: JwksSourceOptions) {
    this.o = { refreshMs: 3_600_000, retryMs: 10_000, minGapMs: 60_000, ...o }
    this.http = kubeHttp(access, { timeoutMs: 10_000, maxAnswerBytes: 256 * 1024, error: (status, message) => new Error(status === 0 ? message : `${status}: ${message}`) })
  }

  start (): void { void this.fetch() }
  stop (): void { this.stopped = true; clearTimeout(this.timer) }

  /** A token named a key not held: fetch again unless one was fetched within minGapMs. */
  unknownKey (): void {
    if (this.o.now() - this.lastFetch >= this.o.minGapMs) void this.fetch()
  }

  private async fetch (): Promise<void> {
    if (this.inflight !== null) { await this.inflight; return }
    this.inflight = (async () => {
      this.lastFetch = this.o.now()
      let next = this.o.refreshMs
      try {
        const a = await this.http.call('GET', `${this.http.base}/openid/v1/jwks`)
        if (a.clockOffsetMs !== null) this.issuerClockOffsetMs = a.clockOffsetMs
        if (a.status !== 200) throw new Error(`apiserver answered ${a.status}`)
        this.o.onKeys(parseJwks(a.body))
        this.fetched++
      } catch (err) {
        this.failed++
        next = this.o.retryMs
        this.o.log.warn({ err: (err as Error).message }, 'could not fetch the cluster\'s service-account keys (/openid/v1/jwks)')
      } finally {
        this.inflight = null
      }
      if (!this.stopped) {
        clearTimeout(this.timer)
        this.timer = setTimeout(() => { void this.fetch() }, next)
      }
    })()
    await this.inflight
  }
}
