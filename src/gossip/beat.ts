// Beats over a libp2p stream protocol (large clusters): an origin tells its two aggregators it is alive; an
// aggregator notes beats from origins its view binds to the connection's key, for its next liveness digest.
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import { decodeBeat, encodeBeat, MAX_BEAT_BYTES, MAX_LEGACY_BEAT_BYTES, type Beat } from '../core/codec.ts'
import { BEAT_PROTOCOL, LEGACY_BEAT_PROTOCOL, type MeshNode } from './protocol.ts'
import { BeatBook, MAX_LEGACY_ENTRIES } from '../core/liveness.ts'
import type { LiveEntry } from '../core/record.ts'
import { readAll, writeAll } from './stream-io.ts'
import { WireError } from '../core/wire-error.ts'
import type { View } from '../core/view.ts'

const BEAT_TIMEOUT_MS = 2_000

/** What the mesh needs of beats: send one, and take the beats (and legacy entries) heard since the last digest. */
export interface BeatChannel {
  send: (peerId: string, beat: Beat) => Promise<boolean>
  drain: (now: number) => LiveEntry[]
  drainLegacy: (now: number) => LiveEntry[]
}

/**
 * Sent and failed: this agent's own beats. Heard: beats taken for the next digest. Refused: beats judged and not
 * taken (malformed, too large, or from a key the view binds to no origin of that incarnation). Cut: beat streams
 * that ended before a whole beat arrived (a connection closing, a stall past the timeout): lost, not judged.
 */
export interface BeatStats { sent: number, failed: number, heard: number, refused: number, cut: number }

export interface BeatDeps {
  node: MeshNode
  view: View
  now: () => number
  log: Logger
  /** A beat spoke for a legacy client this view does not hold: pull from its sender. */
  onLegacyGap?: (peer: PeerId) => void
}

export class Beats implements BeatChannel {
  readonly stats: BeatStats = { sent: 0, failed: 0, heard: 0, refused: 0, cut: 0 }
  private readonly deps: BeatDeps
  private readonly book = new BeatBook()
  /** Legacy entries relayed from beats, by legacy heartbeat key. */
  private readonly legacyBook = new BeatBook(MAX_LEGACY_ENTRIES)

  constructor (deps: BeatDeps) {
    this.deps = deps
  }

  async register (): Promise<void> {
    await this.deps.node.handle(BEAT_PROTOCOL, (stream, conn) => { void this.serve(stream, conn, false) }, { maxInboundStreams: 4 })
    await this.deps.node.handle(LEGACY_BEAT_PROTOCOL, (stream, conn) => { void this.serve(stream, conn, true) }, { maxInboundStreams: 4 })
  }

  private async serve (stream: Stream, conn: Connection, withLegacy: boolean): Promise<void> {
    const signal = AbortSignal.timeout(BEAT_TIMEOUT_MS)
    const peer = conn.remotePeer.toString()
    let bytes: Uint8Array
    try {
      bytes = await readAll(stream, withLegacy ? MAX_LEGACY_BEAT_BYTES : MAX_BEAT_BYTES, signal)
    } catch (err) {
      // too large is refused; a stream cut or stalled delivered no beat to judge
      if (err instanceof WireError && err.reason === 'oversized') this.stats.refused++
      else this.stats.cut++
      this.deps.log.debug({ peer, err: (err as Error).message }, 'beat not taken')
      stream.abort(err as Error)
      return
    }
    let beat: Beat
    try {
      beat = decodeBeat(bytes, withLegacy)
    } catch (err) {
      this.stats.refused++
      this.deps.log.debug({ peer, err: (err as Error).message }, 'beat refused')
      stream.abort(err as Error)
      return
    }
    // the beat is read: closing our side is a courtesy whose failure loses nothing
    stream.close({ signal }).catch(() => { stream.abort(new Error('close failed')) })
    // the beat speaks for whichever origin this view binds to the connection's authenticated key, nobody else
    const origin = this.deps.view.originOfPeer(peer)
    const held = origin === undefined ? undefined : this.deps.view.agent(origin)
    if (origin === undefined || held?.record.inc !== beat.inc || !this.book.note(origin, beat.rv, this.deps.now())) {
      this.stats.refused++
      this.deps.log.debug({ peer, origin, heldInc: held?.record.inc, inc: beat.inc }, 'beat refused')
      return
    }
    this.stats.heard++
    // legacy entries count only for legacy heartbeats that this origin's key injected
    const now = this.deps.now()
    let lacking = false
    for (const e of beat.legacy ?? []) {
      const key = this.deps.view.legacyKeyInjectedBy(e.id, peer)
      lacking ||= key === undefined && !this.deps.view.holdsLegacyId(e.id)
      if (key === undefined) continue
      this.legacyBook.note(key, e.rv16, now - e.ageMs)
      // (the digest refreshes every other view; this one's own copy is refreshed here)
      this.deps.view.touchExternal(key, now - e.ageMs)
    }
    // a client this view has not got (its record lost or still on its way): pull it from the agent that holds it
    if (lacking) this.deps.onLegacyGap?.(conn.remotePeer)
  }

  async send (peerId: string, beat: Beat): Promise<boolean> {
    const signal = AbortSignal.timeout(BEAT_TIMEOUT_MS)
    const legacy = beat.legacy !== undefined && beat.legacy.length > 0
    try {
      const stream = await this.deps.node.dialProtocol(peerIdFromString(peerId), legacy ? LEGACY_BEAT_PROTOCOL : BEAT_PROTOCOL, { signal })
      await writeAll(stream, encodeBeat(beat), signal)
      this.stats.sent++
      return true
    } catch (err) {
      this.stats.failed++
      this.deps.log.debug({ peer: peerId, err: (err as Error).message }, 'beat failed')
      return false
    }
  }

  drain (now: number): LiveEntry[] { return this.book.drain(now) }
  drainLegacy (now: number): LiveEntry[] { return this.legacyBook.drain(now) }
}
