// The agent's pino logger: JSON lines on stdout, level from LOG_LEVEL, base fields naming the pod.
import { pino, type Logger } from 'pino'
import type { LogLevel } from './config.ts'

export function createLogger (level: LogLevel, base: Record<string, string>): Logger {
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime })
}
