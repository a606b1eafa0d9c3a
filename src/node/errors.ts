// Typed errors shared across the agent: each names what went wrong so callers can branch on the class.

/** A configuration variable has a value the agent cannot run with. */
export class ConfigError extends Error {
  readonly variable: string
  readonly value: string
  readonly expected: string
  constructor (variable: string, value: string, expected: string) {
    super(`${variable}=${JSON.stringify(value)}: expected ${expected}`)
    this.name = 'ConfigError'
    this.variable = variable
    this.value = value
    this.expected = expected
  }
}

/** A gossip message or sync payload failed decoding or validation; `reason` is a short metric-friendly label. */
export class WireError extends Error {
  readonly reason: string
  constructor (reason: string, detail: string) {
    super(`${reason}: ${detail}`)
    this.name = 'WireError'
    this.reason = reason
  }
}

/** A legacy report could not be accepted (for example the external-origin cap is reached). */
export class InjectError extends Error {
  readonly code: 'CAPACITY' | 'INVALID' | 'TOO_LARGE'
  constructor (code: 'CAPACITY' | 'INVALID' | 'TOO_LARGE', message: string) {
    super(message)
    this.name = 'InjectError'
    this.code = code
  }
}
