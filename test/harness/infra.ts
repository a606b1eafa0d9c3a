// Runs inside the harness's infra namespace: the Lease stand-in (the apiserver, which also issues the pods' service
// account tokens), cluster DNS, and the custom Service.
import { readFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { LeaseStandIn, type MintOptions, type PodRegistration } from '../../tools/lease-stand-in.ts'
import type { NodeChange } from '../../tools/node-store.ts'
import { DnsServer, type DnsAnswer } from './dns-server.ts'
import { serve } from './rpc.ts'

export interface InfraOptions {
  ip: string
  servicePort: number
  /** The custom Service's addresses (one a family). */
  serviceIps: string[]
  apiPort: number
  agents: string[]
  /** Kubelet credentials: token -> node name. */
  kubelets: Record<string, string>
  /** The TokenRequest floor on expirationSeconds: 600 as on a real apiserver, lower only in test mode. */
  minTokenExpirationS: number
  namespace: string
  kubeconfigDir: string
  records: Record<string, DnsAnswer>
  /** Serve the apiserver over HTTPS with this key and certificate (PEM files), as in-cluster clients expect. */
  tls?: { keyFile: string, certFile: string }
}

const o = JSON.parse(process.argv[2] ?? '{}') as InfraOptions
const tls = o.tls === undefined ? null : { key: readFileSync(o.tls.keyFile), cert: readFileSync(o.tls.certFile) }
const apiserver = new LeaseStandIn(o.agents.map(n => `token-${n}`), tls, { minTokenExpirationS: o.minTokenExpirationS })
for (const [token, node] of Object.entries(o.kubelets)) apiserver.registerKubelet(token, node)

/** Same as cluster.ts's UNDEFINED_MARK: mintToken's undefined values, which the IPC channel's JSON would drop. */
const UNDEFINED_MARK = '\u0000undefined'
function revive (v: unknown): unknown {
  if (v === UNDEFINED_MARK) return undefined
  if (Array.isArray(v)) return v.map(revive)
  if (typeof v !== 'object' || v === null) return v
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) out[k] = revive(x)
  return out
}
const dns = new DnsServer()
let service: Server[] | null = null
const sockets = new Set<Socket>()

async function serviceUp (): Promise<void> {
  if (service !== null) return
  service = await Promise.all(o.serviceIps.map(async ip => {
    const s = createServer(sock => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); sock.on('error', () => {}); sock.end('HTTP/1.0 200 OK\r\n\r\n') })
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(o.servicePort, ip, () => { resolve() }) })
    return s
  }))
}

async function serviceDown (): Promise<void> {
  const all = service
  service = null
  if (all === null) return
  for (const sock of sockets) sock.destroy()
  await Promise.all(all.map(async s => await new Promise(resolve => s.close(resolve))))
}

serve(async req => {
  switch (req.cmd) {
    case 'dns': dns.set(String(req.name), req.answer as DnsAnswer); break
    case 'service': await (req.up === true ? serviceUp() : serviceDown()); break
    case 'apiserver':
      if (req.up !== true) await apiserver.stop()
      else if (!apiserver.running) await apiserver.start(o.ip, o.apiPort)
      break
    case 'registerPod': apiserver.registerPod(req.pod as PodRegistration); break
    case 'node': apiserver.nodes.change(String(req.name), req.change as NodeChange); break
    case 'mintToken':
      return { token: apiserver.mintForTest(revive(JSON.parse(String(req.overrides))) as Record<string, unknown>, revive(JSON.parse(String(req.opts))) as MintOptions) }
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
    writes: apiserver.stats.writes,
    byPath: apiserver.stats.byPath,
    tokensIssued: apiserver.stats.tokensIssued
  }
})

for (const [name, answer] of Object.entries(o.records)) dns.set(name, answer)
await dns.start(o.ip, 53)
await apiserver.start(o.ip, o.apiPort)
for (const name of o.agents) apiserver.writeKubeconfig(join(o.kubeconfigDir, `${name}.kubeconfig`), `token-${name}`, o.namespace)
await serviceUp()
process.send?.({ id: 0, ok: true, ready: true })
