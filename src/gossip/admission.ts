// Who may open a gossip connection: addresses discovery found (the headless Service's records, the static list),
// remembered for a while so a DNS answer that lags a restart does not lock a member out.
import { addressesOf } from '../core/families.ts'
import type { Identity } from '../core/record.ts'

export interface AdmissionOptions {
  /** How long an address stays admitted after discovery last returned it. */
  rememberMs: number
  now: () => number
}

export class Admission {
  private readonly seen = new Map<string, number>()
  private readonly always = new Set<string>()
  private readonly o: AdmissionOptions
  /** Inbound attempts refused, by nothing but a count (the addresses are logged, not kept). */
  refused = 0

  constructor (o: AdmissionOptions, staticIps: Iterable<string> = []) {
    this.o = o
    for (const ip of staticIps) this.always.add(normalise(ip))
  }

  /** Discovery's latest answer: these addresses are members now. */
  saw (ips: Iterable<string>): void {
    const t = this.o.now()
    for (const ip of ips) this.seen.set(normalise(ip), t)
    for (const [ip, at] of this.seen) if (t - at > this.o.rememberMs) this.seen.delete(ip)
  }

  admits (ip: string): boolean {
    const k = normalise(ip)
    if (this.always.has(k)) return true
    const at = this.seen.get(k)
    return at !== undefined && this.o.now() - at <= this.o.rememberMs
  }
}

/** Whether two textual IPs are the same address (IPv4-mapped IPv6 counts as its IPv4). */
export function sameIp (a: string, b: string): boolean { return normalise(a) === normalise(b) }

/** Whether any of `ips` (a connection's remote addresses) is one of the pod addresses `id` claims (either family). */
export function speaksAs (ips: string[], id: Pick<Identity, 'nodeIp' | 'podIp' | 'secondary'>): boolean {
  const claimed = addressesOf(id, 'pod')
  return ips.some(ip => claimed.some(c => sameIp(ip, c)))
}

/** IPv4-mapped IPv6 (::ffff:10.0.0.1) is the IPv4 address. */
function normalise (ip: string): string {
  return ip.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1')
}
