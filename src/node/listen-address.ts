// Which address the agent binds when LISTEN_ADDRESS is left at its default "::" (every family): "::" where the node
// has IPv6 (one socket takes both families), "0.0.0.0" where its kernel has IPv6 off.
import { createServer } from 'node:net'

/** Whether an IPv6 socket can be bound here (false where IPv6 is disabled or absent). */
export async function canBindIpv6 (): Promise<boolean> {
  return await new Promise(resolve => {
    const probe = createServer()
    probe.once('error', () => { resolve(false) })
    probe.listen({ host: '::', port: 0 }, () => { probe.close(() => { resolve(true) }) })
  })
}

/** The address to bind: the configured one, except "::" on a node without IPv6, which becomes "0.0.0.0". */
export async function resolveListenAddress (configured: string, ipv6 = canBindIpv6): Promise<string> {
  return configured === '::' && !(await ipv6()) ? '0.0.0.0' : configured
}
