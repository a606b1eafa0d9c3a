// The stand-in apiserver's Node objects, served as kube-apiserver serves them: a list in pages (limit, continue), a
// watch (chunked JSON lines from a resourceVersion, ended after timeoutSeconds; an ERROR event with a 410 Status for
// a version older than the kept history), and the changes a test makes (cordon, NotReady, autoscaler removal).
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

export const NODES_PATH = '/api/v1/nodes'

/** What a test can set on a Node. */
export interface NodeChange {
  unschedulable?: boolean
  /** The Ready condition's status: true, false, or 'Unknown' (the node controller's word when the kubelet is silent). */
  ready?: boolean | 'Unknown'
  /** Taint the node as the cluster autoscaler does before removing it. */
  autoscalerRemoval?: boolean
}

interface NodeObject {
  apiVersion: 'v1'
  kind: 'Node'
  metadata: { name: string, uid: string, resourceVersion: string, creationTimestamp: string, labels: Record<string, string> }
  spec: { unschedulable?: boolean, taints?: Array<{ key: string, effect: string }> }
  status: { conditions: Array<{ type: string, status: string, reason: string, message: string, lastTransitionTime: string }> }
}

interface WatchEvent { rv: number, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: NodeObject }

/** Events kept for watches that resume from an older version (kube-apiserver's watch cache keeps a window too). */
const HISTORY = 500

export class NodeStore {
  private rv = 5000
  private readonly nodes = new Map<string, NodeObject>()
  private readonly history: WatchEvent[] = []
  private readonly watchers = new Set<{ res: ServerResponse, timer: NodeJS.Timeout }>()
  readonly stats = { lists: 0, watches: 0 }

  /** The Node exists (Ready, schedulable, linux), created if it did not. */
  ensure (name: string): void {
    if (this.nodes.has(name)) return
    const now = new Date().toISOString()
    const node: NodeObject = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, uid: randomUUID(), resourceVersion: '', creationTimestamp: now, labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': name } },
      spec: {},
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastTransitionTime: now }] }
    }
    this.nodes.set(name, node)
    this.record('ADDED', node)
  }

  change (name: string, c: NodeChange): void {
    this.ensure(name)
    const node = this.nodes.get(name) as NodeObject
    if (c.unschedulable !== undefined) {
      if (c.unschedulable) node.spec.unschedulable = true
      else delete node.spec.unschedulable
    }
    if (c.autoscalerRemoval !== undefined) {
      const others = (node.spec.taints ?? []).filter(t => t.key !== 'ToBeDeletedByClusterAutoscaler')
      node.spec.taints = c.autoscalerRemoval ? [...others, { key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] : others
    }
    if (c.ready !== undefined) {
      const status = c.ready === true ? 'True' : c.ready === false ? 'False' : 'Unknown'
      const reason = c.ready === true ? 'KubeletReady' : c.ready === false ? 'KubeletNotReady' : 'NodeStatusUnknown'
      node.status.conditions = [{ type: 'Ready', status, reason, message: reason, lastTransitionTime: new Date().toISOString() }]
    }
    this.record('MODIFIED', node)
  }

  remove (name: string): void {
    const node = this.nodes.get(name)
    if (node === undefined) return
    this.nodes.delete(name)
    this.record('DELETED', node)
  }

  /** Ends every open watch (the apiserver going down). */
  closeWatches (): void {
    for (const w of this.watchers) { clearTimeout(w.timer); w.res.end() }
    this.watchers.clear()
  }

  private record (type: WatchEvent['type'], node: NodeObject): void {
    node.metadata.resourceVersion = String(++this.rv)
    const ev: WatchEvent = { rv: this.rv, type, object: structuredClone(node) }
    this.history.push(ev)
    if (this.history.length > HISTORY) this.history.shift()
    for (const w of this.watchers) w.res.write(JSON.stringify({ type, object: ev.object }) + '\n')
  }

  /** GET /api/v1/nodes: a list page, or a watch. `send` answers with a JSON body (errors go through it too). */
  handle (req: IncomingMessage, res: ServerResponse, url: URL, send: (code: number, body: object) => void): void {
    const q = url.searchParams
    if (q.get('watch') === 'true' || q.get('watch') === '1') { this.watch(res, q); return }
    this.stats.lists++
    const limit = Math.max(0, Number(q.get('limit') ?? '0')) || Infinity
    const names = [...this.nodes.keys()].sort()
    const after = q.get('continue') === null ? '' : Buffer.from(q.get('continue') ?? '', 'base64url').toString('utf8')
    const rest = names.filter(n => n > after)
    const page = rest.slice(0, limit)
    const more = rest.length > page.length
    send(200, {
      apiVersion: 'v1',
      kind: 'NodeList',
      metadata: { resourceVersion: String(this.rv), ...(more ? { continue: Buffer.from(page[page.length - 1] ?? '').toString('base64url') } : {}) },
      items: page.map(n => this.nodes.get(n))
    })
  }

  private watch (res: ServerResponse, q: URLSearchParams): void {
    this.stats.watches++
    const from = Number(q.get('resourceVersion') ?? '0')
    const timeoutS = Math.min(Number(q.get('timeoutSeconds') ?? '1800') || 1800, 3600)
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
    const oldest = this.history[0]?.rv ?? this.rv + 1
    if (from > 0 && from < oldest - 1) {
      const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${oldest - 1})`, reason: 'Expired', code: 410 }
      res.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n')
      return
    }
    for (const ev of this.history) if (ev.rv > from) res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n')
    const w = { res, timer: setTimeout(() => { this.watchers.delete(w); res.end() }, timeoutS * 1000) }
    this.watchers.add(w)
    res.on('close', () => { clearTimeout(w.timer); this.watchers.delete(w) })
  }
}
