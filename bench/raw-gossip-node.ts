// A bare libp2p gossipsub node (the agent's own stack, no view, no validator): the baseline of the propagation
// benchmark. Driven over IPC: {dial: [multiaddr]}, {publish: {id, size}}; reports {received: {id, at}}.
import { multiaddr } from '@multiformats/multiaddr'
import { performance } from 'node:perf_hooks'
import { createMeshNode } from '../src/gossip/libp2p-node.ts'

const TOPIC = 'k8snet/bench/raw'
const [host = '127.0.0.1', port = '6300'] = process.argv.slice(2)
const node = await createMeshNode({ listenAddress: host, gossipPort: Number(port), maxConnections: 64 })
await node.start()
node.services.pubsub.subscribe(TOPIC)
const wall = (): number => performance.timeOrigin + performance.now()
node.services.pubsub.addEventListener('gossipsub:message', evt => {
  const data = evt.detail.msg.data
  const id = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0)
  process.send?.({ received: { id, at: wall() } })
})
process.on('message', (m: { dial?: string[], publish?: { id: number, size: number } }) => {
  if (m.dial !== undefined) {
    void Promise.allSettled(m.dial.map(async a => await node.dial(multiaddr(a)))).then(r => {
      process.send?.({ dialed: r.filter(x => x.status === 'fulfilled').length })
    })
  }
  if (m.publish !== undefined) {
    const bytes = new Uint8Array(m.publish.size)
    new DataView(bytes.buffer).setUint32(0, m.publish.id)
    bytes.fill(120, 4) // filler: 'x'
    process.send?.({ publishing: { id: m.publish.id, at: wall() } })
    void node.services.pubsub.publish(TOPIC, bytes).catch(() => {})
  }
})
process.once('disconnect', () => { void Promise.resolve(node.stop()).finally(() => process.exit(0)) })
process.send?.({ ready: true, peers: node.getMultiaddrs().map(a => a.toString()) })
