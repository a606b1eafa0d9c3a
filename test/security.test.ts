// Defences that need no network: who is admitted to the mesh, the secrets loader, the write endpoints' guard
// (off, bearer token, per-client rate), and the limits that keep slow or bulky clients from holding the API.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildApi } from '../src/api/app.ts'
import { RateLimiter } from '../src/api/rate-limit.ts'
import type { ApiDeps } from '../src/api/routes.ts'
import { Admission } from '../src/gossip/admission.ts'
import type { ExternalRecord, Identity } from '../src/core/record.ts'
import { SelfRecord } from '../src/core/self-record.ts'
import { View } from '../src/core/view.ts'
import { ConfigError } from '../src/shared/config-error.ts'
import { loadSecrets } from '../src/node/secrets.ts'

t.test('admission: discovered addresses for a while, the static list for ever, nobody else', async t => {
  let now = 0
  const a = new Admission({ rememberMs: 60_000, now: () => now }, ['10.0.0.9'])
  t.notOk(a.admits('10.0.0.1'), 'unknown before discovery')
  a.saw(['10.0.0.1', '10.0.0.2'])
  t.ok(a.admits('10.0.0.1'))
  t.ok(a.admits('::ffff:10.0.0.2'), 'an IPv4-mapped IPv6 source is its IPv4 address')
  now = 59_000
  a.saw(['10.0.0.2'])
  now = 61_000
  t.notOk(a.admits('10.0.0.1'), 'forgotten once discovery has not returned it for rememberMs')
  t.ok(a.admits('10.0.0.2'), 'still returned: still admitted')
  t.ok(a.admits('10.0.0.9'), 'the static list never expires')
  t.notOk(a.admits('10.0.0.3'))
  now = 10_000_000
  a.saw([])
  t.notOk(a.admits('10.0.0.2'), 'a lookup that returns nothing lets everything age out')
})

t.test('secrets: token and pre-shared key files are checked, and errors never show the secret', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'k8snet-secrets-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = (name: string, text: string): string => { const f = join(dir, name); writeFileSync(f, text); return f }
  t.same(loadSecrets({ apiTokenFile: '', gossipPskFile: '' }), { apiToken: null, psk: null }, 'none configured')
  t.equal(loadSecrets({ apiTokenFile: file('tok', 'abcdefghijklmnopqrstuvwxyz012345\n'), gossipPskFile: '' }).apiToken, 'abcdefghijklmnopqrstuvwxyz012345', 'token trimmed')
  const psk = loadSecrets({ apiTokenFile: '', gossipPskFile: file('key', `/key/swarm/psk/1.0.0/\n/base16/\n${'AB'.repeat(32)}\n`) }).psk
  t.equal(new TextDecoder().decode(psk ?? new Uint8Array()), `/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(32)}`, 'the key in the form libp2p reads (lower-case hex)')
  const refuse = (c: { apiTokenFile: string, gossipPskFile: string }, variable: string, secret: string | null): void => {
    try {
      loadSecrets(c)
      t.fail(`${variable} should be refused`)
    } catch (err) {
      t.ok(err instanceof ConfigError, `${variable}: a configuration error`)
      t.equal((err as ConfigError).variable, variable)
      if (secret !== null) t.notMatch((err as Error).message, secret, `${variable}: the message does not echo the secret`)
    }
  }
  refuse({ apiTokenFile: file('short', 'tooshort'), gossipPskFile: '' }, 'API_TOKEN_FILE', 'tooshort')
  refuse({ apiTokenFile: file('spaces', 'a token with spaces in it'), gossipPskFile: '' }, 'API_TOKEN_FILE', 'a token with')
  refuse({ apiTokenFile: join(dir, 'missing'), gossipPskFile: '' }, 'API_TOKEN_FILE', null)
  refuse({ apiTokenFile: '', gossipPskFile: file('badkey', `/key/swarm/psk/1.0.0/\n/base16/\n${'zz'.repeat(32)}\n`) }, 'GOSSIP_PSK_FILE', 'zzzz')
  refuse({ apiTokenFile: '', gossipPskFile: file('shortkey', '/key/swarm/psk/1.0.0/\n/base16/\nabcd\n') }, 'GOSSIP_PSK_FILE', 'abcd')
})

t.test('rate limiter: a burst of one minute\'s worth, refilled at the rate, bounded memory', async t => {
  let now = 0
  const r = new RateLimiter({ perMinute: 60, maxClients: 3, now: () => now })
  for (let i = 0; i < 60; i++) t.equal(r.take('a'), 0, `burst ${i}`)
  t.equal(r.take('a'), 1, 'the 61st waits a second')
  now += 1_000
  t.equal(r.take('a'), 0, 'one token back after a second')
  t.equal(r.take('a'), 1)
  t.equal(r.take('b'), 0, 'another client has its own bucket')
  for (const c of ['c', 'd', 'e']) r.take(c)
  t.equal(r.clients, 3, 'at most maxClients buckets')
  t.equal(r.take('a'), 0, 'an evicted client starts afresh (the cost of bounded memory)')
})

const deps = (): ApiDeps & { injected: number } => {
  const d = {
    injected: 0,
    snapshot: () => ({ agents: [], externals: [] }),
    inject: () => { d.injected++ },
    health: () => { throw new Error('unused') },
    leader: () => { throw new Error('unused') },
    report: () => { throw new Error('unused') },
    coverageK: 1
  }
  return d
}
const heartbeat = { node_ip: '10.0.0.1', pod_ip: '10.1.0.1', pod_name: 'legacy-a' }
const post = async (app: ReturnType<typeof buildApi>, headers: Record<string, string> = {}, ip = '10.9.0.1'): Promise<{ statusCode: number, body: string, headers: Record<string, unknown> }> =>
  await app.inject({ method: 'POST', url: '/api/v1/heartbeat', payload: heartbeat, headers, remoteAddress: ip })

t.test('write guard: off, token, rate; reads stay open', async t => {
  const off = deps()
  const closed = buildApi(off, { bodyLimit: 4096, writes: { enabled: false, token: null, perMinute: 100 } })
  const r = await post(closed)
  t.equal(r.statusCode, 403, 'API_WRITES=off: 403')
  t.match(JSON.parse(r.body), { code: 'WRITES_DISABLED' })
  t.equal(off.injected, 0, 'nothing injected')
  t.equal((await closed.inject({ method: 'GET', url: '/api/v1/pods' })).statusCode, 200, 'reads stay open')

  const token = 'abcdefghijklmnopqrstuvwxyz012345'
  const d = deps()
  const app = buildApi(d, { bodyLimit: 4096, writes: { enabled: true, token, perMinute: 5 } })
  const none = await post(app)
  t.equal(none.statusCode, 401, 'no token: 401')
  t.equal(none.headers['www-authenticate'], 'Bearer')
  t.notMatch(none.body, token, 'the answer never shows the token')
  t.equal((await post(app, { authorization: `Bearer ${token}x` })).statusCode, 401, 'a wrong token: 401')
  t.equal((await post(app, { authorization: token })).statusCode, 401, 'no Bearer scheme: 401')
  t.equal((await post(app, { authorization: `Bearer ${token}` }, '10.9.0.2')).statusCode, 200, 'the token: accepted')
  t.equal(d.injected, 1, 'and injected')
  // the same client (10.9.0.1) spent 3 of its 5 tokens on refused attempts: rate-limiting comes before the token
  // check, so guessing tokens is throttled too
  t.equal((await post(app, { authorization: `Bearer ${token}` })).statusCode, 200)
  t.equal((await post(app, { authorization: `Bearer ${token}` })).statusCode, 200)
  const limited = await post(app, { authorization: `Bearer ${token}` })
  t.equal(limited.statusCode, 429, 'the 6th write within a minute: 429')
  t.ok(Number(limited.headers['retry-after']) >= 1, 'with Retry-After')
  t.equal((await post(app, { authorization: `Bearer ${token}` }, '10.9.0.3')).statusCode, 200, 'another client is not affected')
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/hosts', remoteAddress: '10.9.0.1' })).statusCode, 200, 'reads are never rate-limited')
})

t.test('a slow client cannot hold the API: headers must arrive within 10 s', async t => {
  const app = buildApi(deps(), { bodyLimit: 4096 })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close() })
  t.equal(app.server.headersTimeout, 10_000, 'headersTimeout')
  t.equal(app.server.maxHeadersCount, 64, 'at most 64 headers')
  t.ok(app.server.requestTimeout > 0 && app.server.requestTimeout <= 15_000, 'a whole request within 15 s')
  // too many header bytes: refused by Node's parser (431), never reaching a handler
  const port = (app.server.address() as { port: number }).port
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => { s.write(`GET /api/v1/hosts HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`) })
    let got = ''
    s.on('data', d => { got += d.toString() })
    s.on('close', () => { resolve(got) })
    s.on('error', reject)
    setTimeout(() => { s.destroy(); resolve(got) }, 3_000)
  })
  t.match(answer, /^HTTP\/1\.1 431/, 'oversized headers: 431')
})

t.test('the legacy reports of all origins share one memory budget', async t => {
  const v = new View({ ttlMs: 10_000, maxExternal: 100, maxExternalItems: 1_000 })
  const report = (source: string, n: number, at = 1): ExternalRecord => ({
    key: `host:${source}`,
    at,
    by: 'peer-x',
    body: { part: 'host', source, value: Array.from({ length: n }, (_, i) => ({ source, target: `10.0.${Math.floor(i / 250)}.${i % 250}`, ping: 'reachable', ports: { 22: 'open' }, latencyUs: 1, durationUs: 1, timestamp: '' })) }
  })
  t.equal(v.apply({ t: 'ext', record: report('10.9.0.1', 600) }, 'peer-x', 0), 'accepted')
  t.equal(v.apply({ t: 'ext', record: report('10.9.0.2', 600) }, 'peer-x', 0), 'capacity', '600 + 600 > 1000: refused')
  t.equal(v.apply({ t: 'ext', record: report('10.9.0.2', 400) }, 'peer-x', 0), 'accepted', '600 + 400 fits')
  t.equal(v.apply({ t: 'ext', record: report('10.9.0.1', 700, 2) }, 'peer-x', 0), 'capacity', 'growing a held report past the budget: refused')
  t.equal(v.apply({ t: 'ext', record: report('10.9.0.1', 500, 3) }, 'peer-x', 0), 'accepted', 'shrinking it is fine')
  t.equal(v.apply({ t: 'ext', record: report('10.9.0.3', 100) }, 'peer-x', 0), 'accepted', 'and frees room (500 + 400 + 100)')
  v.expire(20_000)
  t.equal(v.externalEntries().length, 0, 'all expired')
  t.equal(v.apply({ t: 'ext', record: report('10.9.0.4', 1_000) }, 'peer-x', 20_000), 'accepted', 'expiry gives the budget back')
})

t.test('an origin name cannot be taken over by another key from another address, by gossip or by anti-entropy', async t => {
  const id = (peerId: string, podIp: string): Identity => ({ podName: 'agent-1', nodeName: 'node-1', nodeIp: '10.0.0.1', podIp, namespace: 'ns', version: '1', peerId })
  const real = new SelfRecord(id('peer-real', '10.1.0.1'), 1000)
  const v = new View({ ttlMs: 10_000, maxExternal: 8 })
  t.equal(v.apply(real.full(), 'peer-real', 0), 'accepted')
  const thief = new SelfRecord(id('peer-thief', '10.1.0.66'), 2000)
  t.equal(v.apply(thief.full(), 'peer-thief', 1), 'forged', 'a newer incarnation under another key and address: impersonation')
  t.equal(v.agent('agent-1')?.record.identity.peerId, 'peer-real', 'the real record stays')
  const restarted = new SelfRecord(id('peer-new', '10.1.0.1'), 3000)
  t.equal(v.apply(restarted.full(), 'peer-new', 2), 'accepted', 'a restart (new key, same pod IP) is taken')

  // anti-entropy: a third party's answer cannot change an origin's key; the origin's own answer can
  const w = new View({ ttlMs: 10_000, maxExternal: 8 })
  w.apply(real.full(), 'peer-real', 0)
  const answer = { full: [{ record: restarted.record, ageMs: 0 }], touch: [], externals: [], extTouch: [], left: [] }
  t.equal(w.merge(answer, 1, 'peer-someone').changed, 0, 'a new key relayed by another member: not taken')
  t.equal(w.agent('agent-1')?.record.identity.peerId, 'peer-real')
  t.equal(w.merge(answer, 1, 'peer-new').changed, 1, 'the same, answered by the origin itself: taken')
  t.equal(w.agent('agent-1')?.record.identity.peerId, 'peer-new')
})
