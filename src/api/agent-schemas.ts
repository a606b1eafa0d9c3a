// The answers about this agent itself (health, readiness, the Lease as it sees it) and the history filter, as schemas:
// they serialise or validate, document the OpenAPI document, and are where their TypeScript types come from.
import type { FromSchema } from 'json-schema-to-ts'

const int = { type: 'integer' } as const
const integerMap = { type: 'object', additionalProperties: int } as const

/**
 * GET /api/v1/health's answer: the schema validates nothing (it is ours) but serialises it, documents it in the
 * OpenAPI document, and is where its TypeScript type comes from (HealthInfo).
 */
export const healthSchema = {
  type: 'object',
  required: ['pod_name', 'node_name', 'version', 'peers_connected', 'connections', 'view_size', 'uptime_s', 'gossip', 'sync', 'probes'],
  properties: {
    status: { type: 'string' },
    pod_name: { type: 'string' },
    node_name: { type: 'string' },
    version: { type: 'string' },
    peers_connected: int,
    connections: int,
    view_size: int,
    uptime_s: { type: 'number' },
    gossip: {
      type: 'object',
      required: ['published', 'accepted', 'gaps', 'expired', 'rejected', 'ignored'],
      properties: {
        published: int,
        accepted: int,
        gaps: int,
        expired: int,
        rejected: integerMap,
        ignored: integerMap,
        /** Payload bytes of own published and of received messages (gossipsub's envelope and framing not counted). */
        bytes_out: int,
        bytes_in: int,
        /** Own published messages and their payload bytes, by message type. */
        sent: integerMap,
        sent_bytes: integerMap,
        /** Peers in the gossipsub mesh of the view topic (each message is forwarded to them). */
        mesh_peers: { type: ['integer', 'null'] },
        /** Inbound connections refused before the handshake (not from a discovered member). */
        refused_connections: int,
        /** Connected peers whose gossipsub score is negative (penalised for invalid messages), and graylisted ones. */
        penalised_peers: int,
        graylisted_peers: int,
        /**
         * Large clusters: beats sent to aggregators (ok / failed), beats heard and refused as an aggregator, liveness
         * entries applied from aggregators' digests, digests refused (not from an aggregator). Any cluster: legacy
         * heartbeats refreshed by the entries of the agents their clients posted to.
         */
        liveness: {
          type: 'object',
          required: ['beats_sent', 'beats_failed', 'beats_heard', 'beats_refused', 'beats_cut', 'entries_applied', 'digests_refused', 'legacy_entries_applied'],
          properties: { beats_sent: int, beats_failed: int, beats_heard: int, beats_refused: int, beats_cut: int, entries_applied: int, digests_refused: int, legacy_entries_applied: int },
          additionalProperties: false
        }
      },
      additionalProperties: false
    },
    sync: { type: 'object', required: ['served', 'pulled', 'failed'], properties: { served: int, pulled: int, failed: int }, additionalProperties: false },
    /**
     * Identities: whether peers' records must carry a verified token (once the cluster's keys are known), whether this
     * agent has its own, peers' records refused by reason, and fetches of the cluster's keys.
     */
    identity: {
      type: 'object',
      required: ['required', 'own_token', 'refused', 'keys_fetched', 'keys_failed'],
      properties: { required: { type: 'boolean' }, own_token: { type: 'boolean' }, refused: integerMap, keys_fetched: int, keys_failed: int },
      additionalProperties: false
    },
    probes: {
      type: 'object',
      required: ['rounds', 'last_round_ms', 'last_targets', 'icmp_error'],
      properties: { rounds: int, last_round_ms: { type: ['number', 'null'] }, last_targets: int, icmp_error: { type: ['string', 'null'] } },
      additionalProperties: false
    }
  },
  additionalProperties: false
} as const

/** This agent's health, as the composition root reports it (the answer adds `status`). */
export type HealthInfo = Omit<FromSchema<typeof healthSchema>, 'status'>

/** GET /api/v1/leader's answer, and its type (LeaderInfo). */
export const leaderSchema = {
  type: 'object',
  required: ['holder', 'holder_node_ip', 'is_self', 'election_enabled', 'contenders', 'contending', 'lease'],
  properties: {
    /** The Lease holder as gossiped by its own record (null when nobody holds it). */
    holder: { type: ['string', 'null'] },
    holder_node_ip: { type: ['string', 'null'] },
    is_self: { type: 'boolean' },
    /** False when the agent has no Kubernetes API to talk to. */
    election_enabled: { type: 'boolean' },
    contenders: { type: 'array', items: { type: 'string' } },
    contending: { type: 'boolean' },
    /** What this agent last saw of the Lease itself (contenders only read it). */
    lease: {
      type: ['object', 'null'],
      required: ['observed_holder', 'transitions', 'last_renew_ago_ms', 'reports_printed'],
      properties: { observed_holder: { type: ['string', 'null'] }, transitions: int, last_renew_ago_ms: { type: ['number', 'null'] }, reports_printed: int },
      additionalProperties: false
    }
  },
  additionalProperties: false
} as const

export type LeaderInfo = FromSchema<typeof leaderSchema>

/** GET /api/v1/history's filter: a layer, a source and a target pod name, each optional (validated, unknown ones refused). */
export const historyQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { layer: { type: 'string', enum: ['host', 'pod'] }, source: { type: 'string', maxLength: 253 }, target: { type: 'string', maxLength: 253 } }
} as const

export type HistoryQuery = FromSchema<typeof historyQuerySchema>

/** GET /api/v1/ready's answer (200 or 503): whether this agent answers from a view worth serving yet, and why. */
export const readinessSchema = {
  type: 'object',
  required: ['ready', 'reason'],
  properties: { ready: { type: 'boolean' }, reason: { type: 'string' } },
  additionalProperties: false
} as const

export type Readiness = FromSchema<typeof readinessSchema>
