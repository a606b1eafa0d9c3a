// Gives each live virtual cluster a subnet index of its own: one exclusive lock file per index, stale ones taken over.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** How many subnet indexes there are (10.213.20 .. 10.213.219). */
export const SUBNET_SLOTS = 200
const FIRST = 20
/** Where the lock files are: one a held index, named by it, holding its holder's pid. */
export const SUBNET_LOCK_DIR = join(tmpdir(), 'k8snet-cluster-subnets')

export function subnetLockPath (k: number, dir = SUBNET_LOCK_DIR): string { return join(dir, String(k)) }

/** A process is alive when signal 0 reaches it (EPERM: it exists, owned by someone else). */
export function pidAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
}

export interface SubnetClaim {
  /** The third octet of 10.213.k.0/24 (and the third group of fd00:213:k::/64). */
  readonly k: number
  /** Gives the index back; safe to call twice. */
  release: () => void
}

/** Writes `pid` into a new file at `path`; false when the file already exists. */
function create (path: string, pid: number): boolean {
  let fd: number
  try { fd = openSync(path, 'wx') } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw e
  }
  try { writeSync(fd, String(pid)) } finally { closeSync(fd) }
  return true
}

/** The pid a lock file names; null when it is gone, or unreadable because its writer is between create and write. */
function holder (path: string): number | null {
  try {
    const pid = Number(readFileSync(path, 'utf8'))
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch { return null }
}

function remove (path: string): void { try { unlinkSync(path) } catch { /* already gone */ } }

/**
 * Takes the lock of a dead holder. A second lock (`.takeover`) makes the takeover exclusive, so two processes that
 * both saw the same dead holder cannot each remove the other's fresh lock.
 */
function takeOver (path: string, pid: number): boolean {
  const guard = `${path}.takeover`
  if (!create(guard, pid)) {
    const g = holder(guard)
    if (g !== null && !pidAlive(g)) remove(guard) // its taker died mid-takeover: the next claim may try again
    return false
  }
  try {
    const h = holder(path)
    if (h === null || pidAlive(h)) return false // renewed meanwhile, or still being written
    remove(path)
    return create(path, pid)
  } finally { remove(guard) }
}

/**
 * Claims a subnet index no other live process holds, starting from one derived from the pid so that concurrent
 * claimers spread; throws when all are held.
 */
export function claimSubnet (pid = process.pid, dir = SUBNET_LOCK_DIR): SubnetClaim {
  mkdirSync(dir, { recursive: true })
  for (let i = 0; i < SUBNET_SLOTS; i++) {
    const k = FIRST + ((pid + i) % SUBNET_SLOTS)
    const path = subnetLockPath(k, dir)
    if (!create(path, pid)) {
      const h = holder(path)
      if (h === null || pidAlive(h) || !takeOver(path, pid)) continue
    }
    let held = true
    return {
      k,
      release: () => {
        if (!held) return
        held = false
        if (holder(path) === pid) remove(path)
      }
    }
  }
  throw new Error(`every one of the ${SUBNET_SLOTS} cluster subnets is held by a live process (locks in ${dir})`)
}
