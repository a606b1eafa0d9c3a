// Pure: address families on a dual-stack cluster: which family an address is of, and an agent's address of a family
// on a layer (its primary one, or the second family's from its identity).
import type { Identity, Layer } from './record.ts'

export type Family = 'IPv4' | 'IPv6'

export const familyOf = (ip: string): Family => ip.includes(':') ? 'IPv6' : 'IPv4'

type Addresses = Pick<Identity, 'nodeIp' | 'podIp' | 'secondary'>

/** A member's primary address on `layer` (host: its node's, pod: its own); legacy clients' heartbeats have the same two fields. */
export const primaryOf = (x: Pick<Identity, 'nodeIp' | 'podIp'>, layer: Layer): string => layer === 'host' ? x.nodeIp : x.podIp

const secondOf = (id: Addresses, layer: Layer): string | undefined => layer === 'host' ? id.secondary?.nodeIp : id.secondary?.podIp

/** An agent's address of `family` on `layer`, or undefined when it has none. */
export function addressIn (id: Addresses, layer: Layer, family: Family): string | undefined {
  const primary = primaryOf(id, layer)
  if (familyOf(primary) === family) return primary
  const second = secondOf(id, layer)
  return second !== undefined && familyOf(second) === family ? second : undefined
}

/** Every address of an agent on `layer`, the primary first. */
export function addressesOf (id: Addresses, layer: Layer): string[] {
  const second = secondOf(id, layer)
  return second === undefined ? [primaryOf(id, layer)] : [primaryOf(id, layer), second]
}
