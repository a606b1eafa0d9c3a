// Turns a legacy client's report into an external record this agent vouches for: ordered, capped, one message long;
// a report that says nothing new is not gossiped again (its heartbeat rides on this agent's own).
import { encodeMessage, MAX_MESSAGE_BYTES } from './codec.ts'
import { externalKey, type ExternalBody, type GossipMessage, type LegacyPathResult } from './record.ts'
import type { View } from './view.ts'

/** A legacy report could not be accepted (for example the legacy-client cap is reached). */
export class InjectError extends Error {
  readonly code: 'CAPACITY' | 'INVALID' | 'TOO_LARGE'
  constructor (code: 'CAPACITY' | 'INVALID' | 'TOO_LARGE', message: string) {
    super(message)
    this.name = 'InjectError'
    this.code = code
  }
}

export interface InjectContext {
  /** This agent's peer id: the record is bound to it. */
  by: string
  wallNow: number
  monoNow: number
  maxExternal: number
  /**
   * Unchanged reports are not gossiped again for up to `refreshMs` after the record this agent gossiped: a heartbeat
   * is noted in `book` (false: full, gossip it after all) for this agent's next own heartbeat to carry; results live
   * while their client's heartbeat does. Without it, every report is gossiped.
   */
  quiet?: { refreshMs: number, book: { note: (key: string, rv: number, at: number) => boolean } }
}

const sameRow = (a: LegacyPathResult, b: LegacyPathResult): boolean =>
  a.target === b.target && a.ping === b.ping && JSON.stringify(a.ports) === JSON.stringify(b.ports)

/** Whether two legacy reports say the same: the same client, or the same targets in the same states (timings aside). */
export function sameLegacyContent (a: ExternalBody, b: ExternalBody): boolean {
  if (a.part === 'hb' && b.part === 'hb') {
    const x = a.value
    const y = b.value
    return x.podName === y.podName && x.nodeIp === y.nodeIp && x.podIp === y.podIp && x.namespace === y.namespace
  }
  if (a.part === 'svc' && b.part === 'svc') return a.value.source === b.value.source && sameRow(a.value, b.value)
  if ((a.part === 'host' || a.part === 'pod') && a.part === b.part) {
    if (a.source !== b.source || a.value.length !== b.value.length) return false
    const held = new Map(a.value.map(r => [r.target, r]))
    return held.size === a.value.length && b.value.every(r => { const h = held.get(r.target); return h !== undefined && sameRow(h, r) })
  }
  return false
}

/**
 * Merges the report into the view and returns the message to gossip, or null when the view already says it (see
 * InjectContext.quiet); throws InjectError when it cannot be kept.
 */
export function injectExternal (view: View, body: ExternalBody, c: InjectContext): GossipMessage | null {
  const key = externalKey(body)
  const held = view.external(key)?.record
  if (c.quiet !== undefined && held !== undefined && held.by === c.by && c.wallNow - held.at < c.quiet.refreshMs &&
      sameLegacyContent(held.body, body)) {
    if (body.part === 'hb' && c.quiet.book.note(key, held.at, c.monoNow)) {
      view.touchExternal(key, c.monoNow)
      return null
    }
    if (body.part !== 'hb' && view.heartbeatOwns(body)) return null
  }
  // a legacy client's reports may land on different agents: keep its writes ordered even across clock skew
  const at = Math.max(c.wallNow, (held?.at ?? 0) + 1)
  const msg: GossipMessage = { t: 'ext', record: { key, at, by: c.by, body } }
  // what every peer would refuse must not be kept here alone
  const size = encodeMessage(msg).byteLength
  if (size > MAX_MESSAGE_BYTES) throw new InjectError('TOO_LARGE', `the report encodes to ${size} bytes, more than one gossip message carries (${MAX_MESSAGE_BYTES})`)
  const outcome = view.apply(msg, c.by, c.monoNow)
  if (outcome === 'capacity') {
    throw new InjectError('CAPACITY', view.legacyClientCount >= c.maxExternal
      ? `at most ${c.maxExternal} legacy clients are kept (MAX_EXTERNAL_ORIGINS)`
      : `the legacy clients' results already fill the ${view.maxExternalItems} rows an agent keeps`)
  }
  if (outcome !== 'accepted') throw new InjectError('INVALID', `report not accepted (${outcome})`)
  return msg
}
