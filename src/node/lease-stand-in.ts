// A stand-in Kubernetes API server for Leases (tests and the demo): a real HTTP server, strict like the apiserver.
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { writeFileSync } from 'node:fs'

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/
const PATH = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([a-z0-9-]{1,63})\/leases(?:\/([a-z0-9.-]{1,253}))?$/

interface StoredLease {
  metadata: { name: string, namespace: string, uid: string, resourceVersion: string, creationTimestamp: string }
  spec: Record<string, unknown>
}

export interface StandInStats {
  /** Requests per bearer token (each agent gets its own token, so this counts per caller). */
  byToken: Record<string, number>
  rejected: Record<string, number>
  writes: number
}

class HttpError extends Error {
  readonly code: number
  readonly reason: string
  constructor (code: number, reason: string, message: string) {
    super(message)
    this.code = code
    this.reason = reason
  }
}

function status (code: number, reason: string, message: string, name?: string): object {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    details: name === undefined ? { group: 'coordination.k8s.io', kind: 'leases' } : { name, group: 'coordination.k8s.io', kind: 'leases' },
    code
  }
}

export interface StandInTls { key: Buffer, cert: Buffer, clientCa?: Buffer }

export class LeaseStandIn {
  readonly tokens: Set<string>
  readonly stats: StandInStats = { byToken: {}, rejected: {}, writes: 0 }
  private readonly leases = new Map<string, StoredLease>()
  private revision = 1000
  private server: Server | null = null
  private host = '127.0.0.1'
  private port = 0

  private readonly tls: StandInTls | null

  /** `tls`: serve HTTPS with this certificate; with `clientCa`, a client certificate it signed authenticates too. */
  constructor (tokens: Iterable<string>, tls: StandInTls | null = null) {
    this.tokens = new Set(tokens)
    this.tls = tls
  }

  get url (): string { return `${this.tls === null ? 'http' : 'https'}://${this.host}:${this.port}` }
  get running (): boolean { return this.server !== null }

  /** Starts (or restarts, keeping every Lease and the revision counter) on host:port; port 0 picks one. */
  async start (host = this.host, port = this.port): Promise<void> {
    this.host = host
    const handler = (req: IncomingMessage, res: ServerResponse): void => { void this.handle(req, res) }
    const tls = this.tls
    const server: Server = tls === null
      ? createServer(handler)
      : createTlsServer({ key: tls.key, cert: tls.cert, ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false }) }, handler)
    server.keepAliveTimeout = 2_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port }, () => { server.off('error', reject); resolve() })
    })
    this.port = (server.address() as { port: number }).port
    this.server = server
  }

  /** Stops answering at once: open connections are cut, as when an apiserver goes away. */
  async stop (): Promise<void> {
    const s = this.server
    if (s === null) return
    this.server = null
    s.closeAllConnections()
    await new Promise(resolve => s.close(resolve))
  }

  lease (namespace: string, name: string): StoredLease | undefined {
    return this.leases.get(`${namespace}/${name}`)
  }

  /** Writes a kubeconfig that reaches this server with `token` (plain HTTP needs skip-TLS-verify). */
  writeKubeconfig (path: string, token: string, namespace = 'default'): void {
    writeFileSync(path, JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'stand-in', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'agent', user: { token } }],
      contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'agent', namespace } }],
      'current-context': 'stand-in'
    }, null, 2))
  }

  /** The common name of a verified client certificate, as `cert:<CN>` (checked against the tokens like a token). */
  private certificateUser (req: IncomingMessage): string | undefined {
    const socket = req.socket as TLSSocket
    if (this.tls?.clientCa === undefined || !socket.authorized) return undefined
    const cn = socket.getPeerCertificate().subject?.CN
    return typeof cn === 'string' ? `cert:${cn}` : undefined
  }

  private reject (reason: string): void { this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1 }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (code: number, body: object): void => {
      res.writeHead(code, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    try {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? this.certificateUser(req)
      if (token === undefined || !this.tokens.has(token)) {
        this.reject('Unauthorized')
        send(401, status(401, 'Unauthorized', 'Unauthorized'))
        return
      }
      this.stats.byToken[token] = (this.stats.byToken[token] ?? 0) + 1
      const url = new URL(req.url ?? '/', 'http://x')
      const m = PATH.exec(url.pathname)
      if (m === null) throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`)
      const namespace = m[1] ?? ''
      const name = m[2]
      const body = req.method === 'POST' || req.method === 'PUT' ? await this.readBody(req) : undefined
      switch (`${req.method ?? ''} ${name === undefined ? 'collection' : 'item'}`) {
        case 'GET item': send(200, this.get(namespace, name ?? '')); return
        case 'POST collection': send(201, this.create(namespace, body)); return
        case 'PUT item': send(200, this.replace(namespace, name ?? '', body)); return
        default: throw new HttpError(405, 'MethodNotAllowed', `${req.method ?? ''} is not supported here`)
      }
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 'InternalError', (err as Error).message)
      this.reject(e.reason)
      send(e.code, status(e.code, e.reason, e.message))
    }
  }

  private async readBody (req: IncomingMessage): Promise<Record<string, unknown>> {
    let raw = ''
    for await (const chunk of req) {
      raw += String(chunk)
      if (raw.length > 1_000_000) throw new HttpError(413, 'RequestEntityTooLarge', 'request body too large')
    }
    try {
      const v = JSON.parse(raw) as unknown
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
      return v as Record<string, unknown>
    } catch (err) {
      throw new HttpError(400, 'BadRequest', `invalid JSON body: ${(err as Error).message}`)
    }
  }

  private get (namespace: string, name: string): object {
    const l = this.leases.get(`${namespace}/${name}`)
    if (l === undefined) throw new HttpError(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`)
    return this.render(l)
  }

  private validate (body: Record<string, unknown>, namespace: string): { name: string, spec: Record<string, unknown>, rv: unknown } {
    if (body.apiVersion !== 'coordination.k8s.io/v1' || body.kind !== 'Lease') {
      throw new HttpError(400, 'BadRequest', 'expected apiVersion coordination.k8s.io/v1, kind Lease')
    }
    const meta = (body.metadata ?? {}) as Record<string, unknown>
    const name = meta.name
    if (typeof name !== 'string' || !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(name)) throw new HttpError(422, 'Invalid', 'metadata.name: Invalid value')
    if (meta.namespace !== undefined && meta.namespace !== namespace) throw new HttpError(400, 'BadRequest', 'the namespace of the object does not match the namespace of the request')
    const spec = (body.spec ?? {}) as Record<string, unknown>
    for (const f of ['acquireTime', 'renewTime']) {
      const v = spec[f]
      if (v !== undefined && v !== null && (typeof v !== 'string' || !MICRO_TIME.test(v))) {
        throw new HttpError(400, 'BadRequest', `spec.${f}: ${JSON.stringify(v)} is not a MicroTime (RFC 3339 with 6 fractional digits)`)
      }
    }
    if (spec.leaseDurationSeconds !== undefined && (!Number.isInteger(spec.leaseDurationSeconds) || (spec.leaseDurationSeconds as number) < 1)) {
      throw new HttpError(422, 'Invalid', 'spec.leaseDurationSeconds: must be a positive integer')
    }
    if (spec.leaseTransitions !== undefined && (!Number.isInteger(spec.leaseTransitions) || (spec.leaseTransitions as number) < 0)) {
      throw new HttpError(422, 'Invalid', 'spec.leaseTransitions: must be a non-negative integer')
    }
    return { name, spec, rv: meta.resourceVersion }
  }

  private create (namespace: string, body: Record<string, unknown> | undefined): object {
    const { name, spec } = this.validate(body ?? {}, namespace)
    const key = `${namespace}/${name}`
    if (this.leases.has(key)) throw new HttpError(409, 'AlreadyExists', `leases.coordination.k8s.io "${name}" already exists`)
    const l: StoredLease = {
      metadata: { name, namespace, uid: randomUUID(), resourceVersion: String(++this.revision), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
      spec: { ...spec }
    }
    this.leases.set(key, l)
    this.stats.writes++
    return this.render(l)
  }

  private replace (namespace: string, name: string, body: Record<string, unknown> | undefined): object {
    const { name: bodyName, spec, rv } = this.validate(body ?? {}, namespace)
    if (bodyName !== name) throw new HttpError(400, 'BadRequest', 'the name of the object does not match the name in the URL')
    const l = this.leases.get(`${namespace}/${name}`)
    if (l === undefined) throw new HttpError(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`)
    if (typeof rv !== 'string' || rv === '') throw new HttpError(422, 'Invalid', 'metadata.resourceVersion: must be specified for an update')
    if (rv !== l.metadata.resourceVersion) {
      throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`)
    }
    l.spec = { ...spec }
    l.metadata.resourceVersion = String(++this.revision)
    this.stats.writes++
    return this.render(l)
  }

  private render (l: StoredLease): object {
    return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { ...l.metadata }, spec: { ...l.spec } }
  }
}
