// Shared test fixtures: agent identities and a seeded PRNG (mulberry32), so failures replay from their seed.
import type { Identity, PathResult, ServiceResult } from '../src/core/record.ts'
import type { View } from '../src/core/view.ts'

/** Agent n: pod agent-n on node-n, node IP 10.0.x.y and pod IP 10.1.x.y (x.y = n in base 256). */
export function ident (n: number, version = '0.1.0'): Identity {
  const low = `${n >> 8}.${n & 255}`
  return { podName: `agent-${n}`, nodeName: `node-${n}`, nodeIp: `10.0.${low}`, podIp: `10.1.${low}`, namespace: 'k8snet', version, peerId: `12D3KooWPeer${n}` }
}

/** A seeded PRNG in [0, 1). */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Everything observable about a view (records, externals, versions, lost agents, left tombstones). `answer` lists
 * left tombstones only for origins the asker claims to hold, so `probe` names the origins to look for.
 */
export function viewSnapshot (v: View, now: number, probe: string[] = []): unknown {
  return structuredClone({
    agents: v.agentEntries(),
    externals: v.externalEntries(),
    digest: v.digest(),
    lost: v.lostEntries(now),
    left: v.answer({ agents: probe.map(o => [o, 0, 0, 0]), externals: [] }, now).left
  })
}

/** An agent's check of web.default.svc.cluster.local:80, resolved to 10.96.0.10, with the given paths. */
export function serviceResult (paths: PathResult[], checkedAt: number, over: Partial<ServiceResult> = {}): ServiceResult {
  return { name: 'web.default.svc.cluster.local', port: 80, dnsOk: true, dnsMs: 2, dnsError: null, addresses: ['10.96.0.10'], paths, checkedAt, ...over }
}
