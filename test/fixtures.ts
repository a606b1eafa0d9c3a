// Shared test builders: agent identities, path and Service results, the wire round trip, and a seeded PRNG
// (mulberry32) so that failures replay from their seed.
import { decodeMessage, decodeSyncResponse, encodeMessage, encodeSyncResponse } from '../src/core/codec.ts'
import type { GossipMessage, Identity, PathResult, ServiceResult } from '../src/core/record.ts'
import type { SyncResponse, View } from '../src/core/view.ts'

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

/** The probe time the builders below stamp (2023-11-14T22:13:20.000Z). */
export const CHECKED = 1_700_000_000_000

/** A path result whose durations are whole µs, so it survives the codec unchanged. */
export function path (target: string, over: Partial<PathResult> = {}): PathResult {
  return { target, port: 22, sent: 3, received: 3, rttMs: 1.5, tcp: 'open', connectMs: 0.75, durationMs: 2.25, checkedAt: CHECKED, ...over }
}

/** A Service check resolved to an IPv4 and an IPv6 address, the second refusing (durations survive the codec). */
export function service (over: Partial<ServiceResult> = {}): ServiceResult {
  return {
    name: 'my-svc.default.svc.cluster.local',
    port: 80,
    dnsOk: true,
    dnsMs: 0.5,
    dnsError: null,
    addresses: ['10.96.0.10', 'fd00::10'],
    paths: [path('10.96.0.10', { port: 80 }), path('fd00::10', { port: 80, tcp: 'refused', rttMs: null, received: 0 })],
    checkedAt: CHECKED + 500,
    ...over
  }
}

/** Every message crosses the wire in production: this also keeps views from sharing record objects. */
export const wire = (m: GossipMessage): GossipMessage => decodeMessage(encodeMessage(m))
export const wireSync = (r: SyncResponse): SyncResponse => decodeSyncResponse(encodeSyncResponse(r))
