// How this agent reaches the Kubernetes API and proves who it is: the pod's service account, or a kubeconfig file.
import { execFile } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, join } from 'node:path'
import { ConfigError } from '../shared/config-error.ts'

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** The apiserver, how to trust it, and this agent's credentials. */
export interface KubeAccess {
  /** The apiserver's base URL (https, or http for a local stand-in). */
  server: URL
  /** CA certificates (PEM) to trust for the apiserver; null: the system's. */
  ca: Buffer | null
  /** Skip verifying the apiserver's certificate (a kubeconfig's insecure-skip-tls-verify). */
  insecure: boolean
  /** The name to verify the apiserver's certificate against, when not the URL's host (tls-server-name). */
  serverName: string | null
  /** A client certificate and key (PEM) to authenticate with, or null. */
  clientCert: { cert: Buffer, key: Buffer } | null
  /** The Authorization header for the next request, or null; tokens are re-read as they rotate. */
  authorization: () => Promise<string | null>
  /** Where these settings came from (for logs). */
  source: string
}

/** A credential could not be obtained at request time (token file gone, exec plugin failed). */
export class KubeCredentialError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'KubeCredentialError'
  }
}

const HOST = /^(?:[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*|[0-9a-fA-F:.]{2,45})$/
/** Service account tokens rotate (about hourly); the file is read again after this long, as client-go does. */
const TOKEN_REREAD_MS = 60_000

/**
 * A bearer token read from a file, re-read after `maxAgeMs` (the kubelet rewrites projected tokens in place). A read
 * that fails keeps the last good token: the old one stays valid for a while after rotation.
 */
function tokenFromFile (path: string, maxAgeMs: number, now: () => number): () => Promise<string> {
  let token = ''
  let readAt = -Infinity
  return async () => {
    if (now() - readAt < maxAgeMs && token !== '') return token
    try {
      const t = (await readFile(path, 'utf8')).trim()
      if (t !== '') { token = t; readAt = now() }
    } catch (err) {
      if (token === '') throw new KubeCredentialError(`token file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    if (token === '') throw new KubeCredentialError(`token file ${path} is empty`)
    return token
  }
}

function readRequired (variable: string, value: string, path: string, what: string): Buffer {
  try {
    const b = readFileSync(path)
    if (b.length === 0) throw new Error('empty')
    return b
  } catch (err) {
    throw new ConfigError(variable, value, `${what} at ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

export interface InClusterOptions {
  /** Where the service account is mounted. */
  dir?: string
  tokenMaxAgeMs?: number
  now?: () => number
}

/** The pod's service account: KUBERNETES_SERVICE_HOST/PORT, its token and the cluster CA mounted in the pod. */
export function inClusterAccess (env: NodeJS.ProcessEnv, o: InClusterOptions = {}): KubeAccess {
  const dir = o.dir ?? SERVICE_ACCOUNT_DIR
  const host = env.KUBERNETES_SERVICE_HOST ?? ''
  const portText = env.KUBERNETES_SERVICE_PORT ?? '443'
  if (!HOST.test(host)) throw new ConfigError('KUBERNETES_SERVICE_HOST', host, 'the apiserver\'s address (an IP or a DNS name)')
  const port = Number(portText)
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) throw new ConfigError('KUBERNETES_SERVICE_PORT', portText, 'a port number')
  const ca = readRequired('KUBERNETES_SERVICE_HOST', host, join(dir, 'ca.crt'), 'the service account\'s CA certificate')
  const tokenPath = join(dir, 'token')
  readRequired('KUBERNETES_SERVICE_HOST', host, tokenPath, 'the service account\'s token')
  const token = tokenFromFile(tokenPath, o.tokenMaxAgeMs ?? TOKEN_REREAD_MS, o.now ?? Date.now)
  return {
    server: new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`),
    ca,
    insecure: false,
    serverName: null,
    clientCert: null,
    authorization: async () => `Bearer ${await token()}`,
    source: `in-cluster service account (${dir})`
  }
}

export type Obj = Record<string, unknown>
/** A JSON/YAML mapping (not null, not a list). */
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** One entry of a kubeconfig's named list (clusters, users, contexts). */
function named (doc: Obj, list: string, name: string, field: string, bad: (detail: string) => ConfigError): Obj {
  const items = doc[list]
  if (!Array.isArray(items)) throw bad(`no ${list} list`)
  const hit = items.find((x: unknown) => isObj(x) && x.name === name)
  if (!isObj(hit) || !isObj(hit[field])) throw bad(`${list} has no entry named ${JSON.stringify(name)}`)
  return hit[field]
}

export interface KubeconfigOptions {
  tokenMaxAgeMs?: number
  now?: () => number
  /** Time allowed to an exec credential plugin. */
  execTimeoutMs?: number
}

/**
 * A kubeconfig file (YAML or JSON): its current context's cluster and user. Users may authenticate with a token, a
 * token file, a client certificate, a username and password, or an exec credential plugin that returns a token.
 */
export async function kubeconfigAccess (path: string, o: KubeconfigOptions = {}): Promise<KubeAccess> {
  const bad = (detail: string): ConfigError => new ConfigError('KUBECONFIG', path, `a usable kubeconfig file: ${detail}`)
  let text: string
  try {
    if (statSync(path).size > 4 * 1024 * 1024) throw bad('larger than 4 MiB')
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw bad(`unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  let doc: unknown
  try {
    const { parse } = await import('yaml')
    doc = parse(text, { maxAliasCount: 100 })
  } catch (err) {
    throw bad(`not YAML (${(err as Error).message.split('\n')[0] ?? ''})`)
  }
  if (!isObj(doc)) throw bad('not a mapping')
  const base = dirname(path)
  // paths in a kubeconfig are relative to the kubeconfig
  const resolved = (p: unknown, what: string): string => {
    if (typeof p !== 'string' || p === '') throw bad(`${what} is not a path`)
    return isAbsolute(p) ? p : join(base, p)
  }
  const file = (p: unknown, what: string): Buffer => {
    const full = resolved(p, what)
    try { return readFileSync(full) } catch (err) { throw bad(`${what} ${full}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`) }
  }
  /** PEM given inline (`<field>-data`, base64) or as a file (`<field>`), or null when neither is set. */
  const pem = (o: Obj, field: string): Buffer | null => {
    const inline = o[`${field}-data`]
    if (inline !== undefined) {
      if (typeof inline !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(inline)) throw bad(`${field}-data is not base64`)
      return Buffer.from(inline, 'base64')
    }
    return o[field] === undefined ? null : file(o[field], field)
  }
  const contextName = doc['current-context']
  if (typeof contextName !== 'string' || contextName === '') throw bad('no current-context')
  const context = named(doc, 'contexts', contextName, 'context', bad)
  if (typeof context.cluster !== 'string' || typeof context.user !== 'string') throw bad(`context ${contextName} names no cluster or no user`)
  const cluster = named(doc, 'clusters', context.cluster, 'cluster', bad)
  const user = named(doc, 'users', context.user, 'user', bad)

  let server: URL
  try {
    server = new URL(String(cluster.server))
  } catch {
    throw bad(`cluster ${context.cluster} has no valid server URL`)
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:') throw bad(`server ${server.href} is not http(s)`)
  if (cluster['proxy-url'] !== undefined) throw bad('proxy-url is not supported')
  const ca = pem(cluster, 'certificate-authority')
  const insecure = cluster['insecure-skip-tls-verify'] === true
  const serverName = typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : null

  for (const unsupported of ['auth-provider', 'as', 'as-groups', 'as-uid']) {
    if (user[unsupported] !== undefined) throw bad(`user ${context.user}: ${unsupported} is not supported (use a token, a client certificate or an exec plugin)`)
  }
  const cert = pem(user, 'client-certificate')
  const key = pem(user, 'client-key')
  if ((cert === null) !== (key === null)) throw bad(`user ${context.user} has a client certificate without its key, or a key without its certificate`)

  const now = o.now ?? Date.now
  let authorization: () => Promise<string | null> = async () => null
  if (typeof user.token === 'string' && user.token !== '') {
    const token = user.token
    authorization = async () => `Bearer ${token}`
  } else if (user.tokenFile !== undefined) {
    file(user.tokenFile, 'tokenFile')
    const token = tokenFromFile(resolved(user.tokenFile, 'tokenFile'), o.tokenMaxAgeMs ?? TOKEN_REREAD_MS, now)
    authorization = async () => `Bearer ${await token()}`
  } else if (isObj(user.exec)) {
    const token = execCredential(user.exec, base, o.execTimeoutMs ?? 30_000, now, bad)
    authorization = async () => `Bearer ${await token()}`
  } else if (typeof user.username === 'string' && typeof user.password === 'string') {
    const basic = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`
    authorization = async () => basic
  }
  return {
    server,
    ca,
    insecure,
    serverName,
    clientCert: cert !== null && key !== null ? { cert, key } : null,
    authorization,
    source: `kubeconfig ${path} (context ${contextName})`
  }
}

/**
 * An exec credential plugin (client.authentication.k8s.io): runs the command, reads the ExecCredential it prints and
 * keeps its token until shortly before it expires. Only token credentials are taken.
 */
function execCredential (exec: Obj, base: string, timeoutMs: number, now: () => number, bad: (detail: string) => ConfigError): () => Promise<string> {
  const apiVersion = exec.apiVersion
  if (typeof apiVersion !== 'string' || !apiVersion.startsWith('client.authentication.k8s.io/')) throw bad('exec has no client.authentication.k8s.io apiVersion')
  if (typeof exec.command !== 'string' || exec.command === '') throw bad('exec has no command')
  const args = exec.args ?? []
  if (!Array.isArray(args) || !args.every(a => typeof a === 'string')) throw bad('exec args are not a list of strings')
  const extra: Record<string, string> = {}
  for (const e of Array.isArray(exec.env) ? exec.env : []) {
    if (!isObj(e) || typeof e.name !== 'string' || typeof e.value !== 'string') throw bad('exec env entries need a name and a value')
    extra[e.name] = e.value
  }
  // a command given as a relative path (with a slash) is relative to the kubeconfig; a bare name is looked up in PATH
  const command = exec.command.includes('/') && !isAbsolute(exec.command) ? join(base, exec.command) : exec.command
  const info = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec: { interactive: false } })
  let cached: { token: string, until: number } | null = null
  let running: Promise<string> | null = null
  const run = async (): Promise<string> => await new Promise<string>((resolve, reject) => {
    execFile(command, args as string[], { env: { ...process.env, ...extra, KUBERNETES_EXEC_INFO: info }, timeout: timeoutMs, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) { reject(new KubeCredentialError(`exec plugin ${command}: ${err.message.split('\n')[0] ?? ''}${stderr.trim() === '' ? '' : ` (${stderr.trim().slice(0, 200)})`}`)); return }
      let out: unknown
      try { out = JSON.parse(stdout) } catch { reject(new KubeCredentialError(`exec plugin ${command} printed no JSON`)); return }
      const status = isObj(out) ? out.status : undefined
      const token = isObj(status) ? status.token : undefined
      if (typeof token !== 'string' || token === '') { reject(new KubeCredentialError(`exec plugin ${command} returned no token (client certificates from plugins are not supported)`)); return }
      const expires = isObj(status) && typeof status.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : NaN
      // a token without an expiry is kept; one with an expiry is refreshed 10 s before it
      cached = { token, until: Number.isNaN(expires) ? Infinity : now() + Math.max(0, expires - Date.now() - 10_000) }
      resolve(token)
    })
  })
  return async () => {
    if (cached !== null && now() < cached.until) return cached.token
    running ??= run().finally(() => { running = null })
    return await running
  }
}

/** The access the configuration asks for: a kubeconfig, the in-cluster service account, or none (never reports). */
export async function loadKubeAccess (kubeconfig: string, env: NodeJS.ProcessEnv): Promise<KubeAccess | null> {
  if (kubeconfig === '') return null
  if (kubeconfig === 'in-cluster') return inClusterAccess(env)
  return await kubeconfigAccess(kubeconfig)
}
