// The production build (npm run build): the agent and every dependency it imports bundled into one ES module,
// dist/agent.mjs, beside the page's script (dist/page/app.js), so the image needs no node_modules. One file loads
// in about half the time of the module tree and holds about 40 MB less (BENCHMARKS.md, issue 20).
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { builtinModules, createRequire } from 'node:module'
import { build, type Plugin } from 'esbuild'

/**
 * Node's own modules, imported as ES modules, are loaded through require() instead. Node builds an ES module of a
 * builtin by reading every export, and so runs each lazy getter: node:http loads its WebSocket client (undici),
 * node:crypto webcrypto, node:process stdin. Importing the bundle's 18 builtins that way took ~50 ms of start-up,
 * against ~12 through require(). The stand-in module exports the builtin's plain properties by name (read once, as
 * an import would) and the module itself as default; a lazy getter stays reachable through the default export, and
 * a named import of one fails the build instead of reaching nothing.
 */
const BUILTINS = new Set(builtinModules.filter(m => !m.startsWith('_')))
const buildRequire = createRequire(import.meta.url)
export const builtinsThroughRequire: Plugin = {
  name: 'builtins-through-require',
  setup (b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, args => {
      const name = args.path.replace(/^node:/, '')
      if (!BUILTINS.has(name) || (args.kind !== 'import-statement' && args.kind !== 'dynamic-import')) return undefined
      return { path: `node:${name}`, namespace: 'builtin-through-require' }
    })
    b.onLoad({ filter: /.*/, namespace: 'builtin-through-require' }, args => {
      const m = buildRequire(args.path) as Record<string, unknown>
      const plain = Object.keys(m).filter(k => /^[A-Za-z_$][\w$]*$/.test(k) && k !== 'default' && Object.getOwnPropertyDescriptor(m, k)?.get === undefined)
      const named = plain.length === 0 ? '' : `export const { ${plain.join(', ')} } = m;`
      return { contents: `const m = require(${JSON.stringify(args.path)}); export default m; ${named}`, loader: 'js' }
    })
  }
}

const root = new URL('../', import.meta.url)
const dist = new URL('dist/', root)
rmSync(dist, { recursive: true, force: true })
mkdirSync(new URL('page/', dist), { recursive: true })
const result = await build({
  entryPoints: [new URL('src/node/main.ts', root).pathname],
  outfile: new URL('agent.mjs', dist).pathname,
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
  plugins: [builtinsThroughRequire]
})
// V8 holds a script's source for as long as it runs (2.6 MB here): as one byte a character while every character is
// Latin-1, as two (twice the memory) as soon as one is not. esbuild escapes strings but writes regex literals as they are.
const source = readFileSync(new URL('agent.mjs', dist), 'utf8')
const wide = [...source].findIndex(c => c.charCodeAt(0) > 0xff)
if (wide >= 0) throw new Error(`dist/agent.mjs has a character beyond Latin-1 (${JSON.stringify(source.slice(wide, wide + 1))}, near ${JSON.stringify(source.slice(wide - 40, wide + 10))}): write it as an escape, or V8 holds the whole source at two bytes a character`)
copyFileSync(new URL('src/api/page/app.js', root), new URL('page/app.js', dist))
const bytes = result.metafile.outputs['dist/agent.mjs']?.bytes ?? 0
process.stdout.write(`dist/agent.mjs: ${(bytes / 2 ** 20).toFixed(1)} MB from ${Object.keys(result.metafile.inputs).length} modules\n`)
