// The replicated view: pure merge, replay, expiry and anti-entropy rules over origin records. No I/O, no clocks.
import { aggregatorSets, rvAhead, shortId, type AggregatorSets } from './liveness.ts'
import type { IdentityProof } from './identity.ts'
import type { AgentRecord, ExternalBody, ExternalRecord, GossipMessage, LiveEntry } from './record.ts'
import { isFirstHand, isOriginsWord, Trust, trustOf, type Provenance } from './trust.ts'
import { addressesOf } from './families.ts'
import { applyLayerDelta, messageOrigin } from './record.ts'

/**
 * What merging a message did (or, for `judge`, would do):
 * - accepted: the view changed;
 * - gap: valid and fresher, but the record's full state is missing (unknown origin, new incarnation, missed delta);
 *   whatever could be applied was, and the caller should pull the record from a peer;
 * - stale: older than or equal to what is held (duplicate, replay, or about an origin that has left);
 * - forged: the signer is not the key the record is bound to;
 * - self: a message about this agent's own origin, which only this agent writes;
 * - capacity: a new origin (agent or external) while its cap is reached, or a second-hand record for a pod IP a
 *   live origin holds;
 * - unbound: identities are required and the record comes without a token the cluster vouches for (see bindings).
 */
export type MergeOutcome = 'accepted' | 'gap' | 'stale' | 'forged' | 'self' | 'capacity' | 'unbound'

/**
 * `trust`: how far the record is its origin's word (src/core/trust.ts). What a third party relayed unsealed yields
 * to the origin's word, never the other way round; whatever a relay said about a name, key or address yields to a
 * first-hand record, so a relayed fake can never lock the real origin out.
 */
export interface AgentEntry { record: AgentRecord, lastHeard: number, trust: Trust }
export interface ExternalEntry { record: ExternalRecord, lastHeard: number }
/**
 * `exact`: buried on an unverifiable word (a leave for an origin not held): blocks only that incarnation.
 * `seal`: the origin's signed departure, relayed with it so a third party's copy counts as the origin's word.
 */
interface Tombstone { inc: number, seq: number, until: number, left: boolean, exact?: boolean, seal?: string }

export interface ViewOptions {
  /** Origin's time to live since it was last heard, in ms (CACHE_KEY_SECOND). */
  ttlMs: number
  /**
   * The most legacy clients kept at once: a client is a legacy heartbeat with the results it owns (those whose source
   * is its node or pod IP), or a source that posts results without ever sending a heartbeat.
   */
  maxExternal: number
  /**
   * Time a legacy heartbeat lives beyond the TTL (default 0): where a client's heartbeats reach the cluster through
   * its agent's beat and an aggregator's digest, that word is up to one heartbeat interval later than an agent's own.
   */
  legacyGraceMs?: number
  /** The most agent origins kept at once (memory bound against made-up origins; default 10,000). */
  maxAgents?: number
  /** The most legacy path results kept across all external origins (memory bound; default 50,000). */
  maxExternalItems?: number
  /** How long a departed origin's last (inc, seq) is remembered to refuse replays. Default 10 x ttl. */
  tombstoneTtlMs?: number
  maxTombstones?: number
  /** How long an agent that fell silent (expired, not departed) is remembered as lost. Default 20 x ttl. */
  lostRetentionMs?: number
}

/** An agent that stopped being heard without announcing a leave: peers keep probing it for a while. */
export interface LostEntry { record: AgentRecord, silentMs: number }

/** What a peer asks for in anti-entropy: the versions it already holds. */
export interface SyncDigest {
  agents: Array<[origin: string, inc: number, seq: number, rv: number]>
  externals: Array<[key: string, at: number, by: string]>
}

/** A departure relayed by anti-entropy, with the origin's seal when the relay holds it. */
export interface Departure { origin: string, inc: number, seq: number, seal?: string, sealed?: boolean }

/**
 * The answer to a digest: records the asker lacks, freshness for those it has, and departures. `sealed` is set
 * by the receiving adapter once it has checked a seal against the origin's key (never read from the wire): a
 * sealed record or departure counts as the origin's own word whoever relayed it.
 */
export interface SyncResponse {
  /** `proof`, like `sealed`, is set by the receiving adapter once it has verified the record's token. */
  full: Array<{ record: AgentRecord, ageMs: number, sealed?: boolean, proof?: IdentityProof }>
  touch: Array<[origin: string, inc: number, seq: number, rv: number, ageMs: number]>
  externals: Array<{ record: ExternalRecord, ageMs: number }>
  extTouch: Array<[key: string, at: number, by: string, ageMs: number]>
  left: Departure[]
}

export interface Expired { agents: string[], externals: string[] }

/** What an aggregator's liveness entries did: origins refreshed, and those whose newer results this view lacks. */
export interface LivenessOutcome { refreshed: number, gaps: string[], refused: boolean }

function newer (inc: number, seq: number, heldInc: number, heldSeq: number): boolean {
  return inc > heldInc || (inc === heldInc && seq > heldSeq)
}

/** The addresses a legacy heartbeat speaks for: its node IP (host results) and pod IP (pod and Service results). */
function legacyIps (body: ExternalBody & { part: 'hb' }): string[] { return [body.value.nodeIp, body.value.podIp] }
/** The source IP of a legacy result record. */
function resultSource (body: ExternalBody): string { return body.part === 'svc' ? body.value.source : body.part === 'hb' ? '' : body.source }

/**
 * Who the legacy records belong to, kept as records come and go: the IPs heartbeats own, the result records per
 * source, and the sources no heartbeat owns. A client is a heartbeat, or a source of results without one.
 */
class LegacyClients {
  private heartbeats = 0
  private readonly owners = new Map<string, number>()
  private readonly sources = new Map<string, number>()
  private readonly ownerless = new Set<string>()

  get count (): number { return this.heartbeats + this.ownerless.size }
  owned (ip: string): boolean { return this.owners.has(ip) }

  /** Whether holding `body` would add a client. */
  adds (body: ExternalBody): boolean {
    if (body.part === 'hb') return !legacyIps(body).some(ip => this.ownerless.has(ip))
    const src = resultSource(body)
    return !this.owners.has(src) && !this.sources.has(src)
  }

  add (body: ExternalBody): void { this.change(body, 1) }
  remove (body: ExternalBody): void { this.change(body, -1) }

  private change (body: ExternalBody, d: 1 | -1): void {
    const bump = (m: Map<string, number>, k: string): number => {
      const n = (m.get(k) ?? 0) + d
      if (n <= 0) m.delete(k)
      else m.set(k, n)
      return n
    }
    if (body.part === 'hb') {
      this.heartbeats += d
      for (const ip of new Set(legacyIps(body))) {
        const n = bump(this.owners, ip)
        if (this.sources.has(ip)) {
          if (n > 0) this.ownerless.delete(ip)
          else this.ownerless.add(ip)
        }
      }
      return
    }
    const src = resultSource(body)
    const n = bump(this.sources, src)
    if (n <= 0) this.ownerless.delete(src)
    else if (!this.owners.has(src)) this.ownerless.add(src)
  }
}

function extNewer (a: ExternalRecord, b: ExternalRecord): boolean {
  return a.at > b.at || (a.at === b.at && a.by > b.by)
}

export class View {
  readonly ttlMs: number
  /** A legacy heartbeat's time to live: the TTL and the grace. */
  private readonly legacyTtlMs: number
  readonly maxExternal: number
  readonly maxExternalItems: number
  /** Legacy path results held across all external origins. */
  private externalItems = 0
  private readonly tombstoneTtlMs: number
  private readonly maxTombstones: number
  private selfOrigin: string | null = null
  private readonly agents = new Map<string, AgentEntry>()
  readonly maxAgents: number
  /** Which live origin holds each key and each pod IP: one origin per key, one per address. */
  private readonly byPeer = new Map<string, string>()
  private readonly byIp = new Map<string, string>()
  /** Origins by short id (liveness entries name them so); null where two held names share one. */
  private readonly byShortId = new Map<number, string | null>()
  /** The agents allowed to speak for others' liveness, for the membership it was computed from. */
  private aggregatorCache: AggregatorSets | null = null
  private membershipChanges = 0
  private readonly externals = new Map<string, ExternalEntry>()
  /** No legacy record can expire before this time (monotonic ms): the sweep skips them until then. */
  private externalsDueAt = -Infinity
  /**
   * No agent can expire before this (a lower bound: hearing an agent only moves its own expiry later), so the API's
   * reads, which expire first, walk a 1000-agent view only when one may be due.
   */
  private agentsDueAt = -Infinity
  /** Legacy heartbeat keys by short id (legacy liveness entries name them so); null where two keys share one. */
  private readonly extByShortId = new Map<number, string | null>()
  private readonly clients = new LegacyClients()
  private readonly tombstones = new Map<string, Tombstone>()
  private readonly lost = new Map<string, { record: AgentRecord, lastHeard: number }>()
  private readonly lostRetentionMs: number
  /**
   * Each origin's pod as the cluster vouched for it (its token's pod uid and issue time) and the one key bound to it.
   * While identities are required, only a record whose token names its origin's pod is taken; the first key to show
   * a pod's token holds the name, a newer pod (another uid) takes it over, and every other message of the origin must
   * be signed by the bound key.
   */
  private readonly bindings = new Map<string, { uid: string, peerId: string, issuedAtS: number }>()
  private identityRequired = false

  constructor (opts: ViewOptions) {
    this.lostRetentionMs = opts.lostRetentionMs ?? opts.ttlMs * 20
    this.ttlMs = opts.ttlMs
    this.legacyTtlMs = opts.ttlMs + (opts.legacyGraceMs ?? 0)
    this.maxExternal = opts.maxExternal
    this.maxAgents = opts.maxAgents ?? 10_000
    this.maxExternalItems = opts.maxExternalItems ?? 50_000
    this.tombstoneTtlMs = opts.tombstoneTtlMs ?? opts.ttlMs * 10
    this.maxTombstones = opts.maxTombstones ?? 10_000
  }

  /** From now on every agent record must come with a verified token (set once the cluster's keys are known). */
  requireIdentity (on: boolean): void { this.identityRequired = on }
  get identitiesRequired (): boolean { return this.identityRequired }
  /** The key bound to an origin's pod, if any. */
  boundKey (origin: string): string | undefined { return this.bindings.get(origin)?.peerId }

  /** Installs or replaces this agent's own record; it never expires and no peer may overwrite it. */
  setSelf (record: AgentRecord, now: number): void {
    this.selfOrigin = record.identity.podName
    this.put({ record, lastHeard: now, trust: Trust.Self })
  }

  /**
   * What merging `msg` would do, without changing anything. `signer` is the key the message (or the answer or seal
   * carrying it) speaks with, null for a third party's unsealed relay; `via` says how it came (by default: from the
   * origin when signed, else relayed); `proof`, its token's word on the origin's pod.
   */
  judge (msg: GossipMessage, signer: string | null, proof: IdentityProof | null = null, via: Provenance = signer === null ? 'relayed' : 'origin'): MergeOutcome {
    if (msg.t === 'ext') return this.judgeExternal(msg.record, signer)
    const origin = messageOrigin(msg)
    if (origin === this.selfOrigin) return 'self'
    if (this.identityRequired) {
      const bound = this.judgeBinding(msg, signer, proof)
      if (bound !== null) return bound
    }
    const held = this.agents.get(origin)
    const inc = msg.t === 'full' ? msg.record.inc : msg.inc
    const seq = msg.t === 'full' ? msg.record.seq : msg.seq
    if (msg.t === 'full' && signer !== null && msg.record.identity.peerId !== signer) return 'forged'
    const firstHand = isFirstHand(trustOf(via))
    // a relayed copy under another key is no proof against the origin's own word: pull the origin instead
    const supersedes = firstHand && held !== undefined && !isFirstHand(held.trust) && held.record.identity.peerId !== signer
    // (a departure needs the held key or its seal: another key's word removes nothing)
    if (supersedes && (msg.t === 'hb' || msg.t === 'delta')) return 'gap'
    if (signer !== null && msg.t !== 'full' && held !== undefined && held.record.inc === inc &&
        held.record.identity.peerId !== signer) return 'forged'
    const tomb = this.tombstones.get(origin)
    // an expiry (not a departure) never keeps out a record whose pod the cluster vouches for: its clock may be behind
    const vouchedPast = proof !== null && msg.t === 'full' && tomb !== undefined && !tomb.left
    if (tomb !== undefined && !vouchedPast && (tomb.exact === true ? inc === tomb.inc && seq <= tomb.seq : !newer(inc, seq, tomb.inc, tomb.seq))) return 'stale'
    if (held !== undefined && !supersedes && !newer(inc, seq, held.record.inc, held.record.seq)) {
      // the origin's own signed word beats what a third party relayed, whatever sequence number that claimed
      const overrides = signer !== null && !isOriginsWord(held.trust) && inc === held.record.inc && held.record.identity.peerId === signer
      if (!overrides) return 'stale'
      return msg.t === 'full' || msg.t === 'leave' ? 'accepted' : 'gap'
    }
    switch (msg.t) {
      case 'full': {
        const id = msg.record.identity
        // an origin name changes key only where it lives: a restarted agent keeps its pod IP; another member
        // claiming this name from its own address is an impersonation
        if (!supersedes && held !== undefined && held.record.identity.peerId !== id.peerId && held.record.identity.podIp !== id.podIp) return 'forged'
        // one name per key (a key is one process): a member cannot make up more origins under its own key
        const keyOwner = this.otherOwner(this.byPeer.get(id.peerId), origin)
        if (keyOwner !== undefined && (isFirstHand(keyOwner.trust) || !firstHand)) return 'forged'
        // one origin per pod IP (either family's): a newer incarnation heard first-hand (the first hop checked its
        // address) replaces the dead pod that had the address; a relayed claim on a live origin's address is not taken
        let ipOwner: AgentEntry | undefined
        for (const ip of addressesOf(id, 'pod')) {
          const owner = this.otherOwner(this.byIp.get(ip), origin)
          if (owner === undefined) continue
          // (my own address: ignored, not punished: a dead pod that had it may still be relayed late)
          if (owner.trust === Trust.Self) return 'capacity'
          if (!firstHand || (isFirstHand(owner.trust) && msg.record.inc <= owner.record.inc)) return 'capacity'
          ipOwner = owner
        }
        const room = held !== undefined || keyOwner !== undefined || ipOwner !== undefined || this.agents.size < this.maxAgents
        return room ? 'accepted' : 'capacity'
      }
      // a leave for an origin not held (it may come before the record it ends) is remembered for that incarnation
      case 'leave': return held === undefined || held.record.inc <= inc ? 'accepted' : 'stale'
      case 'hb':
        if (held === undefined || held.record.inc !== inc) return 'gap'
        return msg.rv > held.record.rv ? 'gap' : 'accepted'
      case 'delta':
        if (held === undefined || held.record.inc !== inc) return 'gap'
        return msg.base === held.record.rv || msg.rv <= held.record.rv ? 'accepted' : 'gap'
    }
  }

  /**
   * The identity gate (identities required): a full record needs a proof for its origin's pod, and may not move a bound
   * pod to another key (unless that key's holder is gone and the token is newer: an agent that lost its key) nor go
   * back to an older pod; any other message must be signed by the key bound to its origin (a relay's unsigned copy is
   * judged by the rules below, as before). Null: the gate has nothing against it.
   */
  private judgeBinding (msg: GossipMessage, signer: string | null, proof: IdentityProof | null): MergeOutcome | null {
    const origin = messageOrigin(msg)
    const b = this.bindings.get(origin)
    if (msg.t === 'full') {
      if (proof === null) return 'unbound'
      if (b === undefined) return null
      const key = msg.record.identity.peerId
      if (b.uid === proof.uid && b.peerId !== key) {
        const live = this.agents.get(origin)
        const holderGone = live === undefined || live.record.identity.peerId !== b.peerId
        return proof.issuedAtS > b.issuedAtS && holderGone ? null : 'forged'
      }
      return b.uid !== proof.uid && proof.issuedAtS < b.issuedAtS ? 'stale' : null
    }
    if (signer === null) return null
    if (b === undefined) return msg.t === 'leave' ? 'unbound' : 'gap'
    return signer === b.peerId ? null : 'forged'
  }

  /** The live entry `owner` names when it is not `origin` itself. */
  private otherOwner (owner: string | undefined, origin: string): AgentEntry | undefined {
    return owner === undefined || owner === origin ? undefined : this.agents.get(owner)
  }

  private judgeExternal (rec: ExternalRecord, signer: string | null): MergeOutcome {
    if (signer !== null && rec.by !== signer) return 'forged'
    const held = this.externals.get(rec.key)
    // every origin's results count against one budget, so a flood of big reports cannot grow memory without end
    const fits = this.externalItems - (held === undefined ? 0 : itemsOf(held.record)) + itemsOf(rec) <= this.maxExternalItems
    if (held !== undefined) return !extNewer(rec, held.record) ? 'stale' : fits ? 'accepted' : 'capacity'
    const tomb = this.tombstones.get(rec.key)
    if (tomb !== undefined && !newer(rec.at, 0, tomb.inc, 0)) return 'stale'
    if (!fits) return 'capacity'
    // the cap counts clients: results of a client already held, or a heartbeat claiming held results, add none
    return this.clients.adds(rec.body) && this.clients.count >= this.maxExternal ? 'capacity' : 'accepted'
  }

  /** Whether a held legacy heartbeat owns the source of these results (they then live as long as it does). */
  heartbeatOwns (body: ExternalBody): boolean { return body.part !== 'hb' && this.clients.owned(resultSource(body)) }

  /** Legacy clients held (see ViewOptions.maxExternal). */
  get legacyClientCount (): number { return this.clients.count }

  /** Merges a message; `heardAt` is when its origin was last heard on this agent's monotonic clock. */
  apply (msg: GossipMessage, signer: string | null, heardAt: number, proof: IdentityProof | null = null, via: Provenance = signer === null ? 'relayed' : 'origin'): MergeOutcome {
    const outcome = this.judge(msg, signer, proof, via)
    if (outcome !== 'accepted' && outcome !== 'gap') return outcome
    if (msg.t === 'full' && proof !== null) {
      this.bindings.set(msg.record.identity.podName, { uid: proof.uid, peerId: msg.record.identity.peerId, issuedAtS: proof.issuedAtS })
    }
    switch (msg.t) {
      case 'ext': {
        this.tombstones.delete(msg.record.key)
        const held = this.externals.get(msg.record.key)
        this.externalItems += itemsOf(msg.record) - (held === undefined ? 0 : itemsOf(held.record))
        if (held !== undefined) this.clients.remove(held.record.body)
        else if (msg.record.body.part === 'hb') this.indexExternal(msg.record.key, true)
        this.clients.add(msg.record.body)
        this.externals.set(msg.record.key, { record: msg.record, lastHeard: heardAt })
        // (a heartbeat replaced may leave results it owned without an owner: look again at the next sweep)
        this.externalsDueAt = held !== undefined && held.record.body.part === 'hb' ? -Infinity : Math.min(this.externalsDueAt, heardAt + this.ttlMs)
        return outcome
      }
      case 'full': {
        const origin = msg.record.identity.podName
        this.tombstones.delete(origin)
        this.lost.delete(origin)
        // what judge let through on a conflict of key or address is the dead (or made-up) holder giving way
        for (const owner of [this.byPeer.get(msg.record.identity.peerId), ...addressesOf(msg.record.identity, 'pod').map(ip => this.byIp.get(ip))]) {
          if (owner !== undefined && owner !== origin) this.silence(owner, heardAt)
        }
        // a sealed relay of a newer version does not undo having heard the same key first-hand
        const prior = this.agents.get(origin)
        const heardBefore = prior !== undefined && isFirstHand(prior.trust) && prior.record.identity.peerId === msg.record.identity.peerId
        const trust = via === 'sealed' && heardBefore ? Trust.FirstHand : trustOf(via)
        this.put({ record: msg.record, lastHeard: heardAt, trust })
        return outcome
      }
      case 'leave': {
        const held = this.agents.get(msg.origin)
        this.drop(msg.origin)
        this.lost.delete(msg.origin)
        this.bury(msg.origin, msg.inc, msg.seq, heardAt, true, held === undefined, msg.seal)
        return outcome
      }
      case 'hb':
      case 'delta': {
        const held = this.agents.get(msg.origin)
        if (held === undefined || held.record.inc !== msg.inc) return outcome
        held.lastHeard = Math.max(held.lastHeard, heardAt)
        if (signer === held.record.identity.peerId && via === 'origin' && held.trust < Trust.FirstHand) held.trust = Trust.FirstHand
        // a gap leaves seq where it was, so the repairing full record (same seq, newer results) is still news
        if (outcome === 'gap') return outcome
        held.record.seq = msg.seq
        if (msg.t === 'delta' && msg.base === held.record.rv) {
          applyLayerDelta(held.record.results.host, msg.host)
          applyLayerDelta(held.record.results.pod, msg.pod)
          if (msg.service !== undefined) held.record.results.service = msg.service
          held.record.rv = msg.rv
          // the old seal no longer matches the content; the delta's own seal (if any) does
          if (msg.seal === undefined) delete held.record.seal
          else held.record.seal = { seq: msg.seq, sig: msg.seal }
        }
        return outcome
      }
    }
  }

  /** Holds an entry, indexing its key and address (and forgetting the ones an earlier record of it had). */
  private put (e: AgentEntry): void {
    const id = e.record.identity
    const replaced = this.drop(id.podName, false) !== undefined
    this.agents.set(id.podName, e)
    this.agentsDueAt = Math.min(this.agentsDueAt, e.lastHeard + this.ttlMs)
    this.byPeer.set(id.peerId, id.podName)
    for (const ip of addressesOf(id, 'pod')) this.byIp.set(ip, id.podName)
    const sid = shortId(id.podName)
    const other = this.byShortId.get(sid)
    this.byShortId.set(sid, other === undefined || other === id.podName ? id.podName : null)
    if (!replaced) this.membershipChanged()
  }

  /** Forgets an origin's entry and indexes (`forGood`: its membership ends, not a newer record of it coming in). */
  private drop (origin: string, forGood = true): AgentEntry | undefined {
    const e = this.agents.get(origin)
    if (e === undefined) return undefined
    this.agents.delete(origin)
    const id = e.record.identity
    if (this.byPeer.get(id.peerId) === origin) this.byPeer.delete(id.peerId)
    for (const ip of addressesOf(id, 'pod')) if (this.byIp.get(ip) === origin) this.byIp.delete(ip)
    const sid = shortId(origin)
    const named = this.byShortId.get(sid)
    if (named === origin) this.byShortId.delete(sid)
    else if (named === null) {
      // the id was shared: the member left holding it (if only one) has it to itself again (rare: a scan is fine)
      const rest = [...this.agents.keys()].filter(n => shortId(n) === sid)
      if (rest.length === 1) this.byShortId.set(sid, rest[0] as string)
      else if (rest.length === 0) this.byShortId.delete(sid)
    }
    if (forGood) this.membershipChanged()
    return e
  }

  /**
   * An origin gone without a word (expired, or its key or address taken by a newer pod): remembered as lost. One
   * never heard first-hand is buried for its incarnation only; it is listed as lost only if what this view held was
   * the origin's own word (sealed): a bare relay may have been made up, a sealed one was said by that key. (Right
   * after a restart, an agent may know a peer only through a pull before the peer falls silent: its silence is news.)
   */
  private silence (origin: string, now: number): void {
    const e = this.drop(origin)
    if (e === undefined) return
    this.bury(origin, e.record.inc, e.record.seq, now, false, !isFirstHand(e.trust))
    if (!isOriginsWord(e.trust)) return
    this.lost.set(origin, { record: e.record, lastHeard: e.lastHeard })
    if (this.lost.size > this.maxTombstones) this.lost.delete(this.lost.keys().next().value ?? '')
  }

  private bury (origin: string, inc: number, seq: number, now: number, left: boolean, exact = false, seal?: string): void {
    const held = this.tombstones.get(origin)
    // an exact (unverified) departure never weakens a tombstone this agent already holds
    if (exact && held !== undefined && held.exact !== true) return
    this.tombstones.delete(origin)
    this.tombstones.set(origin, { inc, seq, until: now + this.tombstoneTtlMs, left, exact, ...(seal === undefined ? {} : { seal }) })
    while (this.tombstones.size > this.maxTombstones) {
      const oldest = this.tombstones.keys().next().value
      if (oldest === undefined) break
      this.tombstones.delete(oldest)
    }
  }

  /**
   * Drops the legacy records that expired: a legacy client's results live as long as its heartbeat (the original's
   * clients post results once a minute, heartbeats every few seconds) and go with it; results no heartbeat owns live
   * one TTL after their post. Notes when the next one can expire, so thousands of legacy clients are not walked on
   * every sweep.
   */
  private expireExternals (now: number, out: Expired): void {
    const alive = new Set<string>()
    const gone = new Set<string>()
    for (const e of this.externals.values()) {
      if (e.record.body.part !== 'hb') continue
      for (const ip of legacyIps(e.record.body)) (now - e.lastHeard > this.legacyTtlMs ? gone : alive).add(ip)
    }
    let next = Infinity
    for (const [key, e] of this.externals) {
      const body = e.record.body
      const src = body.part === 'hb' ? null : resultSource(body)
      const owned = src !== null && alive.has(src)
      const ttl = body.part === 'hb' ? this.legacyTtlMs : this.ttlMs
      const expired = owned ? false : src !== null && gone.has(src) ? true : now - e.lastHeard > ttl
      if (!expired) {
        if (!owned) next = Math.min(next, e.lastHeard + ttl)
        continue
      }
      this.externals.delete(key)
      if (body.part === 'hb') this.indexExternal(key, false)
      this.clients.remove(e.record.body)
      this.externalItems -= itemsOf(e.record)
      this.bury(key, e.record.at, 0, now, false)
      out.externals.push(key)
    }
    this.externalsDueAt = next
  }

  /** Drops every origin not heard for longer than the TTL (never this agent's own). */
  expire (now: number): Expired {
    const out: Expired = { agents: [], externals: [] }
    if (now > this.agentsDueAt) {
      let next = Infinity
      for (const e of this.agents.values()) {
        if (e.trust === Trust.Self) continue
        if (now - e.lastHeard > this.ttlMs) out.agents.push(e.record.identity.podName)
        else next = Math.min(next, e.lastHeard + this.ttlMs)
      }
      for (const origin of out.agents) this.silence(origin, now)
      this.agentsDueAt = next
    }
    if (now > this.externalsDueAt) this.expireExternals(now, out)
    for (const [origin, t] of this.tombstones) {
      if (t.until < now) this.tombstones.delete(origin)
    }
    for (const [origin, l] of this.lost) {
      if (now - l.lastHeard > this.lostRetentionMs) this.lost.delete(origin)
    }
    // a binding outlives its origin while anything of it is remembered (so its token cannot be replayed under another key)
    for (const origin of this.bindings.keys()) {
      if (!this.agents.has(origin) && !this.lost.has(origin) && !this.tombstones.has(origin)) this.bindings.delete(origin)
    }
    return out
  }

  /** Agents that fell silent within the retention window, newest silence first. */
  lostEntries (now: number): LostEntry[] {
    return [...this.lost.values()]
      .filter(l => now - l.lastHeard <= this.lostRetentionMs)
      .map(l => ({ record: l.record, silentMs: now - l.lastHeard }))
      .sort((a, b) => a.silentMs - b.silentMs)
  }

  agentEntries (): AgentEntry[] { return [...this.agents.values()] }

  /** A number that changes whenever an agent joins or leaves the view (not when a member's record changes). */
  get membership (): number { return this.membershipChanges }

  private membershipChanged (): void {
    this.aggregatorCache = null
    this.membershipChanges++
  }

  /** Whether liveness entries can name `origin`: no other held origin shares its short id. */
  shortIdUnique (origin: string): boolean { return this.byShortId.get(shortId(origin)) === origin }
  /** The origin a peer id speaks for, if held. */
  originOfPeer (peerId: string): string | undefined { return this.byPeer.get(peerId) }

  /** This view's aggregators (what this agent would pick), and the wider set it accepts digests from. */
  aggregators (): AggregatorSets {
    this.aggregatorCache ??= aggregatorSets(this.agents.keys())
    return this.aggregatorCache
  }

  /**
   * Applies an aggregator's liveness entries (sent with its heartbeat, already accepted from its key). Only the
   * lowest-id agents may speak for others: each entry moves the origin's last-heard time to when the aggregator heard
   * it, never forward of that. A newer results version is a gap.
   */
  applyLiveness (by: string, entries: readonly LiveEntry[], now: number): LivenessOutcome {
    const out: LivenessOutcome = { refreshed: 0, gaps: [], refused: false }
    if (!this.aggregators().accepted.has(by)) { out.refused = true; return out }
    for (const e of entries) {
      const origin = this.byShortId.get(e.id)
      if (origin === undefined || origin === null || origin === by) continue
      const held = this.agents.get(origin)
      if (held === undefined || held.trust === Trust.Self) continue
      held.lastHeard = Math.max(held.lastHeard, now - e.ageMs)
      out.refreshed++
      if (rvAhead(e.rv16, held.record.rv)) out.gaps.push(origin)
    }
    return out
  }

  externalEntries (): ExternalEntry[] { return [...this.externals.values()] }
  /** The legacy record held under `key` (hb:<pod>, host:<ip>, ...). */
  external (key: string): ExternalEntry | undefined { return this.externals.get(key) }
  /** A legacy record heard again at `heardAt`, unchanged (its client posted the same to this agent, or to a beater). */
  touchExternal (key: string, heardAt: number): void {
    const e = this.externals.get(key)
    if (e !== undefined) e.lastHeard = Math.max(e.lastHeard, heardAt)
  }

  private indexExternal (key: string, add: boolean): void {
    const id = shortId(key)
    const held = this.extByShortId.get(id)
    if (add) this.extByShortId.set(id, held === undefined || held === key ? key : null)
    else if (held === key) this.extByShortId.delete(id)
    else if (held === null) {
      // a shared id may name one key again once the other is gone
      const left = [...this.externals.keys()].filter(k => k !== key && k.startsWith('hb:') && shortId(k) === id)
      if (left.length === 1) this.extByShortId.set(id, left[0] as string)
      else if (left.length === 0) this.extByShortId.delete(id)
    }
  }

  /** Whether a held legacy heartbeat has this short id (or several do). */
  holdsLegacyId (id: number): boolean { return this.extByShortId.has(id) }

  /** The legacy heartbeat an entry's short id names, if held and injected by the agent with key `peerId`. */
  legacyKeyInjectedBy (id: number, peerId: string): string | undefined {
    const key = this.extByShortId.get(id)
    return key !== undefined && key !== null && this.externals.get(key)?.record.by === peerId ? key : undefined
  }

  /**
   * Applies the legacy liveness entries an agent's heartbeat carries: the legacy clients that posted their (unchanged)
   * heartbeats to it. An entry refreshes a held legacy heartbeat that this agent injected, or any one when an
   * aggregator relays it; a record version ahead of the held one, or a client not held at all, is a gap (the speaker
   * holds what this view lacks).
   */
  applyLegacyLiveness (by: string, entries: readonly LiveEntry[], now: number): LivenessOutcome {
    const out: LivenessOutcome = { refreshed: 0, gaps: [], refused: false }
    const peer = by === this.selfOrigin ? undefined : this.agents.get(by)?.record.identity.peerId
    if (peer === undefined) { out.refused = true; return out }
    const relays = this.aggregators().accepted.has(by)
    for (const e of entries) {
      const key = this.extByShortId.get(e.id)
      // a client this view does not hold (its record lost, or expired in a stall) is pulled from the speaker
      if (key === undefined && !out.gaps.includes(by)) out.gaps.push(by)
      if (key === undefined || key === null) continue
      const held = this.externals.get(key)
      if (held === undefined || (held.record.by !== peer && !relays)) continue
      if (rvAhead(e.rv16, held.record.at)) {
        if (!out.gaps.includes(by)) out.gaps.push(by)
        continue
      }
      if ((held.record.at & 0xffff) !== e.rv16) continue
      held.lastHeard = Math.max(held.lastHeard, now - e.ageMs)
      out.refreshed++
    }
    return out
  }

  agent (origin: string): AgentEntry | undefined { return this.agents.get(origin) }
  get agentCount (): number { return this.agents.size }
  get externalCount (): number { return this.externals.size }

  // ---- anti-entropy ----

  digest (): SyncDigest {
    return {
      agents: [...this.agents.values()].map(e => [e.record.identity.podName, e.record.inc, e.record.seq, e.record.rv]),
      externals: [...this.externals.values()].map(e => [e.record.key, e.record.at, e.record.by])
    }
  }

  /** Builds the answer to a peer's digest: what it lacks in full, a freshness touch for what it has. */
  answer (digest: SyncDigest, now: number): SyncResponse {
    const has = new Map(digest.agents.map(([o, inc, seq, rv]) => [o, { inc, seq, rv }]))
    const hasExt = new Map(digest.externals.map(([k, at, by]) => [k, { at, by }]))
    const res: SyncResponse = { full: [], touch: [], externals: [], extTouch: [], left: [] }
    for (const e of this.agents.values()) {
      const r = e.record
      const self = e.trust === Trust.Self
      const ageMs = self ? 0 : Math.max(0, now - e.lastHeard)
      const h = has.get(r.identity.podName)
      // about myself, anything but my exact version is wrong (a third party may have relayed a fake): correct it
      const wrongAboutMe = self && h !== undefined && h.inc === r.inc && (h.rv !== r.rv || h.seq > r.seq)
      if (h === undefined || h.inc < r.inc || (h.inc === r.inc && h.rv < r.rv) || wrongAboutMe) res.full.push({ record: r, ageMs })
      else if (h.inc === r.inc) res.touch.push([r.identity.podName, r.inc, Math.max(r.seq, h.seq), r.rv, ageMs])
    }
    for (const e of this.externals.values()) {
      const ageMs = Math.max(0, now - e.lastHeard)
      const h = hasExt.get(e.record.key)
      if (h === undefined || extNewer(e.record, { ...e.record, at: h.at, by: h.by })) res.externals.push({ record: e.record, ageMs })
      else if (h.at === e.record.at && h.by === e.record.by) res.extTouch.push([e.record.key, h.at, h.by, ageMs])
    }
    for (const [origin, t] of this.tombstones) {
      if (t.left && has.has(origin)) res.left.push({ origin, inc: t.inc, seq: t.seq, ...(t.seal === undefined ? {} : { seal: t.seal }) })
    }
    return res
  }

  /** Merges a peer's answer. Returns the origins that changed and those still missing their full state. */
  merge (res: SyncResponse, now: number, answerer: string | null = null): { changed: number, gaps: string[] } {
    let changed = 0
    const gaps: string[] = []
    for (const { record: relayed, ageMs, sealed, proof } of res.full) {
      if (ageMs > this.ttlMs) continue
      const held = this.agents.get(relayed.identity.podName)
      const fromOrigin = answerer !== null && answerer === relayed.identity.peerId
      // a new key for a known origin only from the origin itself (the answerer's authenticated id); a seal proves
      // what a key said, not that the key may speak for that name
      if (held !== undefined && !fromOrigin && held.record.identity.peerId !== relayed.identity.peerId) continue
      // what this agent holds as the origin's word is replaced only by the origin's word (its answer or its seal);
      // an unsealed relay may still say the origin was heard recently
      if (held !== undefined && isOriginsWord(held.trust) && !fromOrigin && sealed !== true) {
        this.refresh(relayed.identity.podName, relayed.inc, held.record.seq, now - ageMs)
        continue
      }
      // a sealed record is the origin's word up to the sealed message; the relay's later seq is only its claim
      const record = sealed === true && !fromOrigin && relayed.seal !== undefined ? { ...relayed, seq: relayed.seal.seq } : relayed
      // the origin's own answer is as good as its signature; so is its seal; anything else is kept second-hand
      // (unverified), so the origin's next signed message replaces it whatever it claimed
      const via: Provenance = fromOrigin ? 'vouched' : sealed === true ? 'sealed' : 'relayed'
      const o = this.apply({ t: 'full', record }, via === 'relayed' ? null : record.identity.peerId, now - ageMs, proof ?? null, via)
      if (o === 'accepted') changed++
      else if (o === 'stale') this.refresh(record.identity.podName, record.inc, fromOrigin ? record.seq : (held?.record.seq ?? 0), now - ageMs)
    }
    for (const [origin, inc, seq, rv, ageMs] of res.touch) {
      if (ageMs > this.ttlMs) continue
      const held = this.agents.get(origin)
      if (held === undefined || held.trust === Trust.Self || held.record.inc !== inc) continue
      if (rv > held.record.rv) gaps.push(origin)
      this.refresh(origin, inc, answerer === held.record.identity.peerId ? seq : held.record.seq, now - ageMs)
    }
    // heartbeats first: a result older than the TTL is still current while the heartbeat of its client is
    const isHb = (x: { record: ExternalRecord }): boolean => x.record.body.part === 'hb'
    for (const { record, ageMs } of res.externals.filter(isHb)) {
      if (ageMs <= this.ttlMs && this.apply({ t: 'ext', record }, null, now - ageMs) === 'accepted') changed++
    }
    const current = (body: ExternalBody, ageMs: number): boolean => ageMs <= this.ttlMs || (body.part !== 'hb' && this.clients.owned(resultSource(body)))
    for (const { record, ageMs } of res.externals.filter(x => !isHb(x))) {
      if (current(record.body, ageMs) && this.apply({ t: 'ext', record }, null, now - ageMs) === 'accepted') changed++
    }
    for (const [key, at, by, ageMs] of res.extTouch) {
      const held = this.externals.get(key)
      if (held !== undefined && held.record.at === at && held.record.by === by && current(held.record.body, ageMs)) {
        held.lastHeard = Math.max(held.lastHeard, now - ageMs)
      }
    }
    for (const { origin, inc, seq, seal, sealed } of res.left) {
      // an unsealed departure relayed by a third party removes only what was second-hand anyway (a verified origin
      // that really left expires within the TTL; a forged departure must not silence a live one)
      const held = this.agents.get(origin)
      if (held !== undefined && isOriginsWord(held.trust) && sealed !== true && answerer !== held.record.identity.peerId) continue
      const leave: GossipMessage = { t: 'leave', origin, inc, seq, ...(sealed === true && seal !== undefined ? { seal } : {}) }
      if (this.apply(leave, null, now) === 'accepted') changed++
    }
    return { changed, gaps }
  }

  /** Applies a full record as its origin's own answer over an authenticated stream (as good as its signature). */
  vouchedApply (record: AgentRecord, heardAt: number, proof: IdentityProof | null = null): MergeOutcome {
    return this.apply({ t: 'full', record }, record.identity.peerId, heardAt, proof, 'vouched')
  }

  /** Moves an origin's last-heard time forward when a peer vouches it heard the same incarnation later. */
  private refresh (origin: string, inc: number, seq: number, heardAt: number): void {
    const held = this.agents.get(origin)
    if (held === undefined || held.trust === Trust.Self || held.record.inc !== inc) return
    held.lastHeard = Math.max(held.lastHeard, heardAt)
    if (seq > held.record.seq) held.record.seq = seq
  }
}

/** The weight of a legacy report against the memory budget: its path results (a heartbeat or Service result: 1). */
function itemsOf (r: ExternalRecord): number {
  return r.body.part === 'host' || r.body.part === 'pod' ? Math.max(1, r.body.value.length) : 1
}
