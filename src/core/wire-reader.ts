// Strict readers for untrusted decoded JSON: each returns a typed value or throws a WireError naming the field.
import { isIP } from 'node:net'
import { WireError } from './wire-error.ts'

export type Json = unknown

export function fail (field: string, expected: string): never {
  throw new WireError('schema', `${field}: expected ${expected}`)
}

export function obj (v: Json, field: string): Record<string, Json> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, 'an object')
  return v as Record<string, Json>
}

export function arr (v: Json, field: string, max: number): Json[] {
  if (!Array.isArray(v)) fail(field, 'an array')
  if (v.length > max) fail(field, `at most ${max} items`)
  return v
}

export function tuple (v: Json, field: string, len: number): Json[] {
  if (!Array.isArray(v) || v.length !== len) fail(field, `an array of ${len} items`)
  return v
}

export function str (v: Json, field: string, max: number): string {
  if (typeof v !== 'string' || v.length > max) fail(field, `a string of at most ${max} characters`)
  return v
}

export function name (v: Json, field: string): string {
  const s = str(v, field, 253)
  if (s === '' || !/^[A-Za-z0-9._:-]+$/.test(s)) fail(field, 'a non-empty name of letters, digits, ".", "_", ":" and "-"')
  return s
}

export function ip (v: Json, field: string): string {
  const s = str(v, field, 45)
  if (isIP(s) === 0) fail(field, 'an IP address')
  return s
}

/** A non-negative safe integer, at most `max`. */
export function uint (v: Json, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) fail(field, `an integer between 0 and ${max}`)
  return v
}

/** A non-negative integer, or -1 standing for "none" (decoded as null). */
export function optUint (v: Json, field: string, max = Number.MAX_SAFE_INTEGER): number | null {
  if (v === -1) return null
  return uint(v, field, max)
}

/**
 * The largest duration in µs a record carries (about 35 years): below 2^50 a µs count survives the trip through
 * milliseconds (µs / 1000, then Math.round(ms * 1000)) exactly; above it the float loses the last digit.
 */
export const MAX_US = 2 ** 50

export function oneOf<T extends string> (v: Json, field: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) fail(field, `one of ${allowed.join(', ')}`)
  return v as T
}

export function index<T> (v: Json, field: string, table: readonly T[]): T {
  const i = uint(v, field, table.length - 1)
  return table[i] as T
}

export function parseJson (bytes: Uint8Array, maxBytes: number): Json {
  if (bytes.byteLength > maxBytes) throw new WireError('oversized', `${bytes.byteLength} bytes > ${maxBytes}`)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new WireError('malformed', 'not UTF-8')
  }
  try {
    return JSON.parse(text) as Json
  } catch {
    throw new WireError('malformed', 'not JSON')
  }
}
