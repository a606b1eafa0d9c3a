// Reopens gossipsub's outbound stream to a peer that is still connected after one of its connections closed.
import type { Connection, PeerId } from '@libp2p/interface'
import type { MeshNode } from './protocol.ts'

/** Gossipsub's (and floodsub's) protocol ids start with these. */
const GOSSIP_PROTOCOLS = ['/meshsub/', '/floodsub/']

/** How long after a close to look again (gossipsub forgets a closed stream on its close event, a moment later). */
const LOOK_AFTER_MS = [50, 1_000]

/** The one hook this needs inside gossipsub: what it does when the registrar reports a connection. */
interface ConnectHook { onPeerConnected?: (peerId: PeerId, connection: Connection) => void }

const carriesOutboundGossip = (c: Connection): boolean =>
  c.streams.some(s => s.direction === 'outbound' && GOSSIP_PROTOCOLS.some(p => s.protocol?.startsWith(p) === true))

/**
 * Gossipsub opens its outbound stream to a peer once, on the connection it heard of first, and opens no other while
 * the peer stays connected. Two agents that dial each other at once hold two connections, each carrying the stream of
 * the side that dialled it; closing either duplicate (discovery keeps one) would silence one direction between them
 * until they disconnect: a node can then publish but no longer hears its peer. After every close, a peer still
 * connected without an outbound gossip stream gets one again, on an open connection.
 */
export function repairGossipStreams (node: MeshNode): void {
  const hook = node.services.pubsub as unknown as ConnectHook
  const look = (peer: PeerId): void => {
    if (node.status !== 'started') return
    const open = node.getConnections(peer).filter(c => c.status === 'open')
    const via = open[0]
    if (via === undefined || open.some(carriesOutboundGossip)) return
    hook.onPeerConnected?.(peer, via)
  }
  node.addEventListener('connection:close', evt => {
    const peer = evt.detail.remotePeer
    for (const ms of LOOK_AFTER_MS) setTimeout(() => { look(peer) }, ms).unref()
  })
}
