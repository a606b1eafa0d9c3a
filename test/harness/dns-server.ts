// A small authoritative DNS server over UDP for the virtual cluster: A and AAAA records per name, and faults on demand.
import { createSocket, type Socket } from 'node:dgram'
import { isIP, isIPv4, isIPv6 } from 'node:net'

/** What a name answers: its addresses (A and AAAA queries get their family's), or a fault (NXDOMAIN, SERVFAIL, or no answer at all). */
export type DnsAnswer = string[] | 'nxdomain' | 'servfail' | 'drop'

const TYPE_A = 1
const TYPE_AAAA = 28
const CLASS_IN = 1
const RCODE_OK = 0
const RCODE_FORMERR = 1
const RCODE_SERVFAIL = 2
const RCODE_NXDOMAIN = 3

interface Question { name: string, type: number, cls: number, end: number }

/** Reads the first question of a query; null when the packet is not one we can answer. */
function readQuestion (msg: Buffer): Question | null {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return null
  const labels: string[] = []
  let at = 12
  for (;;) {
    const len = msg[at]
    if (len === undefined || len > 63) return null
    at++
    if (len === 0) break
    if (at + len > msg.length) return null
    labels.push(msg.toString('latin1', at, at + len))
    at += len
  }
  if (at + 4 > msg.length) return null
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(at), cls: msg.readUInt16BE(at + 2), end: at + 4 }
}

function reply (query: Buffer, q: Question | null, rcode: number, addresses: string[]): Buffer {
  const rd = query.length >= 3 ? (query[2] as number) & 0x01 : 0
  const header = Buffer.alloc(12)
  header.writeUInt16BE(query.length >= 2 ? query.readUInt16BE(0) : 0, 0)
  header.writeUInt16BE(0x8400 | (rd << 8) | 0x0080 | rcode, 2) // QR, AA, RD copied, RA
  header.writeUInt16BE(q === null ? 0 : 1, 4)
  header.writeUInt16BE(addresses.length, 6)
  const question = q === null ? Buffer.alloc(0) : query.subarray(12, q.end)
  const answers = addresses.map(ip => {
    const data = rdata(ip)
    const rr = Buffer.alloc(12 + data.length)
    rr.writeUInt16BE(0xc00c, 0) // the name: a pointer to the question's
    rr.writeUInt16BE(isIPv4(ip) ? TYPE_A : TYPE_AAAA, 2)
    rr.writeUInt16BE(CLASS_IN, 4)
    rr.writeUInt32BE(1, 6) // TTL 1 s: a harness changes its answers often
    rr.writeUInt16BE(data.length, 10)
    data.copy(rr, 12)
    return rr
  })
  return Buffer.concat([header, question, ...answers])
}

/** An address as its record's data: 4 bytes (A) or 16 (AAAA). */
function rdata (ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number))
  const [head = '', tail = ''] = ip.split('::')
  const groups = (part: string): number[] => part === '' ? [] : part.split(':').map(g => parseInt(g, 16))
  const h = groups(head)
  const t = ip.includes('::') ? groups(tail) : []
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t]
  const out = Buffer.alloc(16)
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2))
  return out
}

export class DnsServer {
  private readonly records = new Map<string, DnsAnswer>()
  private socket: Socket | null = null
  queries = 0

  /** Sets what `name` answers (case-insensitive, no trailing dot). */
  set (name: string, answer: DnsAnswer): void {
    if (Array.isArray(answer) && !answer.every(ip => isIP(ip) !== 0 && !ip.includes('.') === isIPv6(ip))) throw new Error(`not IP addresses (IPv4, or IPv6 without an embedded IPv4): ${answer.join(', ')}`)
    this.records.set(name.toLowerCase().replace(/\.$/, ''), answer)
  }

  async start (host: string, port = 53): Promise<void> {
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4')
    socket.on('message', (msg, from) => { this.answer(msg, from.address, from.port) })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(port, host, () => { socket.off('error', reject); resolve() })
    })
    socket.on('error', () => { /* a bad send is the client's loss */ })
    this.socket = socket
  }

  async stop (): Promise<void> {
    const s = this.socket
    this.socket = null
    if (s !== null) await new Promise<void>(resolve => s.close(() => { resolve() }))
  }

  private answer (msg: Buffer, address: string, port: number): void {
    this.queries++
    const q = readQuestion(msg)
    const out = ((): Buffer | null => {
      if (q === null) return reply(msg, null, RCODE_FORMERR, [])
      const known = this.records.get(q.name)
      if (known === undefined) return reply(msg, q, RCODE_NXDOMAIN, [])
      if (known === 'drop') return null
      if (known === 'nxdomain') return reply(msg, q, RCODE_NXDOMAIN, [])
      if (known === 'servfail') return reply(msg, q, RCODE_SERVFAIL, [])
      // a known name answers A and AAAA with its addresses of that family, other types with none
      const family = q.cls !== CLASS_IN ? null : q.type === TYPE_A ? isIPv4 : q.type === TYPE_AAAA ? isIPv6 : null
      return reply(msg, q, RCODE_OK, family === null ? [] : known.filter(ip => family(ip)))
    })()
    if (out !== null) this.socket?.send(out, port, address)
  }
}
