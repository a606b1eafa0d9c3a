// `npm run demo`: N agents (default 5) on 127.0.0.11.. as separate processes; prints their API URLs once the
// views have converged, then a short status line now and then, until Ctrl-C stops every agent cleanly.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { getJson, IMAGE_NODE_FLAGS, podIpsOf, startAgentProcess, stopAgentProcess, waitUntil, type AgentProcess } from './launcher.ts'
import { LeaseStandIn } from './lease-stand-in.ts'

const { values } = parseArgs({
  options: {
    agents: { type: 'string', short: 'n', default: '5' },
    'report-every': { type: 'string', default: '20' },
    'status-every': { type: 'string', default: '15' }
  }
})
const count = Number(values.agents)
if (!Number.isInteger(count) || count < 1 || count > 200) {
  process.stderr.write('demo: --agents must be an integer between 1 and 200\n')
  process.exit(2)
}

const ips = Array.from({ length: count }, (_, i) => `127.0.0.${10 + i + 1}`)
const logDir = mkdtempSync(join(tmpdir(), 'k8snet-demo-'))
const say = (line: string): void => { process.stdout.write(`${line}\n`) }

interface Health { peers_connected: number, view_size: number, version: string }

async function main (): Promise<void> {
  // a stand-in Kubernetes API: the agents elect the reporter through a real Lease, as in a cluster
  const names = ips.map((_ip, i) => `agent-${i + 1}`)
  const apiserver = new LeaseStandIn(names.map(n => `token-${n}`))
  await apiserver.start('127.0.0.1', 0)
  say(`stand-in Kubernetes API at ${apiserver.url}; starting ${count} agents on ${ips[0]}..${ips.at(-1)} (logs in ${logDir})`)
  const agents: AgentProcess[] = ips.map((ip, i) => {
    const name = names[i] ?? ''
    const kubeconfig = join(logDir, `${name}.kubeconfig`)
    apiserver.writeKubeconfig(kubeconfig, `token-${name}`, 'demo')
    return startAgentProcess({
      name,
      ip,
      peers: ips,
      // loopback has no sshd: each "node" offers its API port as the host-level TCP target instead of port 22
      env: { TEST_PORT: '8080', PROBE_INTERVAL: '5', REPORT_INTERVAL: String(values['report-every']), KUBECONFIG: kubeconfig },
      log: join(logDir, `${name}.log`),
      // as the image runs it (Dockerfile ENTRYPOINT)
      nodeFlags: IMAGE_NODE_FLAGS,
      onText: line => { say(`${name}| ${line}`) }
    })
  })
  let stopping = false
  const stopAll = async (why: string): Promise<void> => {
    if (stopping) return
    stopping = true
    say(`\n${why}: stopping ${agents.length} agents...`)
    const codes = await Promise.all(agents.map(async a => await stopAgentProcess(a)))
    await apiserver.stop()
    say(`all agents stopped (exit codes ${codes.join(', ')})`)
    process.exit(0)
  }
  process.on('SIGINT', () => { void stopAll('Ctrl-C') })
  process.on('SIGTERM', () => { void stopAll('SIGTERM') })

  await Promise.all(agents.map(async a => await a.ready))
  const ms = await waitUntil('every view to hold every agent', async () => {
    const views = await Promise.all(agents.map(podIpsOf))
    return views.every(v => v.length === count)
  }, 30_000)
  say(`mesh converged: every agent's view holds all ${count} agents (${ms} ms after every agent was up)\n`)
  for (const a of agents) {
    const h = await getJson<Health>(`${a.apiUrl}/api/v1/health`)
    say(`  ${a.name.padEnd(9)} ${a.apiUrl}/api/v1/results   view ${h.view_size}/${count}  peers ${h.peers_connected}  v${h.version}`)
  }
  say('\ntry:  curl -s ' + `${agents[0]?.apiUrl ?? ''}/api/v1/clients/count`)
  say('      curl -s ' + `${agents[1]?.apiUrl ?? ''}/api/v1/leader`)
  say(`the Lease holder prints the network report every ${String(values['report-every'])} s (lines prefixed with its name)`)
  say('press Ctrl-C to stop\n')
  const every = Number(values['status-every']) * 1000
  setInterval(() => {
    void Promise.all(agents.map(async a => await getJson<Health>(`${a.apiUrl}/api/v1/health`).catch(() => null))).then(hs => {
      const cells = hs.map((h, i) => `${agents[i]?.name ?? '?'}=${h === null ? 'down' : `${h.view_size}/${h.peers_connected}`}`)
      say(`${new Date().toISOString()}  view/peers: ${cells.join('  ')}`)
    })
  }, every).unref()
  await new Promise(() => {})
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`)
  process.exit(1)
})
