// The core room: the replicated view's merge/expiry/anti-entropy rules, the self record's deltas, the wire codec
// (round trips, hostile input, a seeded fuzz loop), liveness and identities; and the dial planner. No I/O, no real clocks.
import { performance } from 'node:perf_hooks'
import pino from 'pino'
import t from 'tap'
import {
  canonicalContent, decodeBeat, decodeMessage, decodeSyncRequest, decodeSyncResponse, encodeBeat, encodeMessage, encodeSyncRequest,
  encodeSyncResponse, MAX_MESSAGE_BYTES
} from '../src/core/codec.ts'
import type {
  AgentRecord, ExternalBody, ExternalRecord, GossipMessage, LegacyPathResult, LiveEntry, PathResult
} from '../src/core/record.ts'
import { injectExternal, sameLegacyContent } from '../src/core/inject.ts'
import { emptyResults, MAX_EXCLUDED_NODES } from '../src/core/record.ts'
import type { MeshNode } from '../src/gossip/libp2p-node.ts'
import { GossipMesh } from '../src/gossip/mesh.ts'
import type { AntiEntropy } from '../src/gossip/sync.ts'
import { newAgentKey, PeerKeys, type AgentKey } from '../src/core/keys.ts'
import { DialPlanner } from '../src/gossip/dial-planner.ts'
import { Discovery } from '../src/gossip/discovery.ts'
import { checkSeals, recordSealHolds } from '../src/core/seal.ts'
import {
  AGGREGATOR_SLACK, AGGREGATORS_PER_ORIGIN, aggregatorCount, aggregatorSets, BeatBook, chooseAggregators,
  MAX_LEGACY_ENTRIES, MAX_LIVE_ENTRIES, ORIGINS_PER_AGGREGATOR, packEntries, rvAhead, shortId, unpackEntries
} from '../src/core/liveness.ts'
import { resultChanged, SelfRecord } from '../src/core/self-record.ts'
import { isFirstHand, isOriginsWord, Trust } from '../src/core/trust.ts'
import { View, type SyncResponse } from '../src/core/view.ts'
import { WireError } from '../src/core/wire-error.ts'
import { ident, mulberry32, path, service, viewSnapshot, wire, wireSync } from './fixtures.ts'

// ---------------------------------------------------------------------------------------------------------------
// helpers

const TTL = 15_000
const REASONS = ['oversized', 'malformed', 'version', 'schema']
const enc = new TextEncoder()
const dec = new TextDecoder()

function legacy (source: string, target: string, over: Partial<LegacyPathResult> = {}): LegacyPathResult {
  return {
    source,
    target,
    ping: 'reachable',
    ports: { 22: 'open', 8080: 'closed' },
    latencyUs: 1500,
    durationUs: null,
    timestamp: '2026-11-25T10:00:00Z',
    ...over
  }
}

function extHb (podName: string, at: number, by: string): ExternalRecord {
  return {
    key: `hb:${podName}`,
    at,
    by,
    body: {
      part: 'hb',
      value: { podName, nodeIp: '10.9.0.1', podIp: '10.9.1.1', namespace: 'kube-system', timestamp: '2026-11-25T10:00:00Z' }
    }
  }
}

function must<T> (v: T | null | undefined, what: string): T {
  if (v === null || v === undefined) throw new Error(`missing ${what}`)
  return v
}

function fullOf (m: GossipMessage): AgentRecord {
  if (m.t !== 'full') throw new Error(`expected a full message, got ${m.t}`)
  return m.record
}

/** What a decode did: 'decoded', a WireError reason, or a description of any other exception. */
function outcome (fn: () => unknown): string {
  try {
    fn()
    return 'decoded'
  } catch (err) {
    if (err instanceof WireError) return err.reason
    return `threw ${(err as Error)?.constructor?.name ?? typeof err}: ${String(err).slice(0, 100)}`
  }
}

/** Re-encodes a message after a JSON-level edit of its wire form. */

type J = any
function edit (bytes: Uint8Array, f: (o: J) => void): Uint8Array {
  const o = JSON.parse(dec.decode(bytes)) as J
  f(o)
  return enc.encode(JSON.stringify(o))
}
const bytesOf = (s: string): Uint8Array => enc.encode(s)

const snapshot = viewSnapshot

const byOrigin = <T extends [string, ...unknown[]]>(xs: T[]): T[] => [...xs].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)

function recordsOf (v: View): AgentRecord[] {
  return v.agentEntries().map(e => e.record).sort((a, b) => a.identity.podName < b.identity.podName ? -1 : 1)
}

// ---------------------------------------------------------------------------------------------------------------
// SelfRecord

t.test('SelfRecord', async t => {
  t.test('seq increases with every message; rv only with deltas', async t => {
    const s = new SelfRecord(ident(1), 1000)
    t.equal(s.origin, 'agent-1')
    const msgs: GossipMessage[] = []
    const seqOf = (m: GossipMessage): number => m.t === 'full' ? m.record.seq : m.t === 'ext' ? -1 : m.seq
    msgs.push(s.full())
    const afterFull = fullOf(msgs[0] as GossipMessage).seq // the full message carries the live record: read now
    t.equal(afterFull, 1)
    msgs.push(s.heartbeat())
    msgs.push(must(s.update({ host: [path('10.0.0.2')] }), 'delta'))
    t.equal(s.update({ host: [path('10.0.0.2')] }), null, 'same results: no message')
    t.equal(s.record.seq, 3, 'no message, no seq bump')
    msgs.push(s.heartbeat())
    msgs.push(must(s.update({ pod: [path('10.1.0.2')] }), 'delta'))
    msgs.push(s.leave())
    const seqs = [afterFull, ...msgs.slice(1).map(seqOf)]
    t.strictSame(seqs, [1, 2, 3, 4, 5, 6], 'strictly increasing, one per message')
    t.equal(s.record.seq, 6)
    t.equal(s.record.rv, 2, 'two deltas, two results versions')
    const hb = msgs[3]
    t.strictSame(hb, { t: 'hb', origin: 'agent-1', inc: 1000, seq: 4, rv: 1 })
    t.strictSame(msgs[5], { t: 'leave', origin: 'agent-1', inc: 1000, seq: 6 })
    const d = msgs[4]
    if (d?.t !== 'delta') throw new Error('expected a delta')
    t.equal(d.base, 1)
    t.equal(d.rv, 2)
  })

  t.test('update: null on noise, only changed/removed targets otherwise', async t => {
    const s = new SelfRecord(ident(1), 1000)
    const a = path('10.0.0.2', { rttMs: 1.0 })
    const b = path('10.0.0.3')
    const c = path('10.0.0.4')
    const d0 = must(s.update({ host: [a, b, c] }), 'first delta')
    if (d0.t !== 'delta') throw new Error('expected a delta')
    t.strictSame(d0.host, { upsert: [a, b, c], remove: [] })
    t.equal(d0.pod, null, 'pod not given: no pod delta')
    t.equal(d0.service, undefined, 'service not given: untouched')

    // same outcome, RTT moved by less than half a power of two, new checkedAt: noise
    const aNoise = { ...a, rttMs: 1.1, checkedAt: a.checkedAt + 10_000 }
    t.equal(s.update({ host: [aNoise, b, c] }), null, 'rtt 1.0 -> 1.1 ms is noise')
    t.equal(s.record.rv, 1, 'rv unchanged by noise')
    t.equal(s.record.results.host.get('10.0.0.2')?.rttMs, 1.0, 'the record keeps what peers hold')

    // one changed (tcp), one unchanged, one removed, one added: the removal is named
    const b1 = { ...b, tcp: 'refused' as const }
    const e = path('10.0.0.5')
    const d1 = must(s.update({ host: [a, b1, e] }), 'second delta')
    if (d1.t !== 'delta') throw new Error('expected a delta')
    t.strictSame(d1.host, { upsert: [b1, e], remove: ['10.0.0.4'] }, 'changed + new upserted, gone removed')
    t.equal(d1.base, 1)
    t.equal(d1.rv, 2)

    // every result changed or new (a new sample): the layer is replaced, nothing listed for removal
    const a2 = { ...a, rttMs: 2.5 }
    const b2 = { ...b1, tcp: 'open' as const }
    const d1b = must(s.update({ host: [a2, b2] }), 'replacing delta')
    if (d1b.t !== 'delta') throw new Error('expected a delta')
    t.strictSame(d1b.host, { upsert: [a2, b2], remove: [], replace: true }, 'all upserted: replace')
    t.same([...s.record.results.host.keys()].sort(), ['10.0.0.2', '10.0.0.3'], 'the origin applied the replacement')
    const viaWire = decodeMessage(encodeMessage(d1b))
    t.strictSame(viaWire, d1b, 'a replacing delta round-trips the wire')
    const e2 = { ...e, tcp: 'timeout' as const }
    must(s.update({ host: [a2, b2, e2] }), 'e back')

    const d2 = must(s.update({ host: [a2, b2, e2], pod: [path('10.1.0.9')] }), 'pod delta')
    if (d2.t !== 'delta') throw new Error('expected a delta')
    t.equal(d2.host, null, 'unchanged host layer: no host delta')
    t.strictSame(d2.pod, { upsert: [path('10.1.0.9')], remove: [] })

    const d3 = must(s.update({ host: [] }), 'all removed')
    if (d3.t !== 'delta') throw new Error('expected a delta')
    t.strictSame(d3.host, { upsert: [], remove: [], replace: true }, 'emptied: replaced by nothing')
    t.equal(s.record.results.host.size, 0)
  })

  t.test('update: service changes', async t => {
    const s = new SelfRecord(ident(1), 1000)
    const svc = service()
    const d0 = must(s.update({ service: svc }), 'service set')
    if (d0.t !== 'delta') throw new Error('expected a delta')
    t.strictSame(d0.service, svc)
    t.equal(d0.host, null)
    t.equal(s.update({ service: { ...svc, dnsMs: 0.7, checkedAt: svc.checkedAt + 1 } }), null, 'dns time and checkedAt are noise')
    t.equal(s.update({ host: [] }), null, 'empty layer over empty layer: nothing')
    const d1 = must(s.update({ service: { ...svc, dnsOk: false, dnsError: 'NXDOMAIN', addresses: [], paths: [] } }), 'dns failed')
    if (d1.t !== 'delta') throw new Error('expected a delta')
    t.equal(d1.service?.dnsError, 'NXDOMAIN')
    const d2 = must(s.update({ service: null }), 'cleared')
    if (d2.t !== 'delta') throw new Error('expected a delta')
    t.equal(d2.service, null, 'null clears the service')
    t.equal(s.record.results.service, null)
    t.equal(s.update({ service: null }), null, 'null over null: nothing')
  })

  t.test('a receiver applying full + deltas holds the sender\'s results', async t => {
    const s = new SelfRecord(ident(1), 1000)
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    const signer = ident(1).peerId
    s.update({ host: [path('10.0.0.2'), path('10.0.0.3')] }) // before the receiver exists: carried by the full
    t.equal(v.apply(wire(s.full()), signer, 1), 'accepted')
    const steps: Array<Parameters<SelfRecord['update']>[0]> = [
      { pod: [path('10.1.0.2'), path('10.1.0.3', { tcp: 'timeout', connectMs: null })] },
      { host: [path('10.0.0.2'), path('10.0.0.4', { received: 1, rttMs: 20 })], service: service() },
      { host: [path('10.0.0.2', { tcp: 'unreachable', connectMs: 3, rttMs: null, received: 0 }), path('10.0.0.4', { received: 1, rttMs: 20 })] },
      { pod: [path('10.1.0.3', { tcp: 'open' })], service: service({ dnsOk: false, dnsError: 'SERVFAIL', addresses: [], paths: [] }) },
      { service: null, host: [] }
    ]
    let now = 2
    for (const u of steps) {
      const m = must(s.update(u), 'delta')
      t.equal(v.apply(wire(m), signer, now++), 'accepted')
      t.equal(v.apply(wire(s.heartbeat()), signer, now++), 'accepted', 'heartbeat in step')
      const held = must(v.agent('agent-1'), 'held record').record
      t.strictSame(held.results.host, s.record.results.host, `host map equal after step ${now}`)
      t.strictSame(held.results.pod, s.record.results.pod, 'pod map equal')
      t.strictSame(held.results.service, s.record.results.service, 'service equal')
      t.equal(held.rv, s.record.rv)
      t.equal(held.seq, s.record.seq)
    }
  })

  t.test('noise waits for the next full record, which carries it under a new rv', async t => {
    const s = new SelfRecord(ident(1), 1000)
    const a = path('10.0.0.2', { rttMs: 1.0 })
    must(s.update({ host: [a] }), 'first delta')
    const full0 = s.full()
    t.equal(s.record.rv, 1, 'a full record of what peers already hold keeps rv')
    t.equal(fullOf(full0).results.host.get('10.0.0.2')?.rttMs, 1.0)
    t.equal(s.update({ host: [{ ...a, rttMs: 1.1, checkedAt: a.checkedAt + 10_000 }] }), null, 'noise: no delta')
    s.full()
    t.equal(s.record.rv, 2, 'the full record carrying the noise is a new version')
    t.equal(s.record.results.host.get('10.0.0.2')?.rttMs, 1.1, 'and holds the newest result')
    s.record.leader = true
    s.full()
    t.equal(s.record.rv, 3, 'a changed leader flag is a new version too')
  })

  t.test('seals: whoever relays a record can prove what its origin said, and nothing else', async t => {
    const key = newAgentKey()
    const keys = new PeerKeys()
    const id = { ...ident(1), peerId: key.peerId }
    const s = new SelfRecord(id, 1000, key.sign)
    const A = new View({ ttlMs: TTL, maxExternal: 8 })
    t.equal(A.apply(wire(s.full()), key.peerId, 1), 'accepted')
    const m1 = must(s.update({ host: [path('10.0.0.2'), path('10.0.0.3', { tcp: 'refused' })], service: service() }), 'delta')
    t.equal(A.apply(wire(m1), key.peerId, 2), 'accepted')
    t.equal(A.apply(wire(s.heartbeat()), key.peerId, 3), 'accepted')
    const m2 = must(s.update({ host: [path('10.0.0.3', { tcp: 'refused' }), path('10.0.0.4')] }), 'delta')
    t.equal(A.apply(wire(m2), key.peerId, 4), 'accepted')
    const held = must(A.agent('agent-1'), 'held').record
    t.ok(held.seal !== undefined && recordSealHolds(held, held.seal, keys.verify), 'the receiver holds a seal that verifies against its content')

    // a third party (A) answers B: the sealed record is the origin's word, up to the sealed seq
    t.equal(A.apply(wire(s.heartbeat()), key.peerId, 5), 'accepted')
    const relayed = wireSync(A.answer({ agents: [], externals: [] }, 6))
    checkSeals(relayed, keys.verify, () => undefined)
    t.equal(relayed.full[0]?.sealed, true, 'the seal holds after the wire')
    const B = new View({ ttlMs: TTL, maxExternal: 8 })
    B.merge(relayed, 6, 'a-third-party')
    const atB = must(B.agent('agent-1'), 'B holds it')
    t.equal(isOriginsWord(atB.trust), true, 'taken as the origin\'s own word')
    t.equal(atB.record.seq, m2.t === 'delta' ? m2.seq : -1, 'at the sealed seq, not the relay\'s later claim')

    // a relay that changes anything loses the seal: the copy is second-hand
    const forged = wireSync(A.answer({ agents: [], externals: [] }, 6))
    const rec = must(forged.full[0], 'record').record
    rec.results.host.set('10.0.0.4', path('10.0.0.4', { tcp: 'timeout', connectMs: null }))
    checkSeals(forged, keys.verify, () => undefined)
    t.equal(forged.full[0]?.sealed, false, 'a changed result breaks the seal')
    t.equal(rec.seal, undefined, 'and the broken seal is dropped, never relayed on')
    const C = new View({ ttlMs: TTL, maxExternal: 8 })
    C.merge(forged, 6, 'a-third-party')
    t.equal(C.agent('agent-1')?.trust, Trust.Relayed, 'kept second-hand')
    const otherKey = newAgentKey()
    const stolen = wireSync(A.answer({ agents: [], externals: [] }, 6))
    const r2 = must(stolen.full[0], 'record').record
    r2.identity = { ...r2.identity, peerId: otherKey.peerId }
    checkSeals(stolen, keys.verify, () => undefined)
    t.equal(stolen.full[0]?.sealed, false, 'a seal does not move to another key')

    // the origin's signed departure, relayed by a third party, removes a verified record; an unsealed one does not
    const D = new View({ ttlMs: TTL, maxExternal: 8 })
    D.merge(wireSync(A.answer({ agents: [], externals: [] }, 7)), 7, key.peerId)
    t.equal(isOriginsWord(D.agent('agent-1')?.trust ?? Trust.Relayed), true, 'D holds the origin first-hand')
    t.equal(A.apply(wire(s.leave()), key.peerId, 8), 'accepted', 'A hears the leave')
    const unsealed = wireSync(A.answer(D.digest(), 9))
    for (const l of unsealed.left) delete l.seal
    checkSeals(unsealed, keys.verify, o => D.agent(o)?.record.identity.peerId)
    D.merge(unsealed, 9, 'a-third-party')
    t.ok(D.agent('agent-1') !== undefined, 'an unsealed relayed departure does not silence a verified origin')
    const sealedLeave = wireSync(A.answer(D.digest(), 9))
    checkSeals(sealedLeave, keys.verify, o => D.agent(o)?.record.identity.peerId)
    t.equal(sealedLeave.left[0]?.sealed, true, 'the relayed departure carries the origin\'s seal')
    D.merge(sealedLeave, 9, 'a-third-party')
    t.equal(D.agent('agent-1'), undefined, 'a sealed departure removes it, whoever relays it')
    const E = new View({ ttlMs: TTL, maxExternal: 8 })
    const relayedOn = wireSync(D.answer({ agents: [['agent-1', 1000, 0, 0]], externals: [] }, 10))
    t.ok(relayedOn.left[0]?.seal !== undefined, 'and D relays the seal on')
    t.equal(E.agentCount, 0)
  })

  t.test('resultChanged', async t => {
    const p = path('10.0.0.2', { rttMs: 1.0, connectMs: 10 })
    t.notOk(resultChanged(p, { ...p }), 'identical')
    t.notOk(resultChanged(p, { ...p, checkedAt: p.checkedAt + 1, durationMs: 999 }), 'checkedAt/duration are not news')
    t.ok(resultChanged(p, { ...p, tcp: 'refused' }), 'tcp outcome change')
    t.ok(resultChanged(p, { ...p, tcp: 'timeout', connectMs: null }), 'timeout')
    t.ok(resultChanged(p, { ...p, received: 2 }), 'received change')
    t.notOk(resultChanged(p, { ...p, rttMs: (p.rttMs ?? 1) * 10, connectMs: 50 }, true), 'a sample (coarse): times are not news')
    t.ok(resultChanged(p, { ...p, tcp: 'refused' }, true) && resultChanged(p, { ...p, received: 0, rttMs: null }, true), 'a sample: outcome and loss are')
    t.ok(resultChanged(p, { ...p, sent: 4 }), 'sent change')
    t.ok(resultChanged(p, { ...p, port: 23 }), 'port change')
    t.notOk(resultChanged(p, { ...p, rttMs: 1.4 }), 'rtt 1.0 -> 1.4: under half a power of two')
    t.ok(resultChanged(p, { ...p, rttMs: 1.5 }), 'rtt 1.0 -> 1.5: slower by half a power of two and 0.5 ms')
    t.notOk(resultChanged(p, { ...p, rttMs: 0.99 }), 'rtt 1.0 -> 0.99: jitter, whatever bucket edge lies between')
    t.ok(resultChanged(p, { ...p, rttMs: 0.5 }), 'rtt 1.0 -> 0.5: halved')
    t.notOk(resultChanged({ ...p, rttMs: 0.05 }, { ...p, rttMs: 0.4 }), 'rtt 0.05 -> 0.4: eight times, but by under 0.5 ms')
    t.ok(resultChanged({ ...p, rttMs: 0.05 }, { ...p, rttMs: 0.6 }), 'rtt 0.05 -> 0.6: by more than 0.5 ms')
    t.notOk(resultChanged({ ...p, rttMs: 10 }, { ...p, rttMs: 14 }), 'rtt 10 -> 14: by 4 ms, but under half a power of two')
    t.ok(resultChanged({ ...p, rttMs: 10 }, { ...p, rttMs: 15 }), 'rtt 10 -> 15')
    t.notOk(resultChanged(p, { ...p, connectMs: 13 }), 'connect 10 -> 13: under half a power of two')
    t.ok(resultChanged(p, { ...p, connectMs: 20 }), 'connect time doubled')
    // hysteresis: compared with what peers hold, jitter about any value stays quiet however often it repeats
    let changes = 0
    for (let i = 0; i < 1000; i++) if (resultChanged(p, { ...p, rttMs: 1 + 0.25 * Math.sin(i), connectMs: 10 * (1 + 0.25 * Math.cos(i)) })) changes++
    t.equal(changes, 0, 'a thousand rounds of 25 % jitter: no news')
    t.ok(resultChanged(p, { ...p, rttMs: null }), 'rtt -> none')
    t.ok(resultChanged({ ...p, rttMs: 5 }, { ...p, rttMs: null }), 'rtt 5 -> none')
    // regression: "none" once shared a bucket with RTTs in [0.841, 1) ms
    t.ok(resultChanged({ ...p, rttMs: null }, { ...p, rttMs: 0.9 }), 'none -> 0.9 ms')
    t.ok(resultChanged({ ...p, connectMs: null }, { ...p, connectMs: 0.9 }), 'none -> 0.9 ms')
  })
})

// ---------------------------------------------------------------------------------------------------------------
// View: merge rules

t.test('View: merge rules', async t => {
  const sig = (n: number): string => ident(n).peerId

  t.test('newest (inc, seq) wins; older or equal is stale', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    const s = new SelfRecord(ident(1), 1000)
    s.update({ host: [path('10.0.0.2')] })
    const f1 = encodeMessage(s.full())
    const f2 = encodeMessage(s.full())
    t.equal(v.apply(decodeMessage(f1), sig(1), 10), 'accepted', 'unknown origin, full record')
    t.equal(v.agentCount, 1)
    t.equal(v.apply(decodeMessage(f1), sig(1), 11), 'stale', 'duplicate')
    t.equal(v.agent('agent-1')?.lastHeard, 10, 'a duplicate does not refresh')
    t.equal(v.apply(decodeMessage(f2), sig(1), 12), 'accepted', 'higher seq')
    t.equal(v.agent('agent-1')?.record.seq, 3)
    const before = snapshot(v, 20)
    t.equal(v.apply(decodeMessage(f1), sig(1), 20), 'stale', 'replay of an older record')
    t.strictSame(snapshot(v, 20), before, 'a replay changes nothing')

    const older = new SelfRecord(ident(1), 999) // an earlier incarnation, far ahead in seq
    for (let i = 0; i < 50; i++) older.heartbeat()
    t.equal(v.apply(wire(older.full()), sig(1), 21), 'stale', 'older incarnation loses whatever its seq')
    const newer = new SelfRecord(ident(1), 2000)
    t.equal(v.apply(wire(newer.full()), sig(1), 22), 'accepted', 'newer incarnation wins with seq 1')
    t.equal(v.agent('agent-1')?.record.inc, 2000)
    t.equal(v.agent('agent-1')?.record.results.host.size, 0, 'the new incarnation\'s results replace the old')
  })

  t.test('heartbeats', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    const s = new SelfRecord(ident(1), 1000)
    t.equal(v.apply(wire(s.heartbeat()), sig(1), 1), 'gap', 'unknown origin')
    t.equal(v.agentCount, 0, 'nothing stored for an unknown origin')
    t.equal(v.apply(wire(s.full()), sig(1), 2), 'accepted')
    t.equal(v.apply(wire(s.heartbeat()), sig(1), 3), 'accepted', 'same rv')
    t.equal(v.agent('agent-1')?.lastHeard, 3, 'refreshes lastHeard')
    t.equal(v.agent('agent-1')?.record.seq, 3, 'advances seq')

    s.update({ host: [path('10.0.0.2')] }) // missed by the view
    t.equal(v.apply(wire(s.heartbeat()), sig(1), 4), 'gap', 'rv ahead')
    const held = must(v.agent('agent-1'), 'held')
    t.equal(held.lastHeard, 4, 'a gap heartbeat still refreshes lastHeard')
    t.equal(held.record.rv, 0, 'but does not pretend to have the new results')
    t.equal(held.record.results.host.size, 0)

    const next = new SelfRecord(ident(1), 2000)
    const before = snapshot(v, 5)
    t.equal(v.apply(wire(next.heartbeat()), sig(1), 5), 'gap', 'new incarnation')
    t.strictSame(snapshot(v, 5), before, 'a new incarnation\'s heartbeat changes nothing (needs the full record)')
    t.equal(v.apply(wire(next.full()), sig(1), 6), 'accepted')
    t.equal(v.agent('agent-1')?.record.inc, 2000)
  })

  t.test('deltas apply only on the matching base', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    const s = new SelfRecord(ident(1), 1000)
    t.equal(v.apply(wire(s.full()), sig(1), 1), 'accepted')
    const d1 = encodeMessage(must(s.update({ host: [path('10.0.0.2')] }), 'd1'))
    const d2 = encodeMessage(must(s.update({ host: [path('10.0.0.2'), path('10.0.0.3')] }), 'd2'))
    const d3 = encodeMessage(must(s.update({ host: [path('10.0.0.3')] }), 'd3'))
    t.equal(v.apply(decodeMessage(d1), sig(1), 2), 'accepted', 'base 0 on rv 0')
    t.strictSame([...must(v.agent('agent-1'), 'held').record.results.host.keys()], ['10.0.0.2'])
    t.equal(v.apply(decodeMessage(d1), sig(1), 3), 'stale', 'the same delta again')
    t.equal(v.apply(decodeMessage(d3), sig(1), 4), 'gap', 'base 2 on rv 1: missed d2')
    const held = must(v.agent('agent-1'), 'held')
    t.equal(held.record.rv, 1, 'gap: results version unchanged')
    t.strictSame([...held.record.results.host.keys()], ['10.0.0.2'], 'gap: results unchanged')
    t.equal(held.lastHeard, 4, 'gap: origin heard')
    // the gap left seq alone, so the missed delta arriving late still applies, and then the gap one does too
    t.equal(v.apply(decodeMessage(d2), sig(1), 5), 'accepted', 'the missed delta arriving late repairs the gap')
    t.equal(must(v.agent('agent-1'), 'held').record.rv, 2)
    t.equal(v.apply(decodeMessage(d3), sig(1), 6), 'accepted', 'the gap delta applies once its base is held')
    t.strictSame([...must(v.agent('agent-1'), 'held').record.results.host.keys()], ['10.0.0.3'])
    t.equal(v.apply(decodeMessage(d2), sig(1), 7), 'stale', 'and the older delta is now stale')

    // a fresh receiver that gets all deltas in order ends where the sender is
    const w = new View({ ttlMs: TTL, maxExternal: 8 })
    const s2 = new SelfRecord(ident(2), 1000)
    t.equal(w.apply(wire(s2.full()), sig(2), 1), 'accepted')
    const e1 = wire(must(s2.update({ pod: [path('10.1.0.2')] }), 'e1'))
    const e2 = wire(must(s2.update({ pod: [path('10.1.0.3')] }), 'e2'))
    t.equal(w.apply(e1, sig(2), 2), 'accepted')
    t.equal(w.apply(e2, sig(2), 3), 'accepted')
    t.strictSame(w.agent('agent-2')?.record.results.pod, s2.record.results.pod)
  })

  t.test('forged messages', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    const s = new SelfRecord(ident(1), 1000)
    const f = encodeMessage(s.full())
    t.equal(v.apply(decodeMessage(f), sig(2), 1), 'forged', 'full record signed by another key')
    t.equal(v.agentCount, 0, 'not stored')
    t.equal(v.apply(decodeMessage(f), null, 1), 'accepted', 'relayed by anti-entropy (no signer)')
    const early = encodeMessage(s.heartbeat())
    t.equal(v.apply(decodeMessage(early), sig(2), 1), 'gap', 'held second-hand: another key\'s heartbeat only asks for the record')
    t.equal(v.apply(decodeMessage(f), sig(1), 1), 'accepted', 'then heard first-hand')
    const before = snapshot(v, 2)
    const hb = encodeMessage(s.heartbeat())
    const delta = encodeMessage(must(s.update({ host: [path('10.0.0.9')] }), 'delta'))
    const leave = encodeMessage(s.leave())
    t.equal(v.apply(decodeMessage(hb), sig(2), 2), 'forged', 'heartbeat signed by another key')
    t.equal(v.apply(decodeMessage(delta), sig(2), 2), 'forged', 'delta signed by another key')
    t.equal(v.apply(decodeMessage(leave), sig(2), 2), 'forged', 'leave signed by another key')
    t.strictSame(snapshot(v, 2), before, 'forgeries change nothing')
    t.equal(v.agentCount, 1, 'a forged leave does not remove the origin')
    t.equal(v.apply(decodeMessage(hb), sig(1), 3), 'accepted', 'the real key is still accepted (heartbeat)')
    t.equal(v.apply(decodeMessage(delta), sig(1), 3), 'accepted', 'the real key is still accepted (delta)')
    t.strictSame([...must(v.agent('agent-1'), 'held').record.results.host.keys()], ['10.0.0.9'])
    t.equal(v.apply(decodeMessage(leave), sig(1), 3), 'accepted', 'the real key is still accepted (leave)')
    t.equal(v.agentCount, 0)

    const ext = extHb('legacy-1', 100, sig(1))
    t.equal(v.apply({ t: 'ext', record: ext }, sig(2), 4), 'forged', 'external record injected by someone else')
    t.equal(v.externalCount, 0)
    t.equal(v.apply({ t: 'ext', record: ext }, sig(1), 4), 'accepted', 'signed by its injector')
  })

  t.test('self origin', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    const me = new SelfRecord(ident(1), 1000)
    me.update({ host: [path('10.0.0.2')] })
    v.setSelf(me.record, 0)
    const impostor = new SelfRecord(ident(1), 9999)
    for (let i = 0; i < 10; i++) impostor.heartbeat()
    const before = snapshot(v, 1)
    t.equal(v.apply(wire(impostor.full()), sig(1), 1), 'self', 'a newer full record of my origin')
    t.equal(v.apply(wire(impostor.heartbeat()), sig(1), 1), 'self', 'a heartbeat of my origin')
    t.equal(v.apply(wire(impostor.leave()), sig(1), 1), 'self', 'a leave of my origin')
    t.equal(v.apply(wire(impostor.full()), null, 1), 'self', 'also when relayed')
    t.strictSame(snapshot(v, 1), before, 'my record is untouched')
    t.equal(v.agent('agent-1')?.trust === Trust.Self, true)
  })

  t.test('external records: last writer wins, capacity', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 2 })
    t.equal(v.apply({ t: 'ext', record: extHb('a', 100, 'p1') }, 'p1', 1), 'accepted')
    t.equal(v.apply({ t: 'ext', record: extHb('b', 100, 'p1') }, 'p1', 1), 'accepted')
    const before = snapshot(v, 2)
    t.equal(v.apply({ t: 'ext', record: extHb('c', 100, 'p1') }, 'p1', 2), 'capacity', 'a third origin over a cap of 2')
    t.strictSame(snapshot(v, 2), before, 'refused at capacity')
    t.equal(v.apply({ t: 'ext', record: extHb('a', 200, 'p1') }, 'p1', 3), 'accepted', 'a held origin updates at capacity')
    t.equal(v.apply({ t: 'ext', record: extHb('a', 150, 'p9') }, 'p9', 3), 'stale', 'older at')
    t.equal(v.apply({ t: 'ext', record: extHb('a', 200, 'p1') }, 'p1', 3), 'stale', 'same (at, by)')
    t.equal(v.apply({ t: 'ext', record: extHb('a', 200, 'p2') }, 'p2', 3), 'accepted', 'same at, larger injector id wins')
    t.equal(v.apply({ t: 'ext', record: extHb('a', 200, 'p0') }, 'p0', 3), 'stale', 'same at, smaller injector id loses')
    t.equal(v.externalEntries().find(e => e.record.key === 'hb:a')?.record.by, 'p2')
    t.equal(v.externalCount, 2)
    t.strictSame(v.expire(1 + TTL + 1).externals, ['hb:b'], 'b expires')
    t.equal(v.apply({ t: 'ext', record: extHb('c', 100, 'p1') }, 'p1', TTL + 3), 'accepted', 'room again')
    t.equal(v.apply({ t: 'ext', record: extHb('b', 100, 'p1') }, 'p1', TTL + 3), 'stale', 'expired origin replayed: tombstone')

    const none = new View({ ttlMs: TTL, maxExternal: 0 })
    t.equal(none.apply({ t: 'ext', record: extHb('a', 1, 'p1') }, 'p1', 1), 'capacity', 'a cap of 0 takes none')
  })

  t.test('legacy results live as long as their client\'s heartbeat, go with it, and count with it against the cap', async t => {
    const hb = (n: number, at: number): ExternalRecord => ({
      key: `hb:legacy-${n}`,
      at,
      by: 'p1',
      body: { part: 'hb', value: { podName: `legacy-${n}`, nodeIp: `10.9.0.${n}`, podIp: `10.9.1.${n}`, namespace: 'kube-system', timestamp: '2026-11-25T10:00:00Z' } }
    })
    const results = (part: 'host' | 'pod', source: string, at: number): ExternalRecord => ({ key: `${part}:${source}`, at, by: 'p1', body: { part, source, value: [legacy(source, '10.9.0.99')] } })
    const keys = (v: View): string[] => v.externalEntries().map(e => e.record.key).sort()
    const v = new View({ ttlMs: TTL, maxExternal: 2 })
    t.equal(v.apply({ t: 'ext', record: hb(1, 1) }, 'p1', 0), 'accepted')
    t.equal(v.apply({ t: 'ext', record: results('host', '10.9.0.1', 1) }, 'p1', 0), 'accepted', 'host results from the client\'s node IP')
    t.equal(v.apply({ t: 'ext', record: results('pod', '10.9.1.1', 1) }, 'p1', 0), 'accepted', 'pod results from its pod IP')
    t.equal(v.apply({ t: 'ext', record: results('host', '10.7.0.7', 1) }, 'p1', 0), 'accepted', 'results of a source with no heartbeat')
    t.equal(v.legacyClientCount, 2, 'two clients: one heartbeat with its results, one source without a heartbeat')
    t.equal(v.apply({ t: 'ext', record: hb(2, 1) }, 'p1', 0), 'capacity', 'a third client over a cap of 2')
    t.equal(v.apply({ t: 'ext', record: results('pod', '10.7.1.7', 1) }, 'p1', 0), 'capacity', 'a third source too')
    // the heartbeat keeps coming every few seconds, the results were posted once
    for (let at = 2; at <= 5; at++) v.apply({ t: 'ext', record: hb(1, at) }, 'p1', (at - 1) * (TTL / 2))
    t.strictSame(v.expire(TTL + 1).externals, ['host:10.7.0.7'], 'one TTL on: the ownerless results go, the client\'s stay')
    t.strictSame(keys(v), ['hb:legacy-1', 'host:10.9.0.1', 'pod:10.9.1.1'], 'a result as old as 2 TTLs is still held while its heartbeat lives')
    t.strictSame(v.expire(2 * TTL).externals, [])
    // the answer to a new agent carries the results, and it keeps them: their client's heartbeat comes first
    const fresh = new View({ ttlMs: TTL, maxExternal: 2 })
    fresh.merge(v.answer(fresh.digest(), 2 * TTL), 0)
    t.strictSame(keys(fresh), ['hb:legacy-1', 'host:10.9.0.1', 'pod:10.9.1.1'], 'synced to a new agent with the heartbeat that keeps them')
    // the client stops: everything of it goes one TTL after its last heartbeat, at once
    const last = 4 * (TTL / 2)
    t.strictSame(v.expire(last + TTL).externals, [], 'exactly one TTL after the last heartbeat: kept')
    t.strictSame(v.expire(last + TTL + 1).externals.sort(), ['hb:legacy-1', 'host:10.9.0.1', 'pod:10.9.1.1'], 'then the client and its results go together')
    t.equal(v.legacyClientCount, 0)
    t.equal(v.apply({ t: 'ext', record: hb(2, 10) }, 'p1', last + TTL + 2), 'accepted', 'room again')
  })

  t.test('an unchanged legacy report is not gossiped again: its heartbeat rides on its agent\'s own', async t => {
    const agentA = new SelfRecord(ident(1), 1_000)
    const A = agentA.record.identity
    const va = new View({ ttlMs: TTL, maxExternal: 10 })
    va.setSelf(agentA.record, 0)
    const vb = new View({ ttlMs: TTL, maxExternal: 10 })
    vb.setSelf(new SelfRecord(ident(2), 1_000).record, 0)
    t.equal(vb.apply(agentA.full(), A.peerId, 0), 'accepted')
    const book = new BeatBook(MAX_LEGACY_ENTRIES)
    const quiet = { refreshMs: 600_000, book }
    const wall = 1_800_000_000_000
    const hbBody = (podIp: string, timestamp: string): ExternalBody => ({ part: 'hb', value: { podName: 'old-client', nodeIp: '10.9.0.1', podIp, namespace: 'kube-system', timestamp } })
    const post = (body: ExternalBody, dt: number): GossipMessage | null =>
      injectExternal(va, body, { by: A.peerId, wallNow: wall + dt, monoNow: dt, maxExternal: 10, quiet })
    const first = post(hbBody('10.9.1.1', '2026-12-06T10:00:00Z'), 0)
    t.ok(first !== null, 'a new client\'s heartbeat is gossiped')
    if (first !== null) t.equal(vb.apply(decodeMessage(encodeMessage(first)), A.peerId, 0), 'accepted')
    t.equal(post(hbBody('10.9.1.1', '2026-12-06T10:00:05Z'), 5_000), null, 'the same heartbeat again (another timestamp): not gossiped')
    t.equal(book.size, 1, 'noted for the agent\'s next heartbeat')

    // the agent's heartbeat carries it over the wire; the receiver refreshes the record it holds
    const beat = decodeMessage(encodeMessage(agentA.heartbeat([], book.drain(5_500))))
    const entries = beat.t === 'hb' ? beat.legacy ?? [] : []
    t.equal(entries.length, 1, 'one legacy entry on the wire')
    t.same(vb.applyLegacyLiveness(A.podName, entries, 5_500), { refreshed: 1, gaps: [], refused: false })
    t.strictSame(vb.expire(TTL + 1).externals, [], 'one TTL after the gossiped record: kept, refreshed by the entry')
    t.strictSame(vb.expire(5_000 + TTL + 1).externals, ['hb:old-client'], 'one TTL after the last refresh: gone')
    t.same(vb.applyLegacyLiveness('nobody', entries, 6_000).refused, true, 'entries of an agent the view does not hold are refused')

    // a changed heartbeat is gossiped; a refresh naming a newer record than the one held is a gap
    const moved = post(hbBody('10.9.1.2', '2026-12-06T10:00:10Z'), 10_000)
    t.ok(moved !== null && moved.t === 'ext', 'a heartbeat with another pod IP is gossiped')
    const vc = new View({ ttlMs: TTL, maxExternal: 10 })
    t.equal(vc.apply(agentA.full(), A.peerId, 10_000), 'accepted')
    if (first !== null) vc.apply(decodeMessage(encodeMessage(first)), A.peerId, 10_000)
    if (moved !== null && moved.t === 'ext') {
      t.equal(post(hbBody('10.9.1.2', '2026-12-06T10:00:15Z'), 15_000), null)
      t.same(vc.applyLegacyLiveness(A.podName, book.drain(15_000), 15_000).gaps, [A.podName], 'the holder of the older record pulls the newer')
    }

    // results: unchanged states are not gossiped while the client's heartbeat owns them; timings aside
    const rows = (latencyUs: number, ping: 'reachable' | 'unreachable'): ExternalBody => ({ part: 'host', source: '10.9.0.1', value: [legacy('10.9.0.1', '10.9.0.7', { latencyUs, ping })] })
    t.ok(post(rows(1_000, 'reachable'), 20_000) !== null, 'first results: gossiped')
    t.equal(post(rows(1_900, 'reachable'), 25_000), null, 'the same states, another latency: not gossiped')
    t.ok(post(rows(1_900, 'unreachable'), 30_000) !== null, 'a state changed: gossiped')
    const orphan: ExternalBody = { part: 'host', source: '10.7.0.7', value: [legacy('10.7.0.7', '10.9.0.7')] }
    t.ok(post(orphan, 30_000) !== null && post(orphan, 31_000) !== null, 'results no heartbeat owns are gossiped every time (they expire one TTL after their post)')
    t.ok(post(rows(1_900, 'unreachable'), 700_000) !== null, 'and anything older than the refresh period goes out again')

    t.ok(sameLegacyContent(rows(1, 'reachable'), rows(2, 'reachable')))
    t.notOk(sameLegacyContent(rows(1, 'reachable'), { part: 'pod', source: '10.9.0.1', value: [legacy('10.9.0.1', '10.9.0.7')] }), 'another part')
  })
})

// ---------------------------------------------------------------------------------------------------------------
// View: expiry, leave, tombstones

t.test('View: expiry and leave', async t => {
  const sig = (n: number): string => ident(n).peerId

  t.test('TTL expiry with a fake clock', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    const me = new SelfRecord(ident(9), 1)
    v.setSelf(me.record, 0)
    const s = [1, 2, 3].map(n => new SelfRecord(ident(n), 1000))
    const full1 = encodeMessage((s[0] as SelfRecord).full())
    t.equal(v.apply(decodeMessage(full1), sig(1), 0), 'accepted')
    t.equal(v.apply(wire((s[1] as SelfRecord).full()), sig(2), 0), 'accepted')
    const p3 = must(s[2], 's3')
    p3.update({ host: [path('10.0.0.1')] })
    t.equal(v.apply(wire(p3.full()), sig(3), 0), 'accepted')
    t.equal(v.apply(wire(must(s[1], 's2').heartbeat()), sig(2), 5_000), 'accepted')
    t.equal(v.apply(wire(p3.heartbeat()), sig(3), 10_000), 'accepted')
    t.equal(v.apply({ t: 'ext', record: extHb('legacy', 1, 'p1') }, 'p1', 4_000), 'accepted')

    t.strictSame(v.expire(TTL), { agents: [], externals: [] }, 'exactly ttl old: kept')
    t.equal(v.agentCount, 4)
    t.strictSame(v.expire(TTL + 1), { agents: ['agent-1'], externals: [] }, 'just over ttl: agent-1 goes')
    t.equal(v.agent('agent-1'), undefined)
    t.equal(v.agentCount, 3)
    t.strictSame(v.expire(4_000 + TTL + 1), { agents: [], externals: ['hb:legacy'] }, 'the external goes on its own clock')
    t.strictSame(v.expire(5_000 + TTL + 1), { agents: ['agent-2'], externals: [] }, 'agent-2 next')
    t.strictSame(v.agentEntries().map(e => e.record.identity.podName).sort(), ['agent-3', 'agent-9'], 'agent-3 and self remain')
    t.equal(v.agent('agent-3')?.record.results.host.size, 1, 'survivor keeps its results')
    t.strictSame(v.expire(10_000 + TTL + 1), { agents: ['agent-3'], externals: [] })
    t.notOk(v.agentEntries().some(e => e.record.results.host.has('10.0.0.1')), 'the expired origin\'s results are gone')
    t.strictSame(v.expire(10 * TTL), { agents: [], externals: [] }, 'self never expires')
    t.equal(v.agent('agent-9')?.trust === Trust.Self, true)
    t.strictSame(v.lostEntries(10_000 + TTL + 1).map(l => l.record.identity.podName), ['agent-3', 'agent-2', 'agent-1'],
      'expired agents are remembered as lost, newest silence first')
    t.strictSame(v.answer({ agents: [['agent-1', 1000, 1, 0], ['agent-3', 1000, 3, 1]], externals: [] }, 10_000 + TTL + 1).left, [],
      'an expiry is not a departure: never announced to peers as left')

    // tombstones: a replay of what was held is stale, a newer message is accepted
    t.equal(v.apply(decodeMessage(full1), sig(1), 10_000 + TTL + 2), 'stale', 'replay after expiry')
    t.equal(v.apply(wire({ t: 'hb', origin: 'agent-1', inc: 1000, seq: 1, rv: 0 }), sig(1), 10_000 + TTL + 2), 'stale', 'old heartbeat after expiry')
    t.equal(v.apply(wire(must(s[0], 's1').full()), sig(1), 10_000 + TTL + 3), 'accepted', 'same incarnation, newer seq: alive again')
    t.equal(v.lostEntries(10_000 + TTL + 3).some(l => l.record.identity.podName === 'agent-1'), false, 'no longer lost')
    t.equal(v.apply(wire(new SelfRecord(ident(2), 2000).full()), sig(2), 10_000 + TTL + 3), 'accepted', 'new incarnation after expiry')
    t.equal(v.agentCount, 3)
  })

  t.test('expiry walks the view only when one may be due, and misses none', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    const s = [1, 2, 3].map(n => new SelfRecord(ident(n), 1000))
    t.equal(v.apply(wire((s[0] as SelfRecord).full()), sig(1), 5_000), 'accepted')
    t.strictSame(v.expire(5_000 + TTL), { agents: [], externals: [] }, 'the first walk: none due yet')
    // a record that arrives already aged (heard earlier than anything held), after that walk: it sets the next one
    t.equal(v.apply(wire((s[1] as SelfRecord).full()), sig(2), 1_000), 'accepted')
    t.strictSame(v.expire(1_000 + TTL + 1), { agents: ['agent-2'], externals: [] }, 'it expires on its own time')
    // hearing an agent again moves its expiry later
    t.equal(v.apply(wire((s[0] as SelfRecord).heartbeat()), sig(1), 8_000), 'accepted')
    t.strictSame(v.expire(5_000 + TTL + 1), { agents: [], externals: [] }, 'heard again: kept past its first due time')
    t.equal(v.apply(wire((s[2] as SelfRecord).full()), sig(3), 7_000), 'accepted')
    t.strictSame(v.expire(7_000 + TTL + 1), { agents: ['agent-3'], externals: [] }, 'a later arrival, due earlier than the rest')
    t.strictSame(v.expire(8_000 + TTL + 1), { agents: ['agent-1'], externals: [] }, 'and the last')
  })

  t.test('leave removes at once; replays are stale; a new incarnation is accepted', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    const s = new SelfRecord(ident(1), 1000)
    s.update({ host: [path('10.0.0.2')] })
    const f = encodeMessage(s.full())
    const hb = encodeMessage(s.heartbeat())
    t.equal(v.apply(decodeMessage(f), sig(1), 0), 'accepted')
    t.equal(v.apply(decodeMessage(hb), sig(1), 1), 'accepted')
    const wrongInc = { t: 'leave' as const, origin: 'agent-1', inc: 999, seq: 99 }
    t.equal(v.apply(wire(wrongInc), sig(1), 2), 'stale', 'leave of another incarnation')
    t.equal(v.agentCount, 1, 'does not remove')
    const leave = encodeMessage(s.leave())
    t.equal(v.apply(decodeMessage(leave), sig(1), 3), 'accepted')
    t.equal(v.agentCount, 0, 'gone at once, no TTL wait')
    t.strictSame(v.lostEntries(3), [], 'a departed agent is not lost')
    t.equal(v.apply(decodeMessage(f), sig(1), 4), 'stale', 'replayed full after leave')
    t.equal(v.apply(decodeMessage(f), null, 4), 'stale', 'replayed full via anti-entropy after leave')
    t.equal(v.apply(decodeMessage(hb), sig(1), 4), 'stale', 'replayed heartbeat after leave')
    t.equal(v.apply(decodeMessage(leave), sig(1), 4), 'stale', 'replayed leave')
    t.equal(v.agentCount, 0)
    const back = new SelfRecord(ident(1), 2000)
    t.equal(v.apply(wire(back.full()), sig(1), 5), 'accepted', 'restarted agent')
    t.equal(v.agent('agent-1')?.record.inc, 2000)
    t.equal(v.agent('agent-1')?.record.results.host.size, 0)
  })

  t.test('judge never mutates and agrees with apply', async t => {
    const NOW = 50
    const build = (): View => {
      const v = new View({ ttlMs: TTL, maxExternal: 2 })
      const me = new SelfRecord(ident(9), 1)
      v.setSelf(me.record, 0)
      const a = new SelfRecord(ident(1), 1000)
      v.apply(wire(a.full()), sig(1), 10) // heard from its origin (a second-hand record would yield to a signed replay)
      const b = new SelfRecord(ident(2), 1000)
      v.apply(wire(b.full()), null, 10)
      v.apply(wire(b.leave()), null, 11)
      v.apply({ t: 'ext', record: extHb('x', 5, 'p1') }, null, 10)
      v.apply({ t: 'ext', record: extHb('y', 5, 'p1') }, null, 10)
      return v
    }
    const a = new SelfRecord(ident(1), 1000)
    a.full() // seq 1, as held
    const full2 = wire(a.full())
    const hb = wire(a.heartbeat())
    const delta = wire(must(a.update({ host: [path('10.0.0.7')] }), 'delta'))
    const hbAhead = wire(a.heartbeat())
    const leave = wire(a.leave())
    const cases: Array<[string, GossipMessage, string | null, string]> = [
      ['newer full', full2, sig(1), 'accepted'],
      ['replayed full', wire(new SelfRecord(ident(1), 1000).full()), sig(1), 'stale'],
      ['forged full', full2, sig(2), 'forged'],
      ['heartbeat', hb, sig(1), 'accepted'],
      ['delta', delta, sig(1), 'accepted'],
      ['heartbeat with rv ahead', hbAhead, sig(1), 'gap'],
      ['leave', leave, sig(1), 'accepted'],
      ['unknown origin heartbeat', wire(new SelfRecord(ident(3), 1).heartbeat()), sig(3), 'gap'],
      ['departed origin replay', wire({ t: 'hb', origin: 'agent-2', inc: 1000, seq: 1, rv: 0 }), sig(2), 'stale'],
      ['departed origin new incarnation', wire(new SelfRecord(ident(2), 2000).full()), sig(2), 'accepted'],
      ['self', wire(new SelfRecord(ident(9), 5).full()), sig(9), 'self'],
      ['external over cap', { t: 'ext', record: extHb('z', 5, 'p1') }, 'p1', 'capacity'],
      ['external update', { t: 'ext', record: extHb('x', 6, 'p1') }, 'p1', 'accepted'],
      ['external forged', { t: 'ext', record: extHb('x', 6, 'p1') }, 'p2', 'forged']
    ]
    for (const [label, msg, signer, want] of cases) {
      const v = build()
      const before = snapshot(v, NOW, ['agent-1', 'agent-2', 'agent-3'])
      const judged = v.judge(msg, signer)
      t.equal(judged, want, `${label}: judge`)
      t.strictSame(snapshot(v, NOW, ['agent-1', 'agent-2', 'agent-3']), before, `${label}: judge changed nothing`)
      t.equal(v.judge(msg, signer), judged, `${label}: judging twice gives the same answer`)
      t.equal(build().apply(msg, signer, NOW), judged, `${label}: apply agrees with judge`)
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------
// View: anti-entropy

t.test('View: anti-entropy', async t => {
  const sig = (n: number): string => ident(n).peerId
  const NOW = 16_000

  t.test('two views converge', async t => {
    // real keys: every record is sealed by its origin, as agents do, so a relayed newer version is the origin's word
    const keyOf = new Map([1, 2, 3, 4, 5, 10, 11].map(n => [n, newAgentKey()]))
    const key = (n: number): AgentKey => must(keyOf.get(n), `key ${n}`)
    const sig = (n: number): string => key(n).peerId
    const sealed = (n: number, inc: number): SelfRecord => new SelfRecord({ ...ident(n), peerId: sig(n) }, inc, key(n).sign)
    const verify = new PeerKeys().verify
    const checked = (into: View, r: SyncResponse): SyncResponse => {
      const x = wireSync(r)
      checkSeals(x, verify, o => into.agent(o)?.record.identity.peerId)
      return x
    }
    const A = new View({ ttlMs: TTL, maxExternal: 8 })
    const B = new View({ ttlMs: TTL, maxExternal: 8 })
    const selfA = sealed(10, 1)
    const selfB = sealed(11, 1)
    selfA.update({ pod: [path('10.1.0.11')] })
    // (installed within the TTL of NOW: see 'an answerer\'s own record is fresh' below for why that matters)
    A.setSelf(selfA.record, 10_000)
    B.setSelf(selfB.record, 10_000)
    const s = [1, 2, 3, 4, 5].map(n => sealed(n, 1000))
    const [s1, s2, s3, s4, s5] = s as [SelfRecord, SelfRecord, SelfRecord, SelfRecord, SelfRecord]
    const f1 = encodeMessage(s1.full())
    const f2 = encodeMessage(s2.full())
    const f3 = encodeMessage(s3.full())
    const f4 = encodeMessage(s4.full())
    const f5 = encodeMessage(s5.full())
    // A: everything, plus s2's delta, a recent s3 heartbeat, s4's leave, and s5 heard long ago
    A.apply(decodeMessage(f1), sig(1), 5_000)
    A.apply(decodeMessage(f2), sig(2), 5_000)
    t.equal(A.apply(wire(must(s2.update({ host: [path('10.0.0.3')] }), 'delta')), sig(2), 6_000), 'accepted')
    A.apply(decodeMessage(f3), sig(3), 5_000)
    t.equal(A.apply(wire(s3.heartbeat()), sig(3), 14_000), 'accepted')
    A.apply(decodeMessage(f4), sig(4), 5_000)
    const leave4 = s4.leave()
    t.equal(A.apply(wire(leave4), sig(4), 7_000), 'accepted')
    A.apply(decodeMessage(f5), sig(5), 0)
    A.apply({ t: 'ext', record: extHb('shared', 10, 'p1') }, 'p1', 5_000)
    // B: older s2, s3 heard long ago, s4 still present, its own external
    B.apply(decodeMessage(f2), sig(2), 5_000)
    B.apply(decodeMessage(f3), sig(3), 5_000)
    B.apply(decodeMessage(f4), sig(4), 5_000)
    B.apply({ t: 'ext', record: extHb('shared', 10, 'p1') }, 'p1', 5_000)
    B.apply({ t: 'ext', record: extHb('only-b', 20, 'p2') }, 'p2', 8_000)

    const resAB = A.answer(B.digest(), NOW)
    t.strictSame(resAB.full.map(x => x.record.identity.podName).sort(), ['agent-1', 'agent-10', 'agent-2', 'agent-5'],
      'full records for what B lacks or holds at an older rv')
    t.strictSame(resAB.touch.map(x => x[0]), ['agent-3'], 'a touch for what B holds at the same rv')
    t.strictSame(resAB.touch[0], ['agent-3', 1000, 2, 0, 2_000], 'touch carries the age of A\'s last hearing')
    t.strictSame(resAB.left.map(({ seal, ...l }) => l), [{ origin: 'agent-4', inc: 1000, seq: 2 }], 'the departure B has not seen')
    t.ok(resAB.left[0]?.seal !== undefined, 'with agent-4\'s seal')
    t.strictSame(resAB.externals, [], 'A lacks B\'s external: nothing to send')
    t.strictSame(resAB.extTouch, [['hb:shared', 10, 'p1', 11_000]])

    const r1 = B.merge(checked(B, resAB), NOW)
    t.strictSame(r1, { changed: 4, gaps: [] }, 'agent-1, agent-10, agent-2 and agent-4\'s departure')
    t.equal(B.agent('agent-4'), undefined, 'a departure relayed under its origin\'s seal removes an origin B heard itself')
    t.equal(B.apply(wire(leave4), sig(4), 7_000), 'stale', 'the origin\'s own leave, heard later, is news no more')
    t.equal(B.agent('agent-5'), undefined, 'a record heard longer ago than the TTL is not taken')
    t.equal(B.agent('agent-3')?.lastHeard, 14_000, 'touch refreshed lastHeard by age')
    t.equal(B.agent('agent-3')?.record.seq, 1, 'but not seq: only the origin\'s word moves it')
    t.equal(B.agent('agent-1')?.lastHeard, 5_000, 'a full record keeps its age')
    t.equal(B.agent('agent-10')?.trust === Trust.Self, false, 'A\'s own record is an ordinary one at B')
    t.strictSame(B.agent('agent-2')?.record.results.host, s2.record.results.host, 'B got the delta\'s results')
    t.strictSame(B.agent('agent-10')?.record.results.pod, selfA.record.results.pod)

    const r2 = A.merge(checked(A, B.answer(A.digest(), NOW)), NOW)
    t.strictSame(r2, { changed: 2, gaps: [] }, 'agent-11 and the external only B held')
    t.equal(A.agent('agent-10')?.trust === Trust.Self, true, 'my own record comes back as "self" and is ignored')
    t.strictSame(A.expire(NOW), { agents: ['agent-5'], externals: [] }, 'A lets its stale agent-5 expire')

    const versions = (d: Array<[string, number, number, number]>): Array<[string, number, number]> => byOrigin(d).map(([o, inc, , rv]) => [o, inc, rv])
    t.strictSame(versions(A.digest().agents), versions(B.digest().agents), 'same agents at the same versions (seq is each agent\'s own hearing)')
    t.strictSame(byOrigin(A.digest().externals), byOrigin(B.digest().externals), 'same externals')
    const noSeq = (rs: AgentRecord[]): unknown[] => rs.map(r => ({ ...r, seq: 0 }))
    t.strictSame(noSeq(recordsOf(A)), noSeq(recordsOf(B)), 'same records, results included')

    // once converged, a sync moves nothing
    const again = B.answer(A.digest(), NOW)
    t.strictSame(again.full, [], 'nothing left to send')
  })

  t.test('merge is idempotent; a view with newer records is unchanged by an older one', async t => {
    const A = new View({ ttlMs: TTL, maxExternal: 8 })
    const B = new View({ ttlMs: TTL, maxExternal: 8 })
    const s1 = new SelfRecord(ident(1), 1000)
    const s2 = new SelfRecord(ident(2), 1000)
    const s3 = new SelfRecord(ident(3), 1000)
    s1.update({ host: [path('10.0.0.2')] })
    const old1 = encodeMessage(s1.full())
    const old2 = encodeMessage(s2.full())
    const old3 = encodeMessage(s3.full())
    A.apply(decodeMessage(old1), null, 5_000)
    A.apply(decodeMessage(old2), null, 5_000)
    A.apply(decodeMessage(old3), null, 5_000)
    A.apply(wire(s3.leave()), null, 6_000)
    A.apply({ t: 'ext', record: extHb('e', 10, 'p1') }, null, 5_000)

    // idempotence
    const bytes = encodeSyncResponse(A.answer(B.digest(), NOW))
    const first = B.merge(decodeSyncResponse(bytes), NOW)
    t.equal(first.changed, 3, 'first merge takes agent-1, agent-2 and the external')
    const after = snapshot(B, NOW, ['agent-3'])
    const second = B.merge(decodeSyncResponse(bytes), NOW)
    t.strictSame(second, { changed: 0, gaps: [] }, 'second merge of the same response')
    t.strictSame(snapshot(B, NOW, ['agent-3']), after, 'changes nothing')

    // N holds newer versions of everything A has, heard more recently
    const N = new View({ ttlMs: TTL, maxExternal: 8 })
    must(s1.update({ host: [path('10.0.0.2'), path('10.0.0.3')] }), 'delta') // newer results than A's copy
    N.apply(wire(s1.full()), null, 15_000)
    N.apply(wire(new SelfRecord(ident(2), 2000).full()), null, 15_000) // newer incarnation
    const s3b = new SelfRecord(ident(3), 3000) // restarted after its leave: A's tombstone is older
    N.apply(wire(s3b.full()), null, 15_000)
    N.apply({ t: 'ext', record: extHb('e', 50, 'p1') }, null, 15_000)
    const res = A.answer(N.digest(), NOW)
    t.strictSame(res.left, [{ origin: 'agent-3', inc: 1000, seq: 2 }], 'A offers its (older) departure of agent-3')
    const before = snapshot(N, NOW, ['agent-3'])
    t.strictSame(N.merge(wireSync(res), NOW), { changed: 0, gaps: [] })
    t.strictSame(snapshot(N, NOW, ['agent-3']), before, 'merging older records changes nothing')
  })

  t.test('touch refreshes only forward, only within the TTL', async t => {
    const A = new View({ ttlMs: TTL, maxExternal: 8 })
    const B = new View({ ttlMs: TTL, maxExternal: 8 })
    const s1 = new SelfRecord(ident(1), 1000)
    const s2 = new SelfRecord(ident(2), 1000)
    const f1 = encodeMessage(s1.full())
    const f2 = encodeMessage(s2.full())
    A.apply(decodeMessage(f1), null, 10_000) // A heard agent-1 before B
    B.apply(decodeMessage(f1), null, 12_000)
    A.apply(decodeMessage(f2), null, 0) // A heard agent-2 longer ago than the TTL (not yet swept)
    B.apply(decodeMessage(f2), null, 0)
    A.apply({ t: 'ext', record: extHb('e', 10, 'p1') }, null, 14_000)
    B.apply({ t: 'ext', record: extHb('e', 10, 'p1') }, null, 2_000)
    B.merge(wireSync(A.answer(B.digest(), NOW)), NOW)
    t.equal(B.agent('agent-1')?.lastHeard, 12_000, 'an older hearing does not move lastHeard back')
    t.equal(B.agent('agent-2')?.lastHeard, 0, 'a touch older than the TTL is ignored')
    t.equal(B.externalEntries()[0]?.lastHeard, 14_000, 'extTouch refreshes an external')
    t.strictSame(B.expire(NOW).agents, ['agent-2'])
  })

  t.test('an answerer\'s own record is fresh', async t => {
    // an agent installs its own record once, at start (mesh.ts:65); a sync long after start must still deliver it
    const me = new SelfRecord(ident(1), 1000)
    const X = new View({ ttlMs: TTL, maxExternal: 8 })
    X.setSelf(me.record, 0)
    me.heartbeat() // X keeps gossiping: its record is current
    const R = new View({ ttlMs: TTL, maxExternal: 8 })
    const res = wireSync(X.answer(R.digest(), 10 * TTL))
    t.strictSame(res.full.map(f => f.record.identity.podName), ['agent-1'], 'X offers its own record')
    R.merge(res, 10 * TTL)
    t.strictSame(X.expire(10 * TTL), { agents: [], externals: [] }, 'X\'s own record never expires at X')
    // regression: answer() once aged X's own record from setSelf time, so after TTL of uptime the asker dropped it
    t.equal(res.full[0]?.ageMs, 0, 'my own record is always fresh')
    t.ok(R.agent('agent-1') !== undefined, 'the asker takes the answerer\'s own record')
  })

  t.test('a gap is repaired by pulling from the origin', async t => {
    // the origin X runs its own view; receiver R misses one delta, then pulls from X as the mesh does on a gap
    const x = new SelfRecord(ident(1), 1000)
    const X = new View({ ttlMs: TTL, maxExternal: 8 })
    X.setSelf(x.record, 0)
    const R = new View({ ttlMs: TTL, maxExternal: 8 })
    t.equal(R.apply(wire(x.full()), sig(1), 1), 'accepted')
    x.update({ host: [path('10.0.0.2')] }) // lost on the way to R
    const d2 = must(x.update({ host: [path('10.0.0.2'), path('10.0.0.3')] }), 'delta')
    t.equal(R.apply(wire(d2), sig(1), 2), 'gap', 'missed delta detected')
    const res = wireSync(X.answer(R.digest(), 3))
    t.strictSame(res.full.map(f => f.record.rv), [2], 'X offers its full record at rv 2')
    const merged = R.merge(res, 3, sig(1)) // the answerer is the origin itself
    // regression: the gap delta once advanced R's seq without its results, so X's full record (same seq) was
    // judged stale and the repair pull did nothing until X's next full refresh
    t.equal(R.agent('agent-1')?.record.rv, 2, 'repaired to the origin\'s rv')
    t.strictSame(R.agent('agent-1')?.record.results.host, x.record.results.host, 'repaired results')
    t.strictSame(merged, { changed: 1, gaps: [] })
  })
})

// ---------------------------------------------------------------------------------------------------------------
// codec

/** What a path result looks like after the codec: durations rounded to whole µs. */
const usRound = (ms: number | null): number | null => ms === null ? null : Math.round(ms * 1000) / 1000
function rounded (p: PathResult): PathResult {
  return { ...p, rttMs: usRound(p.rttMs), connectMs: usRound(p.connectMs), durationMs: usRound(p.durationMs) ?? 0 }
}

function sampleRecord (): AgentRecord {
  const s = new SelfRecord(ident(1), 1_764_000_000_000)
  s.update({
    host: [path('10.0.0.2'), path('10.0.0.3', { tcp: 'timeout', connectMs: null, sent: 3, received: 0, rttMs: null })],
    pod: [path('10.1.0.2', { rttMs: 0.123456, connectMs: 2.0004, durationMs: 1000.0006 }), path('fd00::2', { port: 8080, tcp: 'unreachable' })],
    service: service()
  })
  s.record.leader = true
  s.heartbeat()
  return structuredClone(s.record)
}

function roundedRecord (r: AgentRecord): AgentRecord {
  const svc = r.results.service
  return {
    ...r,
    results: {
      host: new Map([...r.results.host].map(([k, p]) => [k, rounded(p)])),
      pod: new Map([...r.results.pod].map(([k, p]) => [k, rounded(p)])),
      service: svc === null ? null : { ...svc, dnsMs: usRound(svc.dnsMs) ?? 0, paths: svc.paths.map(rounded) }
    }
  }
}

const extRecords: ExternalRecord[] = [
  extHb('legacy-client-x', 1_764_000_000_123, '12D3KooWPeer1'),
  { key: 'host:10.9.0.1', at: 5, by: 'p1', body: { part: 'host', source: '10.9.0.1', value: [legacy('10.9.0.1', '10.9.0.2'), legacy('10.9.0.1', '10.9.0.3', { ping: 'unreachable', ports: {}, latencyUs: null, durationUs: 3250 })] } },
  { key: 'pod:10.9.1.1', at: 6, by: 'p1', body: { part: 'pod', source: '10.9.1.1', value: [] } },
  { key: 'svc:10.9.1.1', at: 7, by: 'p2', body: { part: 'svc', value: legacy('10.9.1.1', 'my-svc.default.svc.cluster.local', { ports: { 80: 'closed' } }) } }
]

function sampleMessages (): GossipMessage[] {
  const rec = sampleRecord()
  const p = path('10.0.0.9', { rttMs: 3.25 })
  return [
    { t: 'full', record: rec },
    { t: 'full', record: { ...structuredClone(new SelfRecord(ident(2), 1).record), leader: false } },
    { t: 'hb', origin: 'agent-1', inc: 1_764_000_000_000, seq: 42, rv: 7 },
    { t: 'delta', origin: 'agent-1', inc: 1, seq: 5, base: 2, rv: 3, host: { upsert: [p], remove: ['10.0.0.4', 'fd00::4'] }, pod: null, service: undefined },
    { t: 'delta', origin: 'agent-1', inc: 1, seq: 6, base: 3, rv: 4, host: null, pod: { upsert: [], remove: ['10.1.0.4'] }, service: service() },
    { t: 'delta', origin: 'agent-1', inc: 1, seq: 7, base: 4, rv: 5, host: null, pod: null, service: null },
    { t: 'leave', origin: 'agent-1', inc: 1, seq: 8 },
    ...extRecords.map(record => ({ t: 'ext' as const, record }))
  ]
}

t.test('codec: round trips', async t => {
  const msgs = sampleMessages()
  for (const m of msgs) {
    const label = m.t === 'ext' ? `ext ${m.record.body.part}` : m.t === 'delta' ? `delta service=${m.service === undefined ? 'absent' : m.service === null ? 'null' : 'set'}` : m.t
    const back = decodeMessage(encodeMessage(m))
    const want: GossipMessage = m.t === 'full'
      ? { t: 'full', record: roundedRecord(m.record) }
      : m.t === 'delta'
        ? { ...m, host: m.host === null ? null : { ...m.host, upsert: m.host.upsert.map(rounded) } }
        : m
    t.strictSame(back, want, `${label}: decode(encode(m)) = m`)
    t.same(encodeMessage(back), encodeMessage(m), `${label}: re-encoding is byte-identical`)
  }
  const full = fullOf(decodeMessage(encodeMessage(msgs[0] as GossipMessage)))
  const pod = must(full.results.pod.get('10.1.0.2'), 'pod path')
  t.equal(pod.rttMs, 0.123, 'rtt rounded to µs')
  t.equal(pod.connectMs, 2, 'connect rounded to µs')
  t.equal(pod.durationMs, 1000.001, 'duration rounded to µs')
  t.equal(full.results.host.get('10.0.0.3')?.rttMs, null, 'no rtt stays null')
  t.equal(full.leader, true)
  t.equal(full.results.service?.paths[1]?.tcp, 'refused')
  const d = decodeMessage(encodeMessage(msgs[3] as GossipMessage))
  t.ok(d.t === 'delta' && !('sv' in JSON.parse(dec.decode(encodeMessage(msgs[3] as GossipMessage)))) && d.service === undefined,
    'a delta without service decodes to "untouched", not "cleared"')

  // anti-entropy payloads
  const rec = sampleRecord()
  const digest = { agents: [['agent-1', 1, 2, 3], ['agent-2', 4, 5, 6]] as Array<[string, number, number, number]>, externals: [['hb:x', 7, 'p1']] as Array<[string, number, string]> }
  const req = decodeSyncRequest(encodeSyncRequest({ digest, self: rec }))
  t.strictSame(req, { digest, self: roundedRecord(rec) }, 'sync request round trip')
  const response: SyncResponse = {
    full: [{ record: rec, ageMs: 12.6 }, { record: new SelfRecord(ident(3), 9).record, ageMs: 0 }],
    touch: [['agent-4', 1, 2, 3, 999.4]],
    externals: extRecords.map((record, i) => ({ record, ageMs: i * 100 })),
    extTouch: [['hb:y', 3, 'p9', 15_000]],
    left: [{ origin: 'agent-5', inc: 6, seq: 7 }]
  }
  const back = decodeSyncResponse(encodeSyncResponse(response))
  t.strictSame(back, {
    ...response,
    full: [{ record: roundedRecord(rec), ageMs: 13 }, { record: new SelfRecord(ident(3), 9).record, ageMs: 0 }],
    touch: [['agent-4', 1, 2, 3, 999]]
  }, 'sync response round trip, ages rounded to ms')
  const empty: SyncResponse = { full: [], touch: [], externals: [], extTouch: [], left: [] }
  t.strictSame(decodeSyncResponse(encodeSyncResponse(empty)), empty, 'empty sync response')
})

t.test('codec: the Lease holder\'s excluded nodes round-trip, are sealed, and leave other records as they were', async t => {
  const rec = sampleRecord()
  const plain = canonicalContent(rec)
  t.notOk(plain.includes('xn'), 'no exclusions: the canonical content agents before them sealed')
  const withX = { ...rec, excluded: [{ node: 'node-3', reason: 'cordoned' }, { node: 'node-9', reason: 'not ready: KubeletNotReady' }] }
  const back = fullOf(decodeMessage(encodeMessage({ t: 'full', record: withX })))
  t.same(back.excluded, withX.excluded, 'round trip')
  t.not(canonicalContent(withX), plain, 'the exclusions are part of what the origin seals (a relay cannot add or drop one)')
  t.equal(canonicalContent({ ...rec, excluded: [] }), plain, 'an empty list seals as none')
  const bad = (xn: unknown): Uint8Array => {
    const o = JSON.parse(dec.decode(encodeMessage({ t: 'full', record: rec }))) as Record<string, unknown>
    o.xn = xn
    return new TextEncoder().encode(JSON.stringify(o))
  }
  for (const [what, xn] of [
    ['not a list', 'node-1'],
    ['a node name that is not one', [['Node 1!', 'cordoned']]],
    ['a reason too long', [['node-1', 'x'.repeat(161)]]],
    ['too many', Array.from({ length: MAX_EXCLUDED_NODES + 1 }, (_, i) => [`node-${i}`, 'cordoned'])],
    ['a pair that is not one', [['node-1']]]
  ] as const) t.throws(() => decodeMessage(bad(xn)), { name: 'WireError' }, what)
})

t.test('codec: a dual-stack agent\'s second-family addresses round-trip and are sealed', async t => {
  const rec = sampleRecord()
  const plain = canonicalContent(rec)
  const dual = { ...rec, identity: { ...rec.identity, secondary: { nodeIp: 'fd00::1', podIp: 'fd00:1::5' } } }
  t.same(fullOf(decodeMessage(encodeMessage({ t: 'full', record: dual }))).identity.secondary, { nodeIp: 'fd00::1', podIp: 'fd00:1::5' }, 'round trip')
  const podOnly = { ...rec, identity: { ...rec.identity, secondary: { podIp: 'fd00:1::5' } } }
  t.same(fullOf(decodeMessage(encodeMessage({ t: 'full', record: podOnly }))).identity.secondary, { podIp: 'fd00:1::5' }, 'a pod address alone (a single-stack node)')
  t.equal(fullOf(decodeMessage(encodeMessage({ t: 'full', record: rec }))).identity.secondary, undefined, 'single-stack: none')
  t.not(canonicalContent(dual), plain, 'sealed: a relay cannot add, drop or change them')
  const bad = (ax: unknown): Uint8Array => {
    const o = JSON.parse(dec.decode(encodeMessage({ t: 'full', record: rec }))) as Record<string, unknown>
    o.ax = ax
    return new TextEncoder().encode(JSON.stringify(o))
  }
  for (const [what, ax] of [['not a pair', 'fd00::1'], ['not addresses', ['host', 'pod']], ['neither address', ['', '']], ['three items', ['fd00::1', 'fd00::2', 'fd00::3']]] as const) {
    t.throws(() => decodeMessage(bad(ax)), { name: 'WireError' }, what)
  }
})

t.test('codec: hostile input throws WireError only', async t => {
  const msgs = sampleMessages()
  const full = encodeMessage(msgs[0] as GossipMessage)
  const hb = encodeMessage(msgs[2] as GossipMessage)
  const delta = encodeMessage(msgs[3] as GossipMessage)
  const extHost = encodeMessage(msgs[8] as GossipMessage)
  const extSvc = encodeMessage(msgs[10] as GossipMessage)
  const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n)

  const cases: Array<[string, Uint8Array, string]> = [
    // encoding
    ['empty', new Uint8Array(0), 'malformed'],
    ['invalid UTF-8 byte', Uint8Array.from([0x7b, 0xff, 0x7d]), 'malformed'],
    ['overlong UTF-8', Uint8Array.from([0x22, 0xc0, 0xaf, 0x22]), 'malformed'],
    ['UTF-8 surrogate', Uint8Array.from([0x22, 0xed, 0xa0, 0x80, 0x22]), 'malformed'],
    ['truncated UTF-8', Uint8Array.from([...hb.slice(0, 10), 0xe2, 0x82]), 'malformed'],
    ['not JSON', bytesOf('{v:1,t:"h"}'), 'malformed'],
    ['truncated JSON', hb.slice(0, hb.length - 1), 'malformed'],
    ['trailing junk', bytesOf(dec.decode(hb) + 'x'), 'malformed'],
    ['NaN literal', bytesOf('{"v":1,"t":"h","o":"a","i":NaN,"s":1,"r":1}'), 'malformed'],
    // not an object
    ['array', bytesOf('[]'), 'schema'],
    ['null', bytesOf('null'), 'schema'],
    ['number', bytesOf('42'), 'schema'],
    ['string', bytesOf('"hb"'), 'schema'],
    ['boolean', bytesOf('true'), 'schema'],
    // version and type
    ['v:2', edit(hb, o => { o.v = 2 }), 'version'],
    ['v missing', edit(hb, o => { delete o.v }), 'version'],
    ['v:"1"', edit(hb, o => { o.v = '1' }), 'version'],
    ['v:null', edit(hb, o => { o.v = null }), 'version'],
    ['unknown type', edit(hb, o => { o.t = 'z' }), 'version'],
    ['type missing', edit(hb, o => { delete o.t }), 'version'],
    ['long type name', edit(hb, o => { o.t = 'heartbeat' }), 'version'],
    // size
    ['oversized junk', new Uint8Array(MAX_MESSAGE_BYTES + 1).fill(0x20), 'oversized'],
    ['oversized valid message', bytesOf(dec.decode(hb) + ' '.repeat(MAX_MESSAGE_BYTES + 1 - hb.length)), 'oversized'],
    ['exactly the limit', bytesOf(dec.decode(hb) + ' '.repeat(MAX_MESSAGE_BYTES - hb.length)), 'decoded'],
    // wrong field types
    ['origin number', edit(hb, o => { o.o = 5 }), 'schema'],
    ['origin empty', edit(hb, o => { o.o = '' }), 'schema'],
    ['origin with space', edit(hb, o => { o.o = 'agent 1' }), 'schema'],
    ['origin too long', edit(hb, o => { o.o = 'a'.repeat(254) }), 'schema'],
    ['inc string', edit(hb, o => { o.i = '1' }), 'schema'],
    ['seq null', edit(hb, o => { o.s = null }), 'schema'],
    ['rv missing', edit(hb, o => { delete o.r }), 'schema'],
    ['id short', edit(full, o => { o.id.pop() }), 'schema'],
    ['id object', edit(full, o => { o.id = { podName: 'a' } }), 'schema'],
    ['version too long', edit(full, o => { o.id[5] = 'v'.repeat(65) }), 'schema'],
    ['peer id with slash', edit(full, o => { o.id[6] = 'a/b' }), 'schema'],
    ['host layer object', edit(full, o => { o.h = {} }), 'schema'],
    ['path 8 items', edit(full, o => { o.h[0].pop() }), 'schema'],
    ['path 10 items', edit(full, o => { o.h[0].push(0) }), 'schema'],
    ['tcp index 4', edit(full, o => { o.h[0][5] = 4 }), 'schema'],
    ['tcp as string', edit(full, o => { o.h[0][5] = 'open' }), 'schema'],
    ['dnsOk 2', edit(full, o => { o.sv[2] = 2 }), 'schema'],
    ['dnsOk true', edit(full, o => { o.sv[2] = true }), 'schema'],
    ['dnsError number', edit(full, o => { o.sv[4] = 5 }), 'schema'],
    ['dnsError too long', edit(full, o => { o.sv[4] = 'e'.repeat(201) }), 'schema'],
    ['service name bad', edit(full, o => { o.sv[0] = 'a b' }), 'schema'],
    ['leader 2', edit(full, o => { o.ld = 2 }), 'schema'],
    ['delta layer array', edit(delta, o => { o.h = [] }), 'schema'],
    ['delta upsert missing', edit(delta, o => { delete o.h.u }), 'schema'],
    ['ext unknown part', edit(extHost, o => { o.k = 'node' }), 'schema'],
    ['ext injector missing', edit(extHost, o => { delete o.by }), 'schema'],
    ['legacy port value', edit(extSvc, o => { o.b[3] = { 80: 'filtered' } }), 'schema'],
    ['legacy port key', edit(extSvc, o => { o.b[3] = { http: 'open' } }), 'schema'],
    ['legacy port 0', edit(extSvc, o => { o.b[3] = { 0: 'open' } }), 'schema'],
    ['legacy ports array', edit(extSvc, o => { o.b[3] = ['open'] }), 'schema'],
    // numbers
    ['negative inc', edit(hb, o => { o.i = -1 }), 'schema'],
    ['float seq', edit(hb, o => { o.s = 1.5 }), 'schema'],
    ['unsafe integer rv', edit(hb, o => { o.r = 2 ** 53 }), 'schema'],
    ['huge literal', bytesOf(dec.decode(hb).replace(/"i":[0-9]+/, '"i":1e400')), 'schema'],
    ['negative huge literal', bytesOf(dec.decode(hb).replace(/"i":[0-9]+/, '"i":-1e400')), 'schema'],
    ['rtt -2', edit(full, o => { o.h[0][4] = -2 }), 'schema'],
    ['rtt float µs', edit(full, o => { o.h[0][4] = 1.5 }), 'schema'],
    ['duration -1 (no "none" for duration)', edit(full, o => { o.h[0][7] = -1 }), 'schema'],
    ['checkedAt negative', edit(full, o => { o.h[0][8] = -5 }), 'schema'],
    ['port 65536', edit(full, o => { o.h[0][1] = 65536 }), 'schema'],
    ['sent 1001', edit(full, o => { o.h[0][2] = 1001; o.h[0][3] = 0 }), 'schema'],
    ['rtt -1 is "none"', edit(full, o => { o.h[0][4] = -1 }), 'decoded'],
    // IPs
    ['target 3 octets', edit(full, o => { o.h[0][0] = '10.0.0' }), 'schema'],
    ['target hostname', edit(full, o => { o.h[0][0] = 'hello' }), 'schema'],
    ['target 5 octets', edit(full, o => { o.h[0][0] = '1.2.3.4.5' }), 'schema'],
    ['target with port', edit(full, o => { o.h[0][0] = '10.0.0.1:22' }), 'schema'],
    ['node IP bad IPv6', edit(full, o => { o.id[2] = '::g' }), 'schema'],
    ['service address bad', edit(full, o => { o.sv[5] = ['10.0.0.300'] }), 'schema'],
    ['delta remove bad', edit(delta, o => { o.h.x = ['nope'] }), 'schema'],
    ['legacy source bad', edit(extHost, o => { o.b[0] = '10.9.0' }), 'schema'],
    ['legacy hb node IP bad', edit(encodeMessage(msgs[7] as GossipMessage), o => { o.b[1] = 'node-1' }), 'schema'],
    // array limits
    ['delta remove 10001', edit(delta, o => { o.h.x = Array.from({ length: 10_001 }, () => '1.1.1.1') }), 'schema'],
    ['delta remove 10000', edit(delta, o => { o.h.x = Array.from({ length: 10_000 }, () => '1.1.1.1') }), 'decoded'],
    ['service addresses 65', edit(full, o => { o.sv[5] = Array.from({ length: 65 }, () => '1.1.1.1') }), 'schema'],
    ['service paths 65', edit(full, o => { o.sv[6] = Array.from({ length: 65 }, () => o.h[0]) }), 'schema'],
    ['legacy ports 17', edit(extSvc, o => { o.b[3] = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [String(i + 1), 'open'])) }), 'schema'],
    ['host paths 10001', edit(full, o => { o.h = Array.from({ length: 10_001 }, () => o.h[0]) }), 'schema'],
    // cross-field rules
    ['received > sent', edit(full, o => { o.h[0][2] = 2; o.h[0][3] = 3 }), 'schema'],
    ['received = sent', edit(full, o => { o.h[0][2] = 3; o.h[0][3] = 3 }), 'decoded'],
    ['delta rv = base', edit(delta, o => { o.r = o.b }), 'schema'],
    ['delta rv < base', edit(delta, o => { o.r = 0 }), 'schema'],
    ['legacy result of another source', edit(extHost, o => { o.b[1][0][0] = '10.9.9.9' }), 'schema'],
    // prototype tricks
    ['fields only under __proto__', bytesOf('{"__proto__":{"v":1,"t":"h","o":"a","i":1,"s":1,"r":1}}'), 'version'],
    ['type only under __proto__', bytesOf('{"v":1,"__proto__":{"t":"h"},"o":"a","i":1,"s":1,"r":1}'), 'version'],
    ['inc only under __proto__', bytesOf('{"v":1,"t":"h","o":"a","__proto__":{"i":1},"s":1,"r":1}'), 'schema'],
    ['legacy port key __proto__', bytesOf(dec.decode(extSvc).replace(/"80":"closed"/, '"__proto__":"open"')), 'schema'],
    ['legacy ports via __proto__', bytesOf(dec.decode(extSvc).replace(/\{"80":"closed"\}/, '{"__proto__":{"80":"open"}}')), 'schema'],
    ['record id as __proto__', bytesOf(dec.decode(full).replace(/"id":/, '"__proto__":')), 'schema'],
    // deeply nested junk
    ['nested top level', bytesOf(deep(100_000)), 'schema'],
    ['nested objects', bytesOf('{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000)), 'version'],
    ['nested origin', bytesOf(dec.decode(hb).replace(/"o":"[^"]*"/, `"o":${deep(50_000)}`)), 'schema'],
    ['nested host layer', bytesOf(dec.decode(full).replace('"h":[', `"h":${deep(50_000)},"hh":[`)), 'schema'],
    ['nested path target', bytesOf(dec.decode(full).replace(/"10\.0\.0\.2"/, deep(50_000))), 'schema'],
    ['shallow nested version', bytesOf(`{"v":${deep(100)},"t":"h"}`), 'version'],
    ['shallow nested type', bytesOf(`{"v":1,"t":${deep(100)}}`), 'version'],
    // regression: a deeply nested `v` or `t` once overflowed the stack while building the error message
    ['deeply nested version', bytesOf(`{"v":${deep(10_000)}}`), 'version'],
    ['deeply nested type', bytesOf(`{"v":1,"t":${deep(10_000)}}`), 'version']
  ]
  for (const [label, bytes, want] of cases) {
    t.equal(outcome(() => decodeMessage(bytes)), want, label)
  }
  t.equal((Object.prototype as Record<string, unknown>).polluted, undefined, 'no prototype pollution')

  // a valid message with an extra __proto__ key decodes, and carries nothing from it
  const withProto = bytesOf(dec.decode(hb).replace(/^\{/, '{"__proto__":{"polluted":1,"o":"evil"},'))
  const m = decodeMessage(withProto)
  t.strictSame(m, msgs[2], 'extra __proto__ key ignored')
  t.equal((m as unknown as Record<string, unknown>).polluted, undefined)
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')

  // random bytes
  const rnd = mulberry32(0xC0FFEE)
  const seen = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const b = Uint8Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256))
    seen.add(outcome(() => decodeMessage(b)))
  }
  t.ok([...seen].every(r => REASONS.includes(r)), `random bytes: only WireError (${[...seen].join(', ')})`)

  // anti-entropy payloads
  const resp = encodeSyncResponse({ full: [{ record: sampleRecord(), ageMs: 1 }], touch: [['a', 1, 1, 1, 1]], externals: [], extTouch: [], left: [{ origin: 'b', inc: 1, seq: 1 }] })
  const syncCases: Array<[string, Uint8Array, string]> = [
    ['valid', resp, 'decoded'],
    ['not JSON', bytesOf('nope'), 'malformed'],
    ['v:2', edit(resp, o => { o.v = 2 }), 'version'],
    ['missing left', edit(resp, o => { delete o.l }), 'schema'],
    ['touch tuple short', edit(resp, o => { o.t[0].pop() }), 'schema'],
    ['negative age', edit(resp, o => { o.f[0][1] = -1 }), 'schema'],
    ['float age', edit(resp, o => { o.t[0][4] = 0.5 }), 'schema'],
    ['bad record', edit(resp, o => { o.f[0][0].id[2] = 'x' }), 'schema'],
    ['left origin bad', edit(resp, o => { o.l[0][0] = 'a b' }), 'schema'],
    ['left 100001', edit(resp, o => { o.l = Array.from({ length: 100_001 }, () => ['b', 1, 1]) }), 'schema'],
    ['extTouch key too long', edit(resp, o => { o.xt = [['k'.repeat(301), 1, 'p', 1]] }), 'schema']
  ]
  for (const [label, bytes, want] of syncCases) t.equal(outcome(() => decodeSyncResponse(bytes)), want, `sync response: ${label}`)
  const req = encodeSyncRequest({ digest: { agents: [['a', 1, 2, 3]], externals: [['hb:x', 1, 'p']] }, self: sampleRecord() })
  const reqCases: Array<[string, Uint8Array, string]> = [
    ['valid', req, 'decoded'],
    ['v missing', edit(req, o => { delete o.v }), 'version'],
    ['self missing', edit(req, o => { delete o.me }), 'schema'],
    ['digest entry 5 items', edit(req, o => { o.a[0].push(1) }), 'schema'],
    ['digest externals object', edit(req, o => { o.e = {} }), 'schema'],
    ['oversized', new Uint8Array(64 * 1024 * 1024 + 1), 'oversized']
  ]
  for (const [label, bytes, want] of reqCases) t.equal(outcome(() => decodeSyncRequest(bytes)), want, `sync request: ${label}`)
})

t.test('codec: seeded fuzz', async t => {
  const rnd = mulberry32(20261125)
  const int = (n: number): number => Math.floor(rnd() * n)
  type Decoder = (b: Uint8Array) => unknown
  const corpus: Array<[Uint8Array, Decoder]> = [
    ...sampleMessages().map(m => [encodeMessage(m), decodeMessage] as [Uint8Array, Decoder]),
    [encodeSyncResponse({ full: [{ record: sampleRecord(), ageMs: 1 }], touch: [['a', 1, 1, 1, 1]], externals: extRecords.map(record => ({ record, ageMs: 2 })), extTouch: [['hb:a', 1, 'p', 1]], left: [{ origin: 'b', inc: 1, seq: 1 }] }), decodeSyncResponse],
    [encodeSyncRequest({ digest: { agents: [['a', 1, 2, 3]], externals: [['hb:x', 1, 'p']] }, self: sampleRecord() }), decodeSyncRequest]
  ]
  const JUNK: unknown[] = [-1, -2, 0, 1, 1.5, 2 ** 53, 1e308, -1e308, '', 'x', '10.0.0', '::1', '1.1.1.1', null, true, false, [], {},
    [1, 2, 3], 'a'.repeat(300), '\u0000', JSON.parse('{"__proto__":{"polluted":1}}'), JSON.parse('{"v":1,"t":"h"}'), [[[[[]]]]]]

  function byteMutation (src: Uint8Array): Uint8Array {
    let b = Uint8Array.from(src)
    for (let k = 1 + int(4); k > 0; k--) {
      const at = int(b.length + 1)
      switch (int(6)) {
        case 0: { const j = Math.min(at, b.length - 1); if (j >= 0) b[j] = (b[j] ?? 0) ^ (1 << int(8)); break } // flip a bit
        case 1: b = b.slice(0, at); break // truncate
        case 2: b = Uint8Array.from([...b.slice(0, at), int(256), ...b.slice(at)]); break // insert a random byte
        case 3: b = Uint8Array.from([...b.slice(0, at), ...b.slice(at + 1 + int(8))]); break // delete a run
        case 4: b = Uint8Array.from([...b.slice(0, at), ...bytesOf('[{"-1e9:,'.charAt(int(9))), ...b.slice(at)]); break // insert JSON punctuation
        default: { const from = int(b.length); const len = int(32); b = Uint8Array.from([...b.slice(0, at), ...b.slice(from, from + len), ...b.slice(at)]) } // duplicate a slice
      }
    }
    return b
  }

  function jsonMutation (src: Uint8Array): Uint8Array {
    const root = JSON.parse(dec.decode(src)) as J
    for (let k = 1 + int(2); k > 0; k--) {
      // walk to a random container, then replace, delete or add one of its members
      let node = root
      for (let depth = int(6); depth > 0; depth--) {
        const keys = Object.keys(node)
        const child = keys.length === 0 ? undefined : node[keys[int(keys.length)] as string]
        if (typeof child !== 'object' || child === null) break
        node = child
      }
      const keys = Object.keys(node)
      const key = keys.length === 0 || int(5) === 0 ? (Array.isArray(node) ? String(node.length) : ['v', 't', 'o', 'zz', '__proto__'][int(5)] as string) : keys[int(keys.length)] as string
      if (int(6) === 0) {
        if (Array.isArray(node)) node.splice(Number(key), 1)
        else delete node[key]
      } else {
        Object.defineProperty(node, key, { value: structuredClone(JUNK[int(JUNK.length)]), enumerable: true, writable: true, configurable: true })
      }
    }
    return enc.encode(JSON.stringify(root))
  }

  const violations: string[] = []
  const counts: Record<string, number> = {}
  const ITER = 2000
  for (let i = 0; i < ITER; i++) {
    const [src, decode] = corpus[int(corpus.length)] as [Uint8Array, Decoder]
    const b = i % 2 === 0 ? byteMutation(src) : jsonMutation(src)
    const o = outcome(() => decode(b))
    counts[o] = (counts[o] ?? 0) + 1
    if (o !== 'decoded' && !REASONS.includes(o)) {
      violations.push(`#${i}: ${o} for ${dec.decode(b).slice(0, 120)}`)
    } else if (o === 'decoded' && decode === decodeMessage) {
      // whatever decodes is a well-formed message: it re-encodes and decodes again
      const again = outcome(() => decodeMessage(encodeMessage(decodeMessage(b))))
      if (again !== 'decoded') violations.push(`#${i}: decoded, but its re-encoding gives ${again}`)
    }
  }
  t.strictSame(violations, [], `${ITER} mutated inputs: a value or a WireError, nothing else`)
  t.comment(`fuzz outcomes: ${JSON.stringify(counts)}`)
  t.ok((counts.decoded ?? 0) > 20, 'some mutations still decode (the fuzz reaches the validators)')
  t.ok((counts.schema ?? 0) > 100, 'many fail schema validation')
  t.ok((counts.malformed ?? 0) > 100, 'many fail parsing')
  t.ok((counts.version ?? 0) > 0, 'some fail the version check')
  t.equal((Object.prototype as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
})

// ---------------------------------------------------------------------------------------------------------------
// who may hold an origin: one name per key, one origin per pod IP, a bounded count

t.test('View: one origin per key and per pod IP, and at most maxAgents', async t => {
  const rec = (n: number, over: Partial<AgentRecord['identity']> = {}, inc = 1000): AgentRecord =>
    ({ identity: { ...ident(n), ...over }, inc, seq: 1, rv: 0, results: { host: new Map(), pod: new Map(), service: null }, leader: false })
  const full = (r: AgentRecord): GossipMessage => ({ t: 'full', record: r })

  t.test('a key speaks for one name', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    t.equal(v.apply(full(rec(1)), ident(1).peerId, 1), 'accepted')
    const madeUp = rec(1, { podName: 'made-up-1', podIp: '10.1.9.9' })
    t.equal(v.judge(full(madeUp), ident(1).peerId), 'forged', 'a second name under the same key is refused')
    t.equal(v.apply(full(rec(1, {}, 2000)), ident(1).peerId, 2), 'accepted', 'its own next incarnation is fine')
  })

  t.test('a pod IP holds one live origin', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    v.setSelf(rec(9), 0)
    t.equal(v.apply(full(rec(1)), ident(1).peerId, 1), 'accepted')
    const successor = rec(2, { podIp: ident(1).podIp }, 2000)
    t.equal(v.apply(full(successor), null, 2), 'capacity', 'relayed (unsigned): a live origin\'s address is not taken')
    const older = rec(2, { podIp: ident(1).podIp }, 500)
    t.equal(v.apply(full(older), ident(2).peerId, 2), 'capacity', 'an older incarnation does not take it either')
    t.equal(v.apply(full(rec(3, { podIp: ident(9).podIp })), ident(3).peerId, 2), 'capacity', 'nobody takes this agent\'s own address')
    t.equal(v.apply(full(successor), ident(2).peerId, 3), 'accepted', 'a newer pod heard first-hand takes the address')
    t.equal(v.agent('agent-1'), undefined, 'the dead pod that had it is gone')
    t.strictSame(v.lostEntries(3).map(l => l.record.identity.podName), ['agent-1'], 'and remembered as lost, not departed')
    t.equal(v.agentCount, 2)
  })

  t.test('a second-family (IPv6) pod address holds one live origin too', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    t.equal(v.apply(full(rec(1, { secondary: { podIp: 'fd00:1::1' } })), ident(1).peerId, 1), 'accepted')
    const claim = rec(2, { secondary: { podIp: 'fd00:1::1' } })
    t.equal(v.apply(full(claim), ident(2).peerId, 2), 'capacity', 'another member claiming that IPv6 address as its own is refused')
    t.equal(v.agent('agent-2'), undefined)
    t.equal(v.apply(full(rec(2, { podIp: 'fd00:1::1' })), ident(2).peerId, 3), 'capacity', 'as its primary address too')
    t.equal(v.apply(full(rec(2)), ident(2).peerId, 4), 'accepted', 'with addresses of its own it is taken')
  })

  t.test('a sealed relay is the origin\'s word, not a first-hand hearing of its address', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    t.equal(v.apply(full(rec(1)), ident(1).peerId, 1), 'accepted')
    const claim = rec(2, { podIp: ident(1).podIp }, 5000)
    claim.seal = { seq: 1, sig: 'A'.repeat(86) + '==' }
    v.merge({ full: [{ record: claim, ageMs: 0, sealed: true }], touch: [], externals: [], extTouch: [], left: [] }, 2, 'a-third-party')
    t.ok(v.agent('agent-1') !== undefined && v.agent('agent-2') === undefined, 'the live origin keeps its address')
  })

  t.test('a sealed relay of a newer version keeps an origin heard first-hand: when it falls silent it is lost', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    t.equal(v.apply(full(rec(1)), ident(1).peerId, 1), 'accepted')
    const newer = { ...rec(1), seq: 5, rv: 3 }
    newer.seal = { seq: 5, sig: 'A'.repeat(86) + '==' }
    v.merge({ full: [{ record: newer, ageMs: 0, sealed: true }], touch: [], externals: [], extTouch: [], left: [] }, 2, 'a-third-party')
    t.equal(v.agent('agent-1')?.record.rv, 3, 'the relayed newer version is taken')
    t.equal(isFirstHand(v.agent('agent-1')?.trust ?? Trust.Relayed), true, 'and the origin still counts as heard first-hand')
    v.expire(2 + TTL + 1)
    t.strictSame(v.lostEntries(2 + TTL + 1).map(l => l.record.identity.podName), ['agent-1'], 'so its silence is remembered, and its node still probed')
  })

  t.test('an origin known only by its sealed word (pulled before any heartbeat of its own) is lost when it falls silent', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    const sealed = rec(2)
    sealed.seal = { seq: 1, sig: 'A'.repeat(86) + '==' }
    v.merge({ full: [{ record: sealed, ageMs: 0, sealed: true }, { record: rec(3), ageMs: 0 }], touch: [], externals: [], extTouch: [], left: [] }, 1, 'a-third-party')
    t.equal(v.agent('agent-2')?.trust, Trust.Sealed, 'held as the origin\'s word, not first-hand')
    v.expire(1 + TTL + 1)
    t.strictSame(v.lostEntries(1 + TTL + 1).map(l => l.record.identity.podName), ['agent-2'], 'its silence is remembered; a bare relay\'s (agent-3) is not')
  })

  t.test('no more than maxAgents origins', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8, maxAgents: 3 })
    for (let n = 1; n <= 3; n++) t.equal(v.apply(full(rec(n)), ident(n).peerId, n), 'accepted')
    t.equal(v.apply(full(rec(4)), ident(4).peerId, 4), 'capacity', 'the fourth is refused')
    t.equal(v.apply(full(rec(3, {}, 2000)), ident(3).peerId, 5), 'accepted', 'a held origin still moves on')
    t.equal(v.apply({ t: 'leave', origin: 'agent-1', inc: 1000, seq: 2 }, ident(1).peerId, 6), 'accepted')
    t.equal(v.apply(full(rec(4)), ident(4).peerId, 7), 'accepted', 'room again once one left')
  })
})

t.test('View: a relayed fake never locks the real origin out', async t => {
  const rec = (n: number, over: Partial<AgentRecord['identity']> = {}, inc = 1000): AgentRecord =>
    ({ identity: { ...ident(n), ...over }, inc, seq: 1, rv: 0, results: { host: new Map(), pod: new Map(), service: null }, leader: false })
  const relay = (v: View, r: AgentRecord, now: number): void => {
    v.merge({ full: [{ record: r, ageMs: 0 }], touch: [], externals: [], extTouch: [], left: [] }, now, 'a-liar')
  }
  const v = new View({ ttlMs: TTL, maxExternal: 8 })
  // a liar claims agent-7 under a key of its own, at a far-future incarnation
  relay(v, rec(7, { peerId: '12D3KooWLiarKey' }, 9e12), 1)
  t.equal(v.agent('agent-7')?.trust, Trust.Relayed, 'held second-hand')
  t.equal(v.apply({ t: 'hb', origin: 'agent-7', inc: 1000, seq: 2, rv: 0 }, ident(7).peerId, 2), 'gap', 'the real key\'s heartbeat asks for the real record')
  t.equal(v.apply({ t: 'full', record: rec(7) }, ident(7).peerId, 3), 'accepted', 'the real origin, heard first-hand, replaces the fake')
  t.equal(v.agent('agent-7')?.record.identity.peerId, ident(7).peerId)
  t.equal(isFirstHand(v.agent('agent-7')?.trust ?? Trust.Relayed), true)

  // a made-up name under agent-8's real key and address
  relay(v, rec(8, { podName: 'made-up' }), 4)
  t.ok(v.agent('made-up') !== undefined, 'taken second-hand while nothing contradicts it')
  t.equal(v.apply({ t: 'full', record: rec(8) }, ident(8).peerId, 5), 'accepted', 'the real owner of that key and address takes them back')
  t.equal(v.agent('made-up'), undefined, 'the made-up name is gone')
  t.strictSame(v.lostEntries(5), [], 'and not reported as a lost agent')

  // a fake that expires does not bury the real origin's name
  const w = new View({ ttlMs: TTL, maxExternal: 8 })
  relay(w, rec(9, { peerId: '12D3KooWLiarKey' }, 9e12), 0)
  w.expire(TTL + 1)
  t.equal(w.agentCount, 0)
  t.equal(w.apply({ t: 'full', record: rec(9) }, ident(9).peerId, TTL + 2), 'accepted', 'the real agent-9 is accepted after the fake expired')
})

// ---------------------------------------------------------------------------------------------------------------
// liveness digests (large clusters)

t.test('liveness: packing, aggregators, the beat book', async t => {
  const entries = [{ id: 0xdeadbeef, rv16: 65535, ageMs: 1200 }, { id: 1, rv16: 0, ageMs: 0 }, { id: 2, rv16: 7, ageMs: 25_500 }]
  t.strictSame(unpackEntries(packEntries(entries), 'e'), entries, 'entries round-trip (7 bytes each)')
  t.equal(packEntries([{ id: 3, rv16: 1, ageMs: 99_000 }]), packEntries([{ id: 3, rv16: 1, ageMs: 25_500 }]), 'ages cap at 25.5 s')
  for (const [bad, why] of [['!!!!', 'not base64'], ['AAAAAAAA', 'not whole entries'], ['AAAAAAAAAB==', 'not canonical'], ['A'.repeat(40_000), 'too many']] as const) {
    t.throws(() => unpackEntries(bad, 'e'), WireError, `refused: ${why}`)
  }
  const hb: GossipMessage = { t: 'hb', origin: 'agent-1', inc: 5, seq: 9, rv: 3, live: entries }
  t.strictSame(decodeMessage(encodeMessage(hb)), hb, 'a heartbeat with a digest round-trips the wire')
  t.throws(() => decodeMessage(new TextEncoder().encode('{"v":1,"t":"h","o":"agent-1","i":5,"s":9,"r":3,"e":7}')), WireError, 'a digest must be a string')
  const full = Array.from({ length: MAX_LIVE_ENTRIES }, (_, i) => ({ id: i, rv16: i & 0xffff, ageMs: 100 }))
  t.equal((decodeMessage(encodeMessage({ ...hb, live: full })) as { live?: unknown[] }).live?.length, MAX_LIVE_ENTRIES, `a digest of the beat book's whole capacity (${MAX_LIVE_ENTRIES} entries) passes the codec`)
  t.throws(() => decodeMessage(encodeMessage({ ...hb, live: [...full, { id: 1, rv16: 1, ageMs: 0 }] })), WireError, 'one entry more is refused')
  t.strictSame(decodeBeat(encodeBeat({ inc: 1_732_000_000_000, rv: 4 })), { inc: 1_732_000_000_000, rv: 4 }, 'a beat round-trips')
  for (const bad of ['[1,2]', '[2,1,1]', '[1,-1,0]', 'x', `[1,1,"${'a'.repeat(80)}"]`]) {
    t.throws(() => decodeBeat(new TextEncoder().encode(bad)), WireError, `beat refused: ${bad.slice(0, 12)}`)
  }
  // the legacy beat protocol: the same beat with the legacy clients its origin speaks for
  const legacyFull = Array.from({ length: MAX_LEGACY_ENTRIES }, (_, i) => ({ id: i * 7, rv16: i & 0xffff, ageMs: 300 }))
  const withLegacy = encodeBeat({ inc: 5, rv: 2, legacy: legacyFull })
  t.strictSame(decodeBeat(withLegacy, true), { inc: 5, rv: 2, legacy: legacyFull }, `a legacy beat of ${MAX_LEGACY_ENTRIES} entries round-trips`)
  t.throws(() => decodeBeat(withLegacy), WireError, 'the first beat protocol takes no legacy entries')
  t.strictSame(decodeBeat(encodeBeat({ inc: 5, rv: 2, legacy: [] }), true), { inc: 5, rv: 2 }, 'none: the plain three-item beat')
  t.throws(() => decodeBeat(encodeBeat({ inc: 5, rv: 2, legacy: [...legacyFull, { id: 1, rv16: 1, ageMs: 0 }] }), true), WireError, 'one legacy entry more is refused')
  const hbLegacy = decodeMessage(encodeMessage({ ...hb, legacy: legacyFull }))
  t.equal(hbLegacy.t === 'hb' ? hbLegacy.legacy?.length : 0, MAX_LEGACY_ENTRIES, 'a heartbeat carries as many')

  const names = Array.from({ length: 1000 }, (_, i) => `agent-${i}`)
  const sets = aggregatorSets(names)
  t.equal(sets.list.length, aggregatorCount(1000), `${sets.list.length} aggregators for 1000 agents`)
  t.equal(sets.accepted.size, sets.list.length + AGGREGATOR_SLACK)
  t.strictSame(aggregatorSets([...names].reverse()).list, sets.list, 'the same whatever order the view holds them in')
  const chosen = chooseAggregators('agent-500', sets.list)
  t.equal(chosen.length, AGGREGATORS_PER_ORIGIN)
  t.ok(chosen.every(a => sets.list.includes(a) && a !== 'agent-500'))
  t.notOk(chooseAggregators(sets.list[0] as string, sets.list).includes(sets.list[0] as string), 'an aggregator never beats to itself')
  // a member that is not one of them leaving moves nobody's choice (rendezvous hashing)
  const fewer = sets.list.filter(a => !chosen.includes(a)).slice(1)
  t.strictSame(chooseAggregators('agent-500', [...chosen, ...fewer]).sort(), [...chosen].sort(), 'choices stay when others go')
  // every aggregator serves about ORIGINS_PER_AGGREGATOR origins
  const load = new Map<string, number>()
  for (const n of names) for (const a of chooseAggregators(n, sets.list)) load.set(a, (load.get(a) ?? 0) + 1)
  t.ok(Math.max(...load.values()) < 3 * ORIGINS_PER_AGGREGATOR, `the busiest aggregator serves ${Math.max(...load.values())} origins`)

  const book = new BeatBook(2)
  t.ok(book.note('a', 1, 1000))
  t.ok(book.note('b', 2, 2000))
  t.notOk(book.note('c', 3, 2000), 'the book is bounded')
  t.ok(book.note('a', 4, 3000), 'a newer beat of a known origin replaces its older one')
  const drained = book.drain(3500)
  t.strictSame(drained, [{ id: shortId('a'), rv16: 4, ageMs: 500 }, { id: shortId('b'), rv16: 2, ageMs: 1500 }])
  t.strictSame(book.drain(4000), [], 'each beat is reported once')
  book.note('a', 1, 0)
  t.strictSame(book.drain(30_000), [], 'a beat older than an entry can say is dropped')
  t.ok(rvAhead(5, 4) && rvAhead(0, 65535) && !rvAhead(4, 4) && !rvAhead(3, 4), 'rv ahead, modulo 2^16')
})

t.test('view: its membership number changes when an agent joins or leaves, not when a member\'s record changes', async t => {
  const v = new View({ ttlMs: TTL, maxExternal: 8 })
  v.setSelf({ identity: ident(0), inc: 1, seq: 1, rv: 0, results: emptyResults(), leader: false }, 0)
  const rec = (i: number, seq: number, rv: number): AgentRecord => ({ identity: ident(i), inc: 100, seq, rv, results: emptyResults(), leader: false })
  const m0 = v.membership
  t.equal(v.apply({ t: 'full', record: rec(1, 1, 1) }, ident(1).peerId, 0), 'accepted')
  const m1 = v.membership
  t.not(m1, m0, 'a newcomer')
  t.equal(v.apply({ t: 'full', record: rec(1, 2, 2) }, ident(1).peerId, 1_000), 'accepted')
  t.equal(v.membership, m1, 'a member\'s newer record')
  t.equal(v.apply({ t: 'leave', origin: 'agent-1', inc: 100, seq: 3 }, ident(1).peerId, 2_000), 'accepted')
  t.not(v.membership, m1, 'a departure')
  const m2 = v.membership
  v.apply({ t: 'full', record: rec(2, 1, 1) }, ident(2).peerId, 3_000)
  t.not(v.membership, m2)
  const m3 = v.membership
  v.expire(3_000 + TTL + 1)
  t.not(v.membership, m3, 'an expiry')
})

t.test('liveness: a view applies digests from aggregators only', async t => {
  const TTL = 15_000
  const v = new View({ ttlMs: TTL, maxExternal: 8 })
  v.setSelf({ identity: ident(0), inc: 1, seq: 1, rv: 0, results: emptyResults(), leader: false }, 0)
  const recs = Array.from({ length: 120 }, (_, i) => ({ identity: ident(i + 1), inc: 100, seq: 1, rv: 2, results: emptyResults(), leader: false }))
  for (const r of recs) v.apply({ t: 'full', record: r }, r.identity.peerId, 0)
  const { list, accepted } = v.aggregators()
  t.strictSame(list, aggregatorSets(v.agentEntries().map(e => e.record.identity.podName)).list, 'the view\'s aggregators are its membership\'s')
  const agg = list.find(a => a !== 'agent-0') as string
  const outsider = recs.map(r => r.identity.podName).find(n => !accepted.has(n)) as string
  const target = recs.map(r => r.identity.podName).find(n => n !== agg && !accepted.has(n) && n !== outsider) as string
  const entry = (rv16: number, ageMs: number): LiveEntry => ({ id: shortId(target), rv16, ageMs })

  t.ok(v.shortIdUnique(agg))
  t.equal(v.originOfPeer(ident(5).peerId), 'agent-5', 'a beat\'s key names its origin')
  t.ok(v.applyLiveness(outsider, [entry(2, 0)], 10_000).refused, 'a digest from an agent that is no aggregator is refused')
  t.equal(v.agent(target)?.lastHeard, 0)
  const ok = v.applyLiveness(agg, [entry(2, 1500), { id: shortId('nobody'), rv16: 0, ageMs: 0 }, { id: shortId('agent-0'), rv16: 0, ageMs: 0 }], 10_000)
  t.strictSame(ok, { refreshed: 1, gaps: [], refused: false }, 'an unknown id and this agent itself are skipped')
  t.equal(v.agent(target)?.lastHeard, 8_500, 'last heard when the aggregator heard it, not when the digest came')
  v.applyLiveness(agg, [entry(2, 20_000)], 12_000)
  t.equal(v.agent(target)?.lastHeard, 8_500, 'an older word never moves last-heard back')
  t.strictSame(v.applyLiveness(agg, [entry(3, 0)], 12_000).gaps, [target], 'a newer results version is a gap to pull')
  // kept alive by digests alone, it expires TTL after the aggregator last heard it
  v.expire(8_500 + TTL)
  t.ok(v.agent(target) !== undefined, 'alive at TTL after its last beat')
  v.expire(12_000 + TTL + 1)
  t.equal(v.agent(target), undefined, 'expired once digests stopped naming it')

  // two held names sharing a short id: digests name neither, and each knows to gossip its heartbeats
  const seen = new Map<number, string>()
  let pair: [string, string] | undefined
  for (let i = 0; pair === undefined; i++) {
    const n = `c-${i}`
    const other = seen.get(shortId(n))
    if (other !== undefined) pair = [other, n]
    seen.set(shortId(n), n)
  }
  const w = new View({ ttlMs: TTL, maxExternal: 8 })
  pair.forEach((n, i) => { w.apply({ t: 'full', record: { identity: { ...ident(500 + i), podName: n }, inc: 1, seq: 1, rv: 0, results: emptyResults(), leader: false } }, ident(500 + i).peerId, 0) })
  for (const r of recs.slice(0, 5)) w.apply({ t: 'full', record: r }, r.identity.peerId, 0)
  t.notOk(w.shortIdUnique(pair[0]) || w.shortIdUnique(pair[1]), `${pair[0]} and ${pair[1]} share a short id`)
  const by = w.aggregators().list.find(a => !pair?.includes(a)) as string
  t.equal(w.applyLiveness(by, [{ id: shortId(pair[0]), rv16: 0, ageMs: 0 }], 5_000).refreshed, 0, 'an ambiguous id refreshes nobody')
  w.apply({ t: 'leave', origin: pair[1], inc: 1, seq: 2 }, ident(501).peerId, 6_000)
  t.ok(w.shortIdUnique(pair[0]), 'once the other leaves, the id names the one left')
  t.equal(w.applyLiveness(by, [{ id: shortId(pair[0]), rv16: 0, ageMs: 0 }], 7_000).refreshed, 1, 'and digests refresh it again')
})

t.test('liveness: the mesh beats to its aggregators, gossips its heartbeat when none takes it, digests as one', async t => {
  const HB = 40
  const recs = Array.from({ length: 8 }, (_, i) => ({ identity: ident(i + 1), inc: 100, seq: 1, rv: 0, results: emptyResults(), leader: false }))
  const names = recs.map(r => r.identity.podName)
  const { list } = aggregatorSets(names)
  // runs the mesh until `enough` holds (or 5 s): a condition, not a count of intervals, which a busy machine stretches
  type Ran = { published: GossipMessage[], beats: string[] }
  const run = async (who: string, take: boolean, enough: (r: Ran) => boolean, heard: LiveEntry[] = []): Promise<Ran> => {
    const view = new View({ ttlMs: 10_000, maxExternal: 1 })
    for (const r of recs) view.apply({ t: 'full', record: r }, r.identity.peerId, 0)
    const rec = recs[names.indexOf(who)] as AgentRecord
    const self = new SelfRecord(rec.identity, rec.inc)
    const published: GossipMessage[] = []
    const beats: string[] = []
    const pubsub = { topicValidators: new Map(), subscribe: () => {}, addEventListener: () => {}, publish: async (_t: string, b: Uint8Array) => { published.push(decodeMessage(b)); return { recipients: [] } } }
    const mesh = new GossipMesh({
      node: { services: { pubsub }, addEventListener: () => {}, getConnections: () => [] } as unknown as MeshNode,
      view,
      self,
      sync: { pull: async () => true } as unknown as AntiEntropy,
      beats: { send: async p => { beats.push(p); return take }, drain: () => heard.splice(0), drainLegacy: () => [] },
      now: () => performance.now(),
      log: pino({ level: 'silent' })
    }, { heartbeatMs: HB, fullRefreshMs: 60_000, digestAbove: 2 })
    mesh.start()
    const ran = (): Ran => ({ published: published.filter(m => m.t === 'hb'), beats })
    for (const until = Date.now() + 5_000; Date.now() < until && !enough(ran());) await new Promise(resolve => setTimeout(resolve, HB / 2))
    await mesh.stop()
    return ran()
  }
  const plain = names.find(n => !list.includes(n)) as string
  const taken = await run(plain, true, r => r.beats.length >= 6)
  t.equal(taken.published.length, 0, 'an agent whose beats are taken gossips no heartbeat')
  const to = chooseAggregators(plain, list).map(a => recs[names.indexOf(a)]?.identity.peerId)
  t.strictSame([...new Set(taken.beats)].sort(), [...to].sort(), 'it beats to its two aggregators, by their keys')
  t.ok(taken.beats.length >= 4, `beats every interval (${taken.beats.length})`)
  const refused = await run(plain, false, r => r.published.length >= 2)
  t.ok(refused.published.length >= 2, `beats nobody took: the heartbeat is gossiped (${refused.published.length})`)
  const agg = await run(list[0] as string, true, r => r.published.length >= 2, [{ id: shortId(plain), rv16: 0, ageMs: 100 }])
  t.ok(agg.published.length >= 2, 'an aggregator gossips its heartbeat every interval')
  const digest = agg.published.find(m => m.t === 'hb' && m.live !== undefined)
  t.strictSame(digest?.t === 'hb' ? digest.live : null, [{ id: shortId(plain), rv16: 0, ageMs: 100 }], 'with the beats it heard')
  t.equal(agg.beats.length, 0, 'and beats to nobody')
})

t.test('DialPlanner: a backoff lasts only while its address is still to dial', async t => {
  const self = { ip: '10.0.0.1', port: 7946 }
  const up = { ip: '10.0.0.2', port: 7946 }
  const down = { ip: '10.0.0.0', port: 7946 }
  const p = new DialPlanner(self, { maxPeers: 10, random: () => 0.5 })
  // a starting agent (no connection yet) dials everyone; both dials fail
  t.same(p.plan([self, up, down], new Set(), new Set(), 0), [up, down])
  p.failed(up, 0)
  p.failed(down, 0)
  t.equal(p.nextDueIn(0), 500)
  // up then connects from its own side: nothing is left to retry, so discovery has no reason to wake early
  t.same(p.plan([self, up, down], new Set(['10.0.0.2:7946']), new Set(), 10_000), [])
  t.equal(p.nextDueIn(10_000), Infinity)
  // the lower address of a pair dials: a retry still waits out its backoff
  const q = new DialPlanner(down, { maxPeers: 10, random: () => 0.5 })
  q.failed(up, 0)
  t.same(q.plan([down, self, up], new Set(['10.0.0.1:7946']), new Set(), 100), [])
  t.equal(q.nextDueIn(100), 400)
  t.same(q.plan([down, self, up], new Set(['10.0.0.1:7946']), new Set(), 600), [up])
})

t.test('Discovery: in a large cluster, hearing of an agent it does not connect to costs no discovery round', async t => {
  let rounds = 0
  const node = { addEventListener: () => {}, getConnections: () => [], dial: async () => await new Promise(() => {}) } as unknown as MeshNode
  const peers = Array.from({ length: 300 }, (_, i) => ({ ip: `10.0.${i >> 8}.${(i & 255) + 2}`, port: 6200 }))
  const planner = new DialPlanner({ ip: '10.0.0.1', port: 6200 }, { maxPeers: 10 })
  const wanted = new Set(planner.wanted(peers).map(a => a.ip))
  t.ok(wanted.size < 40, `a subset is wanted (${wanted.size} of 300)`)
  const discovery = new Discovery(node, {
    self: { ip: '10.0.0.1', port: 6200 }, peerService: '', staticPeers: peers, gossipPort: 6200, intervalMs: 60_000, maxPeers: 10, now: () => 0, onResolved: () => { rounds++ }
  }, pino({ level: 'silent' }))
  const settle = async (): Promise<void> => await new Promise(resolve => setTimeout(resolve, 200))
  discovery.start()
  await settle()
  t.equal(rounds, 1, 'one round at start')
  for (const p of peers) if (!wanted.has(p.ip)) discovery.heardOf(p.ip)
  await settle()
  t.equal(rounds, 1, 'agents it does not connect to: no round')
  discovery.heardOf([...wanted][0] as string)
  await settle()
  t.equal(rounds, 2, 'one it connects to (and is not connected to): a round at once')
  discovery.stop()
})

t.test('View: identities bound to pods (records vouched for by the cluster\'s tokens)', async t => {
  const rec = (n: number, over: Partial<AgentRecord['identity']> = {}, inc = 1000): AgentRecord =>
    ({ identity: { ...ident(n), ...over }, inc, seq: 1, rv: 0, results: { host: new Map(), pod: new Map(), service: null }, leader: false })
  const full = (r: AgentRecord): GossipMessage => ({ t: 'full', record: r })
  const pod = (n: number, issuedAtS = 100, uid = `uid-${n}`): { uid: string, issuedAtS: number, expiresAtS: number } => ({ uid, issuedAtS, expiresAtS: issuedAtS + 3600 })
  const rogue = '12D3KooWRogue'
  const bound = (): View => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    v.requireIdentity(true)
    for (const n of [1, 2, 3]) t.equal(v.apply(full(rec(n)), ident(n).peerId, 1, pod(n)), 'accepted', `agent-${n} with its pod's token`)
    return v
  }
  const names = (v: View): string[] => v.agentEntries().map(e => `${e.record.identity.podName}@${e.record.identity.peerId}`).sort()

  t.test('no token, no record: a made-up agent is refused', async t => {
    const v = bound()
    const before = names(v)
    t.equal(v.apply(full(rec(9, { peerId: rogue })), rogue, 2, null), 'unbound', 'a made-up agent without a token')
    t.equal(v.judge(full(rec(9, { peerId: rogue })), null), 'unbound', 'nor relayed')
    t.same(names(v), before)
  })

  t.test('a name hijacked under another key, with the real pod\'s token replayed: forged', async t => {
    const v = bound()
    const before = names(v)
    t.equal(v.apply(full(rec(2, { peerId: rogue }, 5000)), rogue, 2, pod(2)), 'forged', 'same pod, another key, same token')
    t.equal(v.apply(full(rec(2, { peerId: rogue }, 5000)), rogue, 2, pod(2, 99)), 'forged', 'or an older token of it')
    t.same(names(v), before, 'agent-2 keeps its key')
  })

  t.test('a leave, heartbeat or delta not signed by the bound key changes nothing, whatever its incarnation', async t => {
    const v = bound()
    t.equal(v.apply({ t: 'leave', origin: 'agent-3', inc: 9e12, seq: 9 }, rogue, 2), 'forged', 'a forged leave at a far incarnation')
    t.equal(v.apply({ t: 'hb', origin: 'agent-3', inc: 1000, seq: 5, rv: 0 }, rogue, 2), 'forged')
    t.equal(v.apply({ t: 'delta', origin: 'agent-3', inc: 1000, seq: 5, base: 0, rv: 1, host: null, pod: null, service: undefined }, rogue, 2), 'forged')
    t.equal(v.apply({ t: 'leave', origin: 'agent-8', inc: 1, seq: 1 }, rogue, 2), 'unbound', 'a leave for an origin nobody holds buries nothing')
    t.ok(v.agent('agent-3') !== undefined, 'agent-3 stays')
    t.equal(v.apply({ t: 'leave', origin: 'agent-3', inc: 1000, seq: 2 }, ident(3).peerId, 3), 'accepted', 'its own leave is taken')
  })

  t.test('a relay under a second key cannot speak for the first', async t => {
    const v = bound()
    t.equal(v.apply(full(rec(1)), rogue, 2, pod(1)), 'forged', 'agent-1\'s record signed by another key')
  })

  t.test('a new pod of the same name takes it over; an older one does not', async t => {
    const v = bound()
    t.equal(v.apply(full(rec(2, { peerId: '12D3KooWNewPod' }, 2000)), '12D3KooWNewPod', 2, pod(2, 200, 'uid-2b')), 'accepted', 'a newer pod')
    t.equal(v.agent('agent-2')?.record.identity.peerId, '12D3KooWNewPod')
    t.equal(v.apply(full(rec(2, {}, 3000)), ident(2).peerId, 3, pod(2, 100)), 'stale', 'the older pod\'s record is not taken back')
  })

  t.test('an agent that lost its key: taken with a newer token once the old key is silent', async t => {
    const v = bound()
    const lostKey = rec(1, { peerId: '12D3KooWFresh' }, 2000)
    t.equal(v.apply(full(lostKey), '12D3KooWFresh', 2, pod(1, 150)), 'forged', 'not while the old key is heard')
    v.expire(1 + TTL + 1)
    t.equal(v.apply(full(lostKey), '12D3KooWFresh', 1 + TTL + 2, pod(1, 150)), 'accepted', 'after it fell silent, with a newer token')
  })

  t.test('a restart with the clock set back: an expiry never keeps the vouched agent out', async t => {
    const v = bound()
    v.expire(1 + TTL + 1)
    t.equal(v.agent('agent-3'), undefined, 'expired')
    t.equal(v.apply(full(rec(3, {}, 10)), ident(3).peerId, 1 + TTL + 2, pod(3, 300)), 'accepted', 'back at a lower incarnation, vouched for')
    t.equal(v.apply({ t: 'leave', origin: 'agent-3', inc: 10, seq: 2 }, ident(3).peerId, 1 + TTL + 3), 'accepted')
    t.equal(v.apply(full(rec(3, {}, 9)), ident(3).peerId, 1 + TTL + 4, pod(3, 300)), 'stale', 'but a departure still refuses its older records (a replay)')
  })

  t.test('before the cluster\'s keys are known, nothing is required', async t => {
    const v = new View({ ttlMs: TTL, maxExternal: 8 })
    t.equal(v.apply(full(rec(1)), ident(1).peerId, 1), 'accepted')
    t.notOk(v.identitiesRequired)
  })
})

t.test('Discovery: a joining agent dials two first contacts, two more each 250 ms, and everyone once it holds the view', async t => {
  const dialed: string[] = []
  const node = {
    addEventListener: () => {},
    getConnections: () => [],
    // a dial that never completes (a dead peer): the stagger must still go on
    dial: async (ma: { toString: () => string }) => { dialed.push(ma.toString()); return await new Promise(() => {}) }
  } as unknown as MeshNode
  let joining = true
  let clock = 0
  const peers = Array.from({ length: 8 }, (_, i) => ({ ip: `10.0.0.${i + 2}`, port: 6200 }))
  const discovery = new Discovery(node, {
    self: { ip: '10.0.0.1', port: 6200 }, peerService: '', staticPeers: peers, gossipPort: 6200, intervalMs: 60_000, maxPeers: 64, now: () => clock, joining: () => joining
  }, pino({ level: 'silent' }))
  const settle = async (): Promise<void> => await new Promise(resolve => setTimeout(resolve, 400))
  discovery.start()
  await settle()
  t.equal(dialed.length, 2, 'two first contacts while joining')
  clock += 260
  await settle()
  t.equal(dialed.length, 4, 'still joining a stagger later (the first two hang): two more')
  joining = false
  discovery.poke()
  await settle()
  t.equal(dialed.length, 8, 'the view pulled: every other peer dialed')
  t.equal(new Set(dialed).size, 8, 'each once')
  discovery.stop()
  // joiners pick their first contacts at random: ten joiners of this cluster do not all start from the same two
  const firsts = new Set<string>()
  for (let seed = 1; seed <= 10; seed++) {
    const mine: string[] = []
    const d = new Discovery({ ...node, dial: async (ma: { toString: () => string }) => { mine.push(ma.toString()); return await new Promise(() => {}) } } as unknown as MeshNode, {
      self: { ip: '10.0.0.1', port: 6200 }, peerService: '', staticPeers: peers, gossipPort: 6200, intervalMs: 60_000, maxPeers: 64, now: () => 0, joining: () => true, random: mulberry32(seed)
    }, pino({ level: 'silent' }))
    d.start()
    await settle()
    d.stop()
    t.equal(mine.length, 2)
    for (const m of mine) firsts.add(m)
  }
  t.ok(firsts.size > 4, `first contacts spread over the peers (${firsts.size} of 8 were one)`)
})
