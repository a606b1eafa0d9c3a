// A token bucket per client address for the write endpoints, with a bounded number of buckets (memory stays flat
// under a flood from many addresses: the least recently seen bucket is dropped first).
export interface RateLimitOptions {
  /** Tokens per minute, which is also the burst (a full bucket). */
  perMinute: number
  /** Most addresses tracked at once. */
  maxClients: number
  now: () => number
}

interface Bucket { tokens: number, at: number }

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private readonly o: RateLimitOptions

  constructor (o: RateLimitOptions) { this.o = o }

  /** Takes one token for `client`; returns 0 when allowed, else the seconds until a token is back. */
  take (client: string): number {
    const now = this.o.now()
    const rate = this.o.perMinute / 60_000
    const held = this.buckets.get(client)
    const b = held ?? { tokens: this.o.perMinute, at: now }
    b.tokens = Math.min(this.o.perMinute, b.tokens + (now - b.at) * rate)
    b.at = now
    // re-insert: the Map's order is then least recently seen first
    this.buckets.delete(client)
    this.buckets.set(client, b)
    while (this.buckets.size > this.o.maxClients) this.buckets.delete(this.buckets.keys().next().value as string)
    if (b.tokens >= 1) { b.tokens -= 1; return 0 }
    return Math.ceil((1 - b.tokens) / rate / 1000)
  }

  get clients (): number { return this.buckets.size }
}
