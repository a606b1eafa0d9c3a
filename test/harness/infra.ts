// Runs inside the harness's infra namespace: the Lease stand-in (the apiserver), cluster DNS, and the custom Service.
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { LeaseStandIn } from '../../src/node/lease-stand-in.ts'
import { DnsServer, type DnsAnswer } from './dns-server.ts'
import { serve } from './rpc.ts'

export interface InfraOptions {
  ip: string
  servicePort: number
  serviceIp: string
  apiPort: number
  agents: string[]
  namespace: string
  kubeconfigDir: string
  records: Record<string, DnsAnswer>
}

const o = JSON.parse(process.argv[2] ?? '{}') as InfraOptions
const apiserver = new LeaseStandIn(o.agents.map(n => `token-${n}`))
const dns = new DnsServer()
let service: Server | null = null
const sockets = new Set<Socket>()

async function serviceUp (): Promise<void> {
  if (service !== null) return
  const s = createServer(sock => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); sock.on('error', () => {}); sock.end('HTTP/1.0 200 OK\r\n\r\n') })
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(o.servicePort, o.serviceIp, () => { resolve() }) })
  service = s
}

async function serviceDown (): Promise<void> {
  const s = service
  service = null
  if (s === null) return
  for (const sock of sockets) sock.destroy()
  await new Promise(resolve => s.close(resolve))
}

serve(async req => {
  switch (req.cmd) {
    case 'dns': dns.set(String(req.name), req.answer as DnsAnswer); break
    case 'service': await (req.up === true ? serviceUp() : serviceDown()); break
    case 'apiserver':
      if (req.up !== true) await apiserver.stop()
      else if (!apiserver.running) await apiserver.start(o.ip, o.apiPort)
      break
    case 'status': break
    default: throw new Error(`unknown command ${req.cmd}`)
  }
  const lease = apiserver.lease(o.namespace, 'k8snet-checker-reporter')
  return {
    apiserver: apiserver.running,
    service: service !== null,
    dnsQueries: dns.queries,
    holder: lease?.spec?.holderIdentity ?? null,
    transitions: lease?.spec?.leaseTransitions ?? 0,
    writes: apiserver.stats.writes
  }
})

for (const [name, answer] of Object.entries(o.records)) dns.set(name, answer)
await dns.start(o.ip, 53)
await apiserver.start(o.ip, o.apiPort)
for (const name of o.agents) apiserver.writeKubeconfig(join(o.kubeconfigDir, `${name}.kubeconfig`), `token-${name}`, o.namespace)
await serviceUp()
process.send?.({ id: 0, ok: true, ready: true })
