// Creates (but does not start) the libp2p node: TCP, noise, yamux, identify and gossipsub with signed messages.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { createPeerScoreParams, createTopicScoreParams } from '@libp2p/gossipsub/score'
import { identify } from '@libp2p/identify'
import { preSharedKey } from '@libp2p/pnet'
import { tcp, type TCPSocketOptions } from '@libp2p/tcp'
import type { PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { remoteIpOf, VIEW_TOPIC, type MeshNode } from './protocol.ts'
import { repairGossipStreams } from './stream-repair.ts'

export type { MeshNode } from './protocol.ts'

export interface MeshNodeOptions {
  /** The address to listen on; "::" listens on both families. */
  listenAddress: string
  gossipPort: number
  /** The addresses peers are told to dial (the pod's own); default: every interface's. */
  announce?: string[]
  /** Upper bound of open connections; discovery aims well below it. */
  maxConnections: number
  /** Whether an inbound connection from this IP may proceed to the handshake (absent: everyone may). */
  admits?: (ip: string) => boolean
  /** Called when an inbound connection is refused (its IP), e.g. to re-resolve members at once. */
  onRefused?: (ip: string) => void
  /** A libp2p private-network key (the pnet file format): peers without the same key never connect. */
  psk?: Uint8Array
  /** The node's identity key (its peer id); a fresh one when absent. */
  privateKey?: PrivateKey
}

/** The view topic's scoring: only invalid messages cost; a quiet honest agent is never penalised. */
export const VIEW_TOPIC_SCORE = {
  topicWeight: 1,
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1_000,
  timeInMeshCap: 100,
  firstMessageDeliveriesWeight: 0,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  // the square of the decaying count of rejected messages, times -10: 3 in a row stop gossip to the peer,
  // 7 graylist it (everything it sends is dropped unread), and the negative score prunes it from the mesh
  invalidMessageDeliveriesWeight: -10,
  invalidMessageDeliveriesDecay: 0.9
}
export const SCORE_THRESHOLDS = { gossipThreshold: -50, publishThreshold: -200, graylistThreshold: -400, acceptPXThreshold: 10, opportunisticGraftThreshold: 1 }

const tcpMultiaddr = (host: string, port: number): string => host.includes(':') ? `/ip6/${host}/tcp/${port}` : `/ip4/${host}/tcp/${port}`

/**
 * "::" (every family) is two listeners, one a family (libp2p binds an IPv6 address IPv6-only);
 * any other address is itself.
 */
export const listenMultiaddrs = (host: string, port: number): string[] =>
  host === '::' ? [tcpMultiaddr('0.0.0.0', port), tcpMultiaddr('::', port)] : [tcpMultiaddr(host, port)]

/**
 * gossipsub's own id of a signed message (its origin and seqno), read off the wire before the signature is checked.
 * Without it, every copy of a message (one from each mesh peer that forwards it) has its signature verified before
 * the duplicate check; with it, only the first copy is. Only ids of messages that passed verification are kept, so a
 * forged copy cannot get a genuine one dropped; a copy bearing an id already verified is dropped unread.
 */
export function signedMessageFastId (msg: { from?: Uint8Array | null, seqno?: Uint8Array | null }): string {
  if (msg.from == null || msg.seqno == null) return ''
  const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')
  return `${msg.seqno.byteLength}:${latin1(msg.seqno)}${latin1(msg.from)}`
}

/**
 * The smallest message announced to the mesh by IDONTWANT before it is validated (gossipsub's default: 512 B).
 * IDONTWANT spares a peer from sending us a copy while we validate; ours validate in well under a millisecond and
 * are forwarded to the same mesh peers straight after, so for a record of a few KB the announcement costs each peer
 * one more RPC (a frame encrypted, a write) and saves almost nothing. Large messages (a legacy digest speaking for
 * thousands of clients) keep it.
 */
export const IDONTWANT_MIN_BYTES = 16 * 1024

/** How often libp2p's connection monitor checks each connection (its default: 10 s). */
export const CONNECTION_PING_INTERVAL_MS = 30_000

const specific = (ip: string): boolean => ip !== '0.0.0.0' && ip !== '::'

export async function createMeshNode (opts: MeshNodeOptions): Promise<MeshNode> {
  const admits = opts.admits
  const node = await createLibp2p({
    start: false,
    ...(opts.privateKey === undefined ? {} : { privateKey: opts.privateKey }),
    addresses: {
      listen: listenMultiaddrs(opts.listenAddress, opts.gossipPort),
      // peers learn (identify) the pod's own addresses, not every interface's
      ...(opts.announce === undefined ? {} : { announce: opts.announce.map(ip => tcpMultiaddr(ip, opts.gossipPort)) })
    },
    // dial from the address we listen on: peers admit connections by their source address (loopback tests and
    // multi-address hosts would otherwise show another one)
    transports: [tcp(specific(opts.listenAddress) ? { dialOpts: { localAddress: opts.listenAddress } as TCPSocketOptions } : {})],
    connectionEncrypters: [noise()],
    ...(opts.psk === undefined ? {} : { connectionProtector: preSharedKey({ psk: opts.psk }) }),
    ...(admits === undefined
      ? {}
      : {
          connectionGater: {
            // before any byte of the handshake: a stranger's socket is closed at once
            denyInboundConnection: (maConn: { remoteAddr: Multiaddr }) => {
              const ip = remoteIpOf(maConn)
              const deny = ip === null || !admits(ip)
              if (deny) opts.onRefused?.(ip ?? '?')
              return deny
            }
          }
        }),
    streamMuxers: [yamux()],
    // libp2p pings every connection (a stream opened, negotiated and reset: our agents serve no ping protocol, and an
    // answer that it is unsupported proves the peer alive) and aborts one whose peer stays silent. Every 10 s by
    // default, that was ~7 % of an idle agent's CPU at N=10; every 30 s a dead connection is still dropped within
    // about half a minute (the view forgets a dead agent sooner, after CACHE_KEY_SECOND)
    connectionMonitor: { pingInterval: CONNECTION_PING_INTERVAL_MS },
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
        fastMsgIdFn: signedMessageFastId,
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        // the validator decides what enters the view; messages are not handed on before it answers
        asyncValidation: false,
        maxInboundDataLength: 2 * 1024 * 1024,
        // IHAVE gossip (gossipsub's own repair): each message id announced once, to 3 peers outside the mesh, instead
        // of in 3 heartbeats to max(6, 1/4 of them). The view repairs itself (every message carries rv; a gap pulls the
        // record), and with the defaults IHAVE cost more than the heartbeats it announces (bench/notes/log/gossip-bytes.md)
        Dlazy: 3,
        gossipFactor: 0,
        mcacheGossip: 1,
        idontwantMinDataSize: IDONTWANT_MIN_BYTES,
        scoreParams: createPeerScoreParams({ topics: { [VIEW_TOPIC]: createTopicScoreParams(VIEW_TOPIC_SCORE) } }),
        scoreThresholds: SCORE_THRESHOLDS
      })
    }
  })
  repairGossipStreams(node)
  return node
}
