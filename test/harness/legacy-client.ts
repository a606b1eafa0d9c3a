// Runs in a node's namespace as the original tool's client does: a heartbeat every heartbeatMs and a test round every
// roundMs (the original: 5 s and 60 s), each POSTed to the server address (here one agent picked at random, as a
// Service would), and a health port answering {"status":"healthy"}. Its test round connects for real: TCP to each
// node's TEST_PORT (host results) and to each other client's health port (pod results), as the original's shapes.
import { createServer } from 'node:http'
import { connect } from 'node:net'

interface LegacyClientOptions {
  podName: string
  nodeIp: string
  podIp: string
  /** The agents' pod IPs: the "server" behind the legacy Service. */
  servers: string[]
  apiPort: number
  clientPort: number
  testPort: number
  hosts: string[]
  pods: string[]
  heartbeatMs: number
  roundMs: number
}

const o = JSON.parse(process.argv[2] ?? '{}') as LegacyClientOptions
// as the original's Go client behind a Service: its keep-alive connection stays on one agent while that answers, and a
// new connection (after a failure) lands on any
let server = ''
const pick = (): string => o.servers[Math.floor(Math.random() * o.servers.length)] ?? ''
const post = async (path: string, body: unknown): Promise<void> => {
  if (server === '') server = pick()
  try {
    const res = await fetch(`http://${server}:${o.apiPort}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(2_000) })
    await res.body?.cancel()
    if (res.status >= 500) server = ''
  } catch {
    // the original's client logs and tries again next time
    server = ''
  }
}

/** One TCP connect: open, or closed (refused or timed out), and how long it took. */
async function tcp (ip: string, port: number): Promise<{ open: boolean, ms: number }> {
  const started = performance.now()
  return await new Promise(resolve => {
    const s = connect({ host: ip, port, localAddress: o.podIp, timeout: 1_000 })
    const done = (open: boolean): void => { s.destroy(); resolve({ open, ms: performance.now() - started }) }
    s.once('connect', () => { done(true) })
    s.once('error', () => { done(false) })
    s.once('timeout', () => { done(false) })
  })
}

async function results (source: string, targets: string[], port: number): Promise<unknown> {
  const rows = await Promise.all(targets.filter(t => t !== source).map(async target => {
    const r = await tcp(target, port)
    return {
      source_ip: source,
      target_ip: target,
      ping_status: r.open ? 'reachable' : 'unreachable',
      port_status: { [String(port)]: r.open ? 'open' : 'closed' },
      latency: `${r.ms.toFixed(3)}ms`,
      test_duration: `${r.ms.toFixed(3)}ms`,
      timestamp: new Date().toISOString()
    }
  }))
  return { source_ip: source, results: rows }
}

const heartbeat = async (): Promise<void> => {
  await post('/api/v1/heartbeat', { namespace: 'kube-system', node_ip: o.nodeIp, pod_ip: o.podIp, pod_name: o.podName, timestamp: new Date().toISOString() })
}
const round = async (): Promise<void> => {
  await post('/api/v1/test-results/hosts', await results(o.nodeIp, o.hosts, o.testPort))
  await post('/api/v1/test-results/pods', await results(o.podIp, o.pods, o.clientPort))
}

const health = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ status: 'healthy', pod_name: o.podName }))
})
await new Promise<void>(resolve => health.listen(o.clientPort, o.podIp, resolve))
await heartbeat()
await round()
setInterval(() => { void heartbeat() }, o.heartbeatMs)
setInterval(() => { void round() }, o.roundMs)
process.send?.({ id: 0, ok: true, ready: true })
