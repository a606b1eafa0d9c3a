// The agent's configuration error: thrown by what reads the environment and the mounted files it names (node/config.ts,
// node/secrets.ts, kube/kube-access.ts), so it lives below all of them.

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
