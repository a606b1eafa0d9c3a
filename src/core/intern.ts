// Shares equal values decoded many times over (legacy rows' port maps, sources and timestamps): one copy in memory.

/** A bounded pool of shared values by key; past `cap` distinct keys it starts over (sharing is an economy, not a rule). */
export class Interner<T> {
  private readonly pool = new Map<string, T>()
  private readonly cap: number

  constructor (cap: number) {
    this.cap = cap
  }

  /** The shared value for `key`, made by `make` the first time. */
  get (key: string, make: () => T): T {
    let v = this.pool.get(key)
    if (v === undefined) {
      if (this.pool.size >= this.cap) this.pool.clear()
      v = make()
      this.pool.set(key, v)
    }
    return v
  }
}

const ports = new Interner<Readonly<Record<string, 'open' | 'closed'>>>(4096)
const strings = new Interner<string>(65_536)

/**
 * Makes a freshly built legacy row share its port map, source and timestamp with every equal row held (thousands of
 * legacy clients' rows repeat a few port maps, their own source and their post's timestamp), and returns it. The
 * port map is frozen.
 */
export function shareLegacyRow<R extends { source: string, timestamp: string, ports: Record<string, 'open' | 'closed'> }> (r: R): R {
  const p = r.ports
  r.source = strings.get(r.source, () => r.source)
  r.timestamp = strings.get(r.timestamp, () => r.timestamp)
  r.ports = ports.get(JSON.stringify(p), () => Object.freeze({ ...p })) as Record<string, 'open' | 'closed'>
  return r
}
