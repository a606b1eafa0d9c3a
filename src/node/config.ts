// Reads the environment into one typed, validated configuration object; a bad value throws a ConfigError.
import { isIP } from 'node:net'
import type { PeerAddress } from '../gossip/dial-planner.ts'
import { ConfigError } from '../shared/config-error.ts'
import { VARIABLE_MEANINGS } from './variables.ts'

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export const REPORT_FORMATS = ['ours', 'original', 'json'] as const
export type ReportFormat = typeof REPORT_FORMATS[number]

export interface Config {
  // identity (downward API)
  nodeIp: string
  podIp: string
  /** Every node and pod address, the primary first, at most one a family (status.hostIPs, status.podIPs). */
  nodeIps: string[]
  podIps: string[]
  podName: string
  namespace: string
  nodeName: string
  // the original tool's knobs
  heartbeatIntervalS: number
  cacheKeySecond: number
  /** Above this many agents, heartbeats go to two aggregators that gossip batched liveness digests. */
  heartbeatDigestAbove: number
  testPort: number
  customServiceName: string
  customServicePort: number
  clientPort: number
  httpPort: number
  reportIntervalS: number
  /** The printed report's layout: ours (English) or the original's (its headings and language), verdicts appended. */
  reportFormat: ReportFormat
  logLevel: LogLevel
  // the mesh
  listenAddress: string
  gossipPort: number
  peerService: string
  staticPeers: PeerAddress[]
  /** The projected ServiceAccount token that binds this agent's key to its pod ('' : none, identities unchecked). */
  identityTokenFile: string
  /** The audience that token is requested for, and that peers' tokens must carry. */
  identityAudience: string
  /** Where the pod's key is kept across container restarts ('': a new key per process). */
  identityKeyFile: string
  discoveryIntervalS: number
  fullRefreshIntervalS: number
  meshMaxPeers: number
  // the probes
  probeIntervalS: number
  probeTimeoutMs: number
  probeEchoes: number
  probeConcurrency: number
  /** Above this many live agents, each agent probes a rotating sample instead of everyone. */
  probeSampleAbove: number
  /** With sampling, each target is probed by at least this many agents every round. */
  probeCoverage: number
  /** With sampling, each agent keeps its sample for this many rounds (only changes are gossiped in between). */
  probeSampleHold: number
  fpingPath: string
  // the process
  /** How far V8 may grow its heap past what survived a full collection while the view is large, in % (0: V8 decides). */
  heapGrowthPercent: number
  /** The view size (agents and legacy clients) above which that bound holds. */
  heapGrowthAbove: number
  // the reporter election
  leaseName: string
  leaseNamespace: string
  leaseDurationMs: number
  leaseRenewDeadlineMs: number
  leaseRetryPeriodMs: number
  leaseContenders: number
  /** A kubeconfig path, 'in-cluster', or '' when no Kubernetes API is reachable (the agent never reports). */
  kubeconfig: string
  // the API
  maxExternalOrigins: number
  apiBodyLimitBytes: number
  /** Whether the legacy POST endpoints accept reports at all. */
  apiWrites: boolean
  /** Writes per minute each client address may make (a token bucket; 429 beyond). */
  apiWriteRate: number
  /** A file holding the bearer token the write endpoints require ('' = no token required). */
  apiTokenFile: string
  /** A file holding the libp2p pre-shared key of a private mesh ('' = no key). */
  gossipPskFile: string
  /** Variables that were set but are no longer meaningful (e.g. SERVER_URL); the caller logs a warning. */
  ignored: string[]
}

type Env = Record<string, string | undefined>

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i
const POD_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/

/** A variable as the parser reads it: its default ("(required)" when none) and what it accepts. */
export interface VariableUse { name: string, default: string, accepts: string }
/** Set while describeVariables() runs parseConfig: every helper below notes the variable it reads. */
let noting: VariableUse[] | null = null
const note = (name: string, def: string | number | undefined, accepts: string): void => {
  if (noting !== null && !noting.some(v => v.name === name)) noting.push({ name, default: def === undefined ? '(required)' : String(def), accepts })
}

function raw (env: Env, name: string): string | undefined {
  const v = env[name]
  return v === undefined || v.trim() === '' ? undefined : v.trim()
}

function int (env: Env, name: string, def: number, min: number, max: number, unit: string): number {
  note(name, def, `an integer ${unit} between ${min} and ${max}`)
  const v = raw(env, name)
  if (v === undefined) return def
  if (!/^[0-9]+$/.test(v)) throw new ConfigError(name, v, `an integer ${unit} between ${min} and ${max}`)
  const n = Number(v)
  if (n < min || n > max) throw new ConfigError(name, v, `an integer ${unit} between ${min} and ${max}`)
  return n
}

/** Seconds, decimals allowed (e.g. "0.5"), returned in ms. */
function secondsMs (env: Env, name: string, def: number, min: number, max: number): number {
  note(name, def, `seconds between ${min} and ${max} (decimals allowed)`)
  const v = raw(env, name)
  if (v === undefined) return def * 1000
  const expected = `a number of seconds between ${min} and ${max}`
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v)) throw new ConfigError(name, v, expected)
  const n = Number(v)
  if (n < min || n > max) throw new ConfigError(name, v, expected)
  return Math.round(n * 1000)
}

function port (env: Env, name: string, def: number): number {
  return int(env, name, def, 1, 65535, 'port')
}

function ip (env: Env, name: string, def: string | undefined): string {
  note(name, def, 'an IPv4 or IPv6 address')
  const v = raw(env, name)
  if (v === undefined) {
    if (def === undefined) throw new ConfigError(name, '', 'an IPv4 or IPv6 address (set it from the downward API)')
    return def
  }
  if (isIP(v) === 0) throw new ConfigError(name, v, 'an IPv4 or IPv6 address')
  return v
}

/**
 * A node's or pod's addresses on a dual-stack cluster (the downward API's status.hostIPs / status.podIPs: comma-
 * separated), the primary first whatever the list's order; one address a family at most. Unset: the primary alone.
 */
function addressList (env: Env, name: string, primary: string): string[] {
  note(name, '', 'a comma-separated list of IP addresses, one IPv4 and one IPv6 at most')
  const v = raw(env, name)
  if (v === undefined) return [primary]
  const items = v.split(',').map(s => s.trim()).filter(s => s !== '')
  const bad = items.find(item => isIP(item) === 0)
  if (bad !== undefined) throw new ConfigError(name, v, `a comma-separated list of IP addresses ("${bad}" is not one)`)
  const out = [primary, ...items.filter(item => item !== primary)]
  if (out.length > 2 || new Set(out.map(ip => isIP(ip))).size !== out.length) {
    throw new ConfigError(name, v, `one IPv4 and one IPv6 address at most, with ${primary} among them`)
  }
  return out
}

function matching (env: Env, name: string, re: RegExp, expected: string, def: string | undefined): string {
  note(name, def, expected)
  const v = raw(env, name)
  if (v === undefined) {
    if (def === undefined) throw new ConfigError(name, '', `${expected} (it is required)`)
    return def
  }
  if (!re.test(v)) throw new ConfigError(name, v, expected)
  return v
}

/** LOG_LEVEL in any case, `warning` for warn (as the original accepted them). */
function logLevel (env: Env): LogLevel {
  const v = matching(env, 'LOG_LEVEL', new RegExp(`^(${[...LOG_LEVELS, 'warning'].join('|')})$`, 'i'), `one of ${LOG_LEVELS.join(', ')} (any case; warning for warn)`, 'info').toLowerCase()
  return (v === 'warning' ? 'warn' : v) as LogLevel
}

function peerList (env: Env, name: string, defPort: number): PeerAddress[] {
  note(name, '', `a comma-separated list of IP or IP:port entries (port ${defPort} when left out)`)
  const v = raw(env, name)
  if (v === undefined) return []
  const out: PeerAddress[] = []
  for (const item of v.split(',').map(s => s.trim()).filter(s => s !== '')) {
    // a bare address (IPv4 or IPv6) is taken whole; a port needs "ip:port" for IPv4 or "[ip]:port" for IPv6
    const m = isIP(item) !== 0 ? [item, item] : /^\[([^\]]+)\](?::([0-9]+))?$|^([^:[\]]+):([0-9]+)$/.exec(item)
    const host = m?.[1] ?? m?.[3] ?? ''
    const port = m?.[2] ?? m?.[4]
    const p = port === undefined ? defPort : Number(port)
    if (isIP(host) === 0 || p < 1 || p > 65535) {
      throw new ConfigError(name, v, `a comma-separated list of IP or IP:port entries (bad entry "${item}")`)
    }
    out.push({ ip: host, port: p })
  }
  return out
}

/** Parses and validates the agent's environment. Throws ConfigError naming the first bad variable. */
export function parseConfig (env: Env): Config {
  const nodeIp = ip(env, 'NODE_IP', undefined)
  const podIp = ip(env, 'POD_IP', undefined)
  const podName = matching(env, 'POD_NAME', POD_NAME, 'a Kubernetes pod name (lower-case letters, digits, "-" and ".")', undefined)
  const namespace = matching(env, 'NAMESPACE', /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a Kubernetes namespace name', undefined)
  const nodeName = matching(env, 'NODE_NAME', POD_NAME, 'a Kubernetes node name', nodeIp)
  const heartbeatIntervalS = int(env, 'HEARTBEAT_INTERVAL', 5, 1, 3600, 'number of seconds')
  const cacheKeySecond = int(env, 'CACHE_KEY_SECOND', 15, 2, 86400, 'number of seconds')
  if (heartbeatIntervalS >= cacheKeySecond) {
    throw new ConfigError('HEARTBEAT_INTERVAL', String(heartbeatIntervalS),
      `a value below CACHE_KEY_SECOND (${cacheKeySecond}), or every agent expires between two heartbeats`)
  }
  const gossipPort = port(env, 'GOSSIP_PORT', 6200)
  const leaseDurationMs = secondsMs(env, 'LEASE_DURATION', 15, 1, 3600)
  const leaseRenewDeadlineMs = secondsMs(env, 'LEASE_RENEW_DEADLINE', 10, 0.5, 3600)
  const leaseRetryPeriodMs = secondsMs(env, 'LEASE_RETRY_PERIOD', 2, 0.1, 3600)
  if (leaseRenewDeadlineMs >= leaseDurationMs) {
    throw new ConfigError('LEASE_RENEW_DEADLINE', String(leaseRenewDeadlineMs / 1000), `less than LEASE_DURATION (${leaseDurationMs / 1000})`)
  }
  if (leaseRetryPeriodMs * 1.2 >= leaseRenewDeadlineMs) {
    throw new ConfigError('LEASE_RETRY_PERIOD', String(leaseRetryPeriodMs / 1000), `less than LEASE_RENEW_DEADLINE / 1.2 (${leaseRenewDeadlineMs / 1200})`)
  }
  const kubeconfigPath = matching(env, 'KUBECONFIG', /^[^\0]{1,4096}$/, 'a path to a kubeconfig file', '')
  const inCluster = raw(env, 'KUBERNETES_SERVICE_HOST') !== undefined
  const ignored: string[] = []
  note('SERVER_URL', '', 'anything (ignored)')
  if (raw(env, 'SERVER_URL') !== undefined) ignored.push('SERVER_URL')
  return {
    nodeIp,
    podIp,
    nodeIps: addressList(env, 'NODE_IPS', nodeIp),
    podIps: addressList(env, 'POD_IPS', podIp),
    podName,
    namespace,
    nodeName,
    heartbeatIntervalS,
    cacheKeySecond,
    heartbeatDigestAbove: int(env, 'HEARTBEAT_DIGEST_ABOVE', 100, 2, 100000, 'number of agents'),
    testPort: port(env, 'TEST_PORT', 22),
    customServiceName: matching(env, 'CUSTOM_SERVICE_NAME', DNS_NAME, 'a DNS name such as my-svc.my-namespace.svc.cluster.local', ''),
    customServicePort: port(env, 'CUSTOM_SERVICE_PORT', 80),
    clientPort: port(env, 'CLIENT_PORT', 6100),
    httpPort: port(env, 'HTTP_PORT', 8080),
    reportIntervalS: int(env, 'REPORT_INTERVAL', 300, 1, 86400, 'number of seconds'),
    reportFormat: matching(env, 'REPORT_FORMAT', new RegExp(`^(${REPORT_FORMATS.join('|')})$`), `one of ${REPORT_FORMATS.join(', ')}`, 'ours') as ReportFormat,
    logLevel: logLevel(env),
    listenAddress: ip(env, 'LISTEN_ADDRESS', '::'),
    gossipPort,
    peerService: matching(env, 'PEER_SERVICE', DNS_NAME, 'the DNS name of the headless Service of the agents', ''),
    staticPeers: peerList(env, 'STATIC_PEERS', gossipPort),
    identityTokenFile: matching(env, 'IDENTITY_TOKEN_FILE', /^\/[^\0]{0,4095}$/, 'an absolute path to the projected ServiceAccount token', ''),
    identityAudience: matching(env, 'IDENTITY_AUDIENCE', /^[A-Za-z0-9._:/-]{1,253}$/, 'a token audience (letters, digits and . _ : / -)', 'k8snet-checker'),
    identityKeyFile: matching(env, 'IDENTITY_KEY_FILE', /^\/[^\0]{0,4095}$/, 'an absolute path for the pod\'s key (on an emptyDir)', ''),
    discoveryIntervalS: int(env, 'DISCOVERY_INTERVAL', 5, 1, 3600, 'number of seconds'),
    fullRefreshIntervalS: int(env, 'FULL_REFRESH_INTERVAL', 60, 5, 86400, 'number of seconds'),
    meshMaxPeers: int(env, 'MESH_MAX_PEERS', 32, 4, 10000, 'number of peers'),
    probeIntervalS: int(env, 'PROBE_INTERVAL', 10, 1, 3600, 'number of seconds'),
    probeTimeoutMs: int(env, 'PROBE_TIMEOUT_MS', 1000, 50, 30000, 'number of milliseconds'),
    probeEchoes: int(env, 'PROBE_ECHOES', 3, 1, 20, 'number of ICMP echoes per target'),
    probeConcurrency: int(env, 'PROBE_CONCURRENCY', 512, 1, 4096, 'number of concurrent TCP probes'),
    probeSampleAbove: int(env, 'PROBE_SAMPLE_ABOVE', 100, 2, 100000, 'number of agents'),
    probeCoverage: int(env, 'PROBE_COVERAGE', 10, 1, 1000, 'number of probing agents per target'),
    probeSampleHold: int(env, 'PROBE_SAMPLE_HOLD', 20, 1, 1000, 'number of probe rounds'),
    fpingPath: matching(env, 'FPING_PATH', /^[^\0]{1,4096}$/, 'a path to the fping binary', 'fping'),
    heapGrowthPercent: int(env, 'HEAP_GROWTH_PERCENT', 20, 0, 1000, 'percentage'),
    heapGrowthAbove: int(env, 'HEAP_GROWTH_ABOVE', 100, 0, 100000, 'number of origins'),
    leaseName: matching(env, 'LEASE_NAME', /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, 'a Kubernetes object name', 'k8snet-checker-reporter'),
    leaseNamespace: matching(env, 'LEASE_NAMESPACE', /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a Kubernetes namespace name', namespace),
    leaseDurationMs,
    leaseRenewDeadlineMs,
    leaseRetryPeriodMs,
    leaseContenders: int(env, 'LEASE_CONTENDERS', 3, 1, 100, 'number of agents'),
    kubeconfig: kubeconfigPath !== '' ? kubeconfigPath : inCluster ? 'in-cluster' : '',
    maxExternalOrigins: int(env, 'MAX_EXTERNAL_ORIGINS', 5000, 0, 100000, 'number of origins'),
    apiBodyLimitBytes: int(env, 'API_BODY_LIMIT', 2097152, 1024, 67108864, 'number of bytes'),
    apiWrites: matching(env, 'API_WRITES', /^(on|off)$/, 'on or off', 'on') === 'on',
    apiWriteRate: int(env, 'API_WRITE_RATE', 120, 1, 1000000, 'number of writes per minute per client'),
    apiTokenFile: matching(env, 'API_TOKEN_FILE', /^\/[^\0]{0,4095}$/, 'an absolute path to a file holding the token', ''),
    gossipPskFile: matching(env, 'GOSSIP_PSK_FILE', /^\/[^\0]{0,4095}$/, 'an absolute path to a libp2p pre-shared key file', ''),
    ignored
  }
}

/** The identity a pod always has, so that the defaults of everything else can be read. */
const DESCRIBE_ENV = { NODE_IP: '10.0.0.1', POD_IP: '10.0.0.2', POD_NAME: 'pod', NAMESPACE: 'namespace' }

/**
 * Every variable parseConfig reads, in the order it reads them, with its default, what it accepts (noted by the
 * parser's own helpers, so this cannot drift from the parser) and its meaning (src/node/variables.ts).
 */
export function describeVariables (): Array<VariableUse & { meaning: string }> {
  noting = []
  try {
    parseConfig(DESCRIBE_ENV)
    const uses = noting
    // a default taken from another variable reads as that variable's name, not the placeholder value above
    const from = new Map(Object.entries(DESCRIBE_ENV).map(([k, value]) => [value, `the value of ${k}`]))
    return uses.map(v => ({
      ...v,
      default: Object.hasOwn(DESCRIBE_ENV, v.name) ? '(required)' : from.get(v.default) ?? v.default,
      meaning: VARIABLE_MEANINGS[v.name] ?? ''
    }))
  } finally {
    noting = null
  }
}
