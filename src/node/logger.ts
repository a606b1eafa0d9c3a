// The agent's pino logger: JSON lines on stdout, level from LOG_LEVEL as a name ("info", not 30), base fields naming the pod.
import { pino, type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from './config.ts'

/**
 * pino's error serialiser, with the error's own name as its type: pino takes the constructor's name, which the
 * production bundle shortens (tools/build.ts); every error class sets its name.
 */
function serialiseError (err: Error): ReturnType<typeof pino.stdSerializers.err> {
  const out = pino.stdSerializers.err(err)
  return err instanceof Error && typeof out === 'object' ? { ...out, type: err.name } : out
}

export function createLogger (level: LogLevel, base: Record<string, string>, destination?: DestinationStream): Logger {
  const options = {
    level,
    base,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    serializers: { err: serialiseError }
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}
