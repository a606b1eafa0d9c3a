// Large answer bodies give their memory back as soon as the socket has taken them, not at V8's next major GC.
import type { FastifyReply } from 'fastify'

/** Below this a body is not worth releasing early (and may sit in Buffer's shared pool). */
export const RELEASE_ABOVE_BYTES = 64 * 1024

/**
 * Sends `body` and frees its memory once the response has finished (every byte handed to the kernel). An agent of
 * a large cluster answers multi-megabyte documents to pollers; left to the collector, each becomes external
 * garbage that V8 frees only at its next major GC, and glibc's heap keeps the high-water mark. A body is released
 * only when it alone owns its ArrayBuffer (never a slice of the shared pool), and never on an aborted response,
 * whose write may still be pending: that one the collector frees as before.
 */
export async function sendReleasing (reply: FastifyReply, body: Buffer): Promise<FastifyReply> {
  const own = body.byteLength >= RELEASE_ABOVE_BYTES && body.byteOffset === 0 && body.buffer.byteLength === body.byteLength &&
    body.buffer instanceof ArrayBuffer
  if (own) {
    const store = body.buffer as ArrayBuffer
    reply.raw.once('finish', () => { if (!store.detached) store.transfer(0) })
  }
  return await reply.send(body)
}
