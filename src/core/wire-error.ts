// The error of everything that reads the wire: a gossip message, sync payload or beat failed decoding or validation.

/** `reason` is a short, metric-friendly label (oversized, malformed, version, schema); the message names the field. */
export class WireError extends Error {
  readonly reason: string
  constructor (reason: string, detail: string) {
    super(`${reason}: ${detail}`)
    this.name = 'WireError'
    this.reason = reason
  }
}
