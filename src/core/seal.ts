// Origin seals: an agent signs each version of its record (and its departure), so a relay can prove what it said.
import { createHash } from 'node:crypto'
import { canonicalContent } from './codec.ts'
import type { Signer, Verifier } from './keys.ts'
import type { AgentRecord, Seal } from './record.ts'
import type { SyncResponse } from './view.ts'

const enc = new TextEncoder()

/** The bytes signed: a domain tag, the version's coordinates and, for a record, a digest of its content. */
function payload (kind: 'record' | 'leave', origin: string, peerId: string, inc: number, seq: number, rv: number, digest: string): Uint8Array {
  return enc.encode(JSON.stringify(['k8snet-seal/1', kind, origin, peerId, inc, seq, rv, digest]))
}

/** sha256 of the record's canonical content (identity, leader flag, results). */
export function contentDigest (r: AgentRecord): string {
  return createHash('sha256').update(canonicalContent(r)).digest('hex')
}

/** Seals the record as it is now, for the message numbered `seq` (`digest`: its contentDigest, when known). */
export function sealRecord (r: AgentRecord, seq: number, sign: Signer, digest = contentDigest(r)): Seal {
  const p = payload('record', r.identity.podName, r.identity.peerId, r.inc, seq, r.rv, digest)
  return { seq, sig: Buffer.from(sign(p)).toString('base64') }
}

/** Whether `seal` is the record's origin's signature over exactly this content at this (inc, rv). */
export function recordSealHolds (r: AgentRecord, seal: Seal, verify: Verifier): boolean {
  if (seal.seq < 1) return false
  const p = payload('record', r.identity.podName, r.identity.peerId, r.inc, seal.seq, r.rv, contentDigest(r))
  return verify(r.identity.peerId, p, Buffer.from(seal.sig, 'base64'))
}

export function sealLeave (origin: string, peerId: string, inc: number, seq: number, sign: Signer): string {
  return Buffer.from(sign(payload('leave', origin, peerId, inc, seq, 0, ''))).toString('base64')
}

/** Whether `sig` is the departure of (origin, inc, seq) signed by the key `peerId` embeds. */
export function leaveSealHolds (origin: string, peerId: string, inc: number, seq: number, sig: string, verify: Verifier): boolean {
  return verify(peerId, payload('leave', origin, peerId, inc, seq, 0, ''), Buffer.from(sig, 'base64'))
}

/**
 * Checks the seals of an anti-entropy answer: marks each record and departure whose seal holds under its origin's
 * key (`keyOf` gives the key held for an origin, for departures), and strips the seals that do not hold.
 */
export function checkSeals (res: SyncResponse, verify: Verifier, keyOf: (origin: string) => string | undefined): void {
  for (const f of res.full) {
    const seal = f.record.seal
    if (seal === undefined) continue
    f.sealed = seal.seq <= f.record.seq && recordSealHolds(f.record, seal, verify)
    if (!f.sealed) delete f.record.seal
  }
  for (const l of res.left) {
    if (l.seal === undefined) continue
    const key = keyOf(l.origin)
    l.sealed = key !== undefined && leaveSealHolds(l.origin, key, l.inc, l.seq, l.seal, verify)
    if (!l.sealed) delete l.seal
  }
}
