// The Lease store over @kubernetes/client-node: in-cluster service account, or a kubeconfig file.
import { CoordinationV1Api, KubeConfig, V1MicroTime, type V1Lease } from '@kubernetes/client-node'
import { LeaseApiError, LeaseConflict, type LeaseRecord, type LeaseSpec, type LeaseStore } from './lease-store.ts'

const toDate = (v: unknown): Date | null => {
  if (v === undefined || v === null) return null
  const d = v instanceof Date ? v : new Date(String(v))
  return Number.isNaN(d.getTime()) ? null : d
}

function fromLease (l: V1Lease): LeaseRecord {
  return {
    holder: l.spec?.holderIdentity ?? '',
    durationS: l.spec?.leaseDurationSeconds ?? 0,
    acquireTime: toDate(l.spec?.acquireTime),
    renewTime: toDate(l.spec?.renewTime),
    transitions: l.spec?.leaseTransitions ?? 0,
    resourceVersion: l.metadata?.resourceVersion ?? ''
  }
}

function toLease (name: string, namespace: string, s: LeaseSpec, resourceVersion?: string): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(resourceVersion === undefined ? {} : { resourceVersion }) },
    spec: {
      holderIdentity: s.holder,
      leaseDurationSeconds: s.durationS,
      leaseTransitions: s.transitions,
      ...(s.acquireTime === null ? {} : { acquireTime: new V1MicroTime(s.acquireTime.getTime()) }),
      ...(s.renewTime === null ? {} : { renewTime: new V1MicroTime(s.renewTime.getTime()) })
    }
  }
}

function translate (err: unknown): Error {
  const code = (err as { code?: unknown }).code
  if (typeof code === 'number') {
    if (code === 409) return new LeaseConflict(`lease write lost the race (409)`)
    return new LeaseApiError(code, `apiserver answered ${code}`)
  }
  return new LeaseApiError(0, `apiserver unreachable: ${(err as Error).message}`)
}

export interface KubeLeaseOptions {
  namespace: string
  name: string
  /** A kubeconfig file; without it the in-cluster service account is used. */
  kubeconfig?: string
}

export function kubeLeaseStore (o: KubeLeaseOptions): LeaseStore {
  const kc = new KubeConfig()
  if (o.kubeconfig === undefined) kc.loadFromCluster()
  else kc.loadFromFile(o.kubeconfig)
  const api = kc.makeApiClient(CoordinationV1Api)
  const { name, namespace } = o
  return {
    get: async () => {
      try {
        return fromLease(await api.readNamespacedLease({ name, namespace }))
      } catch (err) {
        if ((err as { code?: unknown }).code === 404) return null
        throw translate(err)
      }
    },
    create: async (spec) => {
      try { return fromLease(await api.createNamespacedLease({ namespace, body: toLease(name, namespace, spec) })) } catch (err) { throw translate(err) }
    },
    update: async (spec, rv) => {
      try { return fromLease(await api.replaceNamespacedLease({ name, namespace, body: toLease(name, namespace, spec, rv) })) } catch (err) { throw translate(err) }
    }
  }
}
