// The agent's software version, read once from the package manifest next to the code.
import { readFileSync } from 'node:fs'

function findVersion (): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'k8snet-checker' && typeof pkg.version === 'string') return pkg.version
    } catch { /* try the next location (source tree or dist/) */ }
  }
  return '0.0.0-unknown'
}

export const VERSION: string = findVersion()
