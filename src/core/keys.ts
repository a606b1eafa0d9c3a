// The agent's Ed25519 identity: one key signs its gossip (libp2p) and its record seals; peer ids give back public keys.
import { generateKeyPairSync, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'

export type Signer = (data: Uint8Array) => Uint8Array
export type Verifier = (peerId: string, data: Uint8Array, sig: Uint8Array) => boolean

export interface AgentKey {
  /** The same key in libp2p's form: its peer id is the agent's identity on the mesh. */
  libp2p: PrivateKey
  /** The peer id this key gives the agent (base58). */
  peerId: string
  sign: Signer
}

/** A fresh key for one process (an incarnation): libp2p signs gossip with it, the agent seals its records. */
export function newAgentKey (): AgentKey {
  return agentKeyOf(generateKeyPairSync('ed25519').privateKey)
}

/**
 * The pod's key, kept in `path` (an emptyDir: it outlives a container restart, not the pod), made there on first use:
 * a restarted agent keeps the key its pod's identity is bound to. A file that is not such a key is an error.
 */
export function persistentAgentKey (path: string): AgentKey {
  let pem: string | null = null
  try { pem = readFileSync(path, 'utf8') } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err }
  if (pem !== null) {
    const key = createPrivateKey(pem)
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${path} holds a ${key.asymmetricKeyType ?? 'unknown'} key, not an Ed25519 one`)
    return agentKeyOf(key)
  }
  const { privateKey } = generateKeyPairSync('ed25519')
  writeFileSync(`${path}.tmp`, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  renameSync(`${path}.tmp`, path)
  return agentKeyOf(privateKey)
}

function agentKeyOf (privateKey: KeyObject): AgentKey {
  const jwk = privateKey.export({ format: 'jwk' })
  if (jwk.d === undefined || jwk.x === undefined) throw new Error('ed25519 key export lacks its parts')
  const raw = Buffer.concat([Buffer.from(jwk.d, 'base64url'), Buffer.from(jwk.x, 'base64url')])
  const libp2p = privateKeyFromRaw(raw)
  return { libp2p, peerId: peerIdFromPrivateKey(libp2p).toString(), sign: data => sign(null, data, privateKey) }
}

const MAX_CACHED = 20_000

/** Verifies signatures by the Ed25519 key a peer id embeds (libp2p's identity ids); false for any other id. */
export class PeerKeys {
  private readonly cache = new Map<string, KeyObject | null>()

  readonly verify: Verifier = (peerId, data, sig) => {
    const key = this.keyOf(peerId)
    if (key === null || sig.byteLength !== 64) return false
    try { return verify(null, data, key, sig) } catch { return false }
  }

  private keyOf (peerId: string): KeyObject | null {
    let key = this.cache.get(peerId)
    if (key !== undefined) return key
    key = null
    try {
      const id = peerIdFromString(peerId)
      if (id.type === 'Ed25519') key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(id.publicKey.raw).toString('base64url') }, format: 'jwk' })
    } catch { key = null }
    if (this.cache.size >= MAX_CACHED) this.cache.clear()
    this.cache.set(peerId, key)
    return key
  }
}
