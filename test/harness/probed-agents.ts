// Agents on loopback whose node IPs each have an sshd stand-in on TEST_PORT and whose custom Service ("localhost")
// is a listener on 127.0.0.1: every probed path is open until a test closes one.
import { createServer, type Server } from 'node:net'
import { startAgentProcess, stopAgentProcess, type AgentProcess } from '../../tools/launcher.ts'

/** A TCP listener that accepts and drops every connection (an open port). */
export async function listen (host: string, port = 0): Promise<Server> {
  const s = createServer(c => { c.destroy() })
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen({ host, port }, resolve) })
  return s
}
export const portOf = (s: Server): number => (s.address() as { port: number }).port
export const close = async (s: Server): Promise<void> => { await new Promise(resolve => s.close(resolve)) }

export interface ProbedAgents {
  agents: AgentProcess[]
  /** The sshd stand-in of each node IP. */
  sshd: Map<string, Server>
  svc: Server
  /** Kills the agents and closes whatever still listens. */
  stop: () => Promise<void>
}

/** Starts one agent per IP (named `${prefix}-1`...) probing every second, and waits until each is ready. */
export async function startProbedAgents (o: { ips: string[], testPort: number, prefix: string }): Promise<ProbedAgents> {
  const sshd = new Map<string, Server>()
  for (const ip of o.ips) sshd.set(ip, await listen(ip, o.testPort))
  const svc = await listen('127.0.0.1', 0)
  const env = {
    HEARTBEAT_INTERVAL: '1',
    CACHE_KEY_SECOND: '5',
    PROBE_INTERVAL: '1',
    TEST_PORT: String(o.testPort),
    LOG_LEVEL: 'warn',
    CUSTOM_SERVICE_NAME: 'localhost',
    CUSTOM_SERVICE_PORT: String(portOf(svc))
  }
  const agents = o.ips.map((ip, i) => startAgentProcess({ name: `${o.prefix}-${i + 1}`, ip, peers: o.ips, env }))
  const stop = async (): Promise<void> => {
    await Promise.all(agents.map(async a => await stopAgentProcess(a, 'SIGKILL')))
    for (const s of [...sshd.values(), svc]) if (s.listening) await close(s)
  }
  try {
    await Promise.all(agents.map(async a => await a.ready))
  } catch (err) {
    await stop()
    throw err
  }
  return { agents, sshd, svc, stop }
}
