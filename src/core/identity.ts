// Pure (time passed in): whether a record's origin is bound to its pod by the cluster: its full record carries a
// projected ServiceAccount token of our audience whose pod, namespace and node claims name that origin.
import { createHash } from 'node:crypto'
import type { AgentRecord } from './record.ts'
import { TokenError, verifyToken, type Jwks, type TokenClaims, type TokenErrorReason } from './sa-token.ts'

/** What a verified token proves: which pod (uid), when its token was issued, and until when it holds. */
export interface IdentityProof { uid: string, issuedAtS: number, expiresAtS: number }

export type IdentityRefusal = TokenErrorReason | 'missing' | 'pod-name' | 'namespace' | 'node'

export type IdentityCheck = { ok: true, proof: IdentityProof } | { ok: false, reason: IdentityRefusal, message: string }

/** What the adapters (mesh, anti-entropy) ask of identity: the proof for a record's origin, or null when it has none. */
export type ProveIdentity = (record: AgentRecord) => IdentityProof | null

export interface IdentityOptions {
  audience: string
  issuer?: string
  /** Verified tokens remembered (a token is verified once, then looked up). */
  cacheSize?: number
}

export class IdentityVerifier {
  private readonly o: IdentityOptions
  private jwks: Jwks | null = null
  private readonly cache = new Map<string, TokenClaims>()
  /** Refusals by reason, for the health endpoint and metrics. */
  readonly refused: Partial<Record<IdentityRefusal, number>> = {}

  constructor (o: IdentityOptions) {
    this.o = o
  }

  /** The cluster's keys (null: not known yet, and nothing is enforced). A new key set empties the cache. */
  setKeys (jwks: Jwks | null): void {
    this.jwks = jwks
    this.cache.clear()
  }

  /** Whether records are checked at all: only once the cluster's keys are known. */
  get enforcing (): boolean { return this.jwks !== null }

  /** Checks the token a record carries against the cluster's keys and the record's own identity. */
  check (record: AgentRecord, nowS: number): IdentityCheck {
    const out = this.checkOnce(record, nowS)
    if (!out.ok) this.refused[out.reason] = (this.refused[out.reason] ?? 0) + 1
    return out
  }

  private checkOnce (record: AgentRecord, nowS: number): IdentityCheck {
    const jwks = this.jwks
    if (jwks === null) return { ok: false, reason: 'jwks', message: 'the cluster\'s keys are not known yet' }
    const token = record.token
    if (token === undefined || token === '') return { ok: false, reason: 'missing', message: 'no token in the record' }
    const key = createHash('sha256').update(token).digest('base64')
    let claims = this.cache.get(key)
    if (claims === undefined) {
      try {
        claims = verifyToken(token, { jwks, audience: this.o.audience, nowS, ...(this.o.issuer === undefined ? {} : { issuer: this.o.issuer }) })
      } catch (err) {
        if (err instanceof TokenError) return { ok: false, reason: err.reason, message: err.message }
        throw err
      }
      this.cache.set(key, claims)
      if (this.cache.size > (this.o.cacheSize ?? 20_000)) this.cache.delete(this.cache.keys().next().value ?? '')
    } else if (claims.expiresAtS + 60 < nowS) {
      this.cache.delete(key)
      return { ok: false, reason: 'expired', message: 'the token has expired' }
    }
    const id = record.identity
    if (claims.pod.name !== id.podName) return { ok: false, reason: 'pod-name', message: `the token is pod ${claims.pod.name}'s, the record claims ${id.podName}` }
    if (claims.namespace !== id.namespace) return { ok: false, reason: 'namespace', message: `the token is of namespace ${claims.namespace}, the record claims ${id.namespace}` }
    if (claims.node !== null && claims.node.name !== id.nodeName) return { ok: false, reason: 'node', message: `the token is of node ${claims.node.name}, the record claims ${id.nodeName}` }
    return { ok: true, proof: { uid: claims.pod.uid, issuedAtS: claims.issuedAtS, expiresAtS: claims.expiresAtS } }
  }
}
