// The production build (npm run build): the agent and every dependency it imports bundled into one ES module,
// dist/agent.mjs, beside the page's script (dist/page/app.js), so the image needs no node_modules. One file loads
// in about half the time of the module tree and holds about 40 MB less (BENCHMARKS.md, issue 20).
import { copyFileSync, mkdirSync, rmSync } from 'node:fs'
import { build } from 'esbuild'

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
  // smaller to parse; names kept as written, so stack traces stay readable
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'linked',
  sourcemap: false,
  logLevel: 'warning',
  metafile: true
})
copyFileSync(new URL('src/api/page/app.js', root), new URL('page/app.js', dist))
const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0)
process.stdout.write(`dist/agent.mjs: ${(bytes / 2 ** 20).toFixed(1)} MB from ${Object.keys(result.metafile.inputs).length} modules\n`)
