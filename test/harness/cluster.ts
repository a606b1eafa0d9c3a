// A virtual cluster in network namespaces: N nodes on one bridge, each with a node IP, a pod IP, an sshd stand-in
// and an agent started with a DaemonSet pod's environment; plus an infra namespace with the apiserver stand-in,
// cluster DNS and the custom Service. Faults (link down, loss, one-way blocks, closed ports, DNS) on demand.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getJson, startAgentProcess, stopAgentProcess, type AgentProcess } from '../../src/node/launcher.ts'
import type { DnsAnswer } from './dns-server.ts'
import type { InfraOptions } from './infra.ts'
import { call } from './rpc.ts'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const PREFIX = 'k8c'
export const PEER_SERVICE = 'k8snet-checker-peers.kube-system.svc.cluster.local'
export const SERVICE_NAME = 'web.default.svc.cluster.local'
const NAMESPACE = 'kube-system'

export interface ClusterOptions {
  nodes?: number
  /** Environment every agent gets on top of the DaemonSet-like base. */
  env?: Record<string, string>
  /** Receives each agent's plain-text stdout lines (the report). */
  onText?: (agent: string, line: string) => void
}

export interface VirtualNode {
  index: number
  name: string
  ns: string
  nodeIp: string
  podIp: string
  sshd: ChildProcess
  agent: AgentProcess | null
  /** Seconds the agent's wall clock runs ahead (negative: behind); kept across restarts. */
  clockOffsetS?: number
}

export interface AgentOptions {
  /** Offsets the agent's wall clock (Date.now) by this many seconds, its monotonic clock untouched; 0 clears it. */
  clockOffsetS?: number
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
  faketimeChecked = r.status !== 0 ? `libfaketime: node exited (${r.status ?? r.signal})`
    : !(Math.abs(skew - 3600) < 60) ? `libfaketime: Date.now was offset by ${skew} s, not 3600 s`
      : !(Math.abs(mono ?? NaN) < 60) ? 'libfaketime: the monotonic clock was faked too'
        : null
  return faketimeChecked
}

const run = (...args: string[]): string => execFileSync(args[0] ?? '', args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
const tryRun = (...args: string[]): void => { spawnSync(args[0] ?? '', args.slice(1), { stdio: 'ignore' }) }
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

/** Deletes what an earlier harness left behind when its process died without cleaning up. */
export function sweepStale (): void {
  const names = run('ip', 'netns', 'list').split('\n').map(l => l.split(' ')[0] ?? '').filter(n => n.startsWith(PREFIX))
  for (const ns of names) {
    const pid = Number(/^k8c(\d+)/.exec(ns)?.[1])
    if (Number.isInteger(pid) && !alive(pid)) removeNamespace(ns)
  }
  for (const dir of safeList('/etc/netns')) {
    const pid = Number(/^k8c(\d+)/.exec(dir)?.[1])
    if (Number.isInteger(pid) && !alive(pid)) rmSync(join('/etc/netns', dir), { recursive: true, force: true })
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
  readonly infraIp: string
  readonly serviceIp: string
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

  constructor (o: ClusterOptions = {}) {
    this.o = o
    const k = 20 + (process.pid % 200)
    this.subnet = `10.213.${k}`
    this.infraIp = `${this.subnet}.250`
    this.serviceIp = `${this.subnet}.251`
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
    run('ip', 'addr', 'add', `${this.subnet}.254/24`, 'dev', this.rootLink)
    run('ip', 'link', 'set', this.rootLink, 'up')
    // infra: apiserver stand-in, DNS, the custom Service's address
    run('ip', 'netns', 'add', this.infraNs)
    this.plug(this.infraNs, 'eth0', 'infra')
    this.inNs(this.infraNs, 'ip', 'addr', 'add', `${this.infraIp}/24`, 'dev', 'eth0')
    this.inNs(this.infraNs, 'ip', 'addr', 'add', `${this.serviceIp}/24`, 'dev', 'eth0')
    this.inNs(this.infraNs, 'ip', 'link', 'set', 'lo', 'up')
    this.inNs(this.infraNs, 'ip', 'link', 'set', 'eth0', 'up')
    for (let i = 1; i <= this.size; i++) {
      const ns = `${this.tag}n${i}`
      run('ip', 'netns', 'add', ns)
      this.plug(ns, 'eth0', `n${i}`)
      const node: VirtualNode = { index: i, name: `agent-${i}`, ns, nodeIp: `${this.subnet}.${10 + i}`, podIp: `${this.subnet}.${100 + i}`, sshd: null as unknown as ChildProcess, agent: null }
      this.nodes.push(node) // pushed first: a failure below still cleans it up
      // the pod IP first: it is the primary address, the source of the agent's connections (as in a pod)
      this.inNs(ns, 'ip', 'addr', 'add', `${node.podIp}/24`, 'dev', 'eth0')
      this.inNs(ns, 'ip', 'addr', 'add', `${node.nodeIp}/24`, 'dev', 'eth0')
      this.inNs(ns, 'ip', 'link', 'set', 'lo', 'up')
      this.inNs(ns, 'ip', 'link', 'set', 'eth0', 'up')
      this.inNs(ns, 'nft', 'add', 'table', 'inet', 'fault')
      this.inNs(ns, 'nft', 'add', 'chain', 'inet', 'fault', 'in', '{ type filter hook input priority 0; }')
      this.inNs(ns, 'nft', 'add', 'chain', 'inet', 'fault', 'out', '{ type filter hook output priority 0; }')
      mkdirSync(join('/etc/netns', ns), { recursive: true })
      writeFileSync(join('/etc/netns', ns, 'resolv.conf'), `nameserver ${this.infraIp}\noptions timeout:1 attempts:1\n`)
    }
    this.infra = this.helper(this.infraNs, 'infra.ts', [JSON.stringify(this.infraOptions())])
    await this.ready(this.infra)
    for (const n of this.nodes) {
      n.sshd = this.helper(n.ns, 'sshd.ts', [n.nodeIp, '22'])
      await this.ready(n.sshd)
    }
    for (const n of this.nodes) this.startAgent(n)
    await Promise.all(this.nodes.map(async n => await n.agent?.ready))
  }

  private infraOptions (): InfraOptions {
    return {
      ip: this.infraIp,
      serviceIp: this.serviceIp,
      servicePort: 80,
      apiPort: 6443,
      agents: this.nodes.map(n => n.name),
      namespace: NAMESPACE,
      kubeconfigDir: this.dir,
      records: { [PEER_SERVICE]: this.nodes.map(n => n.podIp), [SERVICE_NAME]: [this.serviceIp] }
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
      POD_NAME: n.name,
      NAMESPACE,
      NODE_NAME: `node-${n.index}`,
      PEER_SERVICE,
      CUSTOM_SERVICE_NAME: SERVICE_NAME,
      CUSTOM_SERVICE_PORT: '80',
      TEST_PORT: '22',
      KUBECONFIG: join(this.dir, `${n.name}.kubeconfig`),
      ...this.env
    }
  }

  /** Starts node n's agent; `clockOffsetS` skews its wall clock (kept on the node for later restarts). */
  startAgent (n: VirtualNode, opts: AgentOptions = {}): AgentProcess {
    if (opts.clockOffsetS !== undefined) n.clockOffsetS = opts.clockOffsetS
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
      env: { ...env, LISTEN_ADDRESS: n.podIp, STATIC_PEERS: '', ...(offset !== 0 ? faketimeEnv(offset) : {}) },
      prefix: ['ip', 'netns', 'exec', n.ns],
      log: join(this.dir, `${n.name}.log`),
      onText: line => this.o.onText?.(n.name, line)
    })
    n.agent = agent
    return agent
  }

  async stopAgent (n: VirtualNode, signal: NodeJS.Signals): Promise<void> {
    const a = n.agent
    n.agent = null
    if (a !== null) await stopAgentProcess(a, signal)
  }

  async restartAgent (n: VirtualNode, signal: NodeJS.Signals = 'SIGTERM', opts: AgentOptions = {}): Promise<void> {
    await this.stopAgent(n, signal)
    await this.startAgent(n, opts).ready
  }

  apiUrl (n: VirtualNode): string { return `http://${n.podIp}:8080` }
  async api<T> (n: VirtualNode, path: string): Promise<T> { return await getJson<T>(`${this.apiUrl(n)}${path}`) }

  // --- faults -------------------------------------------------------------------------------------------------

  /** Takes node n's link to the bridge down (or back up). */
  link (n: VirtualNode, up: boolean): void { run('ip', '-n', this.switchNs, 'link', 'set', `n${n.index}`, up ? 'up' : 'down') }

  /** Drops `percent` of the packets node n receives, at random (nftables numgen, where netem is missing). */
  loss (n: VirtualNode, percent: number): void {
    this.inNs(n.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'in', 'meta', 'l4proto', '{ icmp, tcp }', 'numgen', 'random', 'mod', '100', '<', String(percent), 'drop')
  }

  /** Blocks new connections and echoes from `from` to `to` (conntrack: replies to `to`'s own traffic still pass). */
  blockOneWay (from: VirtualNode, to: VirtualNode): void {
    this.inNs(to.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'in', 'ip', 'saddr', `{ ${from.nodeIp}, ${from.podIp} }`, 'ct', 'state', 'new', 'drop')
  }

  /** Cuts all traffic between nodes of different groups (node and pod IPs, every protocol, open connections too). */
  partition (groups: VirtualNode[][]): void {
    groups.forEach((group, g) => {
      const others = groups.filter((_, h) => h !== g).flat().flatMap(o => [o.nodeIp, o.podIp])
      if (others.length === 0) return
      for (const n of group) this.inNs(n.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'in', 'ip', 'saddr', `{ ${others.join(', ')} }`, 'drop')
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
    const ips = this.nodes.filter(o => o !== n).flatMap(o => [o.nodeIp, o.podIp])
    if (ips.length === 0) return
    const others = `{ ${ips.join(', ')} }`
    this.inNs(n.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'in', 'ip', 'saddr', others, 'ip', 'daddr', n.podIp, 'drop')
    this.inNs(n.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'out', 'ip', 'saddr', n.podIp, 'ip', 'daddr', others, 'drop')
  }

  /** Drops everything other nodes send to node n's node IP (a host firewall): its pod IP still works both ways. */
  blockNodeIp (n: VirtualNode): void {
    const ips = this.nodes.filter(o => o !== n).flatMap(o => [o.nodeIp, o.podIp])
    if (ips.length === 0) return
    this.inNs(n.ns, 'nft', 'add', 'rule', 'inet', 'fault', 'in', 'ip', 'saddr', `{ ${ips.join(', ')} }`, 'ip', 'daddr', n.nodeIp, 'drop')
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
    process.off('exit', this.onExit)
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
    for (const n of this.nodes) {
      n.agent?.child.kill('SIGKILL')
      n.sshd?.kill('SIGKILL')
    }
    this.infra?.kill('SIGKILL')
    for (const n of this.nodes) removeNamespace(n.ns)
    removeNamespace(this.infraNs)
    removeNamespace(this.switchNs)
    tryRun('ip', 'link', 'del', this.rootLink)
    // agents' logs and kubeconfigs go too, unless kept for a post-mortem
    if (process.env.K8SNET_KEEP_CLUSTER_LOGS !== '1') rmSync(this.dir, { recursive: true, force: true })
  }
}
