// Property-based and hostile-peer tests of the gossip layer, bounded in time and replayable:
// 1. the wire codec (arbitrary bytes, byte- and JSON-level mutations of valid messages: a value or a WireError,
//    nothing else; whatever decodes re-encodes to the same value) and the view's merge rules (idempotence, order
//    independence, replays, expiry, bounded memory), with fast-check under fixed seeds;
// 2. a rogue libp2p peer (the agent's own stack, in this process) flooding two live agents with junk, oversized,
//    forged, replayed and made-up messages; then a member that lies in anti-entropy and one that takes over a pod
//    name. Every property prints its seed; FUZZ_SEED=<n> shifts all of them (the default is BASE_SEED below);
// 3. copies of one message from a relay: a forged copy cannot get the genuine one dropped, and a copy of a message
//    already verified is dropped before its signature is checked (gossipsub's fast message id).
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { TopicValidatorResult, type SignedMessage } from '@libp2p/gossipsub'
import fc from 'fast-check'
import t from 'tap'
import { Trust } from '../src/core/trust.ts'
import {
  decodeMessage, decodeSyncRequest, decodeSyncResponse, encodeMessage, encodeSyncRequest, encodeSyncResponse,
  MAX_MESSAGE_BYTES, MAX_SYNC_BYTES
} from '../src/core/codec.ts'
import { createMeshNode, type MeshNode } from '../src/gossip/libp2p-node.ts'
import { SYNC_PROTOCOL, VIEW_TOPIC } from '../src/gossip/protocol.ts'
import {
  externalKey, TCP_OUTCOMES, type AgentRecord, type ExternalBody, type ExternalRecord, type GossipMessage, type Identity,
  type LayerDelta, type LegacyPathResult, type PathResult, type Results, type ServiceResult
} from '../src/core/record.ts'
import { resultChanged, SelfRecord, type ResultsUpdate } from '../src/core/self-record.ts'
import { readAll, writeAll } from '../src/gossip/stream-io.ts'
import { MAX_US } from '../src/core/wire-reader.ts'
import { View, type SyncResponse } from '../src/core/view.ts'
import { WireError } from '../src/core/wire-error.ts'
import { getJson, startAgentProcess, stopAgentProcess, waitUntil, type AgentProcess } from '../tools/launcher.ts'
import { ident, mulberry32, viewSnapshot, wire, wireSync } from './fixtures.ts'

// ---------------------------------------------------------------------------------------------------------------
// seeds and the property runner

const BASE_SEED = process.env.FUZZ_SEED === undefined ? 20_261_201 : Number(process.env.FUZZ_SEED)
if (!Number.isSafeInteger(BASE_SEED)) throw new Error(`FUZZ_SEED must be an integer, not ${process.env.FUZZ_SEED}`)

type Asserts = Pick<typeof t, 'ok' | 'comment'>

/**
 * Runs one property with its own fixed seed (BASE_SEED + offset) and reports it as one assert; a failure names
 * the seed, the counterexample path and fast-check's report, which is enough to replay it with fc.assert.
 */
function holds<Ts extends [unknown, ...unknown[]]> (t: Asserts, name: string, offset: number, numRuns: number,
  prop: fc.IPropertyWithHooks<Ts>, todo?: string): void {
  const seed = (BASE_SEED + offset) | 0
  const started = Date.now()
  const d = fc.check(prop, { seed, numRuns })
  const ms = Date.now() - started
  if (d.failed) {
    const report = fc.defaultReportMessage(d) ?? '(no report)'
    t.comment(`${name}: counterexample (seed ${seed}, path "${d.counterexamplePath ?? ''}"):\n${report.slice(0, 4000)}`)
    t.ok(false, `${name} [seed ${seed}, path "${d.counterexamplePath ?? ''}", replay: fc.assert(prop, { seed: ${seed}, path: '${d.counterexamplePath ?? ''}' }) or FUZZ_SEED=${BASE_SEED}]: ${(d.errorInstance as Error | undefined)?.message?.slice(0, 300) ?? 'property returned false'}`,
      todo === undefined ? {} : { todo })
  } else {
    t.ok(true, `${name} [seed ${seed}, ${d.numRuns} runs, ${ms} ms]`, todo === undefined ? {} : { todo })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// helpers: values, comparison

const enc = new TextEncoder()
const dec = new TextDecoder()
const REASONS = ['oversized', 'malformed', 'version', 'schema']

/** What a decode did: 'decoded', a WireError reason, or a description of any other exception. */
function outcome (fn: () => unknown): string {
  try {
    fn()
    return 'decoded'
  } catch (err) {
    if (err instanceof WireError) return REASONS.includes(err.reason) ? err.reason : `WireError with unknown reason ${err.reason}`
    return `threw ${(err as Error)?.constructor?.name ?? typeof err}: ${String(err).slice(0, 160)}`
  }
}

/**
 * Structural differences between two decoded values: own enumerable keys (an undefined value counts as absent,
 * prototypes are ignored), Maps by key, numbers with === (so 0 and -0 are the same number on the wire).
 */
function differences (a: unknown, b: unknown, path = '$', out: string[] = []): string[] {
  if (out.length >= 8) return out
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map) || !(b instanceof Map)) { out.push(`${path}: Map vs non-Map`); return out }
    const keys = new Set([...a.keys(), ...b.keys()])
    for (const k of keys) differences(a.get(k), b.get(k), `${path}<${String(k)}>`, out)
    return out
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) { out.push(`${path}: array vs non-array`); return out }
    if (a.length !== b.length) { out.push(`${path}: length ${a.length} vs ${b.length}`); return out }
    a.forEach((x, i) => differences(x, b[i], `${path}[${i}]`, out))
    return out
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const ao = a as Record<string, unknown>
    const bo = b as Record<string, unknown>
    const keys = new Set([...Object.keys(ao), ...Object.keys(bo)])
    for (const k of keys) differences(ao[k], bo[k], `${path}.${k}`, out)
    return out
  }
  if (a !== b) out.push(`${path}: ${JSON.stringify(a)?.slice(0, 60)} vs ${JSON.stringify(b)?.slice(0, 60)}`)
  return out
}

/**
 * Known bug (see the todo property 'µs fields survive a round trip'): a duration field decoded from more than
 * 2^51 µs drifts by 1 µs on re-encoding. The generic round-trip properties skip exactly that difference so they
 * keep guarding everything else; the todo property keeps the bug visible.
 */
const US_FIELDS = /\.(rttMs|connectMs|durationMs|dnsMs)$/
function onlyKnownUsDrift (diffs: string[]): boolean {
  return diffs.length > 0 && diffs.every(d => {
    const m = /^(.*): (-?[0-9.e+]+) vs (-?[0-9.e+]+)$/.exec(d)
    if (m === null || !US_FIELDS.test(m[1] ?? '')) return false
    const x = Number(m[2])
    const y = Number(m[3])
    return x * 1000 >= 2 ** 51 && Math.abs(x - y) <= 0.0025
  })
}

/** A decoded message re-encodes to bytes that decode to the same value; returns a violation or null. */
function roundTripViolation<T> (value: T, encode: (v: T) => Uint8Array, decode: (b: Uint8Array) => T): string | null {
  let again: T
  try {
    again = decode(encode(value))
  } catch (err) {
    return `decoded, but its re-encoding fails to decode: ${String(err).slice(0, 200)}`
  }
  const diffs = differences(value, again)
  if (diffs.length === 0 || onlyKnownUsDrift(diffs)) return null
  return `re-encoding changed the value: ${diffs.join('; ')}`
}

// ---------------------------------------------------------------------------------------------------------------
// arbitraries: every wire value, parameterised by the IPs they may carry (the live test keeps to 127.0.8.0/24)

const arbName = fc.stringMatching(/^[A-Za-z0-9._:-]{1,24}$/)
/** A string of at most `max` UTF-16 units: mostly ASCII, sometimes any code point (astral ones count twice). */
const arbStr = (max: number): fc.Arbitrary<string> => fc.oneof(
  fc.string({ maxLength: max }),
  fc.string({ unit: 'binary', maxLength: Math.floor(max / 2) })
)
/** Milliseconds that are whole µs, so they survive the codec exactly. */
const arbMs = fc.integer({ min: 0, max: 1e12 }).map(us => us / 1000)
const arbPort = fc.integer({ min: 0, max: 65535 })
const anyIp: fc.Arbitrary<string> = fc.oneof(fc.ipV4(), fc.ipV6())
const loopbackIp: fc.Arbitrary<string> = fc.integer({ min: 100, max: 254 }).map(n => `127.0.8.${n}`)

interface Arbs {
  path: fc.Arbitrary<PathResult>
  service: fc.Arbitrary<ServiceResult>
  record: fc.Arbitrary<AgentRecord>
  ext: fc.Arbitrary<ExternalRecord>
  message: fc.Arbitrary<GossipMessage>
  syncResponse: fc.Arbitrary<SyncResponse>
  syncRequest: fc.Arbitrary<{ digest: { agents: Array<[string, number, number, number]>, externals: Array<[string, number, string]> }, self: AgentRecord }>
}

function arbitraries (ip: fc.Arbitrary<string>): Arbs {
  const path: fc.Arbitrary<PathResult> = fc.record({
    target: ip,
    port: arbPort,
    counts: fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 })),
    rttMs: fc.option(arbMs, { nil: null }),
    tcp: fc.constantFrom(...TCP_OUTCOMES),
    connectMs: fc.option(arbMs, { nil: null }),
    durationMs: arbMs,
    checkedAt: fc.maxSafeNat()
  }).map(({ counts: [a, b], ...r }) => ({ ...r, sent: Math.max(a, b), received: Math.min(a, b) }))
  const service: fc.Arbitrary<ServiceResult> = fc.record({
    name: arbName,
    port: arbPort,
    dnsOk: fc.boolean(),
    dnsMs: arbMs,
    dnsError: fc.option(arbStr(200), { nil: null }),
    addresses: fc.array(ip, { maxLength: 4 }),
    paths: fc.array(path, { maxLength: 3 }),
    checkedAt: fc.maxSafeNat()
  })
  const layer = fc.uniqueArray(path, { selector: p => p.target, maxLength: 4 }).map(ps => new Map(ps.map(p => [p.target, p])))
  const identity: fc.Arbitrary<Identity> = fc.record({
    podName: arbName, nodeName: arbName, nodeIp: ip, podIp: ip, namespace: arbName, version: arbStr(64), peerId: arbName
  })
  const record: fc.Arbitrary<AgentRecord> = fc.record({
    identity,
    inc: fc.maxSafeNat(),
    seq: fc.maxSafeNat(),
    rv: fc.maxSafeNat(),
    results: fc.record({ host: layer, pod: layer, service: fc.option(service, { nil: null }) }),
    leader: fc.boolean()
  })
  const legacy = (source: string): fc.Arbitrary<LegacyPathResult> => fc.record({
    target: arbStr(253),
    ping: fc.constantFrom('reachable' as const, 'unreachable' as const),
    ports: fc.dictionary(fc.integer({ min: 1, max: 65535 }).map(String), fc.constantFrom('open' as const, 'closed' as const), { maxKeys: 16 }),
    latencyUs: fc.option(fc.maxSafeNat(), { nil: null }),
    durationUs: fc.option(fc.maxSafeNat(), { nil: null }),
    timestamp: arbStr(64)
  }).map(r => ({ source, ...r }))
  const body: fc.Arbitrary<ExternalBody> = fc.oneof(
    fc.record({ podName: arbName, nodeIp: ip, podIp: ip, namespace: arbStr(63), timestamp: arbStr(64) }).map(value => ({ part: 'hb' as const, value })),
    ip.chain(legacy).map(value => ({ part: 'svc' as const, value })),
    fc.tuple(fc.constantFrom('host' as const, 'pod' as const), ip).chain(([part, source]) =>
      fc.array(legacy(source), { maxLength: 3 }).map(value => ({ part, source, value })))
  )
  const ext: fc.Arbitrary<ExternalRecord> = fc.record({ body, at: fc.maxSafeNat(), by: arbName })
    .map(({ body, at, by }) => ({ key: externalKey(body), at, by, body }))
  const layerDelta: fc.Arbitrary<LayerDelta | null> = fc.option(
    fc.record({ upsert: fc.array(path, { maxLength: 3 }), remove: fc.array(ip, { maxLength: 3 }) }), { nil: null })
  const message: fc.Arbitrary<GossipMessage> = fc.oneof(
    record.map(record => ({ t: 'full' as const, record })),
    fc.record({ origin: arbName, inc: fc.maxSafeNat(), seq: fc.maxSafeNat(), rv: fc.maxSafeNat() }).map(h => ({ t: 'hb' as const, ...h })),
    fc.record({
      origin: arbName,
      inc: fc.maxSafeNat(),
      seq: fc.maxSafeNat(),
      base: fc.nat({ max: 2 ** 52 }),
      step: fc.integer({ min: 1, max: 2 ** 52 }),
      host: layerDelta,
      pod: layerDelta,
      service: fc.oneof(fc.constant(undefined), fc.constant(null), service)
    }).map(({ base, step, ...d }) => ({ t: 'delta' as const, ...d, base, rv: base + step })),
    fc.record({ origin: arbName, inc: fc.maxSafeNat(), seq: fc.maxSafeNat() }).map(l => ({ t: 'leave' as const, ...l })),
    ext.map(record => ({ t: 'ext' as const, record }))
  )
  const nat = fc.maxSafeNat()
  const syncResponse: fc.Arbitrary<SyncResponse> = fc.record({
    full: fc.array(fc.record({ record, ageMs: nat }), { maxLength: 2 }),
    touch: fc.array(fc.tuple(arbName, nat, nat, nat, nat), { maxLength: 3 }),
    externals: fc.array(fc.record({ record: ext, ageMs: nat }), { maxLength: 2 }),
    extTouch: fc.array(fc.tuple(arbStr(300), nat, arbName, nat), { maxLength: 3 }),
    left: fc.array(fc.record({ origin: arbName, inc: nat, seq: nat }), { maxLength: 3 })
  })
  const syncRequest = fc.record({
    digest: fc.record({
      agents: fc.array(fc.tuple(arbName, nat, nat, nat), { maxLength: 4 }),
      externals: fc.array(fc.tuple(arbStr(300), nat, arbName), { maxLength: 4 })
    }),
    self: record
  })
  return { path, service, record, ext, message, syncResponse, syncRequest }
}

const A = arbitraries(anyIp)

// ---- mutations ----

type ByteOp =
  | { k: 'flip', at: number, bit: number }
  | { k: 'truncate', at: number }
  | { k: 'insert', at: number, bytes: Uint8Array }
  | { k: 'delete', at: number, len: number }
  | { k: 'splice', at: number, from: number, len: number }

const PUNCT = ['{', '}', '[', ']', '"', ',', ':', '-', '1e9', '\\', '\\u0000', 'null', '0', '.'].map(s => enc.encode(s))
const arbByteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ k: fc.constant('insert' as const), at: fc.nat(), bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.constantFrom(...PUNCT)) }),
  fc.record({ k: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ k: fc.constant('splice' as const), at: fc.nat(), from: fc.nat(), len: fc.integer({ min: 1, max: 64 }) })
)

/** Bit flips, truncations, insertions, deletions and splices of a slice of another valid message. */
function mutateBytes (src: Uint8Array, other: Uint8Array, ops: ByteOp[]): Uint8Array {
  let b = Uint8Array.from(src)
  for (const op of ops) {
    const at = op.at % (b.length + 1)
    switch (op.k) {
      case 'flip': if (b.length > 0) { const j = Math.min(at, b.length - 1); b[j] = (b[j] ?? 0) ^ (1 << op.bit) } break
      case 'truncate': b = b.slice(0, at); break
      case 'insert': b = Uint8Array.from([...b.slice(0, at), ...op.bytes, ...b.slice(at)]); break
      case 'delete': b = Uint8Array.from([...b.slice(0, at), ...b.slice(at + op.len)]); break
      case 'splice': {
        const from = other.length === 0 ? 0 : op.from % other.length
        b = Uint8Array.from([...b.slice(0, at), ...other.slice(from, from + op.len), ...b.slice(at)])
      }
    }
  }
  return b
}

/** A literal written into the JSON text as it is (numbers JSON.stringify cannot write, deep nesting). */
class Literal {
  readonly text: string
  constructor (text: string) { this.text = text }
}
const RAW_NUMBERS = ['1e400', '-1e400', '123456789012345678901234567890', '-0', '1E+2', '0.1e1', '9007199254740993',
  '-9007199254740993', '1.0', '5e-324', '1e-400', '00', '-1']
const arbJunk: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(null, true, false, '', 'NaN', 'Infinity', '-Infinity', '-0', '1e400', 'null', '__proto__', '10.0.0', '::1', '::g', '1.1.1.1', '127.0.0.1:22', 'h', 'f', 'd', 'x', 'l', 'a'.repeat(300)), weight: 3 },
  { arbitrary: fc.constantFrom(-1, -2, 0, 1, 1.5, -0.5, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, Number.MAX_SAFE_INTEGER, 2 ** 51, 65535, 65536, 1000, 1001, 4294967296), weight: 3 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 2 },
  { arbitrary: fc.constantFrom(...RAW_NUMBERS).map(s => new Literal(s)), weight: 2 },
  {
    arbitrary: fc.record({ depth: fc.constantFrom(64, 1000, 20_000), objects: fc.boolean() })
      .map(({ depth, objects }) => new Literal(objects ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + ']'.repeat(depth))),
    weight: 1
  }
)
const EXTRA_KEYS = ['zz', '__proto__', 'constructor', 'toString', 'v', 't', 'o', 'sv', 'ld', 'id', 'me', 'b', 'k']

type JsonOp =
  | { op: 'replace', path: number[], value: unknown }
  | { op: 'delete', path: number[] }
  | { op: 'addKey', path: number[], key: string, value: unknown }
  | { op: 'wrap', path: number[] }
const arbPath = fc.array(fc.nat(), { minLength: 0, maxLength: 6 })
const arbJsonOp: fc.Arbitrary<JsonOp> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('replace' as const), path: arbPath, value: arbJunk }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), path: arbPath }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('addKey' as const), path: arbPath, key: fc.oneof(fc.constantFrom(...EXTRA_KEYS), arbName), value: arbJunk }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('wrap' as const), path: arbPath }), weight: 1 }
)

function setMember (parent: unknown, key: string, value: unknown): void {
  if (Array.isArray(parent)) parent[Number(key)] = value
  else Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true })
}

/** Wrong types, extra keys, huge/negative/NaN-like values, deep nesting, at random places of a valid message. */
function mutateJson (src: Uint8Array, ops: JsonOp[]): Uint8Array {
  let root: unknown = JSON.parse(dec.decode(src))
  for (const op of ops) {
    let parent: unknown = null
    let key = ''
    let node: unknown = root
    for (const i of op.path) {
      if (typeof node !== 'object' || node === null || node instanceof Literal) break
      const keys = Object.keys(node)
      if (keys.length === 0) break
      key = keys[i % keys.length] as string
      parent = node
      node = (node as Record<string, unknown>)[key]
    }
    const put = (value: unknown): void => { if (parent === null) root = value; else setMember(parent, key, value) }
    switch (op.op) {
      case 'replace': put(op.value); break
      case 'wrap': put(op.path.length % 2 === 0 ? [node] : { a: node }); break
      case 'delete':
        if (Array.isArray(parent)) parent.splice(Number(key), 1)
        else if (parent !== null) delete (parent as Record<string, unknown>)[key]
        else root = {}
        break
      case 'addKey': {
        const target = typeof node === 'object' && node !== null && !Array.isArray(node) && !(node instanceof Literal) ? node : parent
        if (typeof target === 'object' && target !== null && !Array.isArray(target)) setMember(target, op.key, op.value)
        else if (Array.isArray(target)) target.push(op.value)
        else root = { [op.key]: op.value, r: root }
      }
    }
  }
  const literals: string[] = []
  const text = JSON.stringify(root, (_k, v: unknown) => {
    if (v instanceof Literal) { literals.push(v.text); return `@@LITERAL${literals.length - 1}@@` }
    return v
  }) ?? 'null'
  return enc.encode(text.replace(/"@@LITERAL([0-9]+)@@"/g, (_m, i: string) => literals[Number(i)] ?? 'null'))
}

// ---- the three decoders under test ----

interface Codec { name: string, decode: (b: Uint8Array) => unknown, encode: (v: never) => Uint8Array }
const MESSAGE: Codec = { name: 'gossip message', decode: decodeMessage, encode: encodeMessage as (v: never) => Uint8Array }
const SYNC_RESPONSE: Codec = { name: 'sync response', decode: decodeSyncResponse, encode: encodeSyncResponse as (v: never) => Uint8Array }
const SYNC_REQUEST: Codec = { name: 'sync request', decode: decodeSyncRequest, encode: encodeSyncRequest as (v: never) => Uint8Array }

/** Valid encoded inputs of each decoder, generated. */
const arbValid: fc.Arbitrary<{ codec: Codec, bytes: Uint8Array }> = fc.oneof(
  { arbitrary: A.message.map(m => ({ codec: MESSAGE, bytes: encodeMessage(m) })), weight: 6 },
  { arbitrary: A.syncResponse.map(r => ({ codec: SYNC_RESPONSE, bytes: encodeSyncResponse(r) })), weight: 1 },
  { arbitrary: A.syncRequest.map(r => ({ codec: SYNC_REQUEST, bytes: encodeSyncRequest(r) })), weight: 1 }
)

/** Decodes untrusted bytes: a violation when anything but a value or a WireError comes out, or a value does not round-trip. */
function judgeBytes (codec: Codec, bytes: Uint8Array, counts?: Record<string, number>): string | null {
  let value: unknown
  const o = outcome(() => { value = codec.decode(bytes) })
  if (counts !== undefined) counts[o] = (counts[o] ?? 0) + 1
  if (o !== 'decoded') return REASONS.includes(o) ? null : `${codec.name}: ${o} for ${JSON.stringify(dec.decode(bytes.slice(0, 200)))}`
  const v = roundTripViolation(value as never, codec.encode, codec.decode as (b: Uint8Array) => never)
  return v === null ? null : `${codec.name}: ${v}; input ${JSON.stringify(dec.decode(bytes.slice(0, 300)))}`
}

// ---------------------------------------------------------------------------------------------------------------
// 1a. the codec

t.test('codec properties: a value or a WireError, and what decodes round-trips', async t => {
  holds(t, 'arbitrary bytes and JSON texts: every decoder returns a value or throws WireError only', 1, 1500,
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 512 }),
        fc.json({ maxDepth: 4 }).map(s => enc.encode(s)),
        fc.string({ unit: 'binary', maxLength: 200 }).map(s => enc.encode(s))
      ),
      bytes => {
        for (const codec of [MESSAGE, SYNC_RESPONSE, SYNC_REQUEST]) {
          const v = judgeBytes(codec, bytes)
          if (v !== null) throw new Error(v)
        }
      }))

  holds(t, 'valid messages and sync payloads: decode(encode(m)) = m exactly (µs-exact durations)', 2, 400,
    fc.property(A.message, A.syncResponse, A.syncRequest, (m, res, req) => {
      const pairs: Array<[string, unknown, unknown]> = [
        ['message', m, decodeMessage(encodeMessage(m))],
        ['sync response', res, decodeSyncResponse(encodeSyncResponse(res))],
        ['sync request', req, decodeSyncRequest(encodeSyncRequest(req))]
      ]
      for (const [what, a, b] of pairs) {
        const d = differences(a, b)
        if (d.length > 0) throw new Error(`${what}: ${d.join('; ')}`)
      }
    }))

  const byteCounts: Record<string, number> = {}
  holds(t, 'byte mutations of valid payloads (bit flips, truncation, insertion, deletion, splices): WireError only; what decodes round-trips', 3, 1500,
    fc.property(arbValid, arbValid, fc.array(arbByteOp, { minLength: 1, maxLength: 6 }), (a, b, ops) => {
      const v = judgeBytes(a.codec, mutateBytes(a.bytes, b.bytes, ops), byteCounts)
      if (v !== null) throw new Error(v)
    }))
  t.comment(`byte mutation outcomes: ${JSON.stringify(byteCounts)}`)
  t.ok((byteCounts.decoded ?? 0) > 0 && (byteCounts.malformed ?? 0) > 0 && (byteCounts.schema ?? 0) > 0,
    'byte mutations reach the parser, the validators and past them')

  const jsonCounts: Record<string, number> = {}
  holds(t, 'JSON-level mutations (wrong types, extra keys, huge/negative/NaN-like numbers, deep nesting): WireError only; what decodes round-trips', 4, 1500,
    fc.property(arbValid, fc.array(arbJsonOp, { minLength: 1, maxLength: 3 }), (a, ops) => {
      const v = judgeBytes(a.codec, mutateJson(a.bytes, ops), jsonCounts)
      if (v !== null) throw new Error(v)
    }))
  t.comment(`JSON mutation outcomes: ${JSON.stringify(jsonCounts)}`)
  t.ok((jsonCounts.decoded ?? 0) > 50 && (jsonCounts.schema ?? 0) > 200 && (jsonCounts.version ?? 0) > 0,
    'JSON mutations mostly reach the schema validators, and some still decode')

  holds(t, 'padding a valid message past MAX_MESSAGE_BYTES always gives "oversized"', 5, 20,
    fc.property(A.message, fc.integer({ min: 1, max: 4096 }), (m, extra) => {
      const text = dec.decode(encodeMessage(m))
      const padded = enc.encode(text + ' '.repeat(MAX_MESSAGE_BYTES + extra - enc.encode(text).length))
      const o = outcome(() => decodeMessage(padded))
      if (o !== 'oversized') throw new Error(`${padded.length} bytes: ${o}`)
    }))

  // regression: µs fields were once accepted up to 2^53 and drifted by 1 µs above 2^51 on every decode/encode cycle;
  // the decoder now refuses more than 2^50 µs (MAX_US), and everything it accepts survives exactly
  holds(t, 'µs fields survive a round trip for every value the decoder accepts', 6, 2000,
    fc.property(A.record, fc.oneof(fc.maxSafeNat(), fc.integer({ min: 2 ** 51, max: Number.MAX_SAFE_INTEGER })), fc.constantFrom(4, 6, 7), (record, us, field) => {
      const wire = JSON.parse(dec.decode(encodeMessage({ t: 'full', record: { ...record, results: { host: new Map(), pod: new Map(), service: null } } }))) as Record<string, unknown>
      wire.h = [['10.0.0.1', 22, 1, 1, 5, 0, 5, 5, 5].map((x, i) => i === field ? us : x)]
      let first: GossipMessage
      try {
        first = decodeMessage(enc.encode(JSON.stringify(wire)))
      } catch (err) {
        if (err instanceof WireError && us > MAX_US) return // refused: too large to carry exactly
        throw err
      }
      if (us > MAX_US) throw new Error(`µs value ${us} above MAX_US was accepted`)
      const v = roundTripViolation(first, encodeMessage, decodeMessage)
      // the generic properties skip this one known difference; here it must not happen at all
      if (v !== null || differences(first, decodeMessage(encodeMessage(first))).length > 0) {
        throw new Error(`µs value ${us} in path field ${field}: ${differences(first, decodeMessage(encodeMessage(first))).join('; ')}`)
      }
    }))

  t.equal((Object.prototype as Record<string, unknown>).polluted, undefined, 'no prototype pollution after all the fuzzing')
})

// ---------------------------------------------------------------------------------------------------------------
// 1b. the view: scripted origins (the real SelfRecord), messages cloned through the codec as on the wire

const VTTL = 10_000

const signerOf = (n: number): string => ident(n).peerId

/** Results from a small pool, so updates collide: some change beyond noise (a delta), some only by noise. */
const POOL_TARGETS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', 'fd00::5']
const arbPoolPath: fc.Arbitrary<PathResult> = fc.record({
  target: fc.constantFrom(...POOL_TARGETS),
  port: fc.constantFrom(22, 6100),
  sent: fc.constant(3),
  received: fc.constantFrom(0, 3),
  rttMs: fc.constantFrom(null, 0.5, 0.52, 1, 4.25),
  tcp: fc.constantFrom(...TCP_OUTCOMES),
  connectMs: fc.constantFrom(null, 0.25, 0.26, 2),
  durationMs: fc.constantFrom(1, 2.5),
  checkedAt: fc.constantFrom(1_700_000_000_000, 1_700_000_001_000)
})
const SVC_POOL: ServiceResult[] = ['a', 'b'].map(n => ({
  name: `svc-${n}.default.svc.cluster.local`, port: 80, dnsOk: true, dnsMs: 0.5, dnsError: null, addresses: ['10.96.0.10'], paths: [], checkedAt: 1_700_000_000_000
}))
const arbUpdate: fc.Arbitrary<ResultsUpdate> = fc.record({
  host: fc.option(fc.uniqueArray(arbPoolPath, { selector: p => p.target, maxLength: 4 }), { nil: undefined }),
  pod: fc.option(fc.uniqueArray(arbPoolPath, { selector: p => p.target, maxLength: 4 }), { nil: undefined }),
  service: fc.option(fc.constantFrom(null, ...SVC_POOL), { nil: undefined })
})

type Op = { k: 'full' } | { k: 'hb' } | { k: 'update', u: ResultsUpdate } | { k: 'restart', bump: number }
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ k: 'full' as const }), weight: 2 },
  { arbitrary: fc.constant({ k: 'hb' as const }), weight: 3 },
  { arbitrary: arbUpdate.map(u => ({ k: 'update' as const, u })), weight: 5 },
  { arbitrary: fc.integer({ min: 0, max: 1000 }).map(bump => ({ k: 'restart' as const, bump })), weight: 1 }
)
const arbScript = (maxOps: number, restarts: boolean): fc.Arbitrary<Op[]> =>
  fc.array(restarts ? arbOp : arbOp.filter(o => o.k !== 'restart'), { maxLength: maxOps })

interface Sent { n: number, msg: GossipMessage }
interface Run { n: number, self: SelfRecord, own: View, sent: Sent[] }

/** Plays one origin's script through the real SelfRecord; `own` is that origin's own view (for anti-entropy). */
function play (n: number, ops: Op[], leave: boolean): Run {
  let self = new SelfRecord(ident(n), 1_000 * n)
  const own = new View({ ttlMs: VTTL, maxExternal: 8 })
  own.setSelf(self.record, 0)
  const sent: Sent[] = [{ n, msg: wire(self.full()) }]
  for (const op of ops) {
    switch (op.k) {
      case 'full': sent.push({ n, msg: wire(self.full()) }); break
      case 'hb': sent.push({ n, msg: wire(self.heartbeat()) }); break
      case 'update': { const m = self.update(op.u); if (m !== null) sent.push({ n, msg: wire(m) }); break }
      case 'restart':
        self = new SelfRecord(ident(n), self.record.inc + 1 + op.bump)
        own.setSelf(self.record, 0)
        sent.push({ n, msg: wire(self.full()) })
    }
  }
  if (leave) sent.push({ n, msg: wire(self.leave()) })
  return { n, self, own, sent }
}

const arbRuns = (origins: number, maxOps: number, restarts: boolean, leaves: boolean): fc.Arbitrary<Run[]> =>
  fc.array(fc.tuple(arbScript(maxOps, restarts), leaves ? fc.boolean() : fc.constant(false)), { minLength: 1, maxLength: origins })
    .map(scripts => scripts.map(([ops, leave], i) => play(i + 1, ops, leave)))

/** A random interleaving of several sequences that keeps each one's order. */
function interleave<T> (seqs: T[][], picks: number[]): T[] {
  const queues = seqs.map(s => [...s])
  const out: T[] = []
  let p = 0
  for (;;) {
    const open = queues.filter(q => q.length > 0)
    if (open.length === 0) return out
    const q = open[(picks[p++ % Math.max(1, picks.length)] ?? 0) % open.length] as T[]
    out.push(q.shift() as T)
  }
}

/** Applies a message as a receiver would: a fresh decoded copy, signed by its origin's key. */
function deliver (v: View, s: Sent, at: number): string {
  return v.apply(structuredClone(s.msg), s.msg.t === 'ext' ? s.msg.record.by : signerOf(s.n), at)
}

const snapshot = viewSnapshot
const ORIGINS = [1, 2, 3, 4].map(n => `agent-${n}`)

function sameUpToNoise (a: Results, b: Results): string | null {
  for (const layer of ['host', 'pod'] as const) {
    const x = a[layer]
    const y = b[layer]
    if (x.size !== y.size || [...x].some(([k, p]) => { const q = y.get(k); return q === undefined || resultChanged(p, q) })) {
      return `${layer}: ${JSON.stringify([...x.values()])} vs ${JSON.stringify([...y.values()])}`
    }
  }
  if (differences(a.service, b.service).length > 0) return `service: ${JSON.stringify(a.service)} vs ${JSON.stringify(b.service)}`
  return null
}

const key = (m: GossipMessage): [number, number] => m.t === 'full' ? [m.record.inc, m.record.seq] : m.t === 'ext' ? [m.record.at, 0] : [m.inc, m.seq]
const newer = (a: [number, number], b: [number, number]): boolean => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])

const arbExtSet: fc.Arbitrary<Sent[]> = fc.array(
  fc.record({ who: fc.constantFrom('a', 'b', 'c'), at: fc.integer({ min: 1, max: 5 }), by: fc.constantFrom('p1', 'p2', 'p3') }), { maxLength: 8 }
).map(xs => xs.map(({ who, at, by }) => ({
  n: 0,
  msg: { t: 'ext' as const, record: { key: `hb:legacy-${who}`, at, by, body: { part: 'hb' as const, value: { podName: `legacy-${who}`, nodeIp: '10.9.0.1', podIp: '10.9.1.1', namespace: 'x', timestamp: `${at}${by}` } } } }
})))

t.test('view properties: merge, replay, expiry, bounds', async t => {
  // What must hold for full records and heartbeats in ANY order (deltas need their base, so they are left to the
  // next property): for each origin, let F be the delivered full record with the highest (inc, seq). Then the view
  // holds the origin with F's incarnation, identity and results version, results equal to F's up to noise (two
  // full records at one rv may differ only by noise), and a seq between F's and the highest seq delivered for that
  // incarnation: a heartbeat that arrives before any full record of its incarnation is a gap and is not kept, so
  // seq alone is not order-independent. Externals: the (at, by)-greatest write per key, whatever the order.
  holds(t, 'full records and heartbeats from several origins, any permutation: the state every order converges to', 11, 300,
    fc.property(arbRuns(4, 12, true, false), arbExtSet, fc.array(fc.nat(), { minLength: 1, maxLength: 200 }), (runs, exts, order) => {
      const msgs = [...runs.flatMap(r => r.sent.filter(s => s.msg.t === 'full' || s.msg.t === 'hb')), ...exts]
      const perm = msgs.map((s, i) => ({ s, k: order[i % order.length] ?? 0, i })).sort((a, b) => a.k - b.k || b.i - a.i).map(x => x.s)
      const v = new View({ ttlMs: VTTL, maxExternal: 8 })
      perm.forEach((s, i) => deliver(v, s, i))
      for (const r of runs) {
        const fulls = r.sent.map(s => s.msg).filter((m): m is Extract<GossipMessage, { t: 'full' }> => m.t === 'full')
        const F = fulls.reduce((best, m) => newer(key(m), key(best)) ? m : best)
        const maxSeq = Math.max(...r.sent.map(s => s.msg).filter(m => m.t !== 'ext' && key(m)[0] === F.record.inc).map(m => key(m)[1]))
        const held = v.agent(`agent-${r.n}`)
        if (held === undefined) throw new Error(`agent-${r.n} missing`)
        const h = held.record
        if (h.inc !== F.record.inc || h.rv !== F.record.rv) throw new Error(`agent-${r.n}: (inc, rv) (${h.inc}, ${h.rv}), newest full (${F.record.inc}, ${F.record.rv})`)
        if (h.seq < F.record.seq || h.seq > maxSeq) throw new Error(`agent-${r.n}: seq ${h.seq} outside [${F.record.seq}, ${maxSeq}]`)
        if (differences(h.identity, F.record.identity).length > 0) throw new Error(`agent-${r.n}: identity`)
        const noise = sameUpToNoise(h.results, F.record.results)
        if (noise !== null) throw new Error(`agent-${r.n}: results ${noise}`)
      }
      if (v.agentCount !== runs.length) throw new Error(`${v.agentCount} agents held, ${runs.length} origins`)
      const best = new Map<string, ExternalRecord>()
      for (const { msg } of exts) {
        if (msg.t !== 'ext') continue
        const b = best.get(msg.record.key)
        if (b === undefined || msg.record.at > b.at || (msg.record.at === b.at && msg.record.by > b.by)) best.set(msg.record.key, msg.record)
      }
      const got = new Map(v.externalEntries().map(e => [e.record.key, e.record]))
      if (differences(got, best).length > 0) throw new Error(`externals: ${differences(got, best).join('; ')}`)
    }))

  // A leave is the newest message of its incarnation: after all messages in any order, the origin should be gone.
  // BUG: a leave that arrives before the view holds that incarnation is judged 'stale' and leaves no tombstone
  // (view.ts judge: `case 'leave'`), so a full record of the departed incarnation arriving later brings it back
  // for a whole TTL; the design says a departed origin's old messages cannot resurrect it.
  holds(t, 'with leaves: a departed origin stays departed whatever the order', 12, 300,
    fc.property(arbRuns(3, 6, false, false), fc.array(fc.nat(), { minLength: 1, maxLength: 100 }), (runs0, order) => {
      const runs = runs0.map(r => { const leave = wire(r.self.leave()); return { ...r, sent: [...r.sent, { n: r.n, msg: leave }] } })
      const msgs = runs.flatMap(r => r.sent.filter(s => s.msg.t !== 'delta'))
      const perm = msgs.map((s, i) => ({ s, k: order[i % order.length] ?? 0, i })).sort((a, b) => a.k - b.k || a.i - b.i).map(x => x.s)
      const v = new View({ ttlMs: VTTL, maxExternal: 8 })
      perm.forEach((s, i) => deliver(v, s, i))
      if (v.agentCount !== 0) throw new Error(`departed origins still held: ${v.agentEntries().map(e => e.record.identity.podName).join(', ')} (delivery order: ${perm.map(s => `${s.n}:${s.msg.t}@${key(s.msg).join('.')}`).join(' ')})`)
    }))

  // Deltas depend on their base, so any order of them can leave gaps: the property is that any order (with
  // duplicates and losses) followed by one anti-entropy pull from the origin itself converges exactly.
  holds(t, 'deltas, heartbeats and full records in any order, duplicated or lost, then one pull from the origin: exact convergence', 13, 300,
    fc.property(arbRuns(3, 14, true, false), fc.array(fc.nat(), { minLength: 1, maxLength: 200 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 50 }), (runs, order, fate) => {
      const R = new View({ ttlMs: VTTL, maxExternal: 8 })
      for (const r of runs) deliver(R, r.sent[0] as Sent, 0) // each origin's first full record
      const rest = runs.flatMap(r => r.sent.slice(1))
      // fate: 0 = lost, 1 = delivered twice, otherwise once
      const delivered = rest.flatMap((s, i) => { const f = fate[i % fate.length] ?? 2; return f === 0 ? [] : f === 1 ? [s, s] : [s] })
      const perm = delivered.map((s, i) => ({ s, k: order[i % order.length] ?? 0, i })).sort((a, b) => a.k - b.k || a.i - b.i).map(x => x.s)
      perm.forEach((s, i) => deliver(R, s, 1 + i))
      const now = 1 + perm.length
      for (const r of runs) R.merge(wireSync(r.own.answer(R.digest(), now)), now, r.self.record.identity.peerId) // the origin answers for itself
      for (const r of runs) {
        const h = R.agent(`agent-${r.n}`)?.record
        const x = r.self.record
        if (h === undefined) throw new Error(`agent-${r.n} missing after the pull`)
        if (h.inc !== x.inc || h.seq !== x.seq || h.rv !== x.rv) throw new Error(`agent-${r.n}: (inc, seq, rv) (${h.inc}, ${h.seq}, ${h.rv}) vs origin (${x.inc}, ${x.seq}, ${x.rv})`)
        const noise = sameUpToNoise(h.results, x.results)
        if (noise !== null) throw new Error(`agent-${r.n}: results ${noise}`)
      }
    }))

  holds(t, 'idempotence: the same message applied twice leaves the view as once (a later duplicate changes at most a gap\'s lastHeard)', 14, 400,
    fc.property(arbRuns(3, 8, true, true), arbExtSet, fc.array(fc.nat(), { minLength: 1, maxLength: 60 }), fc.nat(), fc.boolean(), (runs, exts, picks, which, wrongKey) => {
      const pool = [...runs.flatMap(r => r.sent), ...exts]
      const v = new View({ ttlMs: VTTL, maxExternal: 2, maxTombstones: 4 })
      v.setSelf(new SelfRecord(ident(9), 1).record, 0)
      picks.forEach((p, i) => deliver(v, pool[p % pool.length] as Sent, i))
      const s = pool[which % pool.length] as Sent
      const signer = wrongKey ? signerOf(8) : s.msg.t === 'ext' ? s.msg.record.by : signerOf(s.n)
      const T = 1_000
      const o1 = v.apply(structuredClone(s.msg), signer, T)
      const once = snapshot(v, T, ORIGINS)
      const o2 = v.apply(structuredClone(s.msg), signer, T)
      const d = differences(snapshot(v, T, ORIGINS), once)
      if (d.length > 0) throw new Error(`${s.msg.t} (${o1} then ${o2}) changed the view again: ${d.join('; ')}`)
      if (o1 === 'accepted' ? o2 !== 'stale' : o2 !== o1) throw new Error(`outcomes ${o1} then ${o2}`)
      // a duplicate arriving later
      // (a gap still proves its origin alive, so its duplicate may move lastHeard forward; nothing else may change)
      const o3 = v.apply(structuredClone(s.msg), signer, T + 500)
      const changed = differences(snapshot(v, T, ORIGINS), once).filter(x => !(o1 === 'gap' && /\.lastHeard: /.test(x)))
      if (o3 !== o2 || changed.length > 0) throw new Error(`a later duplicate (${o1}, ${o2}, then ${o3}) changed: ${changed.join('; ')}`)
    }))

  holds(t, 'replays: in-order delivery is all accepted, then any replay is "stale" and changes nothing', 15, 300,
    fc.property(arbRuns(3, 10, true, true), arbExtSet, fc.array(fc.nat(), { minLength: 1, maxLength: 100 }), fc.nat(), (runs, exts, picks, which) => {
      const v = new View({ ttlMs: VTTL, maxExternal: 8 })
      // externals are last-writer-wins on (at, by): keep only writes that are newer than the last kept one per key
      const keptExt: Sent[] = []
      for (const s of exts) {
        if (s.msg.t !== 'ext') continue
        const prev = keptExt.filter(k => k.msg.t === 'ext' && s.msg.t === 'ext' && k.msg.record.key === s.msg.record.key).at(-1)
        if (prev === undefined || (prev.msg.t === 'ext' && (s.msg.record.at > prev.msg.record.at || (s.msg.record.at === prev.msg.record.at && s.msg.record.by > prev.msg.record.by)))) keptExt.push(s)
      }
      const seq = interleave([...runs.map(r => r.sent), keptExt], picks)
      seq.forEach((s, i) => {
        const o = deliver(v, s, i)
        if (o !== 'accepted') throw new Error(`in-order message #${i} (${s.msg.t} of ${s.n}) was ${o}`)
      })
      const replay = seq[which % seq.length] as Sent
      const now = seq.length + 10
      const before = snapshot(v, now, ORIGINS)
      const o = deliver(v, replay, now)
      const d = differences(snapshot(v, now, ORIGINS), before)
      if (o !== 'stale' || d.length > 0) throw new Error(`replay of ${replay.msg.t} of ${replay.n}: ${o}, ${d.join('; ')}`)
    }))

  holds(t, 'newer then older: a full record applied first makes every older message of its origin "stale" and inert', 16, 300,
    fc.property(arbRuns(1, 12, true, false), fc.nat(), fc.nat(), (runs, i, j) => {
      const r = runs[0] as Run
      const fullIdx = r.sent.map((s, k) => s.msg.t === 'full' ? k : -1).filter(k => k > 0)
      fc.pre(fullIdx.length > 0)
      const newerIdx = fullIdx[i % fullIdx.length] as number
      const older = r.sent[j % newerIdx] as Sent
      const v = new View({ ttlMs: VTTL, maxExternal: 8 })
      if (deliver(v, r.sent[newerIdx] as Sent, 1) !== 'accepted') throw new Error('newer full not accepted')
      const before = snapshot(v, 5, ORIGINS)
      const o = deliver(v, older, 2)
      const d = differences(snapshot(v, 5, ORIGINS), before)
      if (o !== 'stale' || d.length > 0) throw new Error(`older ${older.msg.t} @(${key(older.msg).join(', ')}) after full @(${key((r.sent[newerIdx] as Sent).msg).join(', ')}): ${o}; ${d.join('; ')}`)
    }))

  holds(t, 'expiry removes exactly the origins with now - lastHeard > ttl, keeps the self record, and is idempotent', 17, 400,
    fc.property(
      fc.integer({ min: 1, max: 20_000 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: undefined })), { maxLength: 8 }),
      fc.array(fc.integer({ min: 0, max: 100_000 }), { maxLength: 4 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.integer({ min: 0, max: 150_000 }),
      (ttl, agents, externals, selfAt, now) => {
        const v = new View({ ttlMs: ttl, maxExternal: 8 })
        v.setSelf(new SelfRecord(ident(99), 1).record, selfAt)
        const lastHeard = new Map<string, number>()
        agents.forEach(([t0, t1], i) => {
          const s = new SelfRecord(ident(i + 1), 1000)
          v.apply(wire(s.full()), signerOf(i + 1), t0)
          if (t1 !== undefined) v.apply(wire(s.heartbeat()), signerOf(i + 1), t1)
          lastHeard.set(`agent-${i + 1}`, t1 === undefined ? t0 : Math.max(t0, t1))
        })
        const extHeard = new Map<string, number>()
        externals.forEach((at, i) => {
          v.apply({ t: 'ext', record: { key: `hb:l${i}`, at: 1, by: 'p', body: { part: 'hb', value: { podName: `l${i}`, nodeIp: '10.9.0.1', podIp: '10.9.1.1', namespace: 'x', timestamp: '' } } } }, 'p', at)
          extHeard.set(`hb:l${i}`, at)
        })
        const gone = v.expire(now)
        const wantAgents = [...lastHeard].filter(([, h]) => now - h > ttl).map(([o]) => o).sort()
        const wantExt = [...extHeard].filter(([, h]) => now - h > ttl).map(([k]) => k).sort()
        if (differences([...gone.agents].sort(), wantAgents).length > 0) throw new Error(`expired agents ${gone.agents.join(',')} want ${wantAgents.join(',')}`)
        if (differences([...gone.externals].sort(), wantExt).length > 0) throw new Error(`expired externals ${gone.externals.join(',')} want ${wantExt.join(',')}`)
        const left = v.agentEntries().map(e => e.record.identity.podName).sort()
        const wantLeft = [...[...lastHeard.keys()].filter(o => !wantAgents.includes(o)), 'agent-99'].sort()
        if (differences(left, wantLeft).length > 0) throw new Error(`kept ${left.join(',')} want ${wantLeft.join(',')}`)
        if (v.agent('agent-99')?.trust !== Trust.Self) throw new Error('self record gone')
        // an expired (not departed) agent is remembered as lost for 20 x ttl after it was last heard
        for (const o of wantAgents) {
          const remembered = v.lostEntries(now).some(l => l.record.identity.podName === o)
          if (remembered !== (now - (lastHeard.get(o) ?? 0) <= 20 * ttl)) throw new Error(`${o} remembered as lost: ${remembered}`)
        }
        const again = v.expire(now)
        if (again.agents.length + again.externals.length > 0) throw new Error('a second expire at the same time removed more')
      }))

  holds(t, 'bounded memory: externals never exceed maxExternal, tombstones and lost agents never exceed maxTombstones', 18, 200,
    fc.property(
      fc.integer({ min: 0, max: 24 }),
      fc.integer({ min: 1, max: 16 }),
      fc.array(fc.oneof(
        fc.record({ k: fc.constant('ext' as const), id: fc.nat({ max: 400 }), at: fc.integer({ min: 1, max: 9 }) }),
        fc.record({ k: fc.constant('join-leave' as const), id: fc.nat({ max: 400 }) }),
        fc.record({ k: fc.constant('join' as const), id: fc.nat({ max: 400 }) }),
        fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3 * VTTL }) })
      ), { maxLength: 300 }),
      (maxExternal, maxTombstones, flood) => {
        const v = new View({ ttlMs: VTTL, maxExternal, maxTombstones })
        let now = 0
        const names = new Set<string>()
        for (const f of flood) {
          if (f.k === 'tick') { now += f.ms; v.expire(now); continue }
          if (f.k === 'ext') {
            v.apply({ t: 'ext', record: { key: `hb:x${f.id}`, at: f.at + now, by: 'p', body: { part: 'hb', value: { podName: `x${f.id}`, nodeIp: '10.9.0.1', podIp: '10.9.1.1', namespace: 'x', timestamp: '' } } } }, 'p', now)
          } else {
            const s = new SelfRecord({ ...ident(f.id + 1), podName: `flood-${f.id}` }, 1000 + now)
            names.add(`flood-${f.id}`)
            v.apply(wire(s.full()), signerOf(f.id + 1), now)
            if (f.k === 'join-leave') v.apply(wire(s.leave()), signerOf(f.id + 1), now)
          }
          if (v.externalCount > maxExternal) throw new Error(`${v.externalCount} externals > ${maxExternal}`)
          const left = v.answer({ agents: [...names].map(o => [o, 0, 0, 0]), externals: [] }, now).left.length
          if (left > maxTombstones) throw new Error(`${left} tombstones > ${maxTombstones}`)
          if (v.lostEntries(now).length > maxTombstones) throw new Error(`${v.lostEntries(now).length} lost > ${maxTombstones}`)
        }
      }))

  // the cap is exact, not approximate: a flood of distinct origins keeps the first maxExternal and refuses the rest
  holds(t, 'a flood of N distinct external origins keeps exactly min(N, cap) and refuses the rest as "capacity"', 19, 100,
    fc.property(fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 200 }), (cap, n) => {
      const v = new View({ ttlMs: VTTL, maxExternal: cap })
      const outcomes: Record<string, number> = {}
      for (let i = 0; i < n; i++) {
        const o = v.apply({ t: 'ext', record: { key: `hb:f${i}`, at: 5, by: 'p', body: { part: 'hb', value: { podName: `f${i}`, nodeIp: '10.9.0.1', podIp: '10.9.1.1', namespace: 'x', timestamp: '' } } } }, 'p', i)
        outcomes[o] = (outcomes[o] ?? 0) + 1
      }
      if (v.externalCount !== Math.min(n, cap)) throw new Error(`${v.externalCount} kept of ${n}, cap ${cap}`)
      if ((outcomes.capacity ?? 0) !== Math.max(0, n - cap)) throw new Error(`outcomes ${JSON.stringify(outcomes)}`)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// 2. a rogue libp2p peer against two live agents

const AGENT_IPS = ['127.0.8.1', '127.0.8.2']
const ROGUE_IP = '127.0.8.9'
const WITNESS_IP = '127.0.8.10'
const GOSSIP_PORT = 6200
const FLOOD_MS = 8_000
const FLOOD_SEED = (BASE_SEED + 100) | 0
/**
 * The agent's RSS bound under the flood, and why 400 MB: an idle agent here measures ~250 MB (forked from this
 * tap process it carries tap's loaders; ~160 MB alone, ARCHITECTURE.md says ~115 MB on an older stack), and the
 * flood pushes ~70-100 MiB through each agent in 8 s (1.1 MiB messages several times a second, then 3 MiB frames),
 * so 400 MB is the idle figure plus 150 MB: room for the garbage collector's lag and libp2p's buffers (gossipsub
 * accepts 2 MiB frames), while an agent that queued unread input or kept what it refused (every 1.1 MiB message is
 * held at least twice on the way in: the frame and its decoded copy) goes past it. It is a bound on runaway
 * growth, not a leak detector: the baseline and the peak are printed with every run.
 */
const RSS_LIMIT_MB = 400
const OVERSIZED_PER_TICK = 3
const MARKER_TARGET = '127.0.8.77'
const FORGED_VERSION = '6.6.6-forged'

function rssMb (pid: number | undefined): number {
  if (pid === undefined) return Number.NaN
  try {
    const m = /VmRSS:\s+([0-9]+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? Number.NaN : Number(m[1]) / 1024
  } catch { return Number.NaN }
}

/** What this test reads of gossipsub beyond its public interface (the class has them; the interface type does not). */
interface GossipsubInternals {
  getMeshPeers: (topic: string) => string[]
  score?: { params?: { topics?: Record<string, unknown> } }
  sendRpc?: (id: string, rpc: object) => boolean
  getScore: (id: string) => number
}
const internals = (node: MeshNode): GossipsubInternals => node.services.pubsub as unknown as GossipsubInternals

const agentAddr = (ip: string, peerId: string): ReturnType<typeof multiaddr> => multiaddr(`/ip4/${ip}/tcp/${GOSSIP_PORT}/p2p/${peerId}`)

function fakeRecord (podName: string, peerId: string, ip: string, inc: number, seq: number, over: Partial<AgentRecord> = {}): AgentRecord {
  return {
    identity: { podName, nodeName: `node-${podName}`, nodeIp: ip, podIp: ip, namespace: 'demo', version: FORGED_VERSION, peerId },
    inc,
    seq,
    rv: 0,
    results: { host: new Map(), pod: new Map(), service: null },
    leader: false,
    ...over
  }
}

/**
 * Reads an agent's whole view over anti-entropy without changing it: the request's own record claims the agent's
 * own pod name, which the agent judges 'self' and ignores, then it answers with every record it holds.
 */
async function readView (node: MeshNode, agent: AgentProcess, peerId: string): Promise<SyncResponse> {
  const signal = AbortSignal.timeout(5_000)
  const stream = await node.dialProtocol(agentAddr(agent.ip, peerId), SYNC_PROTOCOL, { signal })
  await writeAll(stream, encodeSyncRequest({
    digest: { agents: [], externals: [] },
    self: fakeRecord(agent.name, node.peerId.toString(), WITNESS_IP, 1, 1)
  }), signal)
  return decodeSyncResponse(await readAll(stream, MAX_SYNC_BYTES, signal))
}
const recordIn = (view: SyncResponse, podName: string): AgentRecord | undefined => view.full.find(f => f.record.identity.podName === podName)?.record

/** The raw protobuf form of a captured signed message, with its original signature (for exact replays). */
function rawOf (m: SignedMessage, data = m.data): Record<string, unknown> {
  const seqno = new Uint8Array(8)
  new DataView(seqno.buffer).setBigUint64(0, m.sequenceNumber, false)
  return { from: m.from.toMultihash().bytes, data, seqno, topic: m.topic, signature: m.signature, key: undefined }
}

interface Health {
  status: string
  peers_connected: number
  view_size: number
  gossip: {
    accepted: number
    gaps: number
    rejected: Record<string, number>
    ignored: Record<string, number>
    bytes_in?: number
    mesh_peers?: number | null
    penalised_peers?: number
    graylisted_peers?: number
  }
  sync: { served: number, pulled: number, failed: number }
}

const pathTo = (target: string): PathResult => ({ target, port: 22, sent: 3, received: 0, rttMs: null, tcp: 'unreachable', connectMs: null, durationMs: 1, checkedAt: 1 })
const sumOf = (hs: Health[], f: (h: Health) => number | undefined): number => hs.reduce((s, h) => s + (f(h) ?? 0), 0)

t.test('a rogue libp2p peer floods two live agents', async t => {
  const env = { HEARTBEAT_INTERVAL: '1', CACHE_KEY_SECOND: '10', DISCOVERY_INTERVAL: '1', LOG_LEVEL: 'warn', MAX_EXTERNAL_ORIGINS: '16' }
  const statics = [...AGENT_IPS, ROGUE_IP, WITNESS_IP] // the rogue and the witness are members by the static list
  const rogue = await createMeshNode({ listenAddress: ROGUE_IP, gossipPort: GOSSIP_PORT, maxConnections: 16 })
  const witness = await createMeshNode({ listenAddress: WITNESS_IP, gossipPort: GOSSIP_PORT, maxConnections: 16 })
  const agents: AgentProcess[] = []
  const timers: { rss?: NodeJS.Timeout } = {}
  t.teardown(async () => {
    clearInterval(timers.rss)
    await Promise.all(agents.map(async a => await stopAgentProcess(a, 'SIGKILL')))
    await Promise.allSettled([rogue.stop(), witness.stop()])
  })
  await rogue.start()
  await witness.start()
  rogue.services.pubsub.subscribe(VIEW_TOPIC)
  witness.services.pubsub.subscribe(VIEW_TOPIC)
  const captured: SignedMessage[] = []
  rogue.services.pubsub.addEventListener('gossipsub:message', evt => {
    if (evt.detail.msg.type === 'signed' && captured.length < 200) captured.push(evt.detail.msg)
  })

  for (const [i, ip] of AGENT_IPS.entries()) agents.push(startAgentProcess({ name: `agent-${i + 1}`, ip, peers: statics, env }))
  const [a1, a2] = agents as [AgentProcess, AgentProcess]
  const [id1, id2] = await Promise.all([a1.ready, a2.ready])
  const health = async (a: AgentProcess): Promise<Health> => await getJson<Health>(`${a.apiUrl}/api/v1/health`, 5_000)
  const healths = async (): Promise<Health[]> => await Promise.all(agents.map(health))
  await waitUntil('both agents to hold each other', async () => (await healths()).every(h => h.view_size === 2), 10_000)
  await rogue.dial(agentAddr(a1.ip, id1))
  await waitUntil('agent-1 in the rogue\'s mesh and both agents subscribed', async () =>
    internals(rogue).getMeshPeers(VIEW_TOPIC).includes(id1) &&
    rogue.services.pubsub.getSubscribers(VIEW_TOPIC).some(p => p.toString() === id2) &&
    witness.services.pubsub.getSubscribers(VIEW_TOPIC).some(p => p.toString() === id1), 10_000)
  await waitUntil('messages of both agents captured for replay', async () =>
    captured.some(m => m.from.toString() === id1) && captured.some(m => m.from.toString() === id2), 5_000)
  t.pass('two agents up, the rogue connected, in agent-1\'s mesh, and holding captured messages of both')

  const rogueId = rogue.peerId.toString()
  const self2 = recordIn(await readView(witness, a2, id2), 'agent-2')
  if (self2 === undefined) throw new Error('agent-2 does not answer with its own record')
  const realInc2 = self2.inc
  const rssBase = agents.map(a => rssMb(a.child.pid))
  let rssMax = [...rssBase]
  const sampleRss = (): void => { rssMax = agents.map((a, i) => Math.max(rssMax[i] ?? 0, rssMb(a.child.pid))) }
  timers.rss = setInterval(sampleRss, 200)
  const publish = async (node: MeshNode, bytes: Uint8Array): Promise<void> => { await node.services.pubsub.publish(VIEW_TOPIC, bytes) }

  // ---- one of each first: every reason must be counted before scoring makes the agents stop reading the rogue ----
  const forged2 = (seq: number): Uint8Array => encodeMessage({ t: 'full', record: fakeRecord('agent-2', id2, '127.0.8.2', realInc2, seq, { rv: 99, results: { host: new Map([[MARKER_TARGET, pathTo(MARKER_TARGET)]]), pod: new Map(), service: null } }) })
  // agent-1's pod name and peer id: agent-1 judges it 'self', agent-2 'forged'
  const claims1 = (seq: number): Uint8Array => encodeMessage({ t: 'full', record: fakeRecord('agent-1', id1, '127.0.8.1', Date.now() + 1e9, seq) })
  const oversized = (n: number): Uint8Array => enc.encode(JSON.stringify({ v: 1, t: 'h', o: 'agent-2', i: realInc2, s: 1e9 + n, r: 0, pad: 'x'.repeat(1_150_000) }))
  const ownExt = (n: number): Uint8Array => encodeMessage({ t: 'ext', record: { key: `hb:madeup-own-${n}`, at: Date.now(), by: rogueId, body: { part: 'hb', value: { podName: `madeup-own-${n}`, nodeIp: '127.0.8.202', podIp: '127.0.8.202', namespace: 'x', timestamp: '' } } } })
  const before = await healths()
  const firsts: Array<[string, Uint8Array]> = [
    ['malformed', Uint8Array.from({ length: 64 }, (_, i) => (i * 7919 + 13) % 256)],
    ['version', enc.encode(JSON.stringify({ v: 2, t: 'h', o: 'agent-2', i: 1, s: 1, r: 0 }))],
    ['schema', enc.encode(JSON.stringify({ v: 1, t: 'h', o: 'agent-2', i: -1, s: 1.5, r: 0 }))],
    ['oversized', oversized(0)],
    // a heartbeat of agent-2's incarnation under the rogue's key: agent-1 'forged', agent-2 'self'
    ['forged', encodeMessage({ t: 'hb', origin: 'agent-2', inc: realInc2, seq: 1e9, rv: 0 })],
    // the same about agent-1: agent-1 'self', agent-2 'forged'
    ['self', encodeMessage({ t: 'hb', origin: 'agent-1', inc: (await readView(witness, a1, id1)).full.find(f => f.record.identity.podName === 'agent-1')?.record.inc ?? 0, seq: 1e9, rv: 0 })]
  ]
  for (const [, bytes] of firsts) { await publish(rogue, bytes); await sleep(100) }
  for (let n = 0; n < 20; n++) await publish(rogue, ownExt(n)) // signed by the rogue: fine, until the cap
  const counted = (hs: Health[], reason: string): number => sumOf(hs, h => (h.gossip.rejected[reason] ?? 0) + (h.gossip.ignored[reason] ?? 0))
  try {
    await waitUntil('each first message counted', async () => {
      const hs = await healths()
      return firsts.every(([r]) => counted(hs, r) > counted(before, r)) && sumOf(hs, h => h.gossip.ignored.capacity) > 0
    }, 5_000, 100)
  } catch { /* the asserts below say which */ }
  const first = await healths()
  for (const [reason] of firsts) {
    const how = sumOf(first, h => h.gossip.rejected[reason]) > sumOf(before, h => h.gossip.rejected[reason]) ? 'rejected' : 'ignored'
    t.ok(counted(first, reason) > counted(before, reason), `the agents counted a "${reason}" message (${counted(before, reason)} -> ${counted(first, reason)}, ${how})`)
  }
  t.ok(sumOf(first, h => h.gossip.ignored.capacity) > 0, `external origins over MAX_EXTERNAL_ORIGINS=16 were ignored (${sumOf(first, h => h.gossip.ignored.capacity)})`)

  // ---- the flood: a deterministic sequence of payloads (FLOOD_SEED) for FLOOD_MS ----
  const rnd = mulberry32(FLOOD_SEED)
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)] as T
  const L = arbitraries(loopbackIp) // every IP the rogue writes is in 127.0.8.0/24: nothing it says sends a probe elsewhere
  const sample = <T>(arb: fc.Arbitrary<T>, n: number, k: number): T[] => fc.sample(arb, { seed: FLOOD_SEED + k, numRuns: n })
  const randomBytes = sample(fc.uint8Array({ minLength: 1, maxLength: 600 }), 100, 1)
  const validLoopback = sample(L.message, 100, 2).map(m => encodeMessage(m))
  const byteMutants = sample(fc.tuple(fc.nat(99), fc.nat(99), fc.array(arbByteOp, { minLength: 1, maxLength: 5 })), 150, 3)
    .map(([i, j, ops]) => mutateBytes(validLoopback[i] as Uint8Array, validLoopback[j] as Uint8Array, ops))
  const jsonMutants = sample(fc.tuple(fc.nat(99), fc.array(arbJsonOp, { minLength: 1, maxLength: 3 })), 150, 4)
    .map(([i, ops]) => mutateJson(validLoopback[i] as Uint8Array, ops))
  const foreignIds = sample(fc.stringMatching(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/), 20, 5)
  let seq = 2e9
  const kinds: Array<[string, number, () => Uint8Array | 'replay']> = [
    ['random bytes', 3, () => pick(randomBytes)],
    ['byte mutants', 3, () => pick(byteMutants)],
    ['JSON mutants', 3, () => pick(jsonMutants)],
    ['valid-looking generated messages', 2, () => pick(validLoopback)],
    // agent-2's pod name and peer id, signed by the rogue: newer in every way, so only the key binding stops it
    ['forged agent-2 full', 2, () => forged2(++seq)],
    ['forged agent-2 hb/delta/leave', 2, () => encodeMessage(pick<GossipMessage>([
      { t: 'hb', origin: 'agent-2', inc: realInc2, seq: ++seq, rv: 0 },
      { t: 'leave', origin: 'agent-2', inc: realInc2, seq: ++seq },
      { t: 'delta', origin: 'agent-2', inc: realInc2, seq: ++seq, base: 0, rv: 50, host: { upsert: [], remove: ['127.0.8.1'] }, pod: null, service: undefined }
    ]))],
    ['agent-1 claimed with its peer id', 1, () => claims1(++seq)],
    ['made-up origin, foreign signer', 2, () => encodeMessage({ t: 'full', record: fakeRecord(`madeup-foreign-${Math.floor(rnd() * 1000)}`, pick(foreignIds), `127.0.8.${200 + Math.floor(rnd() * 50)}`, 1, ++seq) })],
    ['made-up external, foreign injector', 1, () => encodeMessage({ t: 'ext', record: { key: `hb:madeup-foreign-${Math.floor(rnd() * 1000)}`, at: Date.now(), by: pick(foreignIds), body: { part: 'hb', value: { podName: `madeup-foreign-${Math.floor(rnd() * 1000)}`, nodeIp: '127.0.8.201', podIp: '127.0.8.201', namespace: 'x', timestamp: '' } } } })],
    ['made-up external, own key', 1, () => ownExt(Math.floor(rnd() * 100))],
    ['heartbeat of an unknown origin (a gap)', 1, () => encodeMessage({ t: 'hb', origin: `ghost-${Math.floor(rnd() * 50)}`, inc: 1, seq: ++seq, rv: 0 })],
    ['agent message re-signed by the rogue', 2, () => pick(captured).data],
    ['exact replay (original signature)', 2, () => 'replay'],
    ['tampered replay (original signature)', 1, () => 'replay']
  ]
  const total = kinds.reduce((s, k) => s + k[1], 0)
  const sendRpc = internals(rogue).sendRpc?.bind(rogue.services.pubsub)
  const sent: Record<string, number> = {}
  let bytesSent = 0
  // made-up origins signed by the rogue's own key, at its own address: a member may do that (membership is
  // decided by admission), and they must stay bound to that key
  for (let i = 0; i < 10; i++) {
    await publish(rogue, encodeMessage({ t: 'full', record: fakeRecord(`madeup-own-${i}`, rogueId, ROGUE_IP, 1, 1, { identity: { podName: `madeup-own-${i}`, nodeName: 'n', nodeIp: ROGUE_IP, podIp: ROGUE_IP, namespace: 'demo', version: '0.0.1-own', peerId: rogueId } }) }))
  }
  const floodStart = Date.now()
  let tick = 0
  while (Date.now() - floodStart < FLOOD_MS) {
    tick++
    // ~1.1 MiB each: past the agent's 1 MiB limit, within gossipsub's 2 MiB frame limit
    for (let k = 0; k < OVERSIZED_PER_TICK && Date.now() - floodStart < FLOOD_MS; k++) {
      const big = oversized(tick * OVERSIZED_PER_TICK + k)
      await publish(rogue, big)
      sent.oversized = (sent.oversized ?? 0) + 1
      bytesSent += big.length
    }
    for (let b = 0; b < 40 && Date.now() - floodStart < FLOOD_MS; b++) {
      let r = rnd() * total
      const kind = kinds.find(k => (r -= k[1]) < 0) ?? kinds[0] as (typeof kinds)[number]
      const payload = kind[2]()
      if (payload === 'replay') {
        if (sendRpc === undefined) continue
        const m = pick(captured)
        const data = kind[0].startsWith('tampered') ? Uint8Array.from(m.data, (x, i) => i === 0 ? x ^ 1 : x) : m.data
        for (const id of [id1, id2]) sendRpc(id, { subscriptions: [], messages: [rawOf(m, data)] })
        bytesSent += data.length
      } else {
        await publish(rogue, payload)
        bytesSent += payload.length
      }
      sent[kind[0]] = (sent[kind[0]] ?? 0) + 1
    }
    await sleep(10)
  }
  const floodMs = Date.now() - floodStart
  const count = Object.values(sent).reduce((s, n) => s + n, 0)
  t.comment(`flood (seed ${FLOOD_SEED}): ${count} messages, ${(bytesSent / 1048576).toFixed(0)} MiB to each agent in ${floodMs} ms; ${JSON.stringify(sent)}`)
  if (sendRpc === undefined) t.comment('gossipsub has no sendRpc: exact replays with the original signature were not sent')

  // ---- after the flood: alive, bounded ----
  await sleep(1_500) // let the agents drain what is in flight
  sampleRss()
  t.comment(`agent RSS before the flood ${rssBase.map(x => x.toFixed(0)).join(', ')} MB; peak ${rssMax.map(x => x.toFixed(0)).join(', ')} MB`)
  for (const [i, a] of agents.entries()) {
    t.ok(a.child.exitCode === null && a.child.signalCode === null, `${a.name} process is alive`)
    const h = await health(a)
    t.equal(h.status, 'healthy', `${a.name} health endpoint answers`)
    t.ok((rssMax[i] ?? Infinity) < RSS_LIMIT_MB, `${a.name} RSS peaked at ${(rssMax[i] ?? NaN).toFixed(0)} MB (< ${RSS_LIMIT_MB} MB)`)
  }
  const after = await healths()
  t.comment(`gossip counters after the flood: ${JSON.stringify(after.map(h => h.gossip))}`)

  // ---- no forged record in any view ----
  const view1 = await readView(witness, a1, id1)
  const view2 = await readView(witness, a2, id2)
  const own2 = recordIn(await readView(witness, a2, id2), 'agent-2')
  const own1 = recordIn(await readView(witness, a1, id1), 'agent-1')
  const checkHeld = (view: SyncResponse, name: string, peerId: string, own: AgentRecord | undefined, where: string): void => {
    const r = recordIn(view, name)
    t.ok(r !== undefined && own !== undefined, `${where} holds ${name}`)
    if (r === undefined || own === undefined) return
    t.equal(r.identity.peerId, peerId, `${where}: ${name}'s record still carries ${name}'s real peer id`)
    t.equal(r.inc, own.inc, `${where}: ${name}'s incarnation is its real one`)
    t.ok(r.seq <= own.seq && r.rv <= own.rv, `${where}: ${name}'s (seq, rv) (${r.seq}, ${r.rv}) is not ahead of ${name}'s own (${own.seq}, ${own.rv})`)
    t.notOk(r.results.host.has(MARKER_TARGET) || r.identity.version === FORGED_VERSION, `${where}: ${name}'s results and version are its own`)
  }
  checkHeld(view1, 'agent-2', id2, own2, 'agent-1')
  checkHeld(view2, 'agent-1', id1, own1, 'agent-2')
  const members = new Set([id1, id2, rogueId])
  for (const [where, view] of [['agent-1', view1], ['agent-2', view2]] as const) {
    t.same(view.full.filter(f => f.record.identity.podName.startsWith('madeup-foreign-')).map(f => f.record.identity.podName), [], `${where} holds no made-up origin signed by another key`)
    t.same(view.full.filter(f => !members.has(f.record.identity.peerId)).map(f => f.record.identity.podName), [], `${where} holds no record bound to a key that never signed on the mesh`)
    t.same(view.externals.filter(x => !members.has(x.record.by)).map(x => x.record.key), [], `${where} holds no external record injected by another key`)
    t.ok(view.externals.length <= 16, `${where} holds ${view.externals.length} externals (MAX_EXTERNAL_ORIGINS 16)`)
    const names = view.full.map(f => f.record.identity.podName)
    t.ok(names.includes('agent-1') && names.includes('agent-2'), `${where} still holds both agents`)
    t.comment(`${where} holds ${view.full.length} records (${view.full.filter(f => f.record.identity.peerId === rogueId).length} made up by the rogue with its own key) and ${view.externals.length} externals`)
  }
  const versions = await getJson<{ versions: Record<string, number> }>(`${a1.apiUrl}/api/v1/clients/count`)
  t.notOk(FORGED_VERSION in versions.versions, `no forged version in agent-1's API (${JSON.stringify(versions.versions)})`)

  // ---- the rogue pruned, graylisted or disconnected? ----
  const scoring = Object.keys(internals(rogue).score?.params?.topics ?? {}).length > 0
  await publish(rogue, encodeMessage({ t: 'full', record: fakeRecord('rogue-probe', rogueId, ROGUE_IP, 1, 1) }))
  const fate: string[] = []
  try {
    await waitUntil('the rogue to be pruned or cut off', async () => {
      fate.length = 0
      if (rogue.getConnections().every(c => c.remotePeer.toString() !== id1)) fate.push('disconnected')
      if (!internals(rogue).getMeshPeers(VIEW_TOPIC).includes(id1)) fate.push('pruned from agent-1\'s mesh')
      const h = await health(a1)
      if ((h.gossip.graylisted_peers ?? 0) > 0) fate.push(`graylisted (agent-1: ${h.gossip.graylisted_peers} graylisted, ${h.gossip.penalised_peers ?? '?'} penalised)`)
      return fate.length > 0
    }, 3_000, 100)
  } catch { /* asserted below */ }
  if (recordIn(await readView(witness, a1, id1), 'rogue-probe') === undefined) fate.push('its new valid record was ignored')
  t.comment(`the rogue after the flood: ${fate.join('; ') || 'connected, in agent-1\'s mesh, heard'}; topic scoring configured: ${scoring}`)
  t.ok(fate.length > 0, `the rogue ends up pruned, graylisted or disconnected (${fate.join('; ') || 'none of them'})`,
    scoring ? {} : { todo: 'needs peer scoring (issue 9 part 2)' })

  // ---- frames past gossipsub's own 2 MiB limit ----
  for (let i = 0; i < 2; i++) await publish(rogue, enc.encode(JSON.stringify({ v: 1, t: 'h', pad: 'y'.repeat(3 * 1024 * 1024) })))
  await sleep(1_000)
  sampleRss()
  for (const [i, a] of agents.entries()) {
    t.equal((await health(a)).status, 'healthy', `${a.name} answers after 3 MiB frames`)
    t.ok((rssMax[i] ?? Infinity) < RSS_LIMIT_MB, `${a.name} RSS still under ${RSS_LIMIT_MB} MB (${(rssMax[i] ?? NaN).toFixed(0)} MB)`)
  }
  clearInterval(timers.rss)

  // ---- a member that lies in anti-entropy ----
  // The witness (a member that has sent nothing wrong) answers every pull with agent-2's real identity, peer id
  // included, a much higher seq and made-up results; a heartbeat of an unknown origin signed by the witness makes
  // agent-1 pull from it (a gap repair pulls from the message's origin when connected).
  const real2 = recordIn(await readView(witness, a1, id1), 'agent-2')
  const pulledBy: string[] = []
  let answer: SyncResponse = {
    full: [{
      record: fakeRecord('agent-2', id2, '127.0.8.2', realInc2, (real2?.seq ?? 0) + 1_000_000, {
        identity: { ...self2.identity, version: FORGED_VERSION },
        rv: (real2?.rv ?? 0) + 1_000_000,
        results: { host: new Map([[MARKER_TARGET, pathTo(MARKER_TARGET)]]), pod: new Map(), service: null }
      }),
      ageMs: 0
    }],
    touch: [],
    externals: [],
    extTouch: [],
    left: []
  }
  await witness.handle(SYNC_PROTOCOL, (stream, conn) => {
    void (async () => {
      const signal = AbortSignal.timeout(5_000)
      try {
        await readAll(stream, MAX_SYNC_BYTES, signal)
        pulledBy.push(conn.remotePeer.toString())
        await writeAll(stream, encodeSyncResponse(answer), signal)
      } catch (err) { stream.abort(err as Error) }
    })()
  })
  const pullFromWitness = async (ghost: string): Promise<boolean> => {
    const n = pulledBy.filter(p => p === id1).length
    await publish(witness, encodeMessage({ t: 'hb', origin: ghost, inc: 1, seq: 1, rv: 0 }))
    try {
      await waitUntil('agent-1 to pull from the witness', async () => pulledBy.filter(p => p === id1).length > n, 5_000)
    } catch { return false }
    await sleep(300)
    return true
  }
  t.comment(`agent-1 pulled from the lying witness (a rewritten agent-2): ${await pullFromWitness('ghost-of-the-witness-1')}`)
  // the lie carries no seal of agent-2's, so agent-1 (which holds agent-2's own word) never takes it, whatever
  // sequence number it claims (before origin seals it was taken second-hand until agent-2's next message)
  const isReal = (r: AgentRecord | undefined): boolean => r !== undefined && !r.results.host.has(MARKER_TARGET) && r.identity.version !== FORGED_VERSION
  const lied = recordIn(await readView(witness, a1, id1), 'agent-2')
  t.ok(isReal(lied),
    `an anti-entropy answer cannot durably rewrite another origin's record (agent-2 on agent-1: seq ${lied?.seq}, version ${lied?.identity.version})`)

  // ---- a member that takes over another's pod name with its own key and a higher incarnation ----
  const witnessId = witness.peerId.toString()
  const hijack = (ip: string): Uint8Array => encodeMessage({ t: 'full', record: fakeRecord('agent-2', witnessId, ip, realInc2 + 10_000_000, 1, { identity: { podName: 'agent-2', nodeName: 'node-agent-2', nodeIp: ip, podIp: ip, namespace: 'demo', version: '6.6.6-hijack', peerId: witnessId } }) })
  await publish(witness, hijack('127.0.8.2')) // agent-2's own address, claimed from another
  await publish(witness, hijack(WITNESS_IP)) // the witness's own address
  await sleep(1_000)
  const hijacked = recordIn(await readView(witness, a1, id1), 'agent-2')
  // (at 1dad964 this hijack replaced agent-2 on agent-1; 765b7e6 pins the key: a new key only at the same pod IP,
  // and a full record must name the address its publisher speaks from)
  t.ok(hijacked === undefined || hijacked.identity.peerId === id2, `a pod name stays bound to its agent's key (agent-2 on agent-1: ${hijacked === undefined ? 'absent' : hijacked.identity.peerId === id2 ? 'its own key' : 'the witness\'s key'})`)

  // the same, with a departure: agent-2 "left" at a seq it will not reach, so its own messages stay stale for 10 x TTL
  await sleep(1_100) // the mesh pulls from one peer at most once a second
  const heldInc2 = recordIn(await readView(witness, a1, id1), 'agent-2')?.inc ?? realInc2
  answer = { full: [], touch: [], externals: [], extTouch: [], left: [{ origin: 'agent-2', inc: heldInc2, seq: Number.MAX_SAFE_INTEGER }] }
  t.comment(`agent-1 pulled from the lying witness (agent-2 "left"): ${await pullFromWitness('ghost-of-the-witness-2')}`)
  await sleep(2_500) // agent-2 keeps heartbeating (every second) and its record is still in its own view
  const gone = recordIn(await readView(witness, a1, id1), 'agent-2')
  t.ok(gone !== undefined, 'an anti-entropy answer cannot remove another origin (agent-2 still on agent-1 while it heartbeats)')

  for (const a of agents) t.ok(a.child.exitCode === null && a.child.signalCode === null, `${a.name} survived everything`)
})

// ---------------------------------------------------------------------------------------------------------------
// 3. copies of a message: its signature is checked once, and a forged copy cannot get the genuine one dropped

t.test('a relay\'s forged copy: rejected before the genuine message, dropped unread after it', async t => {
  // origin -- relay -- receiver, in this process; the relay forwards nothing itself and sends copies by hand
  const [origin, relay, receiver] = await Promise.all(['127.0.8.20', '127.0.8.21', '127.0.8.22'].map(async ip =>
    await createMeshNode({ listenAddress: ip, gossipPort: 6390, maxConnections: 8 })))
  const nodes = [origin, relay, receiver] as MeshNode[]
  t.teardown(async () => { await Promise.allSettled(nodes.map(async n => { await n.stop() })) })
  for (const n of nodes) { await n.start(); n.services.pubsub.subscribe(VIEW_TOPIC) }
  const [o, r, rc] = nodes as [MeshNode, MeshNode, MeshNode]
  const captured: SignedMessage[] = []
  r.services.pubsub.topicValidators.set(VIEW_TOPIC, (_peer, msg) => {
    if (msg.type === 'signed') captured.push(msg)
    return TopicValidatorResult.Ignore // never forwarded by the relay, never the origin's fault
  })
  const delivered: string[] = []
  rc.services.pubsub.addEventListener('gossipsub:message', evt => { delivered.push(new TextDecoder().decode(evt.detail.msg.data)) })
  await r.dial(o.getMultiaddrs()[0] as ReturnType<typeof multiaddr>)
  await r.dial(rc.getMultiaddrs()[0] as ReturnType<typeof multiaddr>)
  const relayId = r.peerId.toString()
  const sendRpc = internals(r).sendRpc?.bind(r.services.pubsub)
  if (sendRpc === undefined) throw new Error('gossipsub has no sendRpc')
  await waitUntil('the relay subscribed on both sides', async () =>
    o.services.pubsub.getSubscribers(VIEW_TOPIC).some(p => p.toString() === relayId) &&
    rc.services.pubsub.getSubscribers(VIEW_TOPIC).some(p => p.toString() === relayId) &&
    r.services.pubsub.getSubscribers(VIEW_TOPIC).length === 2, 10_000)

  await o.services.pubsub.publish(VIEW_TOPIC, new TextEncoder().encode('genuine'))
  await waitUntil('the relay holding the origin\'s message', async () => captured.length > 0, 5_000)
  const genuine = captured[0] as SignedMessage
  const forged = new TextEncoder().encode('forgery') // the same length, origin, seqno and signature
  const send = async (data: Uint8Array): Promise<void> => { sendRpc(rc.peerId.toString(), { subscriptions: [], messages: [rawOf(genuine, data)] }); await sleep(300) }
  const score = (): number => internals(rc).getScore(relayId)

  // (gossipsub caches a peer's score for up to a heartbeat, and decays the count of invalid messages by 0.9 a second)
  await send(forged)
  await waitUntil('the forged copy counted against the relay', async () => score() < -5, 5_000).catch(() => {})
  t.ok(score() < -5, `the forged copy, first to arrive, is verified and rejected (the relay's score ${score().toFixed(2)})`)
  await send(genuine.data)
  t.same(delivered, ['genuine'], 'the genuine message, arriving after its forged copy, is still delivered')
  await send(forged)
  await send(genuine.data)
  await sleep(2_000)
  t.same(delivered, ['genuine'], 'later copies, forged or not, are not delivered again')
  // one invalid message costs -10 x (0.9^s)^2 s seconds later (about -4 here); had the second forgery been verified
  // and rejected too, the count would have stood near 1.8 and the score near -30, still about -19 here
  t.ok(score() > -12, `copies bearing a verified message's id are dropped before their signature is checked (the relay's score ${score().toFixed(2)})`)
})
