// Reading and writing whole payloads on a libp2p stream: send-then-half-close, read-to-end with a size cap.
import type { Stream } from '@libp2p/interface'
import { WireError } from '../core/wire-error.ts'

export async function writeAll (stream: Stream, data: Uint8Array, signal: AbortSignal): Promise<void> {
  const chunk = 64 * 1024
  for (let off = 0; off < data.byteLength; off += chunk) {
    if (!stream.send(data.subarray(off, off + chunk))) await stream.onDrain({ signal })
  }
  await stream.close({ signal })
}

export async function readAll (stream: Stream, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let total = 0
  const onAbort = (): void => { stream.abort(new Error('read timed out')) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const buf of stream) {
      const bytes = buf instanceof Uint8Array ? buf : buf.subarray()
      total += bytes.byteLength
      if (total > maxBytes) {
        stream.abort(new Error('payload too large'))
        throw new WireError('oversized', `more than ${maxBytes} bytes`)
      }
      parts.push(bytes)
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  if (signal.aborted) throw new WireError('timeout', 'stream read timed out')
  const out = new Uint8Array(total)
  let off = 0
  for (const p of parts) { out.set(p, off); off += p.byteLength }
  return out
}
