// The production build (npm run build): the agent and every dependency it imports bundled into one ES module,
// dist/agent.mjs, beside the page's script (dist/page/app.js), so the image needs no node_modules. One file loads
// in about half the time of the module tree and holds about 40 MB less (BENCHMARKS.md, issue 20).
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { build, type BuildOptions } from 'esbuild'
import { builtinsThroughRequire, STACK_PATCHES, stackPatches } from './build-plugins.ts'

const root = new URL('../', import.meta.url)
const dist = new URL('dist/', root)
rmSync(dist, { recursive: true, force: true })
mkdirSync(new URL('page/', dist), { recursive: true })
const options = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  // the CommonJS dependencies' require() of Node's own modules, inside an ES module
  banner: { js: "import { createRequire as __k8snetRequire } from 'node:module'; const require = __k8snetRequire(import.meta.url);" },
  // smaller to parse and to hold: V8 keeps the source for as long as the agent runs (1.8 MB instead of 2.6; with
  // esbuild's keepNames RSS grew 4-5 MB, from a defineProperty on every function). Local names are shortened, so a
  // stack trace names methods as written but functions by their short names: agent.mjs.map, beside the bundle, maps
  // them back when the agent runs with NODE_OPTIONS=--enable-source-maps (docs/deploy.md); unread otherwise
  minifyWhitespace: true,
  minifySyntax: true,
  minifyIdentifiers: true,
  legalComments: 'linked',
  sourcemap: 'linked',
  logLevel: 'warning',
  metafile: true,
  plugins: [builtinsThroughRequire, stackPatches]
} satisfies BuildOptions
const result = await build({ ...options, entryPoints: [new URL('src/node/main.ts', root).pathname], outfile: new URL('agent.mjs', dist).pathname })
// the benchmarks' floor, a bare gossipsub node of the same stack, built as the agent is (bench/raw-gossip-node.ts)
if (process.argv.includes('--with-floor')) {
  await build({ ...options, entryPoints: [new URL('bench/raw-gossip-node.ts', root).pathname], outfile: new URL('raw-gossip-node.mjs', dist).pathname })
}
const unpatched = STACK_PATCHES.filter(p => !Object.keys(result.metafile.inputs).some(i => i.endsWith(`node_modules/${p.module}`)))
if (unpatched.length > 0) throw new Error(`stack patches for modules the bundle no longer holds: ${unpatched.map(p => p.module).join(', ')}`)
// V8 holds a script's source for as long as it runs (2.6 MB here): as one byte a character while every character is
// Latin-1, as two (twice the memory) as soon as one is not. esbuild escapes strings but writes regex literals as they are.
const source = readFileSync(new URL('agent.mjs', dist), 'utf8')
const wide = [...source].findIndex(c => c.charCodeAt(0) > 0xff)
if (wide >= 0) throw new Error(`dist/agent.mjs has a character beyond Latin-1 (${JSON.stringify(source.slice(wide, wide + 1))}, near ${JSON.stringify(source.slice(wide - 40, wide + 10))}): write it as an escape, or V8 holds the whole source at two bytes a character`)
copyFileSync(new URL('src/api/page/app.js', root), new URL('page/app.js', dist))
const bytes = result.metafile.outputs['dist/agent.mjs']?.bytes ?? 0
process.stdout.write(`dist/agent.mjs: ${(bytes / 2 ** 20).toFixed(1)} MB from ${Object.keys(result.metafile.inputs).length} modules\n`)
