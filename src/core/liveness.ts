// Liveness digests for large clusters (pure): which agents aggregate heartbeats, which two each origin beats to,
// the packed entries an aggregator gossips, and the aggregator's book of beats heard since its last digest.
import { createHash } from 'node:crypto'
import { WireError } from './wire-error.ts'
import type { LiveEntry } from './record.ts'

/** Each origin beats straight to this many aggregators, so one aggregator's death costs no origin its liveness. */
export const AGGREGATORS_PER_ORIGIN = 2
/** Origins an aggregator serves on average: its digest stays ~40 entries (~500 B) and its connections bounded. */
export const ORIGINS_PER_AGGREGATOR = 40
/** Receivers accept digests from this many more of the lowest-id agents than they would pick themselves, so views
 * that differ by a few members still agree on who may speak for liveness. */
export const AGGREGATOR_SLACK = 4
/** Bytes per packed entry: id u32, rv u16, age u8 (tenths of a second). */
const ENTRY_BYTES = 7
export const MAX_LIVE_ENTRIES = 4096
const MAX_AGE_DS = 255

const ids = new Map<string, number>()

/** A stable 32-bit id for a name (first 4 bytes of its SHA-256): short in digests, and a fair ordering. */
export function shortId (name: string): number {
  let id = ids.get(name)
  if (id === undefined) {
    id = createHash('sha256').update(name).digest().readUInt32BE(0)
    if (ids.size >= 50_000) ids.clear()
    ids.set(name, id)
  }
  return id
}

const byId = (a: string, b: string): number => shortId(a) - shortId(b) || (a < b ? -1 : a > b ? 1 : 0)

/** How many aggregators a cluster of n agents has. */
export function aggregatorCount (n: number): number {
  return Math.min(n, Math.max(AGGREGATORS_PER_ORIGIN + 1, Math.ceil(n * AGGREGATORS_PER_ORIGIN / ORIGINS_PER_AGGREGATOR)))
}

export interface AggregatorSets {
  /** The aggregators this membership has: the agents with the lowest short ids (members do not choose pod names). */
  list: string[]
  /** Those a receiver takes digests from: the list and AGGREGATOR_SLACK more. */
  accepted: Set<string>
}

export function aggregatorSets (names: Iterable<string>): AggregatorSets {
  const sorted = [...names].sort(byId)
  const k = aggregatorCount(sorted.length)
  return { list: sorted.slice(0, k), accepted: new Set(sorted.slice(0, k + AGGREGATOR_SLACK)) }
}

/** The aggregators `origin` beats to: the highest rendezvous scores among the others, so choices move little. */
export function chooseAggregators (origin: string, aggs: readonly string[]): string[] {
  return aggs.filter(a => a !== origin)
    .map(a => ({ a, score: shortId(`${origin}\n${a}`) }))
    .sort((x, y) => y.score - x.score)
    .slice(0, AGGREGATORS_PER_ORIGIN)
    .map(x => x.a)
}

/** Packs entries into base64 (about 9.3 characters each). */
export function packEntries (entries: readonly LiveEntry[]): string {
  const buf = Buffer.alloc(entries.length * ENTRY_BYTES)
  entries.forEach((e, i) => {
    const o = i * ENTRY_BYTES
    buf.writeUInt32BE(e.id >>> 0, o)
    buf.writeUInt16BE(e.rv16 & 0xffff, o + 4)
    buf.writeUInt8(Math.min(MAX_AGE_DS, Math.max(0, Math.round(e.ageMs / 100))), o + 6)
  })
  return buf.toString('base64')
}

/** The base64 length of `entries` packed entries. */
export const packedLength = (entries: number): number => Math.ceil(entries * ENTRY_BYTES / 3) * 4
/** The base64 length of MAX_LIVE_ENTRIES packed entries: the longest digest a decoder takes. */
export const MAX_PACKED_LENGTH = packedLength(MAX_LIVE_ENTRIES)
/**
 * Legacy clients one heartbeat may speak for (the clients that posted to its agent since its last one): ~320 KB in
 * base64, within a gossip message, and more than MAX_EXTERNAL_ORIGINS' default.
 */
export const MAX_LEGACY_ENTRIES = 32_768

/** Unpacks what packEntries made (at most `max` entries); anything else is a WireError naming the field. */
export function unpackEntries (s: string, field: string, max = MAX_LIVE_ENTRIES): LiveEntry[] {
  if (s.length > packedLength(max) || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    throw new WireError('schema', `${field}: expected at most ${max} packed liveness entries in base64`)
  }
  const buf = Buffer.from(s, 'base64')
  if (buf.byteLength % ENTRY_BYTES !== 0 || buf.toString('base64') !== s) {
    throw new WireError('schema', `${field}: expected whole ${ENTRY_BYTES}-byte liveness entries in canonical base64`)
  }
  const out: LiveEntry[] = []
  for (let o = 0; o < buf.byteLength; o += ENTRY_BYTES) {
    out.push({ id: buf.readUInt32BE(o), rv16: buf.readUInt16BE(o + 4), ageMs: buf.readUInt8(o + 6) * 100 })
  }
  return out
}

/** Whether results version `rv16` (low 16 bits) is ahead of the held `rv`: the holder missed a change. */
export function rvAhead (rv16: number, held: number): boolean {
  const d = (rv16 - held) & 0xffff
  return d !== 0 && d < 0x8000
}

/** An aggregator's beats heard since its last digest, newest per origin. */
export class BeatBook {
  private readonly heard = new Map<string, { rv: number, at: number }>()
  private readonly cap: number

  constructor (cap = MAX_LIVE_ENTRIES) {
    this.cap = cap
  }

  get size (): number { return this.heard.size }

  /** Notes a beat of `origin`, the incarnation the caller bound to the beating connection's key. */
  note (origin: string, rv: number, at: number): boolean {
    if (!this.heard.has(origin) && this.heard.size >= this.cap) return false
    this.heard.set(origin, { rv, at })
    return true
  }

  /** The entries to gossip now, and forgets them: each beat is reported once. */
  drain (now: number): LiveEntry[] {
    const out = [...this.heard]
      .filter(([, h]) => now - h.at <= MAX_AGE_DS * 100)
      .map(([origin, h]) => ({ id: shortId(origin), rv16: h.rv & 0xffff, ageMs: Math.max(0, now - h.at) }))
    this.heard.clear()
    return out
  }
}
