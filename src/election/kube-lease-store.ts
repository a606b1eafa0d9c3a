// The Lease store over the Kubernetes REST API (coordination.k8s.io/v1): three calls on one kept-alive connection.
import { isObj, type KubeAccess, type Obj } from '../kube/kube-access.ts'
import { kubeHttp, type KubeAnswer } from '../kube/kube-http.ts'
import { LeaseApiError, LeaseConflict, type LeaseRecord, type LeaseSpec, type LeaseStore } from './lease-store.ts'

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

/** What a failed call says: the apiserver's Status message when it sent one. */
function failure (a: KubeAnswer, what: string): Error {
  const message = isObj(a.body) && typeof a.body.message === 'string' ? `: ${a.body.message.slice(0, 300)}` : ''
  if (a.status === 409) return new LeaseConflict(`${what} lost the race (409)${message}`)
  return new LeaseApiError(a.status, `${what}: apiserver answered ${a.status}${message}`)
}

export function kubeLeaseStore (access: KubeAccess, o: KubeLeaseOptions): LeaseStore {
  const http = kubeHttp(access, { timeoutMs: o.timeoutMs ?? 10_000, maxAnswerBytes: MAX_ANSWER_BYTES, error: (status, message) => new LeaseApiError(status, message) })
  const collection = `${http.base}/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(o.namespace)}/leases`
  const item = `${collection}/${encodeURIComponent(o.name)}`
  const call = http.call

  const lease = (a: KubeAnswer, what: string): LeaseRecord => {
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
