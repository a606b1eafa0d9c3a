// The agent's pino logger: JSON lines on stdout, level from LOG_LEVEL as a name ("info", not 30), base fields naming the pod.
import { pino, type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from './config.ts'

export function createLogger (level: LogLevel, base: Record<string, string>, destination?: DestinationStream): Logger {
  const options = { level, base, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label: string) => ({ level: label }) } }
  return destination === undefined ? pino(options) : pino(options, destination)
}
