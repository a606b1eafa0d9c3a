// The Lease store over the Kubernetes REST API (coordination.k8s.io/v1): three calls on one kept-alive connection.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { isObj, type KubeAccess, type Obj } from './kube-access.ts'
import { LeaseApiError, LeaseConflict, type LeaseRecord, type LeaseSpec, type LeaseStore } from './lease-store.ts'
import { VERSION } from './version.ts'

/** A Lease answer is a few hundred bytes; anything past this is not one. */
const MAX_ANSWER_BYTES = 256 * 1024

export interface KubeLeaseOptions {
  namespace: string
  name: string
  /** A request with no complete answer by then fails (the election has its own, shorter, deadlines). */
  timeoutMs?: number
}

/** A Kubernetes MicroTime: RFC 3339 with exactly six fractional digits, as the apiserver insists. */
export function microTime (d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

function time (v: unknown, field: string): Date | null {
  if (v === undefined || v === null) return null
  const d = typeof v === 'string' ? new Date(v) : null
  if (d === null || Number.isNaN(d.getTime())) throw new Error(`${field} is not a time`)
  return d
}

function count (v: unknown, field: string): number {
  if (v === undefined || v === null) return 0
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`${field} is not a count`)
  return v
}

/** The Lease an apiserver answered, checked field by field (a malformed answer is an error, never a crash). */
export function leaseFromJson (body: unknown): LeaseRecord {
  if (!isObj(body) || !isObj(body.metadata)) throw new Error('no Lease metadata')
  const rv = body.metadata.resourceVersion
  if (typeof rv !== 'string' || rv === '') throw new Error('no resourceVersion')
  const spec = isObj(body.spec) ? body.spec : {}
  const holder = spec.holderIdentity ?? ''
  if (typeof holder !== 'string') throw new Error('holderIdentity is not a string')
  return {
    holder,
    durationS: count(spec.leaseDurationSeconds, 'leaseDurationSeconds'),
    acquireTime: time(spec.acquireTime, 'acquireTime'),
    renewTime: time(spec.renewTime, 'renewTime'),
    transitions: count(spec.leaseTransitions, 'leaseTransitions'),
    resourceVersion: rv
  }
}

export function leaseToJson (name: string, namespace: string, s: LeaseSpec, resourceVersion?: string): Obj {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(resourceVersion === undefined ? {} : { resourceVersion }) },
    spec: {
      holderIdentity: s.holder,
      leaseDurationSeconds: s.durationS,
      leaseTransitions: s.transitions,
      ...(s.acquireTime === null ? {} : { acquireTime: microTime(s.acquireTime) }),
      ...(s.renewTime === null ? {} : { renewTime: microTime(s.renewTime) })
    }
  }
}

interface Answer { status: number, body: unknown }

/** What a failed call says: the apiserver's Status message when it sent one. */
function failure (a: Answer, what: string): Error {
  const message = isObj(a.body) && typeof a.body.message === 'string' ? `: ${a.body.message.slice(0, 300)}` : ''
  if (a.status === 409) return new LeaseConflict(`${what} lost the race (409)${message}`)
  return new LeaseApiError(a.status, `${what}: apiserver answered ${a.status}${message}`)
}

export function kubeLeaseStore (access: KubeAccess, o: KubeLeaseOptions): LeaseStore {
  const secure = access.server.protocol === 'https:'
  const agent = secure
    ? new HttpsAgent({
      keepAlive: true,
      maxSockets: 2,
      ...(access.ca === null ? {} : { ca: access.ca }),
      ...(access.clientCert === null ? {} : { cert: access.clientCert.cert, key: access.clientCert.key }),
      rejectUnauthorized: !access.insecure,
      ...(access.serverName === null ? {} : { servername: access.serverName })
    })
    : new HttpAgent({ keepAlive: true, maxSockets: 2 })
  const timeoutMs = o.timeoutMs ?? 10_000
  const base = access.server.href.replace(/\/+$/, '')
  const collection = `${base}/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(o.namespace)}/leases`
  const item = `${collection}/${encodeURIComponent(o.name)}`

  const call = async (method: 'GET' | 'POST' | 'PUT', url: string, body?: Obj): Promise<Answer> => {
    let authorization: string | null
    try {
      authorization = await access.authorization()
    } catch (err) {
      throw new LeaseApiError(0, `no credentials for the apiserver: ${(err as Error).message}`)
    }
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const headers: Record<string, string | number> = { accept: 'application/json', 'user-agent': `k8snet-checker/${VERSION}` }
    if (authorization !== null) headers.authorization = authorization
    if (payload !== undefined) { headers['content-type'] = 'application/json'; headers['content-length'] = payload.length }
    return await new Promise<Answer>((resolve, reject) => {
      const send = secure ? httpsRequest : httpRequest
      const req = send(url, { method, headers, agent, timeout: timeoutMs }, (res: IncomingMessage) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > MAX_ANSWER_BYTES) { req.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`)); return }
          chunks.push(c)
        })
        res.on('error', (err) => { reject(new LeaseApiError(0, `apiserver answer cut: ${err.message}`)) })
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let parsed: unknown = null
          try { parsed = text === '' ? null : JSON.parse(text) } catch { /* judged by the caller */ }
          resolve({ status: res.statusCode ?? 0, body: parsed })
        })
      })
      req.on('timeout', () => { req.destroy(new Error(`no answer within ${timeoutMs} ms`)) })
      req.on('error', (err) => { reject(new LeaseApiError(0, `apiserver unreachable: ${err.message}`)) })
      req.end(payload)
    })
  }

  const lease = (a: Answer, what: string): LeaseRecord => {
    try {
      return leaseFromJson(a.body)
    } catch (err) {
      throw new LeaseApiError(a.status, `${what}: apiserver answered ${a.status} without a valid Lease (${(err as Error).message})`)
    }
  }

  return {
    get: async () => {
      const a = await call('GET', item)
      if (a.status === 404) return null
      if (a.status !== 200) throw failure(a, 'reading the Lease')
      return lease(a, 'reading the Lease')
    },
    create: async (spec) => {
      const a = await call('POST', collection, leaseToJson(o.name, o.namespace, spec))
      if (a.status !== 201 && a.status !== 200) throw failure(a, 'creating the Lease')
      return lease(a, 'creating the Lease')
    },
    update: async (spec, rv) => {
      const a = await call('PUT', item, leaseToJson(o.name, o.namespace, spec, rv))
      if (a.status !== 200) throw failure(a, 'updating the Lease')
      return lease(a, 'updating the Lease')
    }
  }
}
