// A rogue member for attack tests: runs in a compromised node's namespace, on that node's pod IP (so the gater admits
// it), with libp2p nodes built from our own dependencies, and publishes whatever the test asks on the view topic.
import { generateKeyPairSync } from 'node:crypto'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { encodeMessage } from '../../src/core/codec.ts'
import { createMeshNode, type MeshNode } from '../../src/gossip/libp2p-node.ts'
import { SYNC_PROTOCOL, VIEW_TOPIC } from '../../src/gossip/protocol.ts'
import type { AgentRecord, GossipMessage } from '../../src/core/record.ts'
import { decodeMessage, decodeSyncResponse, encodeSyncRequest, MAX_SYNC_BYTES } from '../../src/core/codec.ts'
import { readAll, writeAll } from '../../src/gossip/stream-io.ts'
import { serve } from './rpc.ts'

interface RogueOptions { ip: string, port: number, peers: string[] }
const o = JSON.parse(process.argv[2] ?? '{}') as RogueOptions

function freshKey (): ReturnType<typeof privateKeyFromRaw> {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  return privateKeyFromRaw(Buffer.concat([Buffer.from(jwk.d ?? '', 'base64url'), Buffer.from(jwk.x ?? '', 'base64url')]))
}

/** Every full record the rogue has heard, by origin: what it can replay (tokens included). */
const heard = new Map<string, AgentRecord>()

async function node (port: number): Promise<MeshNode> {
  const n = await createMeshNode({ privateKey: freshKey(), listenAddress: o.ip, gossipPort: port, maxConnections: 64 })
  const pubsub = n.services.pubsub as unknown as {
    subscribe: (t: string) => void
    publish: (t: string, d: Uint8Array) => Promise<unknown>
    addEventListener: (e: string, f: (evt: { detail: { msg: { data: Uint8Array } } }) => void) => void
  }
  pubsub.addEventListener('gossipsub:message', evt => {
    try {
      const m = decodeMessage(evt.detail.msg.data)
      if (m.t === 'full') heard.set(m.record.identity.podName, m.record)
    } catch { /* not ours to judge */ }
  })
  await n.start()
  pubsub.subscribe(VIEW_TOPIC)
  for (const p of o.peers) {
    try { await n.dial(multiaddr(`/ip4/${p}/tcp/6200`)) } catch { /* some may be down */ }
  }
  return n
}

const first = await node(o.port)
let second: MeshNode | null = null

const publish = async (n: MeshNode, msg: GossipMessage): Promise<void> => {
  const pubsub = n.services.pubsub as unknown as { publish: (t: string, d: Uint8Array) => Promise<unknown> }
  await pubsub.publish(VIEW_TOPIC, encodeMessage(msg))
}

serve(async req => {
  switch (req.cmd) {
    case 'peerId': return { peerId: first.peerId.toString() }
    case 'heard': return { records: [...heard.keys()] }
    case 'pull': {
      // what a joining member asks: everything its (empty) digest lacks, tokens included
      const self: AgentRecord = {
        identity: { podName: 'rogue', nodeName: 'rogue', nodeIp: o.ip, podIp: o.ip, namespace: 'kube-system', version: '0.1.0', peerId: first.peerId.toString() },
        inc: 1,
        seq: 1,
        rv: 0,
        results: { host: new Map(), pod: new Map(), service: null },
        leader: false
      }
      for (const conn of first.getConnections()) {
        try {
          const signal = AbortSignal.timeout(5_000)
          const stream = await first.dialProtocol(conn.remotePeer, SYNC_PROTOCOL, { signal })
          await writeAll(stream, encodeSyncRequest({ digest: { agents: [], externals: [] }, self }), signal)
          for (const f of decodeSyncResponse(await readAll(stream, MAX_SYNC_BYTES, signal)).full) heard.set(f.record.identity.podName, f.record)
        } catch { /* another peer may answer */ }
      }
      return { records: [...heard.keys()] }
    }
    case 'record': {
      // a record as the test built it, published by the first key, or by a second key (a relay of another member)
      const record = req.record as AgentRecord & { results: { host: unknown, pod: unknown } }
      const full: AgentRecord = { ...record, results: { host: new Map(), pod: new Map(), service: null } }
      let by = first
      if (req.via === 'second') {
        second ??= await node(o.port + 1)
        by = second
      }
      if (req.signedAs === 'self') full.identity = { ...full.identity, peerId: by.peerId.toString() }
      await publish(by, { t: 'full', record: full })
      return { peerId: by.peerId.toString() }
    }
    case 'replay': {
      // a real member's record as heard (its token included), re-published under the rogue's own key
      const real = heard.get(String(req.origin))
      if (real === undefined) throw new Error(`no record of ${String(req.origin)} heard yet`)
      const hijack: AgentRecord = { ...real, identity: { ...real.identity, peerId: first.peerId.toString() }, inc: real.inc + 1_000_000, seq: 1 }
      delete hijack.seal
      await publish(first, { t: 'full', record: hijack })
      return { token: real.token !== undefined }
    }
    case 'leave': {
      await publish(first, { t: 'leave', origin: String(req.origin), inc: Number(req.inc), seq: 1 })
      return {}
    }
    default: throw new Error(`unknown command ${req.cmd}`)
  }
})
process.send?.({ id: 0, ok: true, ready: true })
