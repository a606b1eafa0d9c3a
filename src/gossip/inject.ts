// Turns a legacy client's report into an external record this agent vouches for: ordered, capped, one message long.
import { InjectError } from '../node/errors.ts'
import { encodeMessage, MAX_MESSAGE_BYTES } from './codec.ts'
import { externalKey, type ExternalBody, type GossipMessage } from './record.ts'
import type { View } from './view.ts'

export interface InjectContext {
  /** This agent's peer id: the record is bound to it. */
  by: string
  wallNow: number
  monoNow: number
  maxExternal: number
}

/** Merges the report into the view and returns the message to gossip; throws InjectError when it cannot be kept. */
export function injectExternal (view: View, body: ExternalBody, c: InjectContext): GossipMessage {
  const key = externalKey(body)
  const held = view.externalEntries().find(e => e.record.key === key)
  // a legacy client's reports may land on different agents: keep its writes ordered even across clock skew
  const at = Math.max(c.wallNow, (held?.record.at ?? 0) + 1)
  const msg: GossipMessage = { t: 'ext', record: { key, at, by: c.by, body } }
  // what every peer would refuse must not be kept here alone
  const size = encodeMessage(msg).byteLength
  if (size > MAX_MESSAGE_BYTES) throw new InjectError('TOO_LARGE', `the report encodes to ${size} bytes, more than one gossip message carries (${MAX_MESSAGE_BYTES})`)
  const outcome = view.apply(msg, c.by, c.monoNow)
  if (outcome === 'capacity') throw new InjectError('CAPACITY', `at most ${c.maxExternal} legacy clients are kept (MAX_EXTERNAL_ORIGINS)`)
  if (outcome !== 'accepted') throw new InjectError('INVALID', `report not accepted (${outcome})`)
  return msg
}
