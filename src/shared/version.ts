// The agent's software version, read once from the package manifest next to the code, and the image's source revision.
import { readFileSync } from 'node:fs'

function findVersion (): string {
  // the source tree (src/shared/), the bundle (dist/agent.mjs)
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'k8snet-checker' && typeof pkg.version === 'string') return pkg.version
    } catch { /* try the next location */ }
  }
  return '0.0.0-unknown'
}

export const VERSION: string = findVersion()

/** The source revision the image was built from (the Dockerfile sets K8SNET_REVISION from its REVISION argument). */
export const REVISION: string = /^[0-9a-zA-Z._-]{1,64}$/.test(process.env.K8SNET_REVISION ?? '') ? process.env.K8SNET_REVISION as string : 'unknown'
