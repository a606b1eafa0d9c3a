// Pure: address families on a dual-stack cluster: which family an address is of, and an agent's address of a family
// on a layer (its primary one, or the second family's from its identity).
import type { Identity, Layer } from './record.ts'

export type Family = 'IPv4' | 'IPv6'

export const familyOf = (ip: string): Family => ip.includes(':') ? 'IPv6' : 'IPv4'

/** An agent's address of `family` on `layer` (host: its node's, pod: its own), or undefined when it has none. */
export function addressIn (id: Pick<Identity, 'nodeIp' | 'podIp' | 'secondary'>, layer: Layer, family: Family): string | undefined {
  const primary = layer === 'host' ? id.nodeIp : id.podIp
  if (familyOf(primary) === family) return primary
  const second = layer === 'host' ? id.secondary?.nodeIp : id.secondary?.podIp
  return second !== undefined && familyOf(second) === family ? second : undefined
}

/** Every address of an agent on `layer`, the primary first. */
export function addressesOf (id: Pick<Identity, 'nodeIp' | 'podIp' | 'secondary'>, layer: Layer): string[] {
  const second = layer === 'host' ? id.secondary?.nodeIp : id.secondary?.podIp
  return second === undefined ? [layer === 'host' ? id.nodeIp : id.podIp] : [layer === 'host' ? id.nodeIp : id.podIp, second]
}
