// The Service's name lookup, timed, keeping every address (getaddrinfo: honours search domains and /etc/hosts).
import { lookup } from 'node:dns/promises'
import { performance } from 'node:perf_hooks'

export interface DnsResult { ok: boolean, ms: number, addresses: string[], error: string | null }

const MAX_ADDRESSES = 64

export async function dnsProbe (name: string, timeoutMs: number): Promise<DnsResult> {
  const start = performance.now()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(Object.assign(new Error('lookup timed out'), { code: 'ETIMEOUT' })) }, timeoutMs)
  })
  try {
    const found = await Promise.race([lookup(name, { all: true, verbatim: true }), deadline])
    const addresses = [...new Set(found.map(a => a.address))].slice(0, MAX_ADDRESSES)
    if (addresses.length === 0) return { ok: false, ms: performance.now() - start, addresses: [], error: 'ENODATA' }
    return { ok: true, ms: performance.now() - start, addresses, error: null }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    return { ok: false, ms: performance.now() - start, addresses: [], error: String(code).slice(0, 200) }
  } finally {
    clearTimeout(timer)
  }
}
