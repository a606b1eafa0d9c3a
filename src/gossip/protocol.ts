// The mesh's wire-level names (the gossipsub topic, the stream protocols) and the libp2p node type every adapter speaks to.
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from 'libp2p'

/** The libp2p node the agent runs: gossipsub for the view, identify for peers' addresses. */
export type MeshNode = Libp2p<{ identify: Identify, pubsub: GossipSub }>

/** The one gossipsub topic: every agent's record and legacy reports. */
export const VIEW_TOPIC = 'k8snet/view/1'
/** Anti-entropy: digest and record out, what the asker lacks back. */
export const SYNC_PROTOCOL = '/k8snet/sync/1.0.0'
/** Beats straight to aggregators (large clusters). */
export const BEAT_PROTOCOL = '/k8snet/beat/1.0.0'
/**
 * A beat that also carries the legacy clients that posted to its origin, for the aggregator's digest to speak for
 * them. Its own protocol: an aggregator of an older version does not take it, and the origin then gossips its
 * heartbeat with them instead.
 */
export const LEGACY_BEAT_PROTOCOL = '/k8snet/beat/1.1.0'

/** The IP a connection comes from (or goes to), read from its remote multiaddr. */
export function remoteIpOf (conn: { remoteAddr: { getComponents: () => Array<{ name: string, value?: string }> } }): string | null {
  for (const c of conn.remoteAddr.getComponents()) if ((c.name === 'ip4' || c.name === 'ip6') && c.value !== undefined) return c.value
  return null
}
