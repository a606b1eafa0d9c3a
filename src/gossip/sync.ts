// Anti-entropy over a libp2p stream protocol: send my digest and record, get back what I lack; serve the same.
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Logger } from 'pino'
import { speaksAs } from './admission.ts'
import { decodeSyncRequest, decodeSyncResponse, encodeSyncRequest, encodeSyncResponse, MAX_SYNC_BYTES } from '../core/codec.ts'
import type { IdentityProof, ProveIdentity } from '../core/identity.ts'
import type { Verifier } from '../core/keys.ts'
import { remoteIpOf, SYNC_PROTOCOL, type MeshNode } from './protocol.ts'
import type { AgentRecord } from '../core/record.ts'
import { checkSeals, recordSealHolds } from '../core/seal.ts'
import { readAll, writeAll } from './stream-io.ts'
import type { View } from '../core/view.ts'

const SYNC_TIMEOUT_MS = 5_000

export interface SyncDeps {
  node: MeshNode
  view: View
  self: () => AgentRecord
  now: () => number
  log: Logger
  /** Checks a signature by the key a peer id embeds (origin seals on relayed records). */
  verify: Verifier
  /** Called with the origins still missing their full state after a sync, and with every record change. */
  onChange: (changed: number) => void
  /** The proof that a record's origin is its pod (while the view requires identities). */
  prove?: ProveIdentity
  /** Where each exchange is counted as it happens (the metrics); the stats are kept either way. */
  events?: SyncEvents
  /** A peer holds this agent's own name at this incarnation, not below its own: it should move past it. */
  onSelfBehind?: (heldInc: number) => void
}

export interface SyncStats { served: number, pulled: number, failed: number, lastPullAt: number | null }

/** What anti-entropy counts as it happens, for a sink passed in (the metrics). */
export interface SyncEvents { syncExchange: (event: 'served' | 'pulled' | 'failed') => void }

export class AntiEntropy {
  readonly stats: SyncStats = { served: 0, pulled: 0, failed: 0, lastPullAt: null }
  private readonly deps: SyncDeps
  private readonly inFlight = new Set<string>()

  constructor (deps: SyncDeps) {
    this.deps = deps
  }

  async register (): Promise<void> {
    await this.deps.node.handle(SYNC_PROTOCOL, (stream, conn) => { void this.serve(stream, conn) }, {
      maxInboundStreams: 8
    })
  }

  private async serve (stream: Stream, conn: Connection): Promise<void> {
    const { view, now, log } = this.deps
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    try {
      const req = decodeSyncRequest(await readAll(stream, MAX_SYNC_BYTES, signal))
      // the asker's own record is bound to the connection's authenticated peer id and to its source address
      const ip = remoteIpOf(conn)
      if (req.self.seal !== undefined && !recordSealHolds(req.self, req.self.seal, this.deps.verify)) delete req.self.seal
      if (ip !== null && speaksAs([ip], req.self.identity)) {
        const o = view.apply({ t: 'full', record: req.self }, conn.remotePeer.toString(), now(), this.prove(req.self))
        if (o === 'accepted') this.deps.onChange(1)
      }
      await writeAll(stream, encodeSyncResponse(view.answer(req.digest, now())), signal)
      this.stats.served++
      this.deps.events?.syncExchange('served')
    } catch (err) {
      log.debug({ peer: conn.remotePeer.toString(), err: (err as Error).message }, 'sync request failed')
      stream.abort(err as Error)
    }
  }

  private prove (record: AgentRecord): IdentityProof | null {
    return this.deps.view.identitiesRequired ? this.deps.prove?.(record) ?? null : null
  }

  /** Pulls what `peer` holds and this agent lacks. Returns false when the pull failed or one is under way. */
  async pull (peer: PeerId): Promise<boolean> {
    const id = peer.toString()
    if (this.inFlight.has(id)) return false
    this.inFlight.add(id)
    const { node, view, now, log } = this.deps
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    try {
      const stream = await node.dialProtocol(peer, SYNC_PROTOCOL, { signal })
      await writeAll(stream, encodeSyncRequest({ digest: view.digest(), self: this.deps.self() }), signal)
      const res = decodeSyncResponse(await readAll(stream, MAX_SYNC_BYTES, signal))
      // an agent answers for itself only from its own address (as the first hop checks gossip)
      const ips = node.getConnections(peer).map(remoteIpOf).filter((a): a is string => a !== null)
      res.full = res.full.filter(f => f.record.identity.peerId !== id || speaksAs(ips, f.record.identity))
      checkSeals(res, this.deps.verify, origin => view.boundKey(origin) ?? view.agent(origin)?.record.identity.peerId)
      // this agent's own name held at an incarnation not below its own: a clock set back (or a replay); it moves past it
      const mine = this.deps.self().identity.podName
      const held = Math.max(...res.full.filter(f => f.record.identity.podName === mine).map(f => f.record.inc), ...res.left.filter(l => l.origin === mine).map(l => l.inc), -1)
      if (held >= this.deps.self().inc) this.deps.onSelfBehind?.(held)
      // while identities are required, a relayed record is taken only with its origin's verified token
      for (const f of res.full) {
        const proof = this.prove(f.record)
        if (proof !== null) f.proof = proof
      }
      if (view.identitiesRequired) res.full = res.full.filter(f => f.proof !== undefined || f.record.identity.podName === mine)
      const { changed } = view.merge(res, now(), id)
      this.stats.pulled++
      this.deps.events?.syncExchange('pulled')
      this.stats.lastPullAt = now()
      log.debug({ peer: id, changed, records: res.full.length }, 'anti-entropy pull')
      if (changed > 0) this.deps.onChange(changed)
      return true
    } catch (err) {
      this.stats.failed++
      this.deps.events?.syncExchange('failed')
      log.debug({ peer: id, err: (err as Error).message }, 'anti-entropy pull failed')
      return false
    } finally {
      this.inFlight.delete(id)
    }
  }
}
