// Durations in the original tool's human format ("850.00µs", "12.34ms", "2.01s") and Go duration parsing.

/** Formats milliseconds as the original did: two decimals, in µs below 1 ms, ms below 1 s, else s. */
export function formatDuration (ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(2)}µs`
  if (ms < 1000) return `${ms.toFixed(2)}ms`
  return `${(ms / 1000).toFixed(2)}s`
}

const UNIT_US: Record<string, number> = { ns: 0.001, us: 1, µs: 1, μs: 1, ms: 1000, s: 1e6, m: 6e7, h: 3.6e9 }
// µ (micro sign) and μ (Greek mu) written as escapes: a regex literal reaches the bundle as written, and one character
// beyond Latin-1 makes V8 hold the whole bundle's source as a two-byte string (tools/build.ts refuses it)
const GO_DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$/

/** Parses a Go duration string ("1.5s", "850µs", "1m2s", "0") into µs; null when it is not one. */
export function parseGoDuration (s: string): number | null {
  if (s === '0') return 0
  if (s.length > 64 || !GO_DURATION.test(s)) return null
  let total = 0
  for (const m of s.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/g)) {
    total += Number(m[1]) * (UNIT_US[m[2] ?? ''] ?? 0)
  }
  return Number.isFinite(total) && total <= Number.MAX_SAFE_INTEGER ? Math.round(total) : null
}
