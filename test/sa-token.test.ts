// Pod identity from projected ServiceAccount tokens, on loopback: the apiserver stand-in issues a token to a kubelet
// over HTTP (TokenRequest), serves its discovery document and JWKS to a bearer token, and the pure verifier takes the
// token apart; then every way a token can be wrong, each refused with its reason, and fuzzing that never gets past
// TokenError.
import { createHash, createHmac, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { MAX_TOKEN_BYTES, TokenError, parseJwks, verifyToken, type Jwks, type TokenErrorReason } from '../src/core/sa-token.ts'
import { LeaseStandIn } from '../tools/lease-stand-in.ts'
import { ProjectedServiceAccountToken } from './harness/cluster.ts'

const NS = 'kube-system'
const SA = 'k8snet-checker'
const AUD = 'k8snet-checker'
const dir = mkdtempSync(join(tmpdir(), 'k8snet-sa-token-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })

const s = new LeaseStandIn(['agent-token'], null, { maxTokenExpirationS: 86_400 })
s.registerKubelet('kubelet-node-1', 'node-1')
s.registerKubelet('kubelet-node-2', 'node-2')
s.allowTokenRequests('admin')
const pod1 = s.registerPod({ namespace: NS, name: 'agent-1', nodeName: 'node-1', serviceAccount: SA })
const pod2 = s.registerPod({ namespace: NS, name: 'agent-2', nodeName: 'node-2', serviceAccount: SA })
s.registerPod({ namespace: NS, name: 'other-sa-pod', nodeName: 'node-1', serviceAccount: 'someone-else' })
await s.start('127.0.0.1', 0)
t.teardown(async () => { await s.stop() })

const nowS = (): number => Date.now() / 1000
const b64 = (v: string | Buffer): string => Buffer.from(v).toString('base64url')
const parts = (tok: string): { header: Record<string, unknown>, payload: Record<string, unknown> } => {
  const [h = '', p = ''] = tok.split('.')
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString()), payload: JSON.parse(Buffer.from(p, 'base64url').toString()) }
}

interface Answer { code: number, json: Record<string, any>, headers: Headers }
async function api (method: string, path: string, bearer?: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }), 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  return { code: res.status, json: await res.json() as Record<string, any>, headers: res.headers }
}
/** The reason a call fails with, or 'accepted'. */
function reasonOf (f: () => unknown): TokenErrorReason | 'accepted' | 'another error' {
  try { f(); return 'accepted' } catch (err) { return err instanceof TokenError ? err.reason : 'another error' }
}
const tokenPath = (sa = SA, ns = NS): string => `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`
const tokenRequest = (spec: Record<string, unknown>): object => ({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec })
const podRef = (name: string, uid: string): object => ({ kind: 'Pod', apiVersion: 'v1', name, uid })

let jwks: Jwks
let kubeletToken = ''

t.test('a kubelet gets a pod-bound token, discovery and JWKS are served to a bearer token, and the token verifies', async t => {
  const kubelet = new ProjectedServiceAccountToken({
    apiUrl: s.url, kubeletToken: 'kubelet-node-1', namespace: NS, serviceAccount: SA, pod: { name: 'agent-1', uid: pod1.uid }, audience: AUD, expirationSeconds: 3600, dir: join(dir, 'agent-1')
  })
  await kubelet.start()
  kubelet.stop()
  kubeletToken = readFileSync(kubelet.file, 'utf8')
  t.equal(kubeletToken, kubelet.token, 'the kubelet wrote the token it was given')

  t.match(await api('GET', '/.well-known/openid-configuration'), { code: 401 }, 'discovery wants a credential')
  t.match(await api('GET', '/openid/v1/jwks', 'wrong'), { code: 401 }, 'and a valid one')
  t.match(await api('GET', '/openid/v1/jwks', 'kubelet-node-1'), { code: 403, json: { reason: 'Forbidden' } },
    'a kubelet is not in system:serviceaccounts, the group the discovery role is bound to')
  const cfg = await api('GET', '/.well-known/openid-configuration', 'agent-token')
  t.equal(cfg.code, 200)
  t.equal(cfg.headers.get('content-type'), 'application/json')
  t.equal(cfg.headers.get('cache-control'), 'public, max-age=3600')
  t.strictSame(cfg.json, {
    issuer: 'https://kubernetes.default.svc.cluster.local',
    jwks_uri: `${s.url}/openid/v1/jwks`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256']
  }, 'the discovery document')
  const keys = await fetch(String(cfg.json.jwks_uri), { headers: { authorization: 'Bearer agent-token' } })
  t.equal(keys.headers.get('content-type'), 'application/jwk-set+json')
  const keySet = await keys.json() as { keys: Array<Record<string, string>> }
  t.equal(keySet.keys.length, 1)
  t.match(keySet.keys[0], { use: 'sig', kty: 'RSA', kid: s.kid, alg: 'RS256', e: 'AQAB' }, 'one RS256 signing key')
  const spki = createPublicKey({ key: keySet.keys[0] as never, format: 'jwk' }).export({ type: 'spki', format: 'der' })
  t.equal(s.kid, createHash('sha256').update(spki).digest('base64url'), 'kid = base64url(SHA-256(SPKI DER)), as kube-apiserver derives it')
  jwks = parseJwks(keySet)

  const { header, payload } = parts(kubeletToken)
  t.strictSame(header, { alg: 'RS256', kid: s.kid }, 'the header: alg and kid, nothing else')
  t.strictSame(Object.keys(payload), ['aud', 'exp', 'iat', 'iss', 'jti', 'kubernetes.io', 'nbf', 'sub'], 'the registered claims, sorted as go-jose writes them')
  t.strictSame(Object.keys(payload['kubernetes.io'] as object), ['namespace', 'node', 'pod', 'serviceaccount'])
  const c = verifyToken(kubeletToken, { jwks, audience: AUD, issuer: s.issuer, nowS: nowS() })
  t.match(c, {
    issuer: s.issuer,
    subject: `system:serviceaccount:${NS}:${SA}`,
    audiences: [AUD],
    namespace: NS,
    serviceAccount: { name: SA },
    pod: { name: 'agent-1', uid: pod1.uid },
    node: { name: 'node-1', uid: String },
    warnAfterS: null
  }, 'the claims name the pod, its uid, its node and its service account')
  t.equal(c.expiresAtS - c.issuedAtS, 3600, 'the lifetime asked for')
  t.equal(c.notBeforeS, c.issuedAtS)
  t.ok(Math.abs(c.issuedAtS - nowS()) < 5, 'issued now')
  t.match(c.jti, /^[0-9a-f-]{36}$/, 'a jti (1.29+)')
  t.match(s.stats.byPath, { 'serviceaccount-token': 1, 'openid-configuration': 2, jwks: 3 }, 'requests counted per kind of path')
  t.equal(s.stats.tokensIssued, 1)
})

t.test('TokenRequest: who may ask, and what the apiserver refuses', async t => {
  const good = tokenRequest({ audiences: [AUD], expirationSeconds: 3600, boundObjectRef: podRef('agent-1', pod1.uid) })
  t.match(await api('POST', tokenPath(), undefined, good), { code: 401 }, 'no credential')
  t.match(await api('POST', tokenPath(), 'agent-token', good), { code: 403, json: { message: /cannot create resource "serviceaccounts\/token"/ } },
    'an agent\'s own credential has no RBAC for tokens: it cannot mint another pod\'s identity')
  // the kubelet: Node authorizer, then NodeRestriction admission
  t.match(await api('POST', tokenPath('someone-else', 'default'), 'kubelet-node-1', good), { code: 403, json: { message: /no relationship found between node 'node-1'/ } },
    'a kubelet only for service accounts of pods on its node')
  t.match(await api('POST', tokenPath(), 'kubelet-node-1', tokenRequest({ audiences: [AUD] })), { code: 403, json: { message: /node requested token not bound to a pod/ } })
  t.match(await api('POST', tokenPath(), 'kubelet-node-1', tokenRequest({ audiences: [AUD], boundObjectRef: podRef('agent-1', '') })), { code: 403, json: { message: /without a uid/ } })
  t.match(await api('POST', tokenPath(), 'kubelet-node-1', tokenRequest({ audiences: [AUD], boundObjectRef: podRef('agent-1', 'stale') })),
    { code: 403, json: { message: /the UID in the bound object reference \(stale\) does not match/ } }, 'a stale pod uid')
  t.match(await api('POST', tokenPath(), 'kubelet-node-1', tokenRequest({ audiences: [AUD], boundObjectRef: podRef('agent-2', pod2.uid) })),
    { code: 403, json: { message: /scheduled on a different node/ } }, 'another node\'s pod')
  t.match(await api('POST', tokenPath(), 'kubelet-node-1', tokenRequest({ audiences: [AUD], boundObjectRef: podRef('gone', 'x') })),
    { code: 404, json: { reason: 'NotFound', message: 'pods "gone" not found' } })
  t.match(await api('POST', tokenPath(), 'kubelet-node-1', tokenRequest({ audiences: [AUD], expirationSeconds: 60, boundObjectRef: podRef('agent-1', pod1.uid) })),
    { code: 422, json: { reason: 'Invalid', message: 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes' } },
    'the 10-minute floor')
  t.match(await api('POST', tokenPath(), 'kubelet-node-1', { kind: 'Lease', spec: {} }), { code: 400 })
  // an admin (RBAC on serviceaccounts/token): the storage's own checks
  t.match(await api('POST', tokenPath(), 'admin', tokenRequest({ boundObjectRef: podRef('agent-1', 'stale') })),
    { code: 409, json: { reason: 'Conflict', message: /^Operation cannot be fulfilled on Pod "agent-1": the UID in the bound object reference \(stale\)/ } })
  t.match(await api('POST', tokenPath(), 'admin', tokenRequest({ boundObjectRef: podRef('gone', 'x') })), { code: 404, json: { message: 'pods "gone" not found' } })
  t.match(await api('POST', tokenPath(), 'admin', tokenRequest({ boundObjectRef: podRef('other-sa-pod', '') })),
    { code: 400, json: { message: /to pod running with different serviceaccount name/ } })
  t.match(await api('POST', tokenPath('nobody'), 'admin', tokenRequest({})), { code: 404, json: { message: 'serviceaccounts "nobody" not found' } })
  const long = await api('POST', tokenPath(), 'admin', tokenRequest({ audiences: [AUD], expirationSeconds: 100_000, boundObjectRef: podRef('agent-1', pod1.uid) }))
  t.equal(long.code, 201)
  t.equal(long.json.spec.expirationSeconds, 86_400, '--service-account-max-token-expiration shortens it')
  t.match(long.headers.get('warning'), /shortened to 86400 seconds/)
  t.equal(Date.parse(long.json.status.expirationTimestamp) / 1000 - Number(parts(long.json.status.token).payload.iat), 86_400, 'expirationTimestamp = iat + the granted lifetime')
  const unbound = await api('POST', tokenPath(), 'admin', tokenRequest({ audiences: [AUD] }))
  t.equal(unbound.code, 201, 'a token bound to nothing (kubectl create token)')
  t.strictSame(Object.keys(parts(unbound.json.status.token).payload['kubernetes.io'] as object), ['namespace', 'serviceaccount'])
  t.equal(reasonOf(() => verifyToken(unbound.json.status.token, { jwks, audience: AUD, nowS: nowS() })), 'claims', 'is no pod identity')
})

t.test('the identity token does not authenticate to the apiserver; an apiserver-audience token does while its pod lives', async t => {
  const lease = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/none`
  t.match(await api('GET', lease, kubeletToken), { code: 401 }, 'audience k8snet-checker is not the apiserver\'s')
  const apiTok = await api('POST', tokenPath(), 'kubelet-node-2', tokenRequest({ boundObjectRef: podRef('agent-2', pod2.uid) }))
  t.strictSame(apiTok.json.spec.audiences, [s.issuer], 'no audiences: the apiserver\'s own')
  t.match(await api('GET', lease, apiTok.json.status.token), { code: 404 }, 'authenticated (the Lease does not exist)')
  t.match(await api('GET', '/openid/v1/jwks', apiTok.json.status.token), { code: 200 }, 'a service account may read the JWKS')
  t.ok(s.stats.byToken[`pod:${NS}/agent-2`]! >= 2, 'counted as the pod')
  const temp = s.registerPod({ namespace: NS, name: 'temp', nodeName: 'node-2', serviceAccount: SA })
  const tempTok = await api('POST', tokenPath(), 'kubelet-node-2', tokenRequest({ boundObjectRef: podRef('temp', temp.uid) }))
  s.removePod(NS, 'temp')
  t.match(await api('GET', lease, tempTok.json.status.token), { code: 401 }, 'its pod deleted, the token no longer authenticates')
})

t.test('the kubelet rotates the token at 80 % of its lifetime, atomically, and keeps it through an apiserver outage', async t => {
  const fast = new LeaseStandIn([], null, { minTokenExpirationS: 1 })
  fast.registerKubelet('k', 'node-1')
  const p = fast.registerPod({ namespace: NS, name: 'agent-1', nodeName: 'node-1', serviceAccount: SA })
  await fast.start('127.0.0.1', 0)
  t.teardown(async () => { await fast.stop() })
  const kubelet = new ProjectedServiceAccountToken({
    apiUrl: fast.url, kubeletToken: 'k', namespace: NS, serviceAccount: SA, pod: { name: 'agent-1', uid: p.uid }, audience: AUD, expirationSeconds: 2, dir: join(dir, 'rotating')
  })
  t.teardown(() => { kubelet.stop() })
  await kubelet.start()
  const keys = parseJwks(fast.jwks)
  const seen = new Set<string>()
  const until = Date.now() + 3_500
  let torn = 0
  while (Date.now() < until) {
    const tok = readFileSync(kubelet.file, 'utf8')
    try { verifyToken(tok, { jwks: keys, audience: AUD, nowS: nowS(), leewayS: 0 }) } catch { torn++ }
    seen.add(tok)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  t.equal(torn, 0, 'every read was a whole, current token')
  t.ok(seen.size >= 3 && kubelet.writes >= 3, `rotated every ~1.6 s (${kubelet.writes} writes, ${seen.size} tokens read)`)
  await fast.stop()
  const before = readFileSync(kubelet.file, 'utf8')
  await new Promise(resolve => setTimeout(resolve, 2_500))
  t.ok(kubelet.failures >= 1, 'refreshes failed while the apiserver was away')
  t.equal(readFileSync(kubelet.file, 'utf8'), before, 'the last token stayed in place')
  const writes = kubelet.writes
  await fast.start()
  await new Promise(resolve => setTimeout(resolve, 1_500))
  t.ok(kubelet.writes > writes, 'a retry succeeded once the apiserver was back')
})

// ------------------------------------------------------------------------------------------------------ refusals

/** A key of the test's own (the verifier is pure: any JWKS will do), to sign what the stand-in never would. */
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ownKeys = parseJwks({
  keys: [
    { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'test-rsa', alg: 'RS256', use: 'sig' },
    { ...ec.publicKey.export({ format: 'jwk' }), kid: 'test-ec', alg: 'ES256', use: 'sig' }
  ]
})
function signWith (key: KeyObject, header: Record<string, unknown>, payload: string | object, ieee = true): string {
  const h = b64(JSON.stringify(header))
  const p = b64(typeof payload === 'string' ? payload : JSON.stringify(payload))
  const sig = header.alg === 'ES256'
    ? sign('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: ieee ? 'ieee-p1363' : 'der' })
    : sign('sha256', Buffer.from(`${h}.${p}`), key)
  return `${h}.${p}.${b64(sig)}`
}
const claimsFor = (over: Record<string, unknown> = {}): Record<string, unknown> => {
  const now = Math.floor(nowS())
  return {
    aud: [AUD],
    exp: now + 600,
    iat: now,
    iss: 'https://kubernetes.default.svc.cluster.local',
    'kubernetes.io': { namespace: NS, pod: { name: 'p', uid: 'u-1' }, serviceaccount: { name: SA, uid: 'sa-1' } },
    nbf: now,
    sub: `system:serviceaccount:${NS}:${SA}`,
    ...over
  }
}

t.test('every way a token can be wrong is refused, with its reason', async t => {
  const ok = { jwks, audience: AUD, nowS: nowS() }
  const refused = (tok: string, reason: TokenErrorReason, what: string, o: Partial<typeof ok> & { issuer?: string, leewayS?: number } = {}): void => {
    try {
      verifyToken(tok, { ...ok, nowS: nowS(), ...o })
      t.fail(`${what}: accepted`)
    } catch (err) {
      t.ok(err instanceof TokenError, `${what}: a TokenError`)
      t.equal((err as TokenError).reason, reason, `${what}: ${(err as Error).message}`)
    }
  }
  const good = s.mintForTest({}, { audiences: [AUD] })
  t.equal(verifyToken(good, ok).pod.uid, pod1.uid, 'mintForTest: a valid token for the first pod by default')

  refused(s.mintForTest({}, { audiences: ['vault'] }), 'audience', 'another audience')
  refused(s.mintForTest({}, { audiences: [AUD], expiresInS: -120 }), 'expired', 'expired two minutes ago')
  t.ok(verifyToken(s.mintForTest({}, { audiences: [AUD], expiresInS: -30 }), ok), 'expired 30 s ago: within the 60 s leeway')
  refused(s.mintForTest({}, { audiences: [AUD], expiresInS: -30 }), 'expired', 'the same with no leeway', { leewayS: 0 })
  const later = Math.floor(nowS()) + 3600
  refused(s.mintForTest({ nbf: later }, { audiences: [AUD] }), 'not-yet-valid', 'nbf an hour ahead')
  refused(s.mintForTest({ iat: later }, { audiences: [AUD] }), 'not-yet-valid', 'issued an hour in the future')
  refused(s.mintForTest({}, { audiences: [AUD], signWith: 'other' }), 'unknown-key', 'another cluster\'s key and kid')
  refused(s.mintForTest({}, { audiences: [AUD], signWith: 'other', header: { kid: s.kid } }), 'signature', 'another cluster\'s key under this kid')
  refused(s.mintForTest({}, { audiences: [AUD], header: { kid: 'nope' } }), 'unknown-key', 'an unknown kid')
  refused(s.mintForTest({}, { audiences: [AUD], header: { kid: undefined } }), 'unknown-key', 'no kid')
  refused(s.mintForTest({}, { audiences: [AUD], header: { crit: ['exp'] } }), 'malformed', 'a critical header extension')
  refused(s.mintForTest({}, { audiences: [AUD] }), 'issuer', 'another issuer expected', { issuer: 'https://oidc.other.example' })
  refused(s.mintForTest({ 'kubernetes.io': { pod: undefined } }, { audiences: [AUD] }), 'claims', 'not bound to a pod')
  refused(s.mintForTest({ 'kubernetes.io': undefined }, { audiences: [AUD] }), 'claims', 'no kubernetes.io claim')
  refused(s.mintForTest({ sub: `system:serviceaccount:default:${SA}` }, { audiences: [AUD] }), 'claims', 'sub in another namespace than kubernetes.io')
  refused(s.mintForTest({ sub: `system:serviceaccount:${NS}:admin` }, { audiences: [AUD] }), 'claims', 'sub naming another service account')
  refused(s.mintForTest({ 'kubernetes.io': { pod: { name: 'p' } } }, { audiences: [AUD] }), 'claims', 'a pod without uid')
  refused(s.mintForTest({ exp: undefined }, { audiences: [AUD] }), 'claims', 'no exp')
  refused(s.mintForTest({ exp: '9999999999' }, { audiences: [AUD] }), 'claims', 'exp a string')
  refused(s.mintForTest({ aud: [] }), 'claims', 'an empty aud')
  t.ok(verifyToken(s.mintForTest({ aud: AUD }), ok), 'aud may be a single string')

  // the algorithm
  const [h = '', p = ''] = good.split('.')
  const header = (o: object): string => b64(JSON.stringify(o))
  refused(`${header({ alg: 'none', kid: s.kid })}.${p}.`, 'algorithm', 'alg none, no signature')
  refused(`${header({ alg: 'none' })}.${p}.`, 'algorithm', 'alg none, no kid')
  const pem = createPublicKey({ key: (await (await fetch(`${s.url}/openid/v1/jwks`, { headers: { authorization: 'Bearer agent-token' } })).json() as { keys: object[] }).keys[0] as never, format: 'jwk' })
  for (const secret of [pem.export({ type: 'spki', format: 'pem' }), pem.export({ type: 'pkcs1', format: 'pem' }), JSON.stringify(s.jwks.keys[0])]) {
    const hh = header({ alg: 'HS256', kid: s.kid })
    refused(`${hh}.${p}.${b64(createHmac('sha256', secret).update(`${hh}.${p}`).digest())}`, 'algorithm', 'HS256 keyed with the public key (algorithm confusion)')
  }
  refused(`${header({ alg: 'ES256', kid: s.kid })}.${p}.${good.split('.')[2]}`, 'algorithm', 'ES256 named over an RSA key')
  refused(`${header({ alg: 'RS512', kid: s.kid })}.${p}.${good.split('.')[2]}`, 'algorithm', 'RS512')

  // the bytes
  const tampered = b64(JSON.stringify({ ...parts(good).payload, 'kubernetes.io': { ...(parts(good).payload['kubernetes.io'] as object), pod: { name: 'agent-2', uid: pod2.uid } } }))
  refused(`${h}.${tampered}.${good.split('.')[2]}`, 'signature', 'the payload changed to another pod')
  refused(`${header({ alg: 'RS256', kid: s.kid, typ: 'JWT' })}.${p}.${good.split('.')[2]}`, 'signature', 'the header changed')
  refused(good.slice(0, -12), 'signature', 'the signature truncated')
  refused(`${h}.${p}`, 'malformed', 'two parts')
  refused(`${h}.${p}.${good.split('.')[2]}.x`, 'malformed', 'four parts')
  refused('', 'malformed', 'empty')
  refused(`${good}\n`, 'malformed', 'a trailing newline (the reader trims, the verifier does not)')
  refused(`${h}.${p}.${good.split('.')[2]!.replace(/^./, '+')}`, 'malformed', 'base64 that is not base64url')
  refused('A'.repeat(MAX_TOKEN_BYTES + 1), 'malformed', 'oversized garbage')
  refused(s.mintForTest({ padding: 'x'.repeat(MAX_TOKEN_BYTES) }, { audiences: [AUD] }), 'malformed', 'an oversized, validly signed token')
  refused(`${b64('{"alg":"RS256",')}.${p}.${good.split('.')[2]}`, 'malformed', 'a header that is not JSON')
  refused(`${b64('["RS256"]')}.${p}.${good.split('.')[2]}`, 'malformed', 'a header that is no object')
  refused(signWith(rsa.privateKey, { alg: 'RS256', kid: 'test-rsa' }, '{"aud":'), 'malformed', 'a signed payload that is not JSON', { jwks: ownKeys })
  refused(signWith(rsa.privateKey, { alg: 'RS256', kid: 'test-rsa' }, Buffer.from([0xc3, 0x28]).toString('latin1')), 'malformed', 'a payload that is not UTF-8', { jwks: ownKeys })

  // ES256 (a cluster whose service account key is EC P-256)
  const es = signWith(ec.privateKey, { alg: 'ES256', kid: 'test-ec' }, claimsFor())
  t.match(verifyToken(es, { jwks: ownKeys, audience: AUD, nowS: nowS() }), { pod: { name: 'p', uid: 'u-1' }, node: null, jti: null }, 'ES256 (r||s) verifies; no node, no jti (an older apiserver)')
  refused(signWith(ec.privateKey, { alg: 'ES256', kid: 'test-ec' }, claimsFor(), false), 'signature', 'ES256 with a DER signature', { jwks: ownKeys })
  refused(signWith(rsa.privateKey, { alg: 'RS256', kid: 'test-ec' }, claimsFor()), 'algorithm', 'RS256 under the EC key\'s kid', { jwks: ownKeys })
  t.match(verifyToken(signWith(rsa.privateKey, { alg: 'RS256', kid: 'test-rsa' }, claimsFor({ 'kubernetes.io': { namespace: NS, pod: { name: 'p', uid: 'u' }, serviceaccount: { name: SA, uid: 's' }, node: { name: 'n1' }, warnafter: 123 } })), { jwks: ownKeys, audience: AUD, nowS: nowS() }),
    { node: { name: 'n1', uid: null }, warnAfterS: 123 }, 'a node without uid (the Node was not found when the token was issued), warnafter')
  refused(signWith(rsa.privateKey, { alg: 'RS256', kid: 'test-rsa' }, claimsFor({ 'kubernetes.io': { namespace: 'Bad_NS', pod: { name: 'p', uid: 'u' }, serviceaccount: { name: SA, uid: 's' } }, sub: `system:serviceaccount:Bad_NS:${SA}` })), 'claims', 'a namespace that is no namespace', { jwks: ownKeys })
  refused(signWith(rsa.privateKey, { alg: 'RS256', kid: 'test-rsa' }, claimsFor({ iss: 7 })), 'claims', 'iss a number', { jwks: ownKeys })
  refused(signWith(rsa.privateKey, { alg: 'RS256', kid: 'test-rsa' }, claimsFor({ jti: 7 })), 'claims', 'jti a number', { jwks: ownKeys })
})

t.test('parseJwks refuses what it cannot use, skips what is not its kind', async t => {
  const rsaJwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'r', alg: 'RS256', use: 'sig' }
  const ecJwk = { ...ec.publicKey.export({ format: 'jwk' }), kid: 'e' }
  const bad = (doc: unknown, what: string): void => { t.equal(reasonOf(() => parseJwks(doc)), 'jwks', what) }
  bad(null, 'null')
  bad([], 'an array')
  bad({}, 'no keys')
  bad({ keys: {} }, 'keys not an array')
  bad({ keys: [] }, 'no key at all')
  bad({ keys: [7] }, 'a key that is no object')
  bad({ keys: [{ ...rsaJwk, kid: undefined }] }, 'no kid')
  bad({ keys: [{ ...rsaJwk, kid: '' }] }, 'an empty kid')
  bad({ keys: [rsaJwk, { ...rsaJwk }] }, 'a kid twice')
  bad({ keys: [{ ...rsaJwk, n: 'not base64url!' }] }, 'n not base64url')
  bad({ keys: [{ ...rsaJwk, n: 7 }] }, 'n a number')
  bad({ keys: [{ ...ecJwk, x: Buffer.alloc(32, 1).toString('base64url') }] }, 'a point not on the curve')
  bad({ keys: [{ ...ecJwk, x: 'AAAA' }] }, 'a coordinate of the wrong length')
  bad({ keys: [{ ...rsa.privateKey.export({ format: 'jwk' }), kid: 'r' }] }, 'a private key')
  bad({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] }, 'a symmetric key')
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
  bad({ keys: [{ ...small, kid: 's' }] }, 'RSA under 2048 bits')
  bad({ keys: Array.from({ length: 65 }, (_, i) => ({ ...rsaJwk, kid: `k${i}` })) }, 'too many keys')
  bad({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: 'o' }] }, 'only keys of other kinds')
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' })
  const mixed = parseJwks({ keys: [rsaJwk, ecJwk, { ...p384, kid: 'p384', alg: 'ES384' }, { ...rsaJwk, kid: 'enc', use: 'enc' }, { ...rsaJwk, kid: 'ps', alg: 'PS256' }] })
  t.strictSame([...mixed.byKid.keys()], ['r', 'e'], 'RS256 and ES256 keys kept; ES384, encryption and PS256 keys skipped')
  t.equal(mixed.byKid.get('e')?.alg, 'ES256', 'an EC P-256 key without alg is ES256')
})

t.test('fuzz: nothing but TokenError ever comes out, and no mutation of a token verifies to other claims', async t => {
  const opts = { jwks, audience: AUD, nowS: nowS() }
  const onlyTokenErrors = (f: () => unknown): boolean => {
    try { f() } catch (err) { if (!(err instanceof TokenError)) throw err }
    return true
  }
  const seg = fc.oneof(fc.string(), fc.base64String().map(x => x.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')), fc.json().map(j => b64(j)))
  fc.assert(fc.property(fc.string({ maxLength: 300 }), x => onlyTokenErrors(() => verifyToken(x, opts))), { numRuns: 2_000 })
  fc.assert(fc.property(seg, seg, seg, (a, b, c) => onlyTokenErrors(() => verifyToken(`${a}.${b}.${c}`, opts))), { numRuns: 2_000 })
  fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), (hd, pl) =>
    onlyTokenErrors(() => verifyToken(`${b64(JSON.stringify({ alg: 'RS256', kid: s.kid, ...(typeof hd === 'object' && hd !== null && !Array.isArray(hd) ? hd : { x: hd }) }))}.${b64(JSON.stringify(pl))}.${kubeletToken.split('.')[2]}`, opts))), { numRuns: 1_000 })
  // payloads of any shape, validly signed: the claim checks must hold on their own
  fc.assert(fc.property(fc.jsonValue(), fc.dictionary(fc.constantFrom('aud', 'exp', 'iat', 'nbf', 'iss', 'sub', 'jti', 'kubernetes.io'), fc.jsonValue()), (junk, over) =>
    onlyTokenErrors(() => verifyToken(signWith(rsa.privateKey, { alg: 'RS256', kid: 'test-rsa' }, typeof junk === 'object' && junk !== null && !Array.isArray(junk) ? { ...claimsFor(), ...junk, ...over } : claimsFor(over)), { ...opts, jwks: ownKeys }))), { numRuns: 300 })
  fc.assert(fc.property(fc.anything(), doc => onlyTokenErrors(() => parseJwks(doc))), { numRuns: 1_000 })
  fc.assert(fc.property(fc.array(fc.dictionary(fc.constantFrom('kty', 'kid', 'alg', 'use', 'n', 'e', 'crv', 'x', 'y', 'd'), fc.oneof(fc.string(), fc.constantFrom('RSA', 'EC', 'P-256', 'RS256', 'ES256', 'sig', 'AQAB')))), keys =>
    onlyTokenErrors(() => parseJwks({ keys }))), { numRuns: 1_000 })
  const original = verifyToken(kubeletToken, opts)
  fc.assert(fc.property(fc.nat(kubeletToken.length - 1), fc.constantFrom(...'ABCxyz019-_.+/= '.split('')), (i, ch) => {
    const mutated = kubeletToken.slice(0, i) + ch + kubeletToken.slice(i + 1)
    try {
      return JSON.stringify(verifyToken(mutated, opts)) === JSON.stringify(original) // only a no-op (or a base64 pad bit)
    } catch (err) {
      return err instanceof TokenError
    }
  }), { numRuns: 2_000 })
  t.pass('fuzzed')
})
