// Verifies Kubernetes projected ServiceAccount tokens (bound to a pod) offline, against the cluster's JWKS: a pure
// function of the token, the key set, the audience and the time. What the apiserver puts in such a token
// (pkg/serviceaccount/claims.go, TokenRequest authentication.k8s.io/v1):
//   header  {"alg":"RS256","kid":"<base64url(sha256(SPKI DER of the public key))>"}   (ES256 with an EC P-256 key)
//   payload {"aud":[...],"exp":N,"iat":N,"iss":"https://...","jti":"<uuid>",
//            "kubernetes.io":{"namespace":"ns","node":{"name":"n","uid":"..."},"pod":{"name":"p","uid":"..."},
//                             "serviceaccount":{"name":"sa","uid":"..."},"warnafter":N},
//            "nbf":N,"sub":"system:serviceaccount:ns:sa"}
// jti is there from 1.29 (ServiceAccountTokenJTI), node from 1.30 (ServiceAccountTokenPodNodeInfo; its uid is left
// out when the Node object could not be read), warnafter only on the kube-apiserver audience's extended tokens.
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto'

export type TokenErrorReason =
  | 'malformed' // not a compact JWS, too large, bad base64url or JSON
  | 'algorithm' // alg not RS256/ES256 (none, HS*, ...), or not the algorithm of the key named by kid
  | 'unknown-key' // no kid, or a kid the key set does not hold
  | 'signature'
  | 'audience'
  | 'expired'
  | 'not-yet-valid'
  | 'issuer'
  | 'claims' // a claim missing or of the wrong type, no pod binding, sub disagreeing with kubernetes.io
  | 'jwks' // parseJwks: the key set document is not usable

export class TokenError extends Error {
  readonly reason: TokenErrorReason
  constructor (reason: TokenErrorReason, message: string) {
    super(`${reason}: ${message}`)
    this.name = 'TokenError'
    this.reason = reason
  }
}

export type TokenAlgorithm = 'RS256' | 'ES256'

export interface JwksKey {
  kid: string
  alg: TokenAlgorithm
  key: KeyObject
}

export interface Jwks {
  /** The usable keys by kid (keys of other algorithms or curves in the document are left out). */
  readonly byKid: ReadonlyMap<string, JwksKey>
}

export interface TokenClaims {
  issuer: string
  subject: string
  audiences: string[]
  expiresAtS: number
  issuedAtS: number
  notBeforeS: number | null
  /** The token's unique id (Kubernetes 1.29+), null when absent. */
  jti: string | null
  namespace: string
  serviceAccount: { name: string, uid: string }
  pod: { name: string, uid: string }
  /** The node the pod was scheduled to (1.30+); uid null when the apiserver could not read the Node. */
  node: { name: string, uid: string | null } | null
  /** kubernetes.io.warnafter when present (extended kube-apiserver tokens only). */
  warnAfterS: number | null
}

export interface VerifyOptions {
  jwks: Jwks
  /** The audience this verifier is: the token's aud must include it. */
  audience: string
  /** When given, iss must equal it. */
  issuer?: string
  /** Now, in seconds since the epoch (fractions allowed). */
  nowS: number
  /** Clock skew tolerated on exp, nbf and iat; 60 s, go-jose's DefaultLeeway the apiserver itself applies. */
  leewayS?: number
}

/** Tokens longer than this are refused before anything is decoded (a real one is about 1 KiB). */
export const MAX_TOKEN_BYTES = 8 * 1024
/** Key sets larger than this many keys are refused (an apiserver publishes one per signing key, a handful). */
export const MAX_JWKS_KEYS = 64
export const DEFAULT_LEEWAY_S = 60

const B64URL = /^[A-Za-z0-9_-]+$/
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const UID = /^[\x21-\x7e]{1,128}$/

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
/** An own property only: a parsed document's keys, never Object.prototype's. */
const own = (o: Obj, k: string): unknown => Object.hasOwn(o, k) ? o[k] : undefined

function b64urlBytes (s: string, what: string, reason: TokenErrorReason): Buffer {
  // Buffer.from(…, 'base64url') skips characters it does not know: check the alphabet first
  if (!B64URL.test(s) || s.length % 4 === 1) throw new TokenError(reason, `${what} is not base64url`)
  return Buffer.from(s, 'base64url')
}

function jsonObject (bytes: Buffer, what: string): Obj {
  let v: unknown
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new TokenError('malformed', `${what} is not JSON`)
  }
  if (!isObj(v)) throw new TokenError('malformed', `${what} is not a JSON object`)
  return v
}

// ------------------------------------------------------------------------------------------------------ the JWKS

function jwksKey (k: unknown, i: number): JwksKey | null {
  if (!isObj(k)) throw new TokenError('jwks', `keys[${i}] is not an object`)
  const kid = own(k, 'kid')
  const kty = own(k, 'kty')
  const alg = own(k, 'alg')
  const use = own(k, 'use')
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 256) throw new TokenError('jwks', `keys[${i}].kid must be a non-empty string`)
  if (typeof kty !== 'string') throw new TokenError('jwks', `keys[${i}].kty must be a string`)
  if (alg !== undefined && typeof alg !== 'string') throw new TokenError('jwks', `keys[${i}].alg must be a string`)
  if (use !== undefined && typeof use !== 'string') throw new TokenError('jwks', `keys[${i}].use must be a string`)
  if (use !== undefined && use !== 'sig') return null // an encryption key: not for verifying
  if (own(k, 'd') !== undefined || own(k, 'p') !== undefined || own(k, 'k') !== undefined) {
    throw new TokenError('jwks', `keys[${i}] holds private or symmetric key material`)
  }
  const str = (name: string): string => {
    const v = own(k, name)
    if (typeof v !== 'string') throw new TokenError('jwks', `keys[${i}].${name} must be a string`)
    b64urlBytes(v, `keys[${i}].${name}`, 'jwks')
    return v
  }
  let jwk: Obj
  let want: TokenAlgorithm
  if (kty === 'RSA') {
    if (alg !== undefined && alg !== 'RS256') return null
    want = 'RS256'
    jwk = { kty, n: str('n'), e: str('e') }
  } else if (kty === 'EC') {
    const crv = own(k, 'crv')
    if (crv !== 'P-256' || (alg !== undefined && alg !== 'ES256')) return null
    want = 'ES256'
    jwk = { kty, crv, x: str('x'), y: str('y') }
  } else {
    return null // OKP, oct, ...: not an algorithm Kubernetes signs with here
  }
  let key: KeyObject
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
  } catch (err) {
    throw new TokenError('jwks', `keys[${i}] is not a valid ${kty} public key (${(err as Error).message})`)
  }
  if (want === 'RS256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw new TokenError('jwks', `keys[${i}] is an RSA key under 2048 bits`)
  }
  return { kid, alg: want, key }
}

/**
 * Reads a JWKS document (GET /openid/v1/jwks): every RSA (RS256) and EC P-256 (ES256) signing key, by kid. Keys of
 * other kinds are skipped; a structurally broken entry, private key material, a duplicate kid, or no usable key at
 * all throws TokenError('jwks').
 */
export function parseJwks (json: unknown): Jwks {
  if (!isObj(json)) throw new TokenError('jwks', 'the key set is not a JSON object')
  const keys = own(json, 'keys')
  if (!Array.isArray(keys)) throw new TokenError('jwks', 'the key set has no keys array')
  if (keys.length > MAX_JWKS_KEYS) throw new TokenError('jwks', `the key set has ${keys.length} keys, more than ${MAX_JWKS_KEYS}`)
  const byKid = new Map<string, JwksKey>()
  const seen = new Set<string>()
  keys.forEach((k, i) => {
    const kid = isObj(k) ? own(k, 'kid') : undefined
    if (typeof kid === 'string') {
      if (seen.has(kid)) throw new TokenError('jwks', `kid ${JSON.stringify(kid)} appears twice`)
      seen.add(kid)
    }
    const key = jwksKey(k, i)
    if (key !== null) byKid.set(key.kid, key)
  })
  if (byKid.size === 0) throw new TokenError('jwks', 'the key set has no RS256 or ES256 signing key')
  return { byKid }
}

// ------------------------------------------------------------------------------------------------------ a token

const numericDate = (v: unknown, name: string, required: boolean): number | null => {
  if (v === undefined && !required) return null
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TokenError('claims', `${name} must be a number`)
  return v
}

function ref (v: unknown, name: string, uidRequired: boolean): { name: string, uid: string | null } {
  if (!isObj(v)) throw new TokenError('claims', `kubernetes.io.${name} must be an object`)
  const n = own(v, 'name')
  const uid = own(v, 'uid')
  if (typeof n !== 'string' || n.length > 253 || !DNS_SUBDOMAIN.test(n)) throw new TokenError('claims', `kubernetes.io.${name}.name is not a valid name`)
  if (uid === undefined && !uidRequired) return { name: n, uid: null }
  if (typeof uid !== 'string' || !UID.test(uid)) throw new TokenError('claims', `kubernetes.io.${name}.uid is not a valid uid`)
  return { name: n, uid }
}

/**
 * Verifies a compact JWS the apiserver issued for a pod (TokenRequest bound to a Pod) and returns its claims, or
 * throws TokenError. Checked in this order: size and shape, header alg (RS256/ES256 only), kid in the key set and of
 * that algorithm, signature, then the claims: types, iss (when asked), aud includes the audience, exp > now - leeway,
 * nbf and iat <= now + leeway, the kubernetes.io claim names a namespace, service account and pod, and sub says
 * the same namespace and service account.
 */
export function verifyToken (token: string, o: VerifyOptions): TokenClaims {
  if (typeof token !== 'string') throw new TokenError('malformed', 'the token is not a string')
  if (token.length > MAX_TOKEN_BYTES) throw new TokenError('malformed', `the token is over ${MAX_TOKEN_BYTES} bytes`)
  const parts = token.split('.')
  if (parts.length !== 3) throw new TokenError('malformed', 'not a compact JWS (three dot-separated parts)')
  const [h = '', p = '', s = ''] = parts
  const header = jsonObject(b64urlBytes(h, 'the header', 'malformed'), 'the header')
  const alg = own(header, 'alg')
  if (alg !== 'RS256' && alg !== 'ES256') throw new TokenError('algorithm', `alg ${JSON.stringify(alg)} is not RS256 or ES256`)
  if (own(header, 'crit') !== undefined) throw new TokenError('malformed', 'the header has critical extensions this verifier does not know')
  const kid = own(header, 'kid')
  if (typeof kid !== 'string' || kid.length === 0) throw new TokenError('unknown-key', 'the header names no kid')
  const key = o.jwks.byKid.get(kid)
  if (key === undefined) throw new TokenError('unknown-key', `kid ${JSON.stringify(kid.slice(0, 64))} is not in the key set`)
  if (key.alg !== alg) throw new TokenError('algorithm', `alg ${alg} is not the ${key.alg} of key ${kid}`)
  const payloadBytes = b64urlBytes(p, 'the payload', 'malformed')
  const sig = b64urlBytes(s, 'the signature', 'malformed')

  const signed = Buffer.from(`${h}.${p}`, 'ascii')
  let good = false
  try {
    good = alg === 'ES256'
      ? sig.length === 64 && verify('sha256', signed, { key: key.key, dsaEncoding: 'ieee-p1363' }, sig)
      : verify('sha256', signed, key.key, sig)
  } catch {
    good = false
  }
  if (!good) throw new TokenError('signature', 'the signature does not verify')

  const c = jsonObject(payloadBytes, 'the payload')
  const iss = own(c, 'iss')
  const sub = own(c, 'sub')
  const aud = own(c, 'aud')
  const jti = own(c, 'jti')
  if (typeof iss !== 'string' || iss === '') throw new TokenError('claims', 'iss must be a non-empty string')
  if (typeof sub !== 'string') throw new TokenError('claims', 'sub must be a string')
  if (jti !== undefined && typeof jti !== 'string') throw new TokenError('claims', 'jti must be a string')
  const exp = numericDate(own(c, 'exp'), 'exp', true) as number
  const iat = numericDate(own(c, 'iat'), 'iat', true) as number
  const nbf = numericDate(own(c, 'nbf'), 'nbf', false)
  const audiences = typeof aud === 'string' ? [aud] : aud
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every(a => typeof a === 'string')) {
    throw new TokenError('claims', 'aud must be a string or a non-empty array of strings')
  }

  if (o.issuer !== undefined && iss !== o.issuer) throw new TokenError('issuer', `issuer ${JSON.stringify(iss)} is not ${JSON.stringify(o.issuer)}`)
  if (!(audiences as string[]).includes(o.audience)) throw new TokenError('audience', `the token is not for ${JSON.stringify(o.audience)}`)
  const leeway = o.leewayS ?? DEFAULT_LEEWAY_S
  if (!(exp > o.nowS - leeway)) throw new TokenError('expired', `expired at ${exp} (now ${Math.floor(o.nowS)})`)
  if (nbf !== null && nbf > o.nowS + leeway) throw new TokenError('not-yet-valid', `not valid before ${nbf} (now ${Math.floor(o.nowS)})`)
  if (iat > o.nowS + leeway) throw new TokenError('not-yet-valid', `issued in the future (${iat}, now ${Math.floor(o.nowS)})`)

  const k8s = own(c, 'kubernetes.io')
  if (!isObj(k8s)) throw new TokenError('claims', 'no kubernetes.io claim: not a Kubernetes service account token')
  const namespace = own(k8s, 'namespace')
  if (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL.test(namespace)) throw new TokenError('claims', 'kubernetes.io.namespace is not a valid namespace')
  const sa = ref(own(k8s, 'serviceaccount'), 'serviceaccount', true)
  if (own(k8s, 'pod') === undefined) throw new TokenError('claims', 'the token is not bound to a pod (no kubernetes.io.pod)')
  const pod = ref(own(k8s, 'pod'), 'pod', true)
  const nodeClaim = own(k8s, 'node')
  const node = nodeClaim === undefined ? null : ref(nodeClaim, 'node', false)
  const warnAfter = own(k8s, 'warnafter')
  const warnAfterS = warnAfter === undefined ? null : numericDate(warnAfter, 'kubernetes.io.warnafter', true)
  if (sub !== `system:serviceaccount:${namespace}:${sa.name}`) {
    throw new TokenError('claims', `sub ${JSON.stringify(sub.slice(0, 300))} is not the service account ${namespace}/${sa.name} of kubernetes.io`)
  }
  return {
    issuer: iss,
    subject: sub,
    audiences: [...(audiences as string[])],
    expiresAtS: exp,
    issuedAtS: iat,
    notBeforeS: nbf,
    jti: jti ?? null,
    namespace,
    serviceAccount: { name: sa.name, uid: sa.uid as string },
    pod: { name: pod.name, uid: pod.uid as string },
    node,
    warnAfterS
  }
}
