// Child of mesh.test.ts, run with or without the stack's patches (node --import tools/stack-patch-hooks.ts): two
// libp2p nodes of the agent's stack on loopback, one sending the other many small frames and then a large payload
// over one stream. Prints what arrived (bytes, SHA-256), what the receiving side's socket sent meanwhile (kernel
// counters via ss: window updates and little else), the TCP segments the small frames took, how many RangeErrors were
// made (the stack's decoders throw one to say "need more bytes"), how many noise ciphers were made from a raw key, and
// Ed25519 verifications of good, altered and foreign signatures, each checked twice.
import { execFileSync } from 'node:child_process'
import crypto, { createHash, KeyObject, randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshNode } from '../../src/gossip/libp2p-node.ts'
import { readAll } from '../../src/gossip/stream-io.ts'

const PROTOCOL = '/k8snet-test/window/1.0.0'
const [smallCount = 2000, smallSize = 200, largeBytes = 8 << 20] = process.argv.slice(2).map(Number)
const receiver = await createMeshNode({ listenAddress: '127.0.0.1', gossipPort: 0, maxConnections: 8 })
const sender = await createMeshNode({ listenAddress: '127.0.0.1', gossipPort: 0, maxConnections: 8 })
await receiver.start()
await sender.start()
const received = new Promise<Uint8Array>((resolve, reject) => {
  void receiver.handle(PROTOCOL, stream => { readAll(stream, 1 << 30, AbortSignal.timeout(60_000)).then(resolve, reject) })
})
const addr = receiver.getMultiaddrs()[0]
if (addr === undefined) throw new Error('the receiver listens nowhere')
const port = Number(addr.toString().split('/tcp/')[1]?.split('/')[0])
/** A counter of tcp_info summed over the connection's sockets on one side (sport: the receiver's, dport: the sender's). */
const tcpInfo = (side: 'sport' | 'dport', field: string): number => {
  const out = execFileSync('ss', ['-tinH', 'state', 'established', `( ${side} = :${port} )`], { encoding: 'utf8' })
  return [...out.matchAll(new RegExp(`\\b${field}:(\\d+)`, 'g'))].reduce((x, m) => x + Number(m[1]), 0)
}
/** Bytes the receiver's end of the connection has sent (bytes_acked: acknowledged by the sender's end). */
const receiverSent = (): number => tcpInfo('sport', 'bytes_acked')
/** TCP segments the sender's end has sent. */
const senderSegments = (): number => tcpInfo('dport', 'segs_out')
// every RangeError made from now on is counted (instanceof still holds: the prototype is the same)
let rangeErrors = 0
globalThis.RangeError = new Proxy(RangeError, {
  apply (target, self, args: unknown[]) { rangeErrors++; return Reflect.apply(target, self, args) },
  construct (target, args: unknown[], newTarget) { rangeErrors++; return Reflect.construct(target, args, newTarget === globalThis.RangeError ? target : newTarget) }
})
// ciphers made from a raw key (noise's frames, unless it imported the session key once)
let rawKeyCiphers = 0
for (const name of ['createCipheriv', 'createDecipheriv'] as const) {
  const made = crypto[name] as (...args: unknown[]) => unknown
  Object.assign(crypto, { [name]: (...args: unknown[]) => { if (!(args[1] instanceof KeyObject)) rawKeyCiphers++; return made(...args) } })
}
const stream = await sender.dialProtocol(addr, PROTOCOL, { signal: AbortSignal.timeout(10_000) })
await new Promise(resolve => setTimeout(resolve, 500)) // identify and gossipsub's first exchanges settle
const before = receiverSent()
const segmentsBefore = senderSegments()
const errorsBefore = rangeErrors
const payload = Buffer.concat([randomBytes(smallCount * smallSize), randomBytes(largeBytes)])
const signal = AbortSignal.timeout(60_000)
// the small frames one by one, each its own yamux data frame, a turn of the event loop apart
for (let i = 0; i < smallCount; i++) {
  if (!stream.send(payload.subarray(i * smallSize, (i + 1) * smallSize))) await stream.onDrain({ signal })
  if (i % 50 === 0) await new Promise(resolve => setImmediate(resolve))
}
const smallSegments = senderSegments() - segmentsBefore
for (let off = smallCount * smallSize; off < payload.byteLength; off += 64 * 1024) {
  if (!stream.send(payload.subarray(off, off + 64 * 1024))) await stream.onDrain({ signal })
}
await stream.close({ signal })
const got = await received
const [key, other] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
const message = new TextEncoder().encode('a message')
const signature = await key.sign(message)
const altered = Uint8Array.from(signature, (b, i) => i === 0 ? b ^ 1 : b)
const twice = async (f: () => boolean | Promise<boolean>): Promise<boolean[]> => [await f(), await f()]
const verified = {
  good: await twice(() => key.publicKey.verify(message, signature)),
  altered: await twice(() => key.publicKey.verify(message, altered)),
  otherKey: await twice(() => other.publicKey.verify(message, signature)),
  otherMessage: await twice(() => key.publicKey.verify(new TextEncoder().encode('another'), signature))
}
const sent = receiverSent() - before
const errors = rangeErrors - errorsBefore
const hash = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
process.stdout.write(JSON.stringify({ bytes: got.byteLength, expected: payload.byteLength, same: hash(got) === hash(payload), receiverSent: sent, rangeErrors: errors, rawKeyCiphers, smallSegments, verified }) + '\n')
await sender.stop()
await receiver.stop()
