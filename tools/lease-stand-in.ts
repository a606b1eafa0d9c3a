// A stand-in Kubernetes API server for Leases (tests and the demo): a real HTTP server, strict like the apiserver.
// It also issues projected ServiceAccount tokens the way kube-apiserver does (TokenRequest, the kubelet's call), and
// serves the issuer's OIDC discovery document and JWKS, so pod identities can be verified offline.
import { createHash, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { writeFileSync } from 'node:fs'
import { parseJwks, verifyToken, type Jwks } from '../src/core/sa-token.ts'
import { NODES_PATH, NodeStore } from './node-store.ts'

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/
const PATH = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([a-z0-9-]{1,63})\/leases(?:\/([a-z0-9.-]{1,253}))?$/
const TOKEN_PATH = /^\/api\/v1\/namespaces\/([a-z0-9-]{1,63})\/serviceaccounts\/([a-z0-9.-]{1,253})\/token$/
/** kube-apiserver's paths for the service account issuer's discovery (pkg/serviceaccount/openidmetadata.go). */
export const OPENID_CONFIG_PATH = '/.well-known/openid-configuration'
export const JWKS_PATH = '/openid/v1/jwks'
/** kube-apiserver's default --service-account-issuer on kubeadm and most distributions. */
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local'
/** The TokenRequest API's floor on spec.expirationSeconds (authentication validation: 10 minutes) and its default. */
export const MIN_TOKEN_EXPIRATION_S = 600
export const DEFAULT_TOKEN_EXPIRATION_S = 3600
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export type PathKind = 'leases' | 'serviceaccount-token' | 'openid-configuration' | 'jwks' | 'nodes' | 'other'
const pathKind = (path: string): PathKind =>
  PATH.test(path)
    ? 'leases'
    : path === NODES_PATH
      ? 'nodes'
      : TOKEN_PATH.test(path)
        ? 'serviceaccount-token'
        : path === OPENID_CONFIG_PATH
          ? 'openid-configuration'
          : path === JWKS_PATH
            ? 'jwks'
            : 'other'

interface StoredLease {
  metadata: { name: string, namespace: string, uid: string, resourceVersion: string, creationTimestamp: string }
  spec: Record<string, unknown>
}

export interface StandInStats {
  /**
   * Requests per authenticated caller: the bearer token itself for the static tokens and kubelets (each agent gets
   * its own token, so this counts per caller), `pod:<namespace>/<name>` for a service account token it issued.
   */
  byToken: Record<string, number>
  rejected: Record<string, number>
  writes: number
  /** Every request by kind of path, counted on arrival (authenticated or not): the apiserver load of each feature. */
  byPath: Record<PathKind, number>
  /** Service account tokens issued (TokenRequests answered 201). */
  tokensIssued: number
}

class HttpError extends Error {
  readonly code: number
  readonly reason: string
  readonly details: object | undefined
  constructor (code: number, reason: string, message: string, details?: object) {
    super(message)
    this.code = code
    this.reason = reason
    this.details = details
  }
}

const LEASE_DETAILS = { group: 'coordination.k8s.io', kind: 'leases' }

function status (code: number, reason: string, message: string, details?: object): object {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code
  }
}

/** 403 as the authorizer or an admission plugin says it: `<resource> "<name>" is forbidden: <why>`. */
const forbidden = (resource: string, name: string, why: string): HttpError =>
  new HttpError(403, 'Forbidden', `${resource} "${name}" is forbidden: ${why}`, { name, kind: resource })
const notFound = (resource: string, name: string): HttpError =>
  new HttpError(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource })

export interface StandInOptions {
  /** The issuer (iss, discovery `issuer`); default https://kubernetes.default.svc.cluster.local. */
  issuer?: string
  /** The apiserver's own audiences (--api-audiences): the default of a TokenRequest without audiences, and the
   * audiences a token it issued must have to authenticate here. Default: [issuer]. */
  apiAudiences?: string[]
  /**
   * The floor on a TokenRequest's expirationSeconds: 600 like the real one (422 below it). Test mode only: a lower
   * floor lets a harness watch tokens rotate in seconds; a real apiserver has no such knob.
   */
  minTokenExpirationS?: number
  /** --service-account-max-token-expiration: longer requests are shortened to it (with a Warning). None by default. */
  maxTokenExpirationS?: number
  /**
   * Who may GET the discovery document and the JWKS. 'service-accounts' (default): what the bootstrap RBAC policy
   * grants (ClusterRoleBinding system:service-account-issuer-discovery to the group system:serviceaccounts), so any
   * service account credential here, not a kubelet's; 'anyone': the common extra binding to system:unauthenticated.
   */
  issuerDiscovery?: 'service-accounts' | 'anyone'
  /**
   * Whether service accounts may get, list and watch Nodes: 'granted' (default), as deploy/'s ClusterRole
   * k8snet-checker-nodes does; 'forbidden': that ClusterRole not applied (403, as RBAC answers).
   */
  nodeAccess?: 'granted' | 'forbidden'
}

export interface PodRegistration {
  namespace: string
  name: string
  /** Default: a random UUID. */
  uid?: string
  /** spec.nodeName: the node whose kubelet may ask for the pod's tokens, named in the token's node claim. */
  nodeName: string
  /** spec.serviceAccountName (created, with a uid of its own, on first use). */
  serviceAccount: string
}

export interface RegisteredPod { namespace: string, name: string, uid: string, nodeName: string, serviceAccount: string }

export interface MintOptions {
  /** The registered pod whose claims are the base (default: the first registered; a made-up one when none). */
  pod?: { namespace: string, name: string }
  /** aud; default the apiserver audiences. */
  audiences?: string[]
  /** exp - iat; negative for a token that has already expired. Default 3600. */
  expiresInS?: number
  /** 'other': a key this cluster does not publish (another cluster's); its own kid unless the header says one. */
  signWith?: 'own' | 'other'
  /** Header members to set or (undefined) remove, e.g. { kid: 'x' } or { alg: 'RS512' } (still signed RS256). */
  header?: Record<string, unknown>
}

interface Caller {
  /** The key in stats.byToken. */
  id: string
  /** The user name the authorizer sees (for messages). */
  user: string
  kind: 'token' | 'kubelet' | 'serviceaccount'
  node?: string
}

interface SigningKey { privateKey: KeyObject, kid: string, jwk: Record<string, unknown> }

function b64url (b: Buffer | string): string { return Buffer.from(b).toString('base64url') }

/** A new RSA 2048 signing key; kid as kube-apiserver derives it: base64url(SHA-256(DER SubjectPublicKeyInfo)). */
function newSigningKey (): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const kid = b64url(createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest())
  const { n, e } = publicKey.export({ format: 'jwk' })
  // the members in the order go-jose writes them
  return { privateKey, kid, jwk: { use: 'sig', kty: 'RSA', kid, alg: 'RS256', n, e } }
}

/** JSON with every object's keys sorted, as Go's encoding/json writes the map go-jose builds the claims in. */
function sortedJson (v: unknown): string {
  const sorted = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sorted)
    if (typeof x !== 'object' || x === null) return x
    return Object.fromEntries(Object.keys(x).sort().map(k => [k, sorted((x as Record<string, unknown>)[k])]))
  }
  return JSON.stringify(sorted(v))
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
/** RFC 3339 to the second, as metav1.Time is written. */
const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')

export interface StandInTls { key: Buffer, cert: Buffer, clientCa?: Buffer }

export class LeaseStandIn {
  readonly tokens: Set<string>
  readonly stats: StandInStats = {
    byToken: {},
    rejected: {},
    writes: 0,
    byPath: { leases: 0, 'serviceaccount-token': 0, 'openid-configuration': 0, jwks: 0, nodes: 0, other: 0 },
    tokensIssued: 0
  }

  readonly issuer: string
  readonly apiAudiences: readonly string[]
  private readonly leases = new Map<string, StoredLease>()
  /** The cluster's Node objects (a node appears when a pod is registered on it). */
  readonly nodes = new NodeStore()
  private revision = 1000
  private server: Server | null = null
  private host = '127.0.0.1'
  private port = 0

  private readonly tls: StandInTls | null
  private readonly o: StandInOptions
  private readonly key: SigningKey = newSigningKey()
  private otherKey: SigningKey | null = null
  private readonly ownJwks: Jwks
  private readonly pods = new Map<string, RegisteredPod>()
  private readonly serviceAccounts = new Map<string, string>()
  private readonly nodeUids = new Map<string, string>()
  /** Kubelet credentials: token -> node name (system:node:<name>, under the Node authorizer and NodeRestriction). */
  private readonly kubelets = new Map<string, string>()
  /** Static tokens granted `create serviceaccounts/token` in every namespace (an admin's RBAC). */
  private readonly tokenRequesters = new Set<string>()

  /**
   * `tls`: serve HTTPS with this certificate; with `clientCa`, a client certificate it signed authenticates too.
   * `options`: the service account issuer (see StandInOptions). A signing key (RSA 2048) is made here.
   */
  constructor (tokens: Iterable<string>, tls: StandInTls | null = null, options: StandInOptions = {}) {
    this.tokens = new Set(tokens)
    this.tls = tls
    this.o = options
    this.issuer = options.issuer ?? DEFAULT_ISSUER
    this.apiAudiences = [...(options.apiAudiences ?? [this.issuer])]
    this.ownJwks = parseJwks(this.jwks)
  }

  get url (): string { return `${this.tls === null ? 'http' : 'https'}://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}` }
  get running (): boolean { return this.server !== null }
  /** The kid of the signing key (base64url SHA-256 of its SubjectPublicKeyInfo, like kube-apiserver's). */
  get kid (): string { return this.key.kid }
  /** The JWKS it serves at /openid/v1/jwks. */
  get jwks (): { keys: Array<Record<string, unknown>> } { return { keys: [{ ...this.key.jwk }] } }
  /** The discovery document it serves at /.well-known/openid-configuration (jwks_uri on its current URL). */
  get openidConfiguration (): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.url}${JWKS_PATH}`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256']
    }
  }

  /** Starts (or restarts, keeping every Lease and the revision counter) on host:port; port 0 picks one. */
  async start (host = this.host, port = this.port): Promise<void> {
    this.host = host
    const handler = (req: IncomingMessage, res: ServerResponse): void => { void this.handle(req, res) }
    const tls = this.tls
    const server: Server = tls === null
      ? createServer(handler)
      : createTlsServer({ key: tls.key, cert: tls.cert, ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false }) }, handler)
    server.keepAliveTimeout = 2_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port }, () => { server.off('error', reject); resolve() })
    })
    this.port = (server.address() as { port: number }).port
    this.server = server
  }

  /** Stops answering at once: open connections are cut, as when an apiserver goes away. */
  async stop (): Promise<void> {
    const s = this.server
    if (s === null) return
    this.server = null
    this.nodes.closeWatches()
    s.closeAllConnections()
    await new Promise(resolve => s.close(resolve))
  }

  lease (namespace: string, name: string): StoredLease | undefined {
    return this.leases.get(`${namespace}/${name}`)
  }

  /** Writes a kubeconfig that reaches this server with `token` (plain HTTP needs skip-TLS-verify). */
  writeKubeconfig (path: string, token: string, namespace = 'default'): void {
    writeFileSync(path, JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'stand-in', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'agent', user: { token } }],
      contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'agent', namespace } }],
      'current-context': 'stand-in'
    }, null, 2))
  }

  // ---------------------------------------------------------------------------------- pods, kubelets, tokens

  /** Makes a pod known (replacing one of the same name: a new pod with a new uid), its service account and node too. */
  registerPod (p: PodRegistration): RegisteredPod {
    for (const [what, v, re] of [['namespace', p.namespace, DNS_LABEL], ['name', p.name, DNS_SUBDOMAIN], ['nodeName', p.nodeName, DNS_SUBDOMAIN], ['serviceAccount', p.serviceAccount, DNS_SUBDOMAIN]] as const) {
      if (!re.test(v) || v.length > (what === 'namespace' ? 63 : 253)) throw new Error(`registerPod: ${what} ${JSON.stringify(v)} is not a valid name`)
    }
    const pod: RegisteredPod = { namespace: p.namespace, name: p.name, uid: p.uid ?? randomUUID(), nodeName: p.nodeName, serviceAccount: p.serviceAccount }
    this.pods.set(`${p.namespace}/${p.name}`, pod)
    const sa = `${p.namespace}/${p.serviceAccount}`
    if (!this.serviceAccounts.has(sa)) this.serviceAccounts.set(sa, randomUUID())
    if (!this.nodeUids.has(p.nodeName)) this.nodeUids.set(p.nodeName, randomUUID())
    this.nodes.ensure(p.nodeName)
    return { ...pod }
  }

  /** Deletes a pod: its tokens stop authenticating here, and TokenRequests bound to it fail (404). */
  removePod (namespace: string, name: string): void { this.pods.delete(`${namespace}/${name}`) }

  pod (namespace: string, name: string): RegisteredPod | undefined {
    const p = this.pods.get(`${namespace}/${name}`)
    return p === undefined ? undefined : { ...p }
  }

  /** A kubelet's credential: it may request tokens for the pods scheduled on `nodeName`, as the Node authorizer lets it. */
  registerKubelet (token: string, nodeName: string): void { this.kubelets.set(token, nodeName) }

  /** Lets a static token create service account tokens for any service account, as an admin's RBAC would. */
  allowTokenRequests (token: string): void {
    this.tokens.add(token)
    this.tokenRequesters.add(token)
  }

  /**
   * A token as the TokenRequest API would issue it for a pod, with `overrides` laid over its claims (top level; the
   * `kubernetes.io` object member by member; an undefined value removes a claim), for tests: expired, not yet
   * valid, another audience, another cluster's key, claims that disagree.
   */
  mintForTest (overrides: Record<string, unknown> = {}, o: MintOptions = {}): string {
    let pod: RegisteredPod | undefined
    if (o.pod !== undefined) {
      pod = this.pods.get(`${o.pod.namespace}/${o.pod.name}`)
      if (pod === undefined) throw new Error(`mintForTest: no pod ${o.pod.namespace}/${o.pod.name}`)
    } else {
      pod = this.pods.values().next().value ?? { namespace: 'default', name: 'test-pod', uid: randomUUID(), nodeName: 'test-node', serviceAccount: 'default' }
    }
    const claims = this.claims(pod.namespace, pod.serviceAccount, pod, o.audiences ?? [...this.apiAudiences], Math.floor(Date.now() / 1000), o.expiresInS ?? DEFAULT_TOKEN_EXPIRATION_S)
    for (const [k, v] of Object.entries(overrides)) {
      claims[k] = k === 'kubernetes.io' && isPlainObject(v) && isPlainObject(claims[k]) ? { ...claims[k], ...v } : v
    }
    let key = this.key
    if (o.signWith === 'other') key = this.otherKey ??= newSigningKey()
    return this.signJwt(claims, key, o.header)
  }

  /**
   * The claims kube-apiserver puts in a service account token (pkg/serviceaccount/claims.go, the 1.30+ defaults:
   * jti, and the pod's node with its uid); bound to `pod` when given, else to the service account alone.
   */
  private claims (namespace: string, serviceAccount: string, pod: RegisteredPod | null, audiences: string[], nowS: number, expirationS: number): Record<string, unknown> {
    const saUid = this.serviceAccounts.get(`${namespace}/${serviceAccount}`) ?? randomUUID()
    const k8s: Record<string, unknown> = { namespace, serviceaccount: { name: serviceAccount, uid: saUid } }
    if (pod !== null) {
      k8s.pod = { name: pod.name, uid: pod.uid }
      const nodeUid = this.nodeUids.get(pod.nodeName)
      k8s.node = nodeUid === undefined ? { name: pod.nodeName } : { name: pod.nodeName, uid: nodeUid }
    }
    return {
      aud: [...audiences],
      exp: nowS + expirationS,
      iat: nowS,
      iss: this.issuer,
      jti: randomUUID(),
      'kubernetes.io': k8s,
      nbf: nowS,
      sub: `system:serviceaccount:${namespace}:${serviceAccount}`
    }
  }

  private signJwt (claims: Record<string, unknown>, key: SigningKey, header: Record<string, unknown> = {}): string {
    const h = b64url(JSON.stringify({ alg: 'RS256', kid: key.kid, ...header }))
    const p = b64url(sortedJson(claims))
    return `${h}.${p}.${b64url(sign('sha256', Buffer.from(`${h}.${p}`), key.privateKey))}`
  }

  /** The common name of a verified client certificate, as `cert:<CN>` (checked against the tokens like a token). */
  private certificateUser (req: IncomingMessage): string | undefined {
    const socket = req.socket as TLSSocket
    if (this.tls?.clientCa === undefined || !socket.authorized) return undefined
    const cn = socket.getPeerCertificate().subject?.CN
    return typeof cn === 'string' ? `cert:${cn}` : undefined
  }

  /**
   * Who is calling: a static token (or certificate), a kubelet's token, or a service account token this server
   * issued for one of its audiences whose pod still exists with that uid (as the apiserver's authenticator checks).
   * undefined: no credential at all; null: a credential that does not authenticate (401 either way, but anonymous
   * callers may read the issuer discovery when it is open to anyone).
   */
  private authenticate (req: IncomingMessage): Caller | null | undefined {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    const token = bearer ?? this.certificateUser(req)
    if (token === undefined) return undefined
    if (this.tokens.has(token)) return { id: token, user: token, kind: 'token' }
    const node = bearer === undefined ? undefined : this.kubelets.get(bearer)
    if (node !== undefined) return { id: token, user: `system:node:${node}`, kind: 'kubelet', node }
    if (bearer === undefined || bearer.split('.').length !== 3) return null
    for (const audience of this.apiAudiences) {
      try {
        const c = verifyToken(bearer, { jwks: this.ownJwks, audience, issuer: this.issuer, nowS: Date.now() / 1000 })
        const pod = this.pods.get(`${c.namespace}/${c.pod.name}`)
        if (pod?.uid !== c.pod.uid || this.serviceAccounts.get(`${c.namespace}/${c.serviceAccount.name}`) !== c.serviceAccount.uid) return null
        return { id: `pod:${c.namespace}/${c.pod.name}`, user: c.subject, kind: 'serviceaccount' }
      } catch {
        // another audience may still match
      }
    }
    return null
  }

  private reject (reason: string): void { this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1 }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (code: number, body: object, headers: Record<string, string> = {}): void => {
      res.writeHead(code, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(body))
    }
    const url = new URL(req.url ?? '/', 'http://x')
    const kind = pathKind(url.pathname)
    this.stats.byPath[kind]++
    try {
      const caller = this.authenticate(req)
      const discovery = kind === 'openid-configuration' || kind === 'jwks'
      const anonymousDiscovery = caller === undefined && discovery && this.o.issuerDiscovery === 'anyone'
      if ((caller === undefined || caller === null) && !anonymousDiscovery) {
        this.reject('Unauthorized')
        send(401, status(401, 'Unauthorized', 'Unauthorized'))
        return
      }
      if (caller !== undefined && caller !== null) this.stats.byToken[caller.id] = (this.stats.byToken[caller.id] ?? 0) + 1
      if (discovery) {
        if (req.method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', `${req.method ?? ''} is not supported here`)
        // RBAC: system:service-account-issuer-discovery is bound to system:serviceaccounts only, by default
        if (caller?.kind === 'kubelet' && this.o.issuerDiscovery !== 'anyone') {
          throw new HttpError(403, 'Forbidden', `forbidden: User "${caller.user}" cannot get path "${url.pathname}"`, {})
        }
        const body = kind === 'jwks' ? this.jwks : this.openidConfiguration
        send(200, body, { 'content-type': kind === 'jwks' ? 'application/jwk-set+json' : 'application/json', 'cache-control': 'public, max-age=3600' })
        return
      }
      if (kind === 'nodes') {
        if (req.method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', `${req.method ?? ''} is not supported here`)
        if (caller?.kind === 'serviceaccount' && this.o.nodeAccess === 'forbidden') {
          throw new HttpError(403, 'Forbidden', `nodes is forbidden: User "${caller.user}" cannot list resource "nodes" in API group "" at the cluster scope`, { kind: 'nodes' })
        }
        this.nodes.handle(req, res, url, send)
        return
      }
      if (kind === 'serviceaccount-token') {
        const m = TOKEN_PATH.exec(url.pathname) ?? []
        if (req.method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', `${req.method ?? ''} is not supported here`)
        const { tokenRequest, warning } = this.tokenRequest(caller as Caller, m[1] ?? '', m[2] ?? '', await this.readBody(req))
        send(201, tokenRequest, warning === undefined ? {} : { warning: `299 - ${JSON.stringify(warning)}` })
        return
      }
      const m = PATH.exec(url.pathname)
      if (m === null) throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`)
      const namespace = m[1] ?? ''
      const name = m[2]
      const body = req.method === 'POST' || req.method === 'PUT' ? await this.readBody(req) : undefined
      switch (`${req.method ?? ''} ${name === undefined ? 'collection' : 'item'}`) {
        case 'GET item': send(200, this.get(namespace, name ?? '')); return
        case 'POST collection': send(201, this.create(namespace, body)); return
        case 'PUT item': send(200, this.replace(namespace, name ?? '', body)); return
        default: throw new HttpError(405, 'MethodNotAllowed', `${req.method ?? ''} is not supported here`)
      }
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 'InternalError', (err as Error).message)
      this.reject(e.reason)
      send(e.code, status(e.code, e.reason, e.message, e.details ?? (kind === 'leases' ? LEASE_DETAILS : undefined)))
    }
  }

  /**
   * POST /api/v1/namespaces/{ns}/serviceaccounts/{sa}/token, in kube-apiserver's order: the authorizer (a kubelet
   * only for service accounts of pods on its node; otherwise the RBAC grant), NodeRestriction admission for a
   * kubelet (a pod binding with a uid, to a pod on that node), the service account, validation of
   * expirationSeconds, the bound object (404, 400 for another service account, 409 for a stale uid), the maximum.
   */
  private tokenRequest (caller: Caller, namespace: string, saName: string, body: Record<string, unknown>): { tokenRequest: object, warning?: string } {
    const tr = this.decodeTokenRequest(body, saName, namespace)
    const cannot = `User "${caller.user}" cannot create resource "serviceaccounts/token" in API group "" in the namespace "${namespace}"`
    if (caller.kind === 'kubelet') {
      const node = caller.node ?? ''
      const related = [...this.pods.values()].some(p => p.nodeName === node && p.namespace === namespace && p.serviceAccount === saName)
      if (!related) throw forbidden('serviceaccounts', saName, `${cannot}: no relationship found between node '${node}' and this object`)
      const ref = tr.ref
      if (ref === undefined || ref.apiVersion !== 'v1' || ref.kind !== 'Pod' || ref.name === '') {
        throw forbidden('serviceaccounts', saName, 'node requested token not bound to a pod')
      }
      if (ref.uid === '') throw forbidden('serviceaccounts', saName, 'node requested token with a pod binding without a uid')
      const pod = this.pods.get(`${namespace}/${ref.name}`)
      if (pod === undefined) throw notFound('pods', ref.name)
      if (pod.uid !== ref.uid) {
        throw forbidden('serviceaccounts', saName, `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`)
      }
      if (pod.nodeName !== node) throw forbidden('serviceaccounts', saName, 'node requested token bound to a pod scheduled on a different node')
    } else if (caller.kind !== 'token' || !this.tokenRequesters.has(caller.id)) {
      throw forbidden('serviceaccounts', saName, cannot)
    }
    const saUid = this.serviceAccounts.get(`${namespace}/${saName}`)
    if (saUid === undefined) throw notFound('serviceaccounts', saName)
    const min = this.o.minTokenExpirationS ?? MIN_TOKEN_EXPIRATION_S
    let exp = tr.expirationSeconds
    if (exp < min) this.invalid(`spec.expirationSeconds: Invalid value: ${exp}: may not specify a duration less than ${min === MIN_TOKEN_EXPIRATION_S ? '10 minutes' : `${min} seconds`}`)
    if (exp > 2 ** 32) this.invalid(`spec.expirationSeconds: Invalid value: ${exp}: may not specify a duration larger than 2^32 seconds`)
    let pod: RegisteredPod | undefined
    const ref = tr.ref
    if (ref !== undefined) {
      if (ref.apiVersion !== 'v1' || ref.kind !== 'Pod') {
        throw new HttpError(400, 'BadRequest', `cannot bind token to object of type ${ref.apiVersion}, Kind=${ref.kind} (this stand-in binds to Pods only)`)
      }
      pod = this.pods.get(`${namespace}/${ref.name}`)
      if (pod === undefined) throw notFound('pods', ref.name)
      if (pod.serviceAccount !== saName) {
        throw new HttpError(400, 'BadRequest', `cannot bind token for serviceaccount "${saName}" to pod running with different serviceaccount name.`)
      }
      if (ref.uid !== '' && ref.uid !== pod.uid) {
        throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on Pod "${ref.name}": the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`, { name: ref.name, kind: 'Pod' })
      }
    }
    let warning: string | undefined
    const max = this.o.maxTokenExpirationS
    if (max !== undefined && max > 0 && exp > max) {
      warning = `requested expiration of ${exp} seconds shortened to ${max} seconds`
      exp = max
    }
    const nowMs = Date.now()
    const nowS = Math.floor(nowMs / 1000)
    const audiences = tr.audiences.length === 0 ? [...this.apiAudiences] : tr.audiences
    // without a binding, the token names the service account alone (what `kubectl create token` gets)
    const token = this.signJwt(this.claims(namespace, saName, pod ?? null, audiences, nowS, exp), this.key)
    this.stats.tokensIssued++
    return {
      tokenRequest: {
        kind: 'TokenRequest',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { name: saName, namespace, uid: saUid, creationTimestamp: rfc3339(nowS * 1000) },
        spec: { audiences, expirationSeconds: exp, ...(ref === undefined ? {} : { boundObjectRef: { kind: ref.kind, apiVersion: ref.apiVersion, name: ref.name, ...(ref.uid === '' ? {} : { uid: ref.uid }) } }) },
        status: { token, expirationTimestamp: rfc3339((nowS + exp) * 1000) }
      },
      ...(warning === undefined ? {} : { warning })
    }
  }

  private invalid (cause: string): never {
    throw new HttpError(422, 'Invalid', `TokenRequest.authentication.k8s.io "" is invalid: ${cause}`, { group: 'authentication.k8s.io', kind: 'TokenRequest' })
  }

  /** The body as the apiserver decodes it: a TokenRequest, defaults applied (expirationSeconds 3600). */
  private decodeTokenRequest (body: Record<string, unknown>, saName: string, namespace: string): {
    audiences: string[], expirationSeconds: number, ref?: { kind: string, apiVersion: string, name: string, uid: string }
  } {
    if (body.apiVersion !== 'authentication.k8s.io/v1' || body.kind !== 'TokenRequest') {
      throw new HttpError(400, 'BadRequest', 'expected apiVersion authentication.k8s.io/v1, kind TokenRequest')
    }
    const meta = body.metadata ?? {}
    const spec = body.spec ?? {}
    if (!isPlainObject(meta) || !isPlainObject(spec)) throw new HttpError(400, 'BadRequest', 'metadata and spec must be objects')
    if (typeof meta.name === 'string' && meta.name !== '' && meta.name !== saName) {
      throw new HttpError(422, 'Invalid', `TokenRequest.authentication.k8s.io "${saName}" is invalid: metadata.name: Invalid value: "${meta.name}": must match the service account name if specified`)
    }
    if (typeof meta.namespace === 'string' && meta.namespace !== '' && meta.namespace !== namespace) {
      throw new HttpError(422, 'Invalid', `TokenRequest.authentication.k8s.io "${saName}" is invalid: metadata.namespace: Invalid value: "${meta.namespace}": must match the service account namespace if specified`)
    }
    const audiences = spec.audiences ?? []
    if (!Array.isArray(audiences) || !audiences.every(a => typeof a === 'string')) throw new HttpError(400, 'BadRequest', 'spec.audiences must be an array of strings')
    const exp = spec.expirationSeconds ?? DEFAULT_TOKEN_EXPIRATION_S
    if (!Number.isSafeInteger(exp)) throw new HttpError(400, 'BadRequest', 'spec.expirationSeconds must be an integer')
    const r = spec.boundObjectRef
    if (r === undefined || r === null) return { audiences: audiences as string[], expirationSeconds: exp as number }
    if (!isPlainObject(r)) throw new HttpError(400, 'BadRequest', 'spec.boundObjectRef must be an object')
    const str = (v: unknown): string => typeof v === 'string' ? v : ''
    return {
      audiences: audiences as string[],
      expirationSeconds: exp as number,
      ref: { kind: str(r.kind), apiVersion: str(r.apiVersion), name: str(r.name), uid: str(r.uid) }
    }
  }

  private async readBody (req: IncomingMessage): Promise<Record<string, unknown>> {
    let raw = ''
    for await (const chunk of req) {
      raw += String(chunk)
      if (raw.length > 1_000_000) throw new HttpError(413, 'RequestEntityTooLarge', 'request body too large')
    }
    try {
      const v = JSON.parse(raw) as unknown
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
      return v as Record<string, unknown>
    } catch (err) {
      throw new HttpError(400, 'BadRequest', `invalid JSON body: ${(err as Error).message}`)
    }
  }

  private get (namespace: string, name: string): object {
    const l = this.leases.get(`${namespace}/${name}`)
    if (l === undefined) throw new HttpError(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`)
    return this.render(l)
  }

  private validate (body: Record<string, unknown>, namespace: string): { name: string, spec: Record<string, unknown>, rv: unknown } {
    if (body.apiVersion !== 'coordination.k8s.io/v1' || body.kind !== 'Lease') {
      throw new HttpError(400, 'BadRequest', 'expected apiVersion coordination.k8s.io/v1, kind Lease')
    }
    const meta = (body.metadata ?? {}) as Record<string, unknown>
    const name = meta.name
    if (typeof name !== 'string' || !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(name)) throw new HttpError(422, 'Invalid', 'metadata.name: Invalid value')
    if (meta.namespace !== undefined && meta.namespace !== namespace) throw new HttpError(400, 'BadRequest', 'the namespace of the object does not match the namespace of the request')
    const spec = (body.spec ?? {}) as Record<string, unknown>
    for (const f of ['acquireTime', 'renewTime']) {
      const v = spec[f]
      if (v !== undefined && v !== null && (typeof v !== 'string' || !MICRO_TIME.test(v))) {
        throw new HttpError(400, 'BadRequest', `spec.${f}: ${JSON.stringify(v)} is not a MicroTime (RFC 3339 with 6 fractional digits)`)
      }
    }
    if (spec.leaseDurationSeconds !== undefined && (!Number.isInteger(spec.leaseDurationSeconds) || (spec.leaseDurationSeconds as number) < 1)) {
      throw new HttpError(422, 'Invalid', 'spec.leaseDurationSeconds: must be a positive integer')
    }
    if (spec.leaseTransitions !== undefined && (!Number.isInteger(spec.leaseTransitions) || (spec.leaseTransitions as number) < 0)) {
      throw new HttpError(422, 'Invalid', 'spec.leaseTransitions: must be a non-negative integer')
    }
    return { name, spec, rv: meta.resourceVersion }
  }

  private create (namespace: string, body: Record<string, unknown> | undefined): object {
    const { name, spec } = this.validate(body ?? {}, namespace)
    const key = `${namespace}/${name}`
    if (this.leases.has(key)) throw new HttpError(409, 'AlreadyExists', `leases.coordination.k8s.io "${name}" already exists`)
    const l: StoredLease = {
      metadata: { name, namespace, uid: randomUUID(), resourceVersion: String(++this.revision), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
      spec: { ...spec }
    }
    this.leases.set(key, l)
    this.stats.writes++
    return this.render(l)
  }

  private replace (namespace: string, name: string, body: Record<string, unknown> | undefined): object {
    const { name: bodyName, spec, rv } = this.validate(body ?? {}, namespace)
    if (bodyName !== name) throw new HttpError(400, 'BadRequest', 'the name of the object does not match the name in the URL')
    const l = this.leases.get(`${namespace}/${name}`)
    if (l === undefined) throw new HttpError(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`)
    if (typeof rv !== 'string' || rv === '') throw new HttpError(422, 'Invalid', 'metadata.resourceVersion: must be specified for an update')
    if (rv !== l.metadata.resourceVersion) {
      throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`)
    }
    l.spec = { ...spec }
    l.metadata.resourceVersion = String(++this.revision)
    this.stats.writes++
    return this.render(l)
  }

  private render (l: StoredLease): object {
    return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { ...l.metadata }, spec: { ...l.spec } }
  }
}
