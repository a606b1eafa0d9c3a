// Reads the secrets named by the configuration (mounted Kubernetes Secrets): the API token and the mesh's key.
import { readFileSync } from 'node:fs'
import type { Config } from './config.ts'
import { ConfigError } from '../shared/config-error.ts'

export interface Secrets {
  /** Bearer token the write endpoints require, or null. */
  apiToken: string | null
  /** libp2p private-network key (pnet file format), or null. */
  psk: Uint8Array | null
}

const PSK = /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-fA-F]{64}\n?$/

function read (name: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(name, path, `a readable file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`)
  }
}

/** Loads and checks the secrets; throws ConfigError naming the variable (never the secret itself). */
export function loadSecrets (c: Pick<Config, 'apiTokenFile' | 'gossipPskFile'>): Secrets {
  let apiToken: string | null = null
  if (c.apiTokenFile !== '') {
    const t = read('API_TOKEN_FILE', c.apiTokenFile).trim()
    if (t.length < 16 || /\s/.test(t)) throw new ConfigError('API_TOKEN_FILE', c.apiTokenFile, 'a file holding one token of at least 16 characters, no spaces')
    apiToken = t
  }
  let psk: Uint8Array | null = null
  if (c.gossipPskFile !== '') {
    const text = read('GOSSIP_PSK_FILE', c.gossipPskFile).replace(/\r\n/g, '\n')
    if (!PSK.test(text)) throw new ConfigError('GOSSIP_PSK_FILE', c.gossipPskFile, 'a libp2p key file: "/key/swarm/psk/1.0.0/", "/base16/", then 64 hex digits, one per line')
    const hex = (text.split('\n')[2] ?? '').toLowerCase()
    psk = new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${hex}`)
  }
  return { apiToken, psk }
}
