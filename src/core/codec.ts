// The versioned wire format: compact JSON (tuples, integer µs) for gossip messages and anti-entropy payloads.
import { WireError } from './wire-error.ts'
import type {
  AgentRecord, ExcludedNode, ExternalBody, ExternalRecord, GossipMessage, LayerDelta, LegacyHeartbeat, LegacyPathResult,
  LiveEntry, PathResult, Results, Seal, SecondaryIps, ServiceResult
} from './record.ts'
import { MAX_EXCLUDED_NODES, TCP_OUTCOMES, externalKey } from './record.ts'
import { shareLegacyRow } from './intern.ts'
import { MAX_LEGACY_ENTRIES, MAX_PACKED_LENGTH, packEntries, packedLength, unpackEntries } from './liveness.ts'
import type { SyncDigest, SyncResponse } from './view.ts'
import { arr, fail, index, ip, MAX_US, name, obj, oneOf, optUint, parseJson, str, tuple, uint, type Json } from './wire-reader.ts'

export const WIRE_VERSION = 1
/** Largest gossip message accepted; a full record of 1000 targets is about 60 KB. */
export const MAX_MESSAGE_BYTES = 1024 * 1024
/** Largest anti-entropy payload accepted (a 1000-agent view with results). */
export const MAX_SYNC_BYTES = 64 * 1024 * 1024
const MAX_TARGETS = 10_000
const MAX_ADDRESSES = 64
const MAX_DIGEST = 100_000

const enc = new TextEncoder()
const us = (ms: number): number => Math.max(0, Math.round(ms * 1000))
const usOrNone = (ms: number | null): number => ms === null ? -1 : us(ms)
const ms = (v: number | null): number | null => v === null ? null : v / 1000
/** A bounded description of an untrusted value for an error message (never serialises nested input). */
const describe = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : typeof v === 'number' || typeof v === 'boolean' || v === null ? String(v) : `(${Array.isArray(v) ? 'array' : typeof v})`

// ---- path results: [target, port, sent, received, rttUs|-1, tcp, connectUs|-1, durationUs, checkedAt - base] ----
// (base: the earliest checkedAt of the paths a record or delta carries, sent once as `c`; 0 for a seal's content)

function encodePath (r: PathResult, base = 0): Json[] {
  return [r.target, r.port, r.sent, r.received, usOrNone(r.rttMs), TCP_OUTCOMES.indexOf(r.tcp), usOrNone(r.connectMs),
    us(r.durationMs), r.checkedAt - base]
}

/** The base the paths' times are sent against. */
function baseOf (...lists: Array<Iterable<PathResult>>): number {
  let base = Infinity
  for (const l of lists) for (const p of l) if (p.checkedAt < base) base = p.checkedAt
  return Number.isFinite(base) ? base : 0
}

const decodeBase = (v: Json, f: string): number => v === undefined ? 0 : uint(v, f)

function decodePath (v: Json, f: string, base = 0): PathResult {
  const t = tuple(v, f, 9)
  const sent = uint(t[2], `${f}.sent`, 1000)
  const received = uint(t[3], `${f}.received`, 1000)
  if (received > sent) fail(`${f}.received`, 'at most the number sent')
  return {
    target: ip(t[0], `${f}.target`),
    port: uint(t[1], `${f}.port`, 65535),
    sent,
    received,
    rttMs: ms(optUint(t[4], `${f}.rtt`, MAX_US)),
    tcp: index(t[5], `${f}.tcp`, TCP_OUTCOMES),
    connectMs: ms(optUint(t[6], `${f}.connect`, MAX_US)),
    durationMs: uint(t[7], `${f}.duration`, MAX_US) / 1000,
    checkedAt: base + uint(t[8], `${f}.checkedAt`)
  }
}

function decodePaths (v: Json, f: string, base = 0): PathResult[] {
  return arr(v, f, MAX_TARGETS).map((p, i) => decodePath(p, `${f}[${i}]`, base))
}

// ---- service result: [name, port, dnsOk, dnsUs, dnsError|null, addresses, paths, checkedAt] ----

function encodeService (s: ServiceResult | null): Json {
  if (s === null) return null
  return [s.name, s.port, s.dnsOk ? 1 : 0, us(s.dnsMs), s.dnsError, s.addresses, s.paths.map(p => encodePath(p)), s.checkedAt]
}

function decodeService (v: Json, f: string): ServiceResult | null {
  if (v === null) return null
  const t = tuple(v, f, 8)
  return {
    name: name(t[0], `${f}.name`),
    port: uint(t[1], `${f}.port`, 65535),
    dnsOk: uint(t[2], `${f}.dnsOk`, 1) === 1,
    dnsMs: uint(t[3], `${f}.dns`, MAX_US) / 1000,
    dnsError: t[4] === null ? null : str(t[4], `${f}.dnsError`, 200),
    addresses: arr(t[5], `${f}.addresses`, MAX_ADDRESSES).map((a, i) => ip(a, `${f}.addresses[${i}]`)),
    paths: arr(t[6], `${f}.paths`, MAX_ADDRESSES).map((p, i) => decodePath(p, `${f}.paths[${i}]`)),
    checkedAt: uint(t[7], `${f}.checkedAt`)
  }
}

// ---- agent record ----

function encodeRecord (r: AgentRecord): Record<string, Json> {
  const id = r.identity
  const c = baseOf(r.results.host.values(), r.results.pod.values())
  return {
    id: [id.podName, id.nodeName, id.nodeIp, id.podIp, id.namespace, id.version, id.peerId],
    i: r.inc,
    s: r.seq,
    r: r.rv,
    ...(c === 0 ? {} : { c }),
    h: [...r.results.host.values()].map(p => encodePath(p, c)),
    p: [...r.results.pod.values()].map(p => encodePath(p, c)),
    sv: encodeService(r.results.service),
    ld: r.leader === true ? 1 : 0,
    ...(id.secondary === undefined ? {} : { ax: encodeSecondary(id.secondary) }),
    ...(r.excluded === undefined || r.excluded.length === 0 ? {} : { xn: encodeExcluded(r.excluded) }),
    ...(r.seal === undefined ? {} : { g: [r.seal.seq, r.seal.sig] }),
    ...(r.token === undefined ? {} : { tk: r.token })
  }
}

const byTarget = (a: PathResult, b: PathResult): number => a.target < b.target ? -1 : a.target > b.target ? 1 : 0

/**
 * The content an origin seals: identity, leader flag and results as the wire carries them (integer µs, so a
 * decoded copy encodes the same), in a fixed order (by target), whatever order a holder's maps grew in.
 */
export function canonicalContent (r: AgentRecord): string {
  const id = r.identity
  const paths = (m: Map<string, PathResult>): Json[] => [...m.values()].sort(byTarget).map(p => encodePath(p))
  return JSON.stringify([[id.podName, id.nodeName, id.nodeIp, id.podIp, id.namespace, id.version, id.peerId],
    r.leader === true ? 1 : 0, paths(r.results.host), paths(r.results.pod), encodeService(r.results.service),
    ...(r.token === undefined ? [] : [r.token]),
    // only when present, so a record without exclusions seals as agents before them did (a rolling upgrade)
    ...(r.excluded === undefined || r.excluded.length === 0 ? [] : [{ xn: encodeExcluded(r.excluded) }]),
    ...(id.secondary === undefined ? [] : [{ ax: encodeSecondary(id.secondary) }])])
}

/** The second family's addresses: [node, pod], "" for one missing. */
function encodeSecondary (x: SecondaryIps): Json[] { return [x.nodeIp ?? '', x.podIp ?? ''] }

function decodeSecondary (v: Json, f: string): SecondaryIps {
  const [node, pod] = tuple(v, f, 2)
  const one = (x: Json | undefined, field: string): string | undefined => x === '' ? undefined : ip(x ?? null, field)
  const nodeIp = one(node, `${f}.nodeIp`)
  const podIp = one(pod, `${f}.podIp`)
  if (nodeIp === undefined && podIp === undefined) fail(f, 'at least one address')
  return { ...(nodeIp === undefined ? {} : { nodeIp }), ...(podIp === undefined ? {} : { podIp }) }
}

function encodeExcluded (xs: ExcludedNode[]): Json[] {
  return xs.slice(0, MAX_EXCLUDED_NODES).map(x => [x.node, x.reason])
}

function decodeExcluded (v: Json, f: string): ExcludedNode[] {
  return arr(v, f, MAX_EXCLUDED_NODES).map((x, i) => {
    const t = tuple(x, `${f}[${i}]`, 2)
    return { node: name(t[0], `${f}[${i}].node`), reason: str(t[1], `${f}[${i}].reason`, 160) }
  })
}

/** An Ed25519 signature in base64 (64 bytes). */
function sig (v: Json, f: string): string {
  const s = str(v, f, 88)
  if (!/^[A-Za-z0-9+/]{86}==$/.test(s)) fail(f, 'a 64-byte signature in base64')
  return s
}

function decodeSeal (v: Json, f: string): Seal {
  const t = tuple(v, f, 2)
  return { seq: uint(t[0], `${f}.seq`), sig: sig(t[1], `${f}.sig`) }
}

function toMap (paths: PathResult[]): Map<string, PathResult> {
  return new Map(paths.map(p => [p.target, p]))
}

function decodeRecord (v: Json, f: string): AgentRecord {
  const o = obj(v, f)
  const id = tuple(o.id, `${f}.id`, 7)
  const c = decodeBase(o.c, `${f}.c`)
  const results: Results = {
    host: toMap(decodePaths(o.h, `${f}.h`, c)),
    pod: toMap(decodePaths(o.p, `${f}.p`, c)),
    service: decodeService(o.sv, `${f}.sv`)
  }
  return {
    identity: {
      podName: name(id[0], `${f}.podName`),
      nodeName: name(id[1], `${f}.nodeName`),
      nodeIp: ip(id[2], `${f}.nodeIp`),
      podIp: ip(id[3], `${f}.podIp`),
      namespace: name(id[4], `${f}.namespace`),
      version: str(id[5], `${f}.version`, 64),
      peerId: name(id[6], `${f}.peerId`),
      ...(o.ax === undefined ? {} : { secondary: decodeSecondary(o.ax, `${f}.secondary`) })
    },
    inc: uint(o.i, `${f}.inc`),
    seq: uint(o.s, `${f}.seq`),
    rv: uint(o.r, `${f}.rv`),
    results,
    leader: o.ld === undefined ? false : uint(o.ld, `${f}.leader`, 1) === 1,
    ...(o.xn === undefined ? {} : { excluded: decodeExcluded(o.xn, `${f}.excluded`) }),
    ...(o.g === undefined ? {} : { seal: decodeSeal(o.g, `${f}.seal`) }),
    ...(o.tk === undefined ? {} : { token: token(o.tk, `${f}.token`) })
  }
}

/** A compact JWS: three base64url parts, bounded (the verifier judges the rest). */
function token (v: Json, f: string): string {
  const s = str(v, f, 8192)
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(s)) fail(f, 'a compact JWS (three base64url parts)')
  return s
}

// ---- legacy (external) records ----

function encodeLegacy (r: LegacyPathResult): Json[] {
  return [r.source, r.target, r.ping === 'reachable' ? 1 : 0, r.ports, r.latencyUs ?? -1, r.durationUs ?? -1, r.timestamp]
}

function decodeLegacy (v: Json, f: string): LegacyPathResult {
  const t = tuple(v, f, 7)
  const portsIn = obj(t[3], `${f}.ports`)
  const keys = Object.keys(portsIn)
  if (keys.length > 16) fail(`${f}.ports`, 'at most 16 ports')
  const ports: Record<string, 'open' | 'closed'> = {}
  for (const k of keys) {
    if (!/^[0-9]{1,5}$/.test(k) || Number(k) < 1 || Number(k) > 65535) fail(`${f}.ports`, 'port numbers as keys')
    ports[k] = oneOf(portsIn[k], `${f}.ports.${k}`, ['open', 'closed'] as const)
  }
  return shareLegacyRow({
    source: ip(t[0], `${f}.source`),
    target: str(t[1], `${f}.target`, 253),
    ping: uint(t[2], `${f}.ping`, 1) === 1 ? 'reachable' : 'unreachable',
    ports,
    latencyUs: optUint(t[4], `${f}.latency`),
    durationUs: optUint(t[5], `${f}.duration`),
    timestamp: str(t[6], `${f}.timestamp`, 64)
  })
}

function encodeBody (b: ExternalBody): Json {
  switch (b.part) {
    case 'hb': return [b.value.podName, b.value.nodeIp, b.value.podIp, b.value.namespace, b.value.timestamp]
    case 'svc': return encodeLegacy(b.value)
    default: return [b.source, b.value.map(encodeLegacy)]
  }
}

function decodeBody (part: ExternalBody['part'], v: Json, f: string): ExternalBody {
  switch (part) {
    case 'hb': {
      const t = tuple(v, f, 5)
      const value: LegacyHeartbeat = {
        podName: name(t[0], `${f}.podName`),
        nodeIp: ip(t[1], `${f}.nodeIp`),
        podIp: ip(t[2], `${f}.podIp`),
        namespace: str(t[3], `${f}.namespace`, 63),
        timestamp: str(t[4], `${f}.timestamp`, 64)
      }
      return { part, value }
    }
    case 'svc': return { part, value: decodeLegacy(v, f) }
    default: {
      const t = tuple(v, f, 2)
      const source = ip(t[0], `${f}.source`)
      const value = arr(t[1], `${f}.results`, MAX_TARGETS).map((r, i) => decodeLegacy(r, `${f}.results[${i}]`))
      if (value.some(r => r.source !== source)) fail(`${f}.results`, 'results of the record\'s source only')
      return { part, source, value }
    }
  }
}

function encodeExternal (r: ExternalRecord): Record<string, Json> {
  return { k: r.body.part, a: r.at, by: r.by, b: encodeBody(r.body) }
}

function decodeExternal (v: Json, f: string): ExternalRecord {
  const o = obj(v, f)
  const part = oneOf(o.k, `${f}.k`, ['hb', 'host', 'pod', 'svc'] as const)
  const body = decodeBody(part, o.b, `${f}.b`)
  return { key: externalKey(body), at: uint(o.a, `${f}.at`), by: name(o.by, `${f}.by`), body }
}

// ---- gossip messages ----

/** A layer's delta: upserts, and either the targets removed (`x`) or `r: 1`, the layer is exactly the upserts. */
function encodeDelta (d: LayerDelta | null, base: number): Json {
  if (d === null) return null
  const u = d.upsert.map(p => encodePath(p, base))
  return d.replace === true ? { u, r: 1 } : { u, x: d.remove }
}

function decodeDelta (v: Json, f: string, base: number): LayerDelta | null {
  if (v === null || v === undefined) return null
  const o = obj(v, f)
  const upsert = decodePaths(o.u, `${f}.u`, base)
  if (o.r !== undefined) {
    if (uint(o.r, `${f}.r`, 1) !== 1 || o.x !== undefined) fail(`${f}.r`, '1, and no removals beside it')
    return { upsert, remove: [], replace: true }
  }
  return { upsert, remove: arr(o.x, `${f}.x`, MAX_TARGETS).map((a, i) => ip(a, `${f}.x[${i}]`)) }
}

export function encodeMessage (m: GossipMessage): Uint8Array {
  let body: Record<string, Json>
  switch (m.t) {
    case 'full': body = { t: 'f', ...encodeRecord(m.record) }; break
    case 'hb':
      body = { t: 'h', o: m.origin, i: m.inc, s: m.seq, r: m.rv }
      if (m.live !== undefined && m.live.length > 0) body.e = packEntries(m.live)
      if (m.legacy !== undefined && m.legacy.length > 0) body.lx = packEntries(m.legacy)
      break
    case 'leave':
      body = { t: 'l', o: m.origin, i: m.inc, s: m.seq }
      if (m.seal !== undefined) body.g = m.seal
      break
    case 'ext': body = { t: 'x', ...encodeExternal(m.record) }; break
    case 'delta':
      {
        const c = baseOf(m.host?.upsert ?? [], m.pod?.upsert ?? [])
        body = { t: 'd', o: m.origin, i: m.inc, s: m.seq, b: m.base, r: m.rv, ...(c === 0 ? {} : { c }), h: encodeDelta(m.host, c), p: encodeDelta(m.pod, c) }
      }
      if (m.service !== undefined) body.sv = encodeService(m.service)
      if (m.seal !== undefined) body.g = m.seal
      break
  }
  return enc.encode(JSON.stringify({ v: WIRE_VERSION, ...body }))
}

function checkVersion (o: Record<string, Json>): void {
  if (o.v !== WIRE_VERSION) throw new WireError('version', `wire version ${describe(o.v)} is not ${WIRE_VERSION}`)
}

/** Decodes and validates one gossip message. Throws WireError (reason: oversized, malformed, version, schema). */
export function decodeMessage (bytes: Uint8Array): GossipMessage {
  const o = obj(parseJson(bytes, MAX_MESSAGE_BYTES), 'message')
  checkVersion(o)
  switch (o.t) {
    case 'f': return { t: 'full', record: decodeRecord(o, 'full') }
    case 'h': {
      const hb: GossipMessage = { t: 'hb', origin: name(o.o, 'origin'), inc: uint(o.i, 'inc'), seq: uint(o.s, 'seq'), rv: uint(o.r, 'rv') }
      if (o.e !== undefined) hb.live = unpackEntries(str(o.e, 'live', MAX_PACKED_LENGTH), 'live')
      if (o.lx !== undefined) hb.legacy = unpackEntries(str(o.lx, 'legacy', packedLength(MAX_LEGACY_ENTRIES)), 'legacy', MAX_LEGACY_ENTRIES)
      return hb
    }
    case 'l': {
      const leave: GossipMessage = { t: 'leave', origin: name(o.o, 'origin'), inc: uint(o.i, 'inc'), seq: uint(o.s, 'seq') }
      if (o.g !== undefined) leave.seal = sig(o.g, 'seal')
      return leave
    }
    case 'x': return { t: 'ext', record: decodeExternal(o, 'ext') }
    case 'd': {
      const base = uint(o.b, 'base')
      const rv = uint(o.r, 'rv')
      if (rv <= base) fail('rv', 'greater than base')
      const c = decodeBase(o.c, 'c')
      return {
        t: 'delta',
        origin: name(o.o, 'origin'),
        inc: uint(o.i, 'inc'),
        seq: uint(o.s, 'seq'),
        base,
        rv,
        host: decodeDelta(o.h, 'h', c),
        pod: decodeDelta(o.p, 'p', c),
        service: 'sv' in o ? decodeService(o.sv, 'sv') : undefined,
        ...(o.g === undefined ? {} : { seal: sig(o.g, 'seal') })
      }
    }
    default: throw new WireError('version', `unknown message type ${describe(o.t)}`)
  }
}

// ---- anti-entropy payloads ----

/** An anti-entropy request: what the asker holds, and the asker's own record so the answerer learns it too. */
export interface SyncRequest { digest: SyncDigest, self: AgentRecord }

export function encodeSyncRequest (r: SyncRequest): Uint8Array {
  return enc.encode(JSON.stringify({ v: WIRE_VERSION, a: r.digest.agents, e: r.digest.externals, me: encodeRecord(r.self) }))
}

export function decodeSyncRequest (bytes: Uint8Array): SyncRequest {
  const o = obj(parseJson(bytes, MAX_SYNC_BYTES), 'sync request')
  checkVersion(o)
  return { digest: decodeDigest(o), self: decodeRecord(o.me, 'me') }
}

function decodeDigest (o: Record<string, Json>): SyncDigest {
  return {
    agents: arr(o.a, 'a', MAX_DIGEST).map((v, i) => {
      const t = tuple(v, `a[${i}]`, 4)
      return [name(t[0], 'origin'), uint(t[1], 'inc'), uint(t[2], 'seq'), uint(t[3], 'rv')]
    }),
    externals: arr(o.e, 'e', MAX_DIGEST).map((v, i) => {
      const t = tuple(v, `e[${i}]`, 3)
      return [str(t[0], 'key', 300), uint(t[1], 'at'), name(t[2], 'by')]
    })
  }
}

export function encodeSyncResponse (r: SyncResponse): Uint8Array {
  return enc.encode(JSON.stringify({
    v: WIRE_VERSION,
    f: r.full.map(x => [encodeRecord(x.record), Math.round(x.ageMs)]),
    t: r.touch.map(([o, i, s, rv, age]) => [o, i, s, rv, Math.round(age)]),
    x: r.externals.map(x => [encodeExternal(x.record), Math.round(x.ageMs)]),
    xt: r.extTouch.map(([k, at, by, age]) => [k, at, by, Math.round(age)]),
    l: r.left.map(l => l.seal === undefined ? [l.origin, l.inc, l.seq] : [l.origin, l.inc, l.seq, l.seal])
  }))
}

export function decodeSyncResponse (bytes: Uint8Array): SyncResponse {
  const o = obj(parseJson(bytes, MAX_SYNC_BYTES), 'sync')
  checkVersion(o)
  return {
    full: arr(o.f, 'f', MAX_DIGEST).map((v, i) => {
      const t = tuple(v, `f[${i}]`, 2)
      return { record: decodeRecord(t[0], `f[${i}]`), ageMs: uint(t[1], 'age') }
    }),
    touch: arr(o.t, 't', MAX_DIGEST).map((v, i) => {
      const t = tuple(v, `t[${i}]`, 5)
      return [name(t[0], 'origin'), uint(t[1], 'inc'), uint(t[2], 'seq'), uint(t[3], 'rv'), uint(t[4], 'age')]
    }),
    externals: arr(o.x, 'x', MAX_DIGEST).map((v, i) => {
      const t = tuple(v, `x[${i}]`, 2)
      return { record: decodeExternal(t[0], `x[${i}]`), ageMs: uint(t[1], 'age') }
    }),
    extTouch: arr(o.xt, 'xt', MAX_DIGEST).map((v, i) => {
      const t = tuple(v, `xt[${i}]`, 4)
      return [str(t[0], 'key', 300), uint(t[1], 'at'), name(t[2], 'by'), uint(t[3], 'age')]
    }),
    left: arr(o.l, 'l', MAX_DIGEST).map((v, i) => {
      const t = arr(v, `l[${i}]`, 4)
      if (t.length < 3) fail(`l[${i}]`, 'an array of 3 or 4 items')
      const left = { origin: name(t[0], 'origin'), inc: uint(t[1], 'inc'), seq: uint(t[2], 'seq') }
      return t[3] === undefined ? left : { ...left, seal: sig(t[3], 'seal') }
    })
  }
}

// ---- beats (large clusters): an origin's [inc, rv], straight to an aggregator over an authenticated stream ----

export const MAX_BEAT_BYTES = 64
/** A beat that also speaks for the legacy clients that posted to its origin (its own protocol: see beat.ts). */
export const MAX_LEGACY_BEAT_BYTES = MAX_BEAT_BYTES + packedLength(MAX_LEGACY_ENTRIES)

export interface Beat { inc: number, rv: number, legacy?: LiveEntry[] }

/** [version, inc, rv], and the packed legacy entries when there are any. */
export function encodeBeat (b: Beat): Uint8Array {
  const legacy = b.legacy !== undefined && b.legacy.length > 0 ? [packEntries(b.legacy)] : []
  return enc.encode(JSON.stringify([WIRE_VERSION, b.inc, b.rv, ...legacy]))
}

/** A beat; `withLegacy` takes the four-item form of the legacy beat protocol (the first protocol knows three). */
export function decodeBeat (bytes: Uint8Array, withLegacy = false): Beat {
  const v = parseJson(bytes, withLegacy ? MAX_LEGACY_BEAT_BYTES : MAX_BEAT_BYTES)
  const t = tuple(v, 'beat', withLegacy && Array.isArray(v) && v.length === 4 ? 4 : 3)
  if (t[0] !== WIRE_VERSION) throw new WireError('version', `wire version ${describe(t[0])} is not ${WIRE_VERSION}`)
  const beat: Beat = { inc: uint(t[1], 'beat.inc'), rv: uint(t[2], 'beat.rv') }
  if (t.length === 4) beat.legacy = unpackEntries(str(t[3], 'beat.legacy', packedLength(MAX_LEGACY_ENTRIES)), 'beat.legacy', MAX_LEGACY_ENTRIES)
  return beat
}
