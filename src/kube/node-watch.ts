// The Lease holder's watch of the cluster's Node objects (list, then watch from its resourceVersion, relist when the
// apiserver says the version is gone): which nodes Kubernetes has set aside, handed on as they change.
import type { Logger } from 'pino'
import type { ExcludedNode } from '../core/record.ts'
import type { KubeAccess } from './kube-access.ts'
import { kubeHttp, type KubeHttp, type KubeStream } from './kube-http.ts'
import { excludedNodes, exclusionOf, nodeMeta } from './node-state.ts'

/** The watch failed in a way a retry may mend (the apiserver down, forbidden until RBAC is applied...). */
export class NodeWatchError extends Error {
  readonly status: number
  constructor (status: number, message: string) {
    super(message)
    this.name = 'NodeWatchError'
    this.status = status
  }
}

export interface NodeWatchOptions {
  log: Logger
  /** Called with the whole list of excluded nodes whenever it changes (and once after the first list). */
  onChange: (excluded: ExcludedNode[]) => void
  /** The apiserver ends each watch after this long (timeoutSeconds); the watch is then renewed from where it was. */
  watchTimeoutS?: number
  /** Nodes per page of a list (limit / continue). */
  pageSize?: number
  /** Waits after a failure: doubling from the first, up to the second. */
  backoffMs?: [number, number]
  sleep?: (ms: number) => Promise<void>
}

const objOf = (v: unknown): Record<string, unknown> | null => typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : null
const messageOf = (body: unknown): string => { const m = objOf(body)?.message; return typeof m === 'string' ? m.slice(0, 300) : '' }

export class NodeWatch {
  private readonly http: KubeHttp
  private readonly o: NodeWatchOptions
  /** Excluded nodes by name, with why. */
  private readonly reasons = new Map<string, string>()
  private emitted = ''
  private running: Promise<void> | null = null
  private stopped = true
  private current: KubeStream | null = null
  private wake: (() => void) | null = null
  readonly stats = { lists: 0, watches: 0, events: 0, failures: 0 }

  constructor (access: KubeAccess, o: NodeWatchOptions) {
    // a page of 200 nodes is at most a few MB; one watch line is one Node
    this.http = kubeHttp(access, { timeoutMs: 30_000, maxAnswerBytes: 32 * 1024 * 1024, error: (status, message) => new NodeWatchError(status, message) })
    this.o = o
  }

  get excluded (): ExcludedNode[] { return excludedNodes(this.reasons) }

  start (): void {
    if (!this.stopped) return
    this.stopped = false
    this.running = this.loop()
  }

  /** Ends the watch; the excluded list is forgotten (a holder that stops holding stops speaking for the cluster). */
  async stop (): Promise<void> {
    this.stopped = true
    this.current?.abort()
    this.wake?.()
    await this.running
    this.running = null
    this.reasons.clear()
    this.emitted = ''
  }

  private async loop (): Promise<void> {
    const [first, most] = this.o.backoffMs ?? [1_000, 60_000]
    let wait = first
    let lastError = ''
    while (!this.stopped) {
      try {
        let rv: string | null = await this.list()
        wait = first
        if (lastError !== '') { this.o.log.info('watching Nodes again'); lastError = '' }
        while (!this.stopped && rv !== null) rv = await this.watch(rv)
      } catch (err) {
        if (this.stopped) break
        this.stats.failures++
        const msg = (err as Error).message
        // said once per kind of failure, not on every retry
        if (msg !== lastError) this.o.log.warn({ err: msg, retryInMs: wait }, 'cannot watch Nodes (cordoned and not-ready nodes are not excluded meanwhile; the ClusterRole k8snet-checker-nodes grants get, list, watch)')
        lastError = msg
        await this.pause(wait)
        wait = Math.min(most, wait * 2)
      }
    }
  }

  private async pause (ms: number): Promise<void> {
    if (this.o.sleep !== undefined) { await this.o.sleep(ms); return }
    await new Promise<void>(resolve => {
      const t = setTimeout(resolve, ms)
      this.wake = () => { clearTimeout(t); resolve() }
    })
    this.wake = null
  }

  /** Lists every Node (page by page); returns the list's resourceVersion to watch from. */
  private async list (): Promise<string> {
    const fresh = new Map<string, string>()
    let next = ''
    let rv = ''
    do {
      const q = new URLSearchParams({ limit: String(this.o.pageSize ?? 200), ...(next === '' ? {} : { continue: next }) })
      const a = await this.http.call('GET', `${this.http.base}/api/v1/nodes?${q.toString()}`)
      if (a.status !== 200) throw new NodeWatchError(a.status, `listing Nodes: apiserver answered ${a.status}${messageOf(a.body) === '' ? '' : `: ${messageOf(a.body)}`}`)
      const body = objOf(a.body)
      const items = body?.items
      if (!Array.isArray(items)) throw new NodeWatchError(a.status, 'listing Nodes: no items in the answer')
      for (const item of items) {
        const meta = nodeMeta(item)
        const why = exclusionOf(item)
        if (meta !== null && why !== null) fresh.set(meta.name, why)
      }
      const meta = objOf(body?.metadata)
      next = typeof meta?.continue === 'string' ? meta.continue : ''
      rv = typeof meta?.resourceVersion === 'string' ? meta.resourceVersion : rv
    } while (next !== '' && !this.stopped)
    this.stats.lists++
    this.reasons.clear()
    for (const [k, v] of fresh) this.reasons.set(k, v)
    this.emit()
    return rv
  }

  /** One watch from `rv`: applies its events; returns where to go on from, or null when the list must be taken again. */
  private async watch (rv: string): Promise<string | null> {
    const timeoutS = this.o.watchTimeoutS ?? 300
    const q = new URLSearchParams({ watch: 'true', resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutS) })
    let at: string | null = rv
    let gone = false
    this.stats.watches++
    const s = this.http.stream(`${this.http.base}/api/v1/nodes?${q.toString()}`, (ev) => {
      const e = objOf(ev)
      const type = e?.type
      const object = e?.object
      if (type === 'ERROR') {
        // 410 Gone: the version is too old to watch from
        if (objOf(object)?.code === 410) gone = true
        this.current?.abort()
        return
      }
      const meta = nodeMeta(object)
      if (meta === null) return
      if (meta.resourceVersion !== '') at = meta.resourceVersion
      if (type === 'BOOKMARK') return
      this.stats.events++
      const why = type === 'DELETED' ? null : exclusionOf(object)
      if (why === null) this.reasons.delete(meta.name)
      else this.reasons.set(meta.name, why)
      this.emit()
    }, (timeoutS + 60) * 1000)
    this.current = s
    try {
      const end = await s.done
      if (end.status === 410) return null
      if (end.status !== 200) throw new NodeWatchError(end.status, `watching Nodes: apiserver answered ${end.status}${messageOf(end.body) === '' ? '' : `: ${messageOf(end.body)}`}`)
    } catch (err) {
      if (gone || this.stopped) return gone ? null : at
      throw err
    } finally {
      this.current = null
    }
    return gone ? null : at
  }

  private emit (): void {
    const list = this.excluded
    const key = JSON.stringify(list)
    if (key === this.emitted) return
    this.emitted = key
    this.o.onChange(list)
  }
}
