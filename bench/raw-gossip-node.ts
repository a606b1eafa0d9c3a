// A bare libp2p gossipsub node (the agent's own stack, no view, no validator): the baseline of the propagation
// benchmark (argv: host, port, topic). Driven over IPC: {dial: [multiaddr]}, {publish: {id, size}}, {background: {everyMs, size}} (filler
// messages at the rate the agents gossip in the same run, never reported); reports {received: {id, at}}.
import { multiaddr } from '@multiformats/multiaddr'
import { performance } from 'node:perf_hooks'
import { createMeshNode } from '../src/gossip/libp2p-node.ts'

/** The id of background filler messages. */
const BACKGROUND = 0xffffffff
// (the topic: the stream-1000 suite's floor joins the agents' own)
const [host = '127.0.0.1', port = '6300', TOPIC = 'k8snet/bench/raw'] = process.argv.slice(2)
const node = await createMeshNode({ listenAddress: host, gossipPort: Number(port), maxConnections: 64 })
await node.start()
node.services.pubsub.subscribe(TOPIC)
const wall = (): number => performance.timeOrigin + performance.now()
node.services.pubsub.addEventListener('gossipsub:message', evt => {
  const data = evt.detail.msg.data
  const id = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0)
  if (id !== BACKGROUND) process.send?.({ received: { id, at: wall() } })
})
const filler = (id: number, size: number): Uint8Array => {
  const bytes = new Uint8Array(Math.max(4, size))
  new DataView(bytes.buffer).setUint32(0, id)
  bytes.fill(120, 4) // filler: 'x'
  return bytes
}
let background: NodeJS.Timeout | undefined
const backgroundEvery = (everyMs: number, size: number): void => {
  clearTimeout(background)
  // jittered like the agents' timers, so the nodes do not publish in lockstep
  background = setTimeout(() => {
    void node.services.pubsub.publish(TOPIC, filler(BACKGROUND, size)).catch(() => {})
    backgroundEvery(everyMs, size)
  }, everyMs * (0.5 + Math.random()))
}
process.on('message', (m: { dial?: string[], publish?: { id: number, size: number }, background?: { everyMs: number, size: number } }) => {
  if (m.background !== undefined) {
    clearTimeout(background)
    if (m.background.everyMs > 0) backgroundEvery(m.background.everyMs, m.background.size)
  }
  if (m.dial !== undefined) {
    void Promise.allSettled(m.dial.map(async a => await node.dial(multiaddr(a)))).then(r => {
      process.send?.({ dialed: r.filter(x => x.status === 'fulfilled').length })
    })
  }
  if (m.publish !== undefined) {
    const bytes = filler(m.publish.id, m.publish.size)
    process.send?.({ publishing: { id: m.publish.id, at: wall() } })
    void node.services.pubsub.publish(TOPIC, bytes).catch(() => {})
  }
})
process.once('disconnect', () => { clearTimeout(background); void Promise.resolve(node.stop()).finally(() => process.exit(0)) })
process.send?.({ ready: true, peers: node.getMultiaddrs().map(a => a.toString()) })
