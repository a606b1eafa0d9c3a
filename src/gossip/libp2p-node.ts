// Creates (but does not start) the libp2p node: TCP, noise, yamux, identify and gossipsub with signed messages.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'

export type MeshNode = Libp2p<{ identify: Identify, pubsub: GossipSub }>

export interface MeshNodeOptions {
  listenAddress: string
  gossipPort: number
  /** Upper bound of open connections; discovery aims well below it. */
  maxConnections: number
}

function listenMultiaddr (host: string, port: number): string {
  return host.includes(':') ? `/ip6/${host}/tcp/${port}` : `/ip4/${host}/tcp/${port}`
}

export async function createMeshNode (opts: MeshNodeOptions): Promise<MeshNode> {
  return await createLibp2p({
    start: false,
    addresses: { listen: [listenMultiaddr(opts.listenAddress, opts.gossipPort)] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: opts.maxConnections,
      // agents (re)join in bursts during rollouts: allow them through
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 100,
      dialTimeout: 3_000
    },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        // the validator decides what enters the view; messages are not handed on before it answers
        asyncValidation: false,
        maxInboundDataLength: 2 * 1024 * 1024
      })
    }
  })
}
