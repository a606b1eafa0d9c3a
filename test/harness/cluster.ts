// A virtual cluster in network namespaces: N nodes on one bridge, each with a node IP, a pod IP, an sshd stand-in
// and an agent started with a DaemonSet pod's environment; plus an infra namespace with the apiserver stand-in,
// cluster DNS and the custom Service. Faults (link down, loss, one-way blocks, closed ports, DNS) on demand.
// Each agent's pod is registered with the apiserver stand-in, and a kubelet in this process keeps the pod's projected
// ServiceAccount token (audience k8snet-checker) in a file, written and rotated as the kubelet does.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import {
  chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync, readlinkSync, renameSync, symlinkSync
} from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getJson, startAgentProcess, stopAgentProcess, type AgentProcess } from '../../tools/launcher.ts'
import type { MintOptions, PathKind } from '../../tools/lease-stand-in.ts'
import type { NodeChange } from '../../tools/node-store.ts'
import type { DnsAnswer } from './dns-server.ts'
import type { InfraOptions } from './infra.ts'
import { call } from './rpc.ts'
import { claimSubnet, pidAlive, type SubnetClaim } from './subnet-lock.ts'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const PREFIX = 'k8c'
export const PEER_SERVICE = 'k8snet-checker-peers.kube-system.svc.cluster.local'
export const SERVICE_NAME = 'web.default.svc.cluster.local'
const NAMESPACE = 'kube-system'
/** The DaemonSet's service account (deploy/daemonset.yaml) and the audience of the agents' identity tokens. */
export const SERVICE_ACCOUNT = 'k8snet-checker'
export const IDENTITY_AUDIENCE = 'k8snet-checker'
const API_PORT = 6443
/** Stands for `undefined` in mintToken's overrides on their way to infra (the IPC channel's JSON would drop it). */
export const UNDEFINED_MARK = '\u0000undefined'

export interface ClusterOptions {
  nodes?: number
  /** Environment every agent gets on top of the DaemonSet-like base. */
  env?: Record<string, string>
  /** Receives each agent's plain-text stdout lines (the report). */
  onText?: (agent: string, line: string) => void
  /**
   * expirationSeconds of the agents' projected identity tokens (default 3600; the kubelet rotates them at 80 %).
   * Below the real floor of 600 s the apiserver stand-in is started in test mode, which alone accepts that.
   */
  tokenExpirationS?: number
  /**
   * The agents are pods run by a pod runner (test/harness/pod-runner.ts), not processes started here: the apiserver
   * serves HTTPS with a certificate of the cluster's own CA (in-cluster clients verify it), and start() brings up the
   * nodes, infra and sshd stand-ins only.
   */
  podRunner?: boolean
  /**
   * The cluster's address families: ipv4 (default), ipv6 (IPv6 only: every node, pod, infra and Service address is
   * IPv6), or dual (both; IPv4 the primary, as status.podIP shows it, IPv6 the second of status.podIPs).
   */
  family?: IpFamily
}

export type IpFamily = 'ipv4' | 'ipv6' | 'dual'

/** An address in a URL: IPv6 in brackets. */
export const urlHost = (ip: string): string => ip.includes(':') ? `[${ip}]` : ip

/** nftables' keyword for an address's family. */
const nftFamily = (ip: string): 'ip' | 'ip6' => ip.includes(':') ? 'ip6' : 'ip'

export interface VirtualNode {
  index: number
  name: string
  ns: string
  /** The primary node and pod addresses (status.hostIP, status.podIP). */
  nodeIp: string
  podIp: string
  /** Every node and pod address, the primary first (status.hostIPs, status.podIPs). */
  nodeIps: string[]
  podIps: string[]
  sshd: ChildProcess
  agent: AgentProcess | null
  /** metadata.uid of the node's agent pod: kept across agent restarts (a container restart), new for a new pod. */
  podUid: string
  /** Seconds the agent's wall clock runs ahead (negative: behind); kept across restarts. */
  clockOffsetS?: number
  /** Variables this node's agent gets over the pod's environment; kept across restarts. */
  env?: Record<string, string>
}

export interface AgentOptions {
  /** Offsets the agent's wall clock (Date.now) by this many seconds, its monotonic clock untouched; 0 clears it. */
  clockOffsetS?: number
  /** Variables over the pod's environment (kept on the node for later restarts; {} clears them). */
  env?: Record<string, string>
  /**
   * restartAgent only: the pod is deleted and a new one (same name, new uid) takes its place, with a new identity
   * token; the old pod's tokens no longer match a pod the apiserver knows.
   */
  newPod?: boolean
}

// ------------------------------------------------------------------------------- the kubelet's token projection

export interface ProjectedTokenOptions {
  /** The apiserver (stand-in) base URL. */
  apiUrl: string
  /** The kubelet's credential (system:node:<name> at the apiserver). */
  kubeletToken: string
  namespace: string
  serviceAccount: string
  pod: { name: string, uid: string }
  audience: string
  expirationSeconds: number
  /** The volume's directory; the token is `<dir>/<path>`. */
  dir: string
  path?: string
  /** A refresh failed (the old token stays until a retry succeeds). */
  onError?: (err: Error) => void
  /** The apiserver's CA (PEM), when it serves HTTPS. */
  ca?: Buffer
  /** The token file's owner: the kubelet gives it to the pod's runAsUser (and group), so a non-root pod reads it. */
  owner?: { uid: number, gid: number }
  /** Files written beside the token in the same volume (the service account volume's ca.crt and namespace). */
  extraFiles?: Record<string, string>
}

/**
 * What the kubelet does for a projected serviceAccountToken volume source: a TokenRequest bound to the pod
 * (pkg/kubelet/token/token_manager.go), written with the atomic writer's symlink swap
 * (pkg/volume/util/atomic_writer.go: files in a new `..<timestamp>` directory, `..data_tmp` -> it renamed over
 * `..data`, `<path>` -> `..data/<path>`), and requested again once 80 % of its lifetime has passed; a failed
 * refresh leaves the current token in place and is retried.
 */
export class ProjectedServiceAccountToken {
  /** Tokens written (the first included) and refreshes that failed. */
  writes = 0
  failures = 0
  /** When the current token expires (ms since the epoch), and the current token. */
  expiresAtMs = 0
  token = ''
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private readonly o: ProjectedTokenOptions

  constructor (o: ProjectedTokenOptions) { this.o = o }

  /** The path the pod reads: a symlink into `..data`, which the kubelet swaps atomically. */
  get file (): string { return join(this.o.dir, this.o.path ?? 'token') }

  /** Requests and writes the first token (rejects when that fails, as a pod whose volume cannot be set up). */
  async start (): Promise<void> { await this.refresh(true) }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
  }

  private async refresh (first: boolean): Promise<void> {
    if (this.stopped) return
    try {
      const { token, expiresAtMs, ttlS } = await this.request()
      if (this.stopped) return
      atomicWrite(this.o.dir, { ...this.o.extraFiles, [this.o.path ?? 'token']: token }, 0o600, this.o.owner)
      this.token = token
      this.expiresAtMs = expiresAtMs
      this.writes++
      // requiresRefresh: older than 80 % of its lifetime (iat = expirationTimestamp - expirationSeconds)
      const refreshAt = expiresAtMs - ttlS * 1000 + ttlS * 800
      this.schedule(refreshAt - Date.now())
    } catch (err) {
      if (first) throw err
      this.failures++
      this.o.onError?.(err as Error)
      this.schedule(Math.min(10_000, Math.max(1_000, this.o.expirationSeconds * 100)))
    }
  }

  private schedule (ms: number): void {
    if (this.stopped) return
    this.timer = setTimeout(() => { void this.refresh(false) }, Math.max(0, ms)).unref()
  }

  private async request (): Promise<{ token: string, expiresAtMs: number, ttlS: number }> {
    const o = this.o
    const res = await postJson(`${o.apiUrl}/api/v1/namespaces/${o.namespace}/serviceaccounts/${o.serviceAccount}/token`, {
      // what client-go's CreateToken sends for the kubelet
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: {
        audiences: o.audience === '' ? [] : [o.audience],
        expirationSeconds: o.expirationSeconds,
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: o.pod.name, uid: o.pod.uid }
      },
      status: { token: '', expirationTimestamp: null }
    }, { authorization: `Bearer ${o.kubeletToken}` }, o.ca)
    const body = res.body as { message?: string, spec?: { expirationSeconds?: number }, status?: { token?: unknown, expirationTimestamp?: unknown } }
    if (res.status !== 201) throw new Error(`TokenRequest for ${o.namespace}/${o.pod.name}: ${res.status} ${body.message ?? ''}`)
    const token = body.status?.token
    const expiresAtMs = Date.parse(String(body.status?.expirationTimestamp))
    const ttlS = body.spec?.expirationSeconds ?? o.expirationSeconds
    if (typeof token !== 'string' || token === '' || !Number.isFinite(expiresAtMs)) throw new Error('TokenRequest: no token in the answer')
    return { token, expiresAtMs, ttlS }
  }
}

/** A JSON POST over HTTP or HTTPS (trusting `ca`), with a 5 s timeout. */
export async function postJson (url: string, body: unknown, headers: Record<string, string>, ca?: Buffer): Promise<{ status: number, body: unknown }> {
  const u = new URL(url)
  const data = JSON.stringify(body)
  return await new Promise((resolve, reject) => {
    const options = { method: 'POST', headers: { ...headers, 'content-type': 'application/json', accept: 'application/json', 'content-length': String(Buffer.byteLength(data)) }, timeout: 5_000, ...(ca === undefined ? {} : { ca }) }
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, options, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('end', () => {
        try { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }) } catch { reject(new Error(`${url}: ${res.statusCode ?? 0}, not JSON`)) }
      })
    })
    req.on('timeout', () => { req.destroy(new Error(`${url}: timed out`)) })
    req.on('error', reject)
    req.end(data)
  })
}

/**
 * The kubelet's atomic writer: the files go into a new `..<timestamp>.<random>` directory, `..data` is swapped to it
 * by renaming a fresh `..data_tmp` symlink over it, each visible name is a symlink `<name> -> ..data/<name>`, and the
 * previous timestamped directory is removed. A reader that opens `<dir>/<name>` sees the old file or the new one,
 * never a partial one.
 */
export function atomicWrite (dir: string, files: Record<string, string>, mode = 0o600, owner?: { uid: number, gid: number }): void {
  mkdirSync(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, '').replace(/[-T:]/g, '_')
  const tsDir = mkdtempSync(join(dir, `..${stamp}.`))
  chmodSync(tsDir, 0o755)
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(tsDir, name), content, { mode })
    if (owner !== undefined) chownSync(join(tsDir, name), owner.uid, owner.gid)
  }
  const data = join(dir, '..data')
  let previous: string | null = null
  try { previous = readlinkSync(data) } catch { /* the first write */ }
  const tmp = join(dir, '..data_tmp')
  rmSync(tmp, { force: true })
  symlinkSync(basename(tsDir), tmp)
  renameSync(tmp, data)
  for (const name of Object.keys(files)) {
    if (!existsSync(join(dir, name))) symlinkSync(join('..data', name), join(dir, name))
  }
  if (previous !== null && previous !== basename(tsDir)) rmSync(join(dir, previous), { recursive: true, force: true })
}

/** Why the harness cannot run here, or null when it can (root, ip, nft, fping). */
export function harnessUnavailable (): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)'
  for (const [cmd, arg] of [['ip', '-V'], ['nft', '--version'], ['fping', '-v']] as const) {
    if (spawnSync(cmd, [arg]).error !== undefined) return `needs ${cmd}`
  }
  return null
}

const FAKETIME_LIB = `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/faketime/libfaketime.so.1`
/**
 * libfaketime (Debian's libfaketime) with an offset only: FAKETIME shifts the realtime clock, and
 * FAKETIME_DONT_FAKE_MONOTONIC keeps CLOCK_MONOTONIC (performance.now, process.hrtime, libuv's timers) real.
 * Checked with Node 24: no hang, worker threads see the same offset.
 */
const faketimeEnv = (offsetS: number): Record<string, string> =>
  ({ LD_PRELOAD: FAKETIME_LIB, FAKETIME: `${offsetS >= 0 ? '+' : ''}${offsetS}s`, FAKETIME_DONT_FAKE_MONOTONIC: '1' })

let faketimeChecked: string | null | undefined
/** Why an agent's clock cannot be skewed here, or null when it can (libfaketime shifts Date.now, not hrtime). */
export function faketimeAvailable (): string | null {
  if (faketimeChecked !== undefined) return faketimeChecked
  if (!existsSync(FAKETIME_LIB)) return (faketimeChecked = `needs libfaketime (${FAKETIME_LIB})`)
  const probe = 'const u=Number(require("fs").readFileSync("/proc/uptime","utf8").split(" ")[0]);' +
    'console.log(Date.now()/1000, Number(process.hrtime.bigint())/1e9-u)'
  const r = spawnSync(process.execPath, ['-e', probe], { env: { PATH: process.env.PATH ?? '', ...faketimeEnv(3600) }, timeout: 10_000 })
  const [wall, mono] = (r.stdout?.toString() ?? '').trim().split(' ').map(Number)
  const skew = (wall ?? NaN) - Date.now() / 1000
  faketimeChecked = r.status !== 0
    ? `libfaketime: node exited (${r.status ?? r.signal})`
    : !(Math.abs(skew - 3600) < 60)
        ? `libfaketime: Date.now was offset by ${skew} s, not 3600 s`
        : !(Math.abs(mono ?? NaN) < 60)
            ? 'libfaketime: the monotonic clock was faked too'
            : null
  return faketimeChecked
}

/**
 * A throwaway cluster CA and an apiserver certificate for `ip` (and kubernetes.default.svc) in `dir`: ca.crt,
 * server.key, server.crt. Returns the CA certificate (PEM), which pods get as their service account's ca.crt.
 */
export function makeApiserverCertificates (dir: string, ip: string): Buffer {
  mkdirSync(dir, { recursive: true })
  const ssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }) }
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  ssl('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=virtual-cluster-ca')
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=IP:${ip},DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n`)
  ssl('req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver')
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext')
  return readFileSync(join(dir, 'ca.crt'))
}

const run = (...args: string[]): string => execFileSync(args[0] ?? '', args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
const tryRun = (...args: string[]): void => { spawnSync(args[0] ?? '', args.slice(1), { stdio: 'ignore' }) }

/** Deletes what an earlier harness left behind when its process died without cleaning up. */
export function sweepStale (): void {
  const names = run('ip', 'netns', 'list').split('\n').map(l => l.split(' ')[0] ?? '').filter(n => n.startsWith(PREFIX))
  for (const ns of names) {
    const pid = Number(/^k8c(\d+)/.exec(ns)?.[1])
    if (Number.isInteger(pid) && !pidAlive(pid)) removeNamespace(ns)
  }
  for (const dir of safeList('/etc/netns')) {
    const pid = Number(/^k8c(\d+)/.exec(dir)?.[1])
    if (Number.isInteger(pid) && !pidAlive(pid)) rmSync(join('/etc/netns', dir), { recursive: true, force: true })
  }
}

function safeList (dir: string): string[] { try { return readdirSync(dir) } catch { return [] } }

function removeNamespace (ns: string): void {
  // processes left inside die first, or the namespace outlives its name
  const pids = spawnSync('ip', ['netns', 'pids', ns]).stdout?.toString().split('\n').map(Number).filter(p => p > 0) ?? []
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
  tryRun('ip', 'netns', 'del', ns)
  rmSync(join('/etc/netns', ns), { recursive: true, force: true })
}

export class VirtualCluster {
  readonly nodes: VirtualNode[] = []
  readonly subnet: string
  /** The IPv6 prefix (a /64) of ipv6 and dual clusters. */
  readonly subnet6: string
  readonly family: IpFamily
  readonly infraIp: string
  readonly serviceIp: string
  /** The custom Service's addresses, one a family (the primary first). */
  readonly serviceIps: string[]
  private readonly tag = `${PREFIX}${process.pid}`
  private readonly switchNs = `${PREFIX}${process.pid}sw`
  private readonly infraNs = `${PREFIX}${process.pid}in`
  private readonly rootLink = `${PREFIX}${process.pid}r`
  private readonly dir = mkdtempSync(join(tmpdir(), 'k8snet-cluster-'))
  private infra: ChildProcess | null = null
  private readonly flappers = new Set<() => void>()
  private readonly env: Record<string, string>
  private readonly onExit = (): void => { this.destroySync() }
  private readonly onSignal = (sig: NodeJS.Signals): void => { this.destroySync(); process.exit(sig === 'SIGINT' ? 130 : 143) }

  private readonly o: ClusterOptions
  private readonly subnetClaim: SubnetClaim

  constructor (o: ClusterOptions = {}) {
    this.o = o
    // concurrent clusters (test files, a child harness) each hold their own subnet, or one's host reaches another's infra
    this.subnetClaim = claimSubnet()
    const k = this.subnetClaim.k
    this.subnet = `10.213.${k}`
    this.subnet6 = `fd00:213:${k}:`
    this.family = o.family ?? 'ipv4'
    this.infraIp = this.addresses(250)[0] as string
    this.serviceIps = this.addresses(251)
    this.serviceIp = this.serviceIps[0] as string
    this.env = {
      HEARTBEAT_INTERVAL: '1',
      CACHE_KEY_SECOND: '5',
      PROBE_INTERVAL: '2',
      PROBE_TIMEOUT_MS: '600',
      REPORT_INTERVAL: '3',
      DISCOVERY_INTERVAL: '1',
      LEASE_DURATION: '6',
      LEASE_RENEW_DEADLINE: '4',
      LEASE_RETRY_PERIOD: '1',
      LOG_LEVEL: 'warn',
      ...o.env
    }
  }

  get size (): number { return this.o.nodes ?? 6 }

  /** Host number `x`'s addresses on the cluster's link, one per family, the primary first. */
  addresses (x: number): string[] {
    const v4 = `${this.subnet}.${x}`
    const v6 = `${this.subnet6}:${x}`
    return this.family === 'ipv4' ? [v4] : this.family === 'ipv6' ? [v6] : [v4, v6]
  }

  /**
   * Adds an address to a link (no duplicate address detection for IPv6: usable at once). `secondary`: an IPv6 address
   * the kernel never picks as a source (preferred lifetime 0), as a node address would be outside the pod.
   */
  private addrAdd (ns: string | null, dev: string, ip: string, secondary = false): void {
    const v6 = ip.includes(':') ? ['nodad', ...(secondary ? ['preferred_lft', '0'] : [])] : []
    const args = ['addr', 'add', ip.includes(':') ? `${ip}/64` : `${ip}/24`, 'dev', dev, ...v6]
    if (ns === null) run('ip', ...args)
    else this.inNs(ns, 'ip', ...args)
  }

  node (i: number): VirtualNode {
    const n = this.nodes[i - 1]
    if (n === undefined) throw new Error(`no node ${i}`)
    return n
  }

  get liveNodes (): VirtualNode[] { return this.nodes.filter(n => n.agent !== null) }

  async start (): Promise<void> {
    sweepStale()
    process.once('exit', this.onExit)
    process.once('SIGINT', this.onSignal)
    process.once('SIGTERM', this.onSignal)
    // the switch: a bridge in its own namespace; the test process gets one leg on it to reach the agents' APIs
    run('ip', 'netns', 'add', this.switchNs)
    run('ip', '-n', this.switchNs, 'link', 'add', 'br0', 'type', 'bridge')
    run('ip', '-n', this.switchNs, 'link', 'set', 'br0', 'up')
    this.plug(null, this.rootLink, 'up0')
    for (const ip of this.addresses(254)) this.addrAdd(null, this.rootLink, ip)
    run('ip', 'link', 'set', this.rootLink, 'up')
    // infra: apiserver stand-in, DNS, the custom Service's address
    run('ip', 'netns', 'add', this.infraNs)
    this.plug(this.infraNs, 'eth0', 'infra')
    for (const ip of [...this.addresses(250), ...this.serviceIps]) this.addrAdd(this.infraNs, 'eth0', ip)
    this.inNs(this.infraNs, 'ip', 'link', 'set', 'lo', 'up')
    this.inNs(this.infraNs, 'ip', 'link', 'set', 'eth0', 'up')
    for (let i = 1; i <= this.size; i++) {
      const ns = `${this.tag}n${i}`
      run('ip', 'netns', 'add', ns)
      this.plug(ns, 'eth0', `n${i}`)
      const nodeIps = this.addresses(10 + i)
      const podIps = this.addresses(100 + i)
      const node: VirtualNode = { index: i, name: `agent-${i}`, ns, nodeIp: nodeIps[0] as string, podIp: podIps[0] as string, nodeIps, podIps, sshd: null as unknown as ChildProcess, agent: null, podUid: randomUUID() }
      this.nodes.push(node) // pushed first: a failure below still cleans it up
      // the pod IPs first: they are the primary addresses, the source of the agent's connections (as in a pod)
      for (const ip of podIps) this.addrAdd(ns, 'eth0', ip)
      for (const ip of nodeIps) this.addrAdd(ns, 'eth0', ip, true)
      this.inNs(ns, 'ip', 'link', 'set', 'lo', 'up')
      this.inNs(ns, 'ip', 'link', 'set', 'eth0', 'up')
      this.inNs(ns, 'nft', 'add', 'table', 'inet', 'fault')
      this.inNs(ns, 'nft', 'add', 'chain', 'inet', 'fault', 'in', '{ type filter hook input priority 0; }')
      this.inNs(ns, 'nft', 'add', 'chain', 'inet', 'fault', 'out', '{ type filter hook output priority 0; }')
      mkdirSync(join('/etc/netns', ns), { recursive: true })
      writeFileSync(join('/etc/netns', ns, 'resolv.conf'), `nameserver ${this.infraIp}\noptions timeout:1 attempts:1\n`)
    }
    if (this.o.podRunner === true) this.ca = makeApiserverCertificates(join(this.dir, 'pki'), this.infraIp)
    this.infra = this.helper(this.infraNs, 'infra.ts', [JSON.stringify(this.infraOptions())])
    await this.ready(this.infra)
    for (const n of this.nodes) {
      n.sshd = this.helper(n.ns, 'sshd.ts', [n.nodeIps.join(','), '22'])
      await this.ready(n.sshd)
    }
    if (this.o.podRunner === true) return
    // the pods exist, and their kubelets have mounted the identity tokens, before any container starts
    await Promise.all(this.nodes.map(async n => { await this.schedulePod(n) }))
    for (const n of this.nodes) this.startAgent(n)
    await Promise.all(this.nodes.map(async n => await n.agent?.ready))
  }

  /** The apiserver's CA certificate (PEM) when it serves HTTPS (podRunner clusters), else null. */
  ca: Buffer | null = null

  private infraOptions (): InfraOptions {
    return {
      ip: this.infraIp,
      serviceIps: this.serviceIps,
      servicePort: 80,
      apiPort: API_PORT,
      agents: this.nodes.map(n => n.name),
      kubelets: Object.fromEntries(this.nodes.map(n => [this.kubeletToken(n), this.nodeName(n)])),
      minTokenExpirationS: Math.min(600, this.tokenExpirationS),
      namespace: NAMESPACE,
      kubeconfigDir: this.dir,
      records: { [PEER_SERVICE]: this.nodes.flatMap(n => n.podIps), [SERVICE_NAME]: this.serviceIps },
      ...(this.o.podRunner === true ? { tls: { keyFile: join(this.dir, 'pki', 'server.key'), certFile: join(this.dir, 'pki', 'server.crt') } } : {})
    }
  }

  /** A veth from `ns` (or the root namespace) to the bridge. */
  private plug (ns: string | null, inside: string, port: string): void {
    const where = ns === null ? [] : ['netns', ns]
    run('ip', 'link', 'add', 'name', inside, ...where, 'type', 'veth', 'peer', 'name', port, 'netns', this.switchNs)
    run('ip', '-n', this.switchNs, 'link', 'set', port, 'master', 'br0')
    run('ip', '-n', this.switchNs, 'link', 'set', port, 'up')
  }

  private inNs (ns: string, ...args: string[]): string { return run('ip', 'netns', 'exec', ns, ...args) }

  /** Gives node n another address on its link (a second pod on the node, say); removed with the node. */
  addAddress (n: VirtualNode, ip: string): void { this.addrAdd(n.ns, 'eth0', ip) }

  private readonly extras = new Set<ChildProcess>()

  /**
   * Runs a harness script (a path relative to test/harness/) in node n's namespace and waits for its ready message;
   * it is killed with the cluster.
   */
  async runInNode (n: VirtualNode, script: string, args: unknown): Promise<ChildProcess> {
    const child = this.helper(n.ns, script, [JSON.stringify(args)])
    this.extras.add(child)
    child.once('exit', () => { this.extras.delete(child) })
    await this.ready(child)
    return child
  }

  private helper (ns: string, script: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(HERE, script), ...args], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    child.on('error', () => {})
    return child
  }

  private async ready (child: ChildProcess): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: unknown): void => { if ((m as { ready?: boolean }).ready === true) { child.off('message', onMessage); resolve() } }
      child.on('message', onMessage)
      child.once('exit', code => { reject(new Error(`harness helper exited (${code}) before it was ready`)) })
    })
  }

  /** The environment a DaemonSet pod of node n gets (downward API values and the manifest's variables). */
  podEnv (n: VirtualNode): Record<string, string> {
    return {
      NODE_IP: n.nodeIp,
      POD_IP: n.podIp,
      // the downward API's status.hostIPs and status.podIPs: comma-separated, the primary first
      NODE_IPS: n.nodeIps.join(','),
      POD_IPS: n.podIps.join(','),
      POD_NAME: n.name,
      NAMESPACE,
      NODE_NAME: this.nodeName(n),
      PEER_SERVICE,
      CUSTOM_SERVICE_NAME: SERVICE_NAME,
      CUSTOM_SERVICE_PORT: '80',
      TEST_PORT: '22',
      KUBECONFIG: join(this.dir, `${n.name}.kubeconfig`),
      IDENTITY_TOKEN_FILE: this.tokenFile(n),
      IDENTITY_AUDIENCE,
      // the pod's emptyDir: a restarted container keeps its key, a new pod gets another
      IDENTITY_KEY_FILE: join(this.dir, n.name, `key-${n.podUid}.pem`),
      ...this.env
    }
  }

  /** Starts node n's agent; `clockOffsetS` skews its wall clock (kept on the node for later restarts). */
  startAgent (n: VirtualNode, opts: AgentOptions = {}): AgentProcess {
    if (opts.newPod === true) throw new Error('a new pod needs restartAgent (its token is requested first)')
    if (opts.clockOffsetS !== undefined) n.clockOffsetS = opts.clockOffsetS
    if (opts.env !== undefined) n.env = opts.env
    const offset = n.clockOffsetS ?? 0
    if (offset !== 0) {
      const why = faketimeAvailable()
      if (why !== null) throw new Error(`cannot skew ${n.name}'s clock: ${why}`)
    }
    const env = this.podEnv(n)
    const agent = startAgentProcess({
      name: n.name,
      ip: n.podIp,
      peers: [],
      env: { ...env, ...n.env, LISTEN_ADDRESS: this.family === 'dual' ? '::' : n.podIp, STATIC_PEERS: '', ...(offset !== 0 ? faketimeEnv(offset) : {}) },
      prefix: ['ip', 'netns', 'exec', n.ns],
      log: join(this.dir, `${n.name}.log`),
      onText: line => this.o.onText?.(n.name, line)
    })
    n.agent = agent
    return agent
  }

  private readonly rogues = new Set<ChildProcess>()

  /**
   * Replaces node n's agent with a rogue member (test/harness/rogue.ts) on its pod IP, dialling the others: what an
   * attacker who owns that node can run. Stop it with stopRogue; the cluster's stop kills it too.
   */
  async startRogue (n: VirtualNode): Promise<ChildProcess> {
    await this.stopAgent(n, 'SIGKILL')
    const peers = this.nodes.filter(o => o !== n).map(o => o.podIp)
    const child = this.helper(n.ns, 'rogue.ts', [JSON.stringify({ ip: n.podIp, port: Number(this.gossipPort), peers })])
    this.rogues.add(child)
    await this.ready(child)
    return child
  }

  stopRogue (child: ChildProcess): void {
    child.kill('SIGKILL')
    this.rogues.delete(child)
  }

  async stopAgent (n: VirtualNode, signal: NodeJS.Signals): Promise<void> {
    const a = n.agent
    n.agent = null
    if (a !== null) await stopAgentProcess(a, signal)
  }

  async restartAgent (n: VirtualNode, signal: NodeJS.Signals = 'SIGTERM', opts: AgentOptions = {}): Promise<void> {
    // a clock that cannot be skewed here fails the restart before the agent is stopped, not after (the node would
    // stay down for the scenarios that follow)
    const why = (opts.clockOffsetS ?? 0) !== 0 ? faketimeAvailable() : null
    if (why !== null) throw new Error(`cannot skew ${n.name}'s clock: ${why}`)
    await this.stopAgent(n, signal)
    const { newPod, ...rest } = opts
    if (newPod === true) {
      n.podUid = randomUUID()
      await this.schedulePod(n)
    }
    await this.startAgent(n, rest).ready
  }

  // --- pod identity -------------------------------------------------------------------------------------------

  private readonly kubelets = new Map<VirtualNode, ProjectedServiceAccountToken>()
  private get tokenExpirationS (): number { return this.o.tokenExpirationS ?? 3600 }
  /** metadata.name of node n's Node object (spec.nodeName of its pods). */
  nodeName (n: VirtualNode): string { return `node-${n.index}` }
  /** Node n's kubelet credential at the apiserver (system:node:<name>). */
  kubeletToken (n: VirtualNode): string { return `kubelet-${this.nodeName(n)}` }
  /** The apiserver (stand-in) as the nodes reach it: HTTPS in podRunner clusters. */
  get apiserverUrl (): string { return `${this.ca === null ? 'http' : 'https'}://${urlHost(this.infraIp)}:${API_PORT}` }
  get apiserverPort (): number { return API_PORT }

  /** Tells the apiserver a pod exists (so tokens can be bound to it), as the scheduler and kubelet would. */
  async registerPod (pod: { namespace: string, name: string, uid: string, nodeName: string, serviceAccount: string }): Promise<void> {
    await call(this.mustInfra(), 'registerPod', { pod })
  }

  /** Registers node n's pod (n.podUid) with the apiserver, and has its kubelet mount a fresh identity token. */
  private async schedulePod (n: VirtualNode): Promise<void> {
    this.kubelets.get(n)?.stop()
    this.kubelets.delete(n)
    await this.registerPod({ namespace: NAMESPACE, name: n.name, uid: n.podUid, nodeName: this.nodeName(n), serviceAccount: SERVICE_ACCOUNT })
    const dir = join(this.dir, n.name)
    rmSync(dir, { recursive: true, force: true }) // a new pod's volume is a new directory
    const kubelet = new ProjectedServiceAccountToken({
      apiUrl: this.apiserverUrl,
      kubeletToken: this.kubeletToken(n),
      namespace: NAMESPACE,
      serviceAccount: SERVICE_ACCOUNT,
      pod: { name: n.name, uid: n.podUid },
      audience: IDENTITY_AUDIENCE,
      expirationSeconds: this.tokenExpirationS,
      dir
    })
    this.kubelets.set(n, kubelet)
    await kubelet.start()
  }

  /** metadata.uid of node n's agent pod. */
  podUid (n: VirtualNode): string { return n.podUid }

  /** Where node n's agent reads its identity token (IDENTITY_TOKEN_FILE); the kubelet keeps it current. */
  tokenFile (n: VirtualNode): string { return join(this.dir, n.name, 'token') }

  /** Node n's kubelet token projection (tokens written, failed refreshes, current expiry). */
  projectedToken (n: VirtualNode): ProjectedServiceAccountToken | undefined { return this.kubelets.get(n) }

  /**
   * A token signed by the cluster's apiserver (or, signWith 'other', by another cluster's key), for attack tests: by
   * default for node n's pod (`node`) and the agents' audience, with `overrides` laid over the claims (see
   * LeaseStandIn.mintForTest; undefined removes a claim).
   */
  async mintToken (overrides: Record<string, unknown> = {}, opts: MintOptions & { node?: VirtualNode } = {}): Promise<string> {
    const { node, ...rest } = opts
    const mint: MintOptions = {
      audiences: [IDENTITY_AUDIENCE],
      ...(node === undefined ? {} : { pod: { namespace: NAMESPACE, name: node.name } }),
      ...rest
    }
    const mark = (_k: string, v: unknown): unknown => v === undefined ? UNDEFINED_MARK : v
    const r = await call<{ token: string }>(this.mustInfra(), 'mintToken', { overrides: JSON.stringify(overrides, mark), opts: JSON.stringify(mint, mark) })
    return r.token
  }

  /** The apiserver's load: requests per kind of path (leases, serviceaccount-token, openid-configuration, jwks). */
  async apiserverRequests (): Promise<{ byPath: Record<PathKind, number>, tokensIssued: number }> {
    return await call(this.mustInfra(), 'status')
  }

  apiUrl (n: VirtualNode): string { return `http://${urlHost(n.podIp)}:8080` }
  async api<T> (n: VirtualNode, path: string): Promise<T> { return await getJson<T>(`${this.apiUrl(n)}${path}`) }

  // --- faults -------------------------------------------------------------------------------------------------

  /** Takes node n's link to the bridge down (or back up). */
  link (n: VirtualNode, up: boolean): void { run('ip', '-n', this.switchNs, 'link', 'set', `n${n.index}`, up ? 'up' : 'down') }

  /** Drops `percent` of the packets node n receives, at random (nftables numgen, where netem is missing). */
  loss (n: VirtualNode, percent: number): void {
    this.inNs(n.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'in', 'meta', 'l4proto', '{ icmp, ipv6-icmp, tcp }', 'numgen', 'random', 'mod', '100', '<', String(percent), 'drop')
  }

  /**
   * Blocks new connections and echoes from `from` to `to` (conntrack: replies to `to`'s own traffic still pass); with
   * `only`, over that address family alone (a dual-stack cluster's other family still works).
   */
  blockOneWay (from: VirtualNode, to: VirtualNode, only?: 'ipv4' | 'ipv6'): void {
    const ips = [...from.nodeIps, ...from.podIps].filter(ip => only === undefined || (only === 'ipv6') === ip.includes(':'))
    this.perFamily(to.ns, 'in', ips, null, (src) => [...src, 'ct', 'state', 'new', 'drop'])
  }

  /** Cuts all traffic between nodes of different groups (node and pod IPs, every protocol, open connections too). */
  partition (groups: VirtualNode[][]): void {
    groups.forEach((group, g) => {
      const others = groups.filter((_, h) => h !== g).flat().flatMap(o => [...o.nodeIps, ...o.podIps])
      for (const n of group) this.perFamily(n.ns, 'in', others, null, src => [...src, 'drop'])
    })
  }

  /** Cuts node n off the gossip mesh both ways (its port and others' ports); ICMP, TEST_PORT, health, API still pass. */
  blockGossip (n: VirtualNode): void {
    const port = this.gossipPort
    // sport too: an open connection n dialled would still deliver the peer's data to n (only n's ACKs were dropped)
    this.inNs(n.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'in', 'tcp', 'dport', port, 'drop')
    this.inNs(n.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'in', 'tcp', 'sport', port, 'drop')
    this.inNs(n.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'out', 'tcp', 'dport', port, 'drop')
    this.inNs(n.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'out', 'tcp', 'sport', port, 'drop')
  }

  /** Takes node n's pod IP off the network to other nodes (its node IP, the test process and infra still reach it). */
  podNetwork (n: VirtualNode, up: boolean): void {
    if (up) { this.heal(n); return }
    // only other nodes' addresses match: the root leg (subnet.254, the test reading the API) and infra stay exempt
    const others = this.nodes.filter(o => o !== n).flatMap(o => [...o.nodeIps, ...o.podIps])
    this.perFamily(n.ns, 'in', others, n.podIps, (src, dst) => [...src, ...dst, 'drop'])
    this.perFamily(n.ns, 'out', n.podIps, others, (src, dst) => [...src, ...dst, 'drop'])
  }

  /** Drops everything other nodes send to node n's node IP (a host firewall): its pod IP still works both ways. */
  blockNodeIp (n: VirtualNode): void {
    const others = this.nodes.filter(o => o !== n).flatMap(o => [...o.nodeIps, ...o.podIps])
    this.perFamily(n.ns, 'in', others, n.nodeIps, (src, dst) => [...src, ...dst, 'drop'])
  }

  /**
   * Adds one fault rule per address family to node `ns`'s chain: `build` gets the family's source match (and its
   * destination match, when `dst` is given) as nft words; a family missing from either side gets no rule.
   */
  private perFamily (ns: string, chain: 'in' | 'out', src: string[], dst: string[] | null, build: (src: string[], dst: string[]) => string[]): void {
    for (const fam of ['ip', 'ip6'] as const) {
      const s = src.filter(ip => nftFamily(ip) === fam)
      const d = dst?.filter(ip => nftFamily(ip) === fam) ?? []
      if (s.length === 0 || (dst !== null && d.length === 0)) continue
      this.inNs(ns, 'nft', 'add', 'rule', 'inet', 'fault', chain, ...build([fam, 'saddr', `{ ${s.join(', ')} }`], dst === null ? [] : [fam, 'daddr', `{ ${d.join(', ')} }`]))
    }
  }

  /** Toggles node n's link down for downMs, up for upMs, until the returned function stops it (link left up). */
  flap (n: VirtualNode, downMs: number, upMs: number): () => void {
    let timer: NodeJS.Timeout | undefined
    let stopped = false
    const toggle = (up: boolean): void => {
      if (stopped) return
      try { this.link(n, up) } catch { /* the cluster is going */ }
      timer = setTimeout(() => { toggle(!up) }, up ? upMs : downMs).unref()
    }
    const stop = (): void => {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      this.flappers.delete(stop)
      try { this.link(n, true) } catch { /* the cluster is gone */ }
    }
    this.flappers.add(stop)
    toggle(false)
    return stop
  }

  /** Removes every fault rule on node n (both chains). */
  heal (n: VirtualNode): void {
    this.inNs(n.ns, 'nft', 'flush', 'chain', 'inet', 'fault', 'in')
    this.inNs(n.ns, 'nft', 'flush', 'chain', 'inet', 'fault', 'out')
  }

  /** Removes every fault rule on every node. */
  healAll (): void { for (const n of this.nodes) this.heal(n) }

  private get gossipPort (): string { return this.env.GOSSIP_PORT ?? '6200' }

  async testPort (n: VirtualNode, open: boolean): Promise<void> { await call(n.sshd, open ? 'open' : 'close') }
  async dns (name: string, answer: DnsAnswer): Promise<void> { await call(this.mustInfra(), 'dns', { name, answer }) }
  /** Changes node n's Node object at the apiserver (cordon, Ready condition, autoscaler taint): what kubectl would do. */
  async setNode (n: VirtualNode, change: NodeChange): Promise<void> { await call(this.mustInfra(), 'node', { name: this.nodeName(n), change }) }
  async service (up: boolean): Promise<void> { await call(this.mustInfra(), 'service', { up }) }
  async apiserver (up: boolean): Promise<void> { await call(this.mustInfra(), 'apiserver', { up }) }
  async lease (): Promise<{ holder: string | null, transitions: number, apiserver: boolean }> {
    return await call(this.mustInfra(), 'status')
  }

  private mustInfra (): ChildProcess {
    if (this.infra === null) throw new Error('the cluster is not started')
    return this.infra
  }

  /** Where agents' logs and kubeconfigs are kept (for a failing test to point at). */
  get logDir (): string { return this.dir }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.map(async n => await this.stopAgent(n, 'SIGKILL')))
    this.destroySync()
  }

  /** Removes everything this cluster created; safe to call twice, and from an exit handler. */
  destroySync (): void {
    for (const stop of [...this.flappers]) stop()
    for (const k of this.kubelets.values()) k.stop()
    process.off('exit', this.onExit)
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
    for (const n of this.nodes) {
      n.agent?.child.kill('SIGKILL')
      n.sshd?.kill('SIGKILL')
    }
    this.infra?.kill('SIGKILL')
    for (const r of this.rogues) r.kill('SIGKILL')
    for (const x of this.extras) x.kill('SIGKILL')
    for (const n of this.nodes) removeNamespace(n.ns)
    removeNamespace(this.infraNs)
    removeNamespace(this.switchNs)
    tryRun('ip', 'link', 'del', this.rootLink)
    // agents' logs and kubeconfigs go too, unless kept for a post-mortem
    if (process.env.K8SNET_KEEP_CLUSTER_LOGS !== '1') rmSync(this.dir, { recursive: true, force: true })
    this.subnetClaim.release()
  }
}
