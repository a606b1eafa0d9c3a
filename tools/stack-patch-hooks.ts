// Applies the production build's patches to the libp2p stack (tools/build-plugins.ts) when it runs from node_modules,
// unbundled: `node --import ./tools/stack-patch-hooks.ts ...` runs the stack the image runs.
import { registerHooks } from 'node:module'
import { fileURLToPath } from 'node:url'
import { applyPatches, patchesFor } from './build-plugins.ts'

registerHooks({
  load (url, context, nextLoad) {
    const loaded = nextLoad(url, context)
    const patches = url.startsWith('file:') ? patchesFor(fileURLToPath(url)) : []
    if (patches.length === 0 || loaded.source === undefined || loaded.source === null) return loaded
    return { ...loaded, source: applyPatches(patches, typeof loaded.source === 'string' ? loaded.source : Buffer.from(loaded.source as Uint8Array).toString('utf8')) }
  }
})
