// The data model replicated by gossip: agent records, legacy (external) records and the messages that carry them.

export type Layer = 'host' | 'pod'
export const LAYERS: readonly Layer[] = ['host', 'pod']

/** How a TCP connect ended: accepted, actively refused (host up, port closed), no answer, or no route. */
export type TcpOutcome = 'open' | 'refused' | 'timeout' | 'unreachable'
export const TCP_OUTCOMES: readonly TcpOutcome[] = ['open', 'refused', 'timeout', 'unreachable']

/** One probed path from the reporting agent to a target IP (ICMP echoes + one TCP connect). */
export interface PathResult {
  target: string
  port: number
  /** ICMP echo requests sent and replies received. */
  sent: number
  received: number
  /** Mean round-trip time of the replies, in ms; null when none came back. */
  rttMs: number | null
  tcp: TcpOutcome
  /** Time to connect (or to be refused), in ms; null on timeout. */
  connectMs: number | null
  /** Wall time of the whole check, in ms. */
  durationMs: number
  /** When the check ended, epoch ms on the prober's clock (display only, never used for expiry). */
  checkedAt: number
}

/** The check of the optional named Service: DNS lookup, then a path check per resolved address. */
export interface ServiceResult {
  name: string
  port: number
  dnsOk: boolean
  dnsMs: number
  dnsError: string | null
  addresses: string[]
  paths: PathResult[]
  checkedAt: number
}

export interface Results {
  host: Map<string, PathResult>
  pod: Map<string, PathResult>
  service: ServiceResult | null
}

export interface Identity {
  podName: string
  nodeName: string
  nodeIp: string
  podIp: string
  namespace: string
  version: string
  /** The libp2p peer id (base58) whose key signs this agent's messages. */
  peerId: string
  /** On a dual-stack cluster: the node's and the pod's address of the other family (status.hostIPs/podIPs[1]). */
  secondary?: SecondaryIps
}

/** The second family's addresses of a node and its pod; either may be missing (a single-stack node, say). */
export interface SecondaryIps { nodeIp?: string, podIp?: string }

/** A node set aside by Kubernetes, and why, in a few words ("cordoned", "not ready: KubeletNotReady"). */
export interface ExcludedNode { node: string, reason: string }

/** Most excluded nodes one record carries (the rest are left out, and the count says so). */
export const MAX_EXCLUDED_NODES = 2000

/** Everything one agent publishes about itself. Single writer: only that agent creates new versions. */
export interface AgentRecord {
  identity: Identity
  /** New at every process start (start time in ms); a higher incarnation replaces the older one. */
  inc: number
  /** Bumped by every message the agent sends within one incarnation. */
  seq: number
  /** Results version: bumped whenever the results change. */
  rv: number
  results: Results
  /** Holds the reporter Lease (as of its last full record; gossiped again whenever it changes). */
  leader?: boolean
  /**
   * The Lease holder's word on nodes Kubernetes itself has set aside (cordoned, not ready, being removed), from its
   * watch of the Node objects: their agents are not judged. Absent or empty on every other record.
   */
  excluded?: ExcludedNode[]
  /** The origin's seal of this version (absent when none came with it): lets any relay prove what the origin said. */
  seal?: Seal
  /**
   * The origin's projected ServiceAccount token (a JWT the cluster signed, of our audience): binds its pod to the key
   * that signs this record. Sealed with the content, so a relay cannot swap it.
   */
  token?: string
}

/**
 * An origin's Ed25519 signature (base64) over (origin, key, inc, seq, rv, digest of the record's content), made
 * when it published message `seq`; rv names the content exactly, so whoever holds that version can prove it.
 */
export interface Seal { seq: number, sig: string }

// ---- legacy (external) records: reports POSTed by the original tool's Go clients, injected by an agent ----

export type ExternalPart = 'hb' | 'host' | 'pod' | 'svc'

export interface LegacyHeartbeat {
  podName: string
  nodeIp: string
  podIp: string
  namespace: string
  timestamp: string
}

/** A legacy probe result, normalised at the API edge (durations in µs, null where the client sent none). */
export interface LegacyPathResult {
  source: string
  target: string
  ping: 'reachable' | 'unreachable'
  ports: Record<string, 'open' | 'closed'>
  latencyUs: number | null
  durationUs: number | null
  timestamp: string
}

export type ExternalBody =
  | { part: 'hb', value: LegacyHeartbeat }
  | { part: 'host' | 'pod', source: string, value: LegacyPathResult[] }
  | { part: 'svc', value: LegacyPathResult }

/** A legacy report; last writer wins on (at, by). Keyed by part and pod name or source IP. */
export interface ExternalRecord {
  /** `${part}:${id}`: hb:<pod_name>, host:<source_ip>, pod:<source_ip>, svc:<source_ip>. */
  key: string
  /** Injection time, epoch ms on the injecting agent's clock (orders concurrent writes only). */
  at: number
  /** Peer id of the injecting agent. */
  by: string
  body: ExternalBody
}

export function externalKey (body: ExternalBody): string {
  switch (body.part) {
    case 'hb': return `hb:${body.value.podName}`
    case 'svc': return `svc:${body.value.source}`
    default: return `${body.part}:${body.source}`
  }
}

// ---- the messages gossiped on the topic ----

/**
 * One origin's liveness as an aggregator heard it (large clusters): the origin's short id, the low 16 bits of its
 * results version, and how long ago (ms, in 100-ms steps) its last beat came. The aggregator heard the beat over a
 * connection authenticated by the key of the incarnation it holds.
 */
export interface LiveEntry { id: number, rv16: number, ageMs: number }

export interface LayerDelta {
  upsert: PathResult[]
  remove: string[]
  /** The layer holds exactly `upsert` afterwards (a new sample): nothing else need be named for removal. */
  replace?: boolean
}

export type GossipMessage =
  | { t: 'full', record: AgentRecord }
  /** live: an aggregator's digest of beats; legacy: the legacy clients that posted heartbeats to this agent (key hb:<pod>, rv16 the low bits of its record's `at`). */
  | { t: 'hb', origin: string, inc: number, seq: number, rv: number, live?: LiveEntry[], legacy?: LiveEntry[] }
  | { t: 'delta', origin: string, inc: number, seq: number, base: number, rv: number, host: LayerDelta | null, pod: LayerDelta | null, service: ServiceResult | null | undefined, seal?: string }
  | { t: 'leave', origin: string, inc: number, seq: number, seal?: string }
  | { t: 'ext', record: ExternalRecord }

/** Applies one layer's delta in place: what a receiver does, and what the origin does to the version it published. */
export function applyLayerDelta (target: Map<string, PathResult>, delta: LayerDelta | null): void {
  if (delta === null) return
  if (delta.replace === true) target.clear()
  for (const ip of delta.remove) target.delete(ip)
  for (const r of delta.upsert) target.set(r.target, r)
}

export function emptyResults (): Results {
  return { host: new Map(), pod: new Map(), service: null }
}

/** The origin key of a message (pod name for agent messages, external key otherwise). */
export function messageOrigin (msg: GossipMessage): string {
  return msg.t === 'full' ? msg.record.identity.podName : msg.t === 'ext' ? msg.record.key : msg.origin
}
