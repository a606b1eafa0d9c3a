// The production build's esbuild plugins: Node's builtins loaded through require(), and small fixes to the libp2p
// stack's hot paths (tools/build.ts bundles the agent with both; the benchmarks' floor node too).
import { readFileSync } from 'node:fs'
import { builtinModules, createRequire } from 'node:module'
import type { Plugin } from 'esbuild'

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

/**
 * Small fixes to the libp2p stack's hot paths, applied as the bundle is built. Each must match its module's text
 * exactly once, or the build fails (a dependency upgrade that changes the text must be looked at again, not skipped).
 */
export const STACK_PATCHES: ReadonlyArray<{ module: string, find: string, replace: string, why: string }> = [{
  // noise frames every connection's bytes through this decoder; after the last whole frame of a chunk it asked its
  // length decoder for another length from an empty buffer, which throws a RangeError (a stack trace captured) to say
  // "need more bytes": once per chunk received, ~5 % of an idle agent's CPU. An empty buffer cannot hold a length,
  // whatever the decoder, so the loop now ends there without asking
  module: '@libp2p/utils/dist/src/length-prefixed-decoder.js',
  find: '        while (true) {\n            let dataLength;',
  replace: '        while (this.buffer.byteLength > 0) {\n            let dataLength;',
  why: 'no RangeError thrown per chunk to find an empty buffer'
}, {
  // yamux answered every data frame a stream received with a window update frame (one more encrypted frame and
  // socket write for each one received), however little of the receive window was used. As other yamux
  // implementations do, the window is now topped up once half of it is used: the sender always has half a window left
  // when the update reaches it, so no stream waits for one. (The growth of the window, just above, is unchanged and
  // sends its update at once: a window doubled is more than half unused.)
  module: '@chainsafe/libp2p-yamux/dist/src/stream.js',
  find: '        if (this.recvWindowCapacity >= this.recvWindow && flags === 0) {',
  replace: '        if (flags === 0 && this.recvWindow - this.recvWindowCapacity < this.recvWindow / 2) {',
  why: 'a window update once half the receive window is used, not after every frame'
}, {
  // every gossiped message's signature is checked with the origin's Ed25519 key, which libp2p turned into a Node
  // KeyObject (through a JWK) anew for each check: a bounded cache of them, by key, keeps the conversion to once a key
  module: '@libp2p/crypto/dist/src/keys/ed25519/index.js',
  find: 'export function hashAndVerify(key, sig, msg) {',
  replace: 'const verifyKeys = new Map();\nexport function hashAndVerify(key, sig, msg) {',
  why: 'a cache of verifying keys (its declaration)'
}, {
  module: '@libp2p/crypto/dist/src/keys/ed25519/index.js',
  find: `    const obj = crypto.createPublicKey({
        format: 'jwk',
        key: {
            crv: 'Ed25519',
            x: uint8arrayToString(key, 'base64url'),
            kty: 'OKP'
        }
    });
    return crypto.verify(`,
  replace: `    const x = uint8arrayToString(key, 'base64url');
    let obj = verifyKeys.get(x);
    if (obj === undefined) {
        obj = crypto.createPublicKey({ format: 'jwk', key: { crv: 'Ed25519', x, kty: 'OKP' } });
        if (verifyKeys.size >= 4096) verifyKeys.clear();
        verifyKeys.set(x, obj);
    }
    return crypto.verify(`,
  why: 'a cache of verifying keys (its use)'
}, {
  // noise encrypts and decrypts every frame with a cipher made from the session's raw key, and Node imports a raw key
  // anew for each cipher: ~9 us of a frame's ~13. Each session key is imported once (a KeyObject per key array; a
  // CipherState never changes its key), which also moves the point where Node's cipher beats the WebAssembly one
  // from 1200 B down to about 600 B
  module: '@chainsafe/libp2p-noise/dist/src/crypto/index.js',
  find: "const CHACHA_POLY1305 = 'chacha20-poly1305';",
  replace: "const CHACHA_POLY1305 = 'chacha20-poly1305';\nconst secretKeys = new WeakMap();\nconst secretKeyOf = (k) => {\n    let key = secretKeys.get(k);\n    if (key === undefined) {\n        key = crypto.createSecretKey(k);\n        secretKeys.set(k, key);\n    }\n    return key;\n};",
  why: 'session keys imported once (the cache)'
}, {
  module: '@chainsafe/libp2p-noise/dist/src/crypto/index.js',
  find: 'crypto.createCipheriv(CHACHA_POLY1305, k, nonce, {',
  replace: 'crypto.createCipheriv(CHACHA_POLY1305, secretKeyOf(k), nonce, {',
  why: 'session keys imported once (encryption)'
}, {
  module: '@chainsafe/libp2p-noise/dist/src/crypto/index.js',
  find: 'crypto.createDecipheriv(CHACHA_POLY1305, k, nonce, {',
  replace: 'crypto.createDecipheriv(CHACHA_POLY1305, secretKeyOf(k), nonce, {',
  why: 'session keys imported once (decryption)'
}, {
  module: '@chainsafe/libp2p-noise/dist/src/crypto/index.js',
  find: '        if (plaintext.byteLength < 1200) {',
  replace: '        if (plaintext.byteLength < 600) {',
  why: "Node's cipher from 600 B (encryption)"
}, {
  module: '@chainsafe/libp2p-noise/dist/src/crypto/index.js',
  find: '        if (ciphertext.byteLength < 1200) {',
  replace: '        if (ciphertext.byteLength < 600) {',
  why: "Node's cipher from 600 B (decryption)"
}, {
  // a connection hands TCP each frame as a list of pieces (noise's 2-byte length, the ciphertext of yamux's 12-byte
  // header and of the data, the 16-byte tag), and each piece was written on its own: a system call and, with Nagle
  // off, a TCP segment each, three or four a frame. Corked until the tick ends (once a tick), the pieces of every send
  // of the tick leave in one writev
  module: '@libp2p/tcp/dist/src/socket-to-conn.js',
  find: '        let canSendMore = true;\n        for (const buf of data) {',
  replace: '        let canSendMore = true;\n        if (this.socket.writableCorked === 0) {\n            this.socket.cork();\n            process.nextTick(() => this.socket.uncork());\n        }\n        for (const buf of data) {',
  why: "a send's pieces in one write"
}]

/** The patches for a module at `path` (a file under node_modules), in order; none for most. */
export const patchesFor = (path: string): Array<typeof STACK_PATCHES[number]> =>
  STACK_PATCHES.filter(p => path.replaceAll('\\', '/').endsWith(`/node_modules/${p.module}`))

/** `text` of a module with `patches` applied; throws unless each one's text to replace is there exactly once. */
export function applyPatches (patches: ReadonlyArray<typeof STACK_PATCHES[number]>, text: string): string {
  return patches.reduce((t, p) => {
    const at = t.indexOf(p.find)
    if (at < 0 || t.indexOf(p.find, at + 1) >= 0) throw new Error(`stack patch (${p.why}): ${p.module} does not hold its text exactly once; look at the dependency again`)
    return t.replace(p.find, p.replace)
  }, text)
}

export const stackPatches: Plugin = {
  name: 'stack-patches',
  setup (b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/].*\.js$/ }, args => {
      const patches = patchesFor(args.path)
      return patches.length === 0 ? undefined : { contents: applyPatches(patches, readFileSync(args.path, 'utf8')), loader: 'js' }
    })
  }
}
