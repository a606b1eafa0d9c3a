// Pure: which live agents contend for the Lease: the few with the lowest hash of their pod name.
import { createHash } from 'node:crypto'

const rank = (name: string): string => createHash('sha256').update(name).digest('hex')

/** At most `n` contenders at any cluster size, the same set on every agent whose view agrees. */
export function contenders (names: Iterable<string>, n: number): string[] {
  return [...new Set(names)].map(name => ({ name, h: rank(name) }))
    .sort((a, b) => a.h < b.h ? -1 : a.h > b.h ? 1 : 0)
    .slice(0, n)
    .map(x => x.name)
}
