// The agent's configuration: parsing and validating every variable (with the --help table drawn from the same
// helpers) and the logger's JSON lines. No I/O but one spawned --help.
import { spawnSync } from 'node:child_process'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { describeVariables, parseConfig, type Config } from '../src/node/config.ts'
import { VARIABLE_MEANINGS } from '../src/node/variables.ts'
import { canBindIpv6, resolveListenAddress } from '../src/node/listen-address.ts'
import { createLogger } from '../src/node/logger.ts'
import { HeapGrowth } from '../src/node/heap-growth.ts'
import { ConfigError } from '../src/shared/config-error.ts'

type Asserts = Pick<typeof t, 'fail' | 'equal' | 'match' | 'ok' | 'notOk'>
const ENV = { NODE_IP: '10.0.0.1', POD_IP: '10.1.0.1', POD_NAME: 'k8snet-checker-abcde', NAMESPACE: 'k8snet' }

t.test('config: parseConfig', async t => {
  t.test('defaults for every variable', async t => {
    const expected: Config = {
      nodeIp: '10.0.0.1',
      podIp: '10.1.0.1',
      nodeIps: ['10.0.0.1'],
      podIps: ['10.1.0.1'],
      podName: 'k8snet-checker-abcde',
      namespace: 'k8snet',
      nodeName: '10.0.0.1',
      heartbeatIntervalS: 5,
      cacheKeySecond: 15,
      heartbeatDigestAbove: 100,
      testPort: 22,
      customServiceName: '',
      customServicePort: 80,
      clientPort: 6100,
      httpPort: 8080,
      reportIntervalS: 300,
      reportFormat: 'ours',
      logLevel: 'info',
      listenAddress: '::',
      gossipPort: 6200,
      peerService: '',
      staticPeers: [],
      identityTokenFile: '',
      identityAudience: 'k8snet-checker',
      identityKeyFile: '',
      discoveryIntervalS: 5,
      fullRefreshIntervalS: 60,
      meshMaxPeers: 32,
      probeIntervalS: 10,
      probeTimeoutMs: 1000,
      probeEchoes: 3,
      probeConcurrency: 512,
      probeSampleAbove: 100,
      probeCoverage: 10,
      probeSampleHold: 20,
      fpingPath: 'fping',
      heapGrowthPercent: 20,
      heapGrowthAbove: 100,
      leaseName: 'k8snet-checker-reporter',
      leaseNamespace: 'k8snet',
      leaseDurationMs: 15_000,
      leaseRenewDeadlineMs: 10_000,
      leaseRetryPeriodMs: 2_000,
      leaseContenders: 3,
      kubeconfig: '',
      maxExternalOrigins: 5000,
      apiBodyLimitBytes: 2_097_152,
      apiWrites: true,
      apiWriteRate: 120,
      apiTokenFile: '',
      gossipPskFile: '',
      ignored: []
    }
    t.strictSame(parseConfig(ENV), expected, 'exactly the documented defaults, no more, no less')
    // empty and blank values count as unset
    t.strictSame(parseConfig({ ...ENV, HTTP_PORT: '', LOG_LEVEL: '   ', HEARTBEAT_INTERVAL: '' }), expected, 'blank = unset')
    t.equal(parseConfig({ ...ENV, KUBERNETES_SERVICE_HOST: '10.96.0.1' }).kubeconfig, 'in-cluster')
  })

  t.test('set values are used (and trimmed)', async t => {
    const c = parseConfig({
      ...ENV,
      HEARTBEAT_INTERVAL: '2',
      CACHE_KEY_SECOND: ' 30 ',
      TEST_PORT: '2222',
      CLIENT_PORT: '7100',
      HTTP_PORT: '65535',
      GOSSIP_PORT: '1',
      REPORT_INTERVAL: '60',
      LOG_LEVEL: 'warn',
      NODE_IP: 'fd00::1',
      CUSTOM_SERVICE_NAME: 'my-svc.default.svc.cluster.local',
      NODE_NAME: 'worker-1'
    })
    t.equal(c.heartbeatIntervalS, 2)
    t.equal(c.cacheKeySecond, 30)
    t.equal(c.testPort, 2222)
    t.equal(c.clientPort, 7100)
    t.equal(c.httpPort, 65535, 'upper bound is a valid port')
    t.equal(c.gossipPort, 1, 'lower bound is a valid port')
    t.equal(c.reportIntervalS, 60)
    t.equal(c.logLevel, 'warn')
    t.equal(c.nodeIp, 'fd00::1', 'IPv6 accepted')
    t.equal(c.nodeName, 'worker-1')
    t.equal(c.customServiceName, 'my-svc.default.svc.cluster.local')
  })

  /** Asserts one ConfigError naming the variable, the value and the expectation, on one line. */
  function bad (t: Asserts, env: Record<string, string | undefined>, variable: string, value: string, expected: RegExp | string): void {
    let err: unknown
    try {
      parseConfig(env)
    } catch (e) {
      err = e
    }
    const label = `${variable}=${JSON.stringify(value)}`
    if (!(err instanceof ConfigError)) {
      t.fail(`${label}: expected a ConfigError, got ${err === undefined ? 'no error' : String(err)}`)
      return
    }
    t.equal(err.name, 'ConfigError', `${label}: name`)
    t.equal(err.variable, variable, `${label}: .variable`)
    t.equal(err.value, value, `${label}: .value`)
    t.match(err.expected, expected, `${label}: .expected`)
    t.ok(err.message.startsWith(`${variable}=${JSON.stringify(value)}: expected `), `${label}: message names variable and value`)
    t.match(err.message, expected, `${label}: message names the expectation`)
    t.notOk(/[\r\n]/.test(err.message), `${label}: message is one line`)
  }

  t.test('not a number', async t => {
    for (const v of ['abc', '5s', '1.5', '-1', '0x10', '1e3']) {
      bad(t, { ...ENV, HEARTBEAT_INTERVAL: v }, 'HEARTBEAT_INTERVAL', v, 'an integer number of seconds between 1 and 3600')
    }
    bad(t, { ...ENV, TEST_PORT: '22/tcp' }, 'TEST_PORT', '22/tcp', 'an integer port between 1 and 65535')
    bad(t, { ...ENV, LEASE_DURATION: '15s' }, 'LEASE_DURATION', '15s', 'a number of seconds between 1 and 3600')
    // a newline inside the value is escaped: the message stays on one line
    bad(t, { ...ENV, HTTP_PORT: '80\n80' }, 'HTTP_PORT', '80\n80', 'an integer port between 1 and 65535')
  })

  t.test('out of range', async t => {
    for (const name of ['TEST_PORT', 'CUSTOM_SERVICE_PORT', 'CLIENT_PORT', 'HTTP_PORT', 'GOSSIP_PORT']) {
      for (const v of ['0', '70000', '65536']) bad(t, { ...ENV, [name]: v }, name, v, 'an integer port between 1 and 65535')
    }
    bad(t, { ...ENV, REPORT_INTERVAL: '0' }, 'REPORT_INTERVAL', '0', 'between 1 and 86400')
    bad(t, { ...ENV, CACHE_KEY_SECOND: '1' }, 'CACHE_KEY_SECOND', '1', 'between 2 and 86400')
    for (const v of ['-5', '20%', '1001', '2.5']) bad(t, { ...ENV, HEAP_GROWTH_PERCENT: v }, 'HEAP_GROWTH_PERCENT', v, 'an integer percentage between 0 and 1000')
    bad(t, { ...ENV, HEAP_GROWTH_ABOVE: 'many' }, 'HEAP_GROWTH_ABOVE', 'many', 'an integer number of origins between 0 and 100000')
  })

  t.test('IP that is not an IP', async t => {
    for (const v of ['10.0.0', 'hello', '10.0.0.256', '10.0.0.1:80', '::g']) {
      bad(t, { ...ENV, NODE_IP: v }, 'NODE_IP', v, 'an IPv4 or IPv6 address')
      bad(t, { ...ENV, POD_IP: v }, 'POD_IP', v, 'an IPv4 or IPv6 address')
    }
    bad(t, { ...ENV, LISTEN_ADDRESS: 'localhost' }, 'LISTEN_ADDRESS', 'localhost', 'an IPv4 or IPv6 address')
  })

  t.test('dual-stack: every address of the node and the pod, the primary first, one a family', async t => {
    const c = parseConfig({ ...ENV, POD_IPS: 'fd00:1::1, 10.1.0.1', NODE_IPS: '10.0.0.1,fd00::1' })
    t.strictSame(c.podIps, ['10.1.0.1', 'fd00:1::1'], 'status.podIPs in any order: POD_IP first')
    t.strictSame(c.nodeIps, ['10.0.0.1', 'fd00::1'])
    t.strictSame(parseConfig({ ...ENV, POD_IPS: 'fd00:1::1' }).podIps, ['10.1.0.1', 'fd00:1::1'], 'the primary joins a list that leaves it out')
    t.strictSame(parseConfig({ ...ENV, POD_IPS: '' }).podIps, ['10.1.0.1'], 'blank: the primary alone')
    bad(t, { ...ENV, POD_IPS: '10.1.0.1,nope' }, 'POD_IPS', '10.1.0.1,nope', '("nope" is not one)')
    bad(t, { ...ENV, POD_IPS: '10.1.0.1,10.1.0.2' }, 'POD_IPS', '10.1.0.1,10.1.0.2', 'one IPv4 and one IPv6 address at most')
    bad(t, { ...ENV, NODE_IPS: 'fd00::1,fd00::2' }, 'NODE_IPS', 'fd00::1,fd00::2', 'one IPv4 and one IPv6 address at most')
  })

  t.test('missing required variables', async t => {
    bad(t, { ...ENV, NODE_IP: undefined }, 'NODE_IP', '', /IPv4 or IPv6 address \(set it from the downward API\)/)
    bad(t, { ...ENV, NODE_IP: '' }, 'NODE_IP', '', /downward API/)
    bad(t, { ...ENV, POD_IP: undefined }, 'POD_IP', '', /downward API/)
    bad(t, { ...ENV, POD_NAME: undefined }, 'POD_NAME', '', /\(it is required\)/)
    bad(t, { ...ENV, NAMESPACE: ' ' }, 'NAMESPACE', '', /\(it is required\)/)
    bad(t, { ...ENV, POD_NAME: 'Upper_Case' }, 'POD_NAME', 'Upper_Case', 'a Kubernetes pod name')
  })

  t.test('HEARTBEAT_INTERVAL must stay below CACHE_KEY_SECOND', async t => {
    bad(t, { ...ENV, HEARTBEAT_INTERVAL: '15' }, 'HEARTBEAT_INTERVAL', '15', 'a value below CACHE_KEY_SECOND (15)')
    bad(t, { ...ENV, HEARTBEAT_INTERVAL: '20', CACHE_KEY_SECOND: '10' }, 'HEARTBEAT_INTERVAL', '20', 'a value below CACHE_KEY_SECOND (10)')
    bad(t, { ...ENV, HEARTBEAT_INTERVAL: '10', CACHE_KEY_SECOND: '10' }, 'HEARTBEAT_INTERVAL', '10', 'CACHE_KEY_SECOND (10)')
    t.equal(parseConfig({ ...ENV, HEARTBEAT_INTERVAL: '14' }).heartbeatIntervalS, 14, 'one below is fine')
  })

  t.test('LOG_LEVEL: any case, warning for warn (as the original took them); anything else refused', async t => {
    for (const v of ['verbose', 'info,debug', 'warnings']) {
      bad(t, { ...ENV, LOG_LEVEL: v }, 'LOG_LEVEL', v, 'one of trace, debug, info, warn, error, fatal, silent (any case; warning for warn)')
    }
    for (const v of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']) {
      t.equal(parseConfig({ ...ENV, LOG_LEVEL: v }).logLevel, v)
      t.equal(parseConfig({ ...ENV, LOG_LEVEL: v.toUpperCase() }).logLevel, v, `${v.toUpperCase()} is ${v}`)
    }
    for (const v of ['warning', 'WARNING', 'Warning']) t.equal(parseConfig({ ...ENV, LOG_LEVEL: v }).logLevel, 'warn', `${v} is warn`)
  })

  t.test('STATIC_PEERS', async t => {
    t.strictSame(parseConfig({ ...ENV, STATIC_PEERS: '127.0.0.1, 127.0.0.2:7000' }).staticPeers,
      [{ ip: '127.0.0.1', port: 6200 }, { ip: '127.0.0.2', port: 7000 }], 'default port is GOSSIP_PORT')
    t.strictSame(parseConfig({ ...ENV, GOSSIP_PORT: '6300', STATIC_PEERS: '127.0.0.1,,' }).staticPeers,
      [{ ip: '127.0.0.1', port: 6300 }], 'default follows GOSSIP_PORT; empty items skipped')
    t.strictSame(parseConfig({ ...ENV, STATIC_PEERS: '[::1]:7000' }).staticPeers, [{ ip: '::1', port: 7000 }], 'bracketed IPv6 with port')
    t.strictSame(parseConfig({ ...ENV, STATIC_PEERS: '[fd00::1]' }).staticPeers, [{ ip: 'fd00::1', port: 6200 }], 'bracketed IPv6 without port')
    t.strictSame(parseConfig({ ...ENV, STATIC_PEERS: 'fd00::abc' }).staticPeers, [{ ip: 'fd00::abc', port: 6200 }])
    const list = '127.0.0.1, nope'
    bad(t, { ...ENV, STATIC_PEERS: list }, 'STATIC_PEERS', list, 'a comma-separated list of IP or IP:port entries (bad entry "nope")')
    bad(t, { ...ENV, STATIC_PEERS: '127.0.0.1:0' }, 'STATIC_PEERS', '127.0.0.1:0', 'bad entry "127.0.0.1:0"')
    bad(t, { ...ENV, STATIC_PEERS: '127.0.0.1:70000' }, 'STATIC_PEERS', '127.0.0.1:70000', 'bad entry "127.0.0.1:70000"')
    bad(t, { ...ENV, STATIC_PEERS: '10.0.0:80' }, 'STATIC_PEERS', '10.0.0:80', 'bad entry "10.0.0:80"')
    bad(t, { ...ENV, STATIC_PEERS: '[::1' }, 'STATIC_PEERS', '[::1', 'bad entry "[::1"')
    // a bare IPv6 address is taken whole, even when its last group is all digits (a port needs brackets)
    t.strictSame(parseConfig({ ...ENV, STATIC_PEERS: 'fd00::1:5' }).staticPeers, [{ ip: 'fd00::1:5', port: 6200 }])
    t.strictSame(parseConfig({ ...ENV, STATIC_PEERS: '::1' }).staticPeers, [{ ip: '::1', port: 6200 }])
  })

  t.test('SERVER_URL is ignored, not an error', async t => {
    const c = parseConfig({ ...ENV, SERVER_URL: 'http://k8snet-checker-server:8080' })
    t.strictSame(c.ignored, ['SERVER_URL'])
    t.strictSame({ ...c, ignored: [] }, parseConfig(ENV), 'nothing else changes')
    t.strictSame(parseConfig({ ...ENV, SERVER_URL: ' ' }).ignored, [], 'blank SERVER_URL is unset')
  })
})

t.test('--help: every variable the parser reads, its default, what it accepts and what it means; exit 0', async t => {
  const vars = describeVariables()
  t.same(vars.map(v => v.name).sort(), Object.keys(VARIABLE_MEANINGS).sort(), 'the meanings table names exactly the variables the parser reads')
  t.ok(vars.every(v => v.meaning !== '' && v.accepts !== ''), 'each has a meaning and says what it accepts')
  t.match(vars.find(v => v.name === 'HEARTBEAT_INTERVAL'), { default: '5', accepts: /integer/ })
  t.match(vars.find(v => v.name === 'NODE_IP'), { default: '(required)' })
  t.match(vars.find(v => v.name === 'LOG_LEVEL'), { default: 'info' })
  t.match(vars.find(v => v.name === 'LEASE_NAMESPACE'), { default: 'the value of NAMESPACE' }, 'a default taken from another variable says so')
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../src/node/main.ts', import.meta.url)), '--help'], { encoding: 'utf8', env: {}, timeout: 20_000 })
  t.equal(r.status, 0, '--help exits 0, with no environment at all')
  for (const v of vars) t.match(r.stdout, `  ${v.name}  (default: `, `${v.name} is listed`)
  t.match(r.stdout, /CACHE_KEY_SECOND {2}\(default: 15\)\n {6}seconds an origin lives/, 'with its default and meaning')
})

t.test('LISTEN_ADDRESS: "::" (the default) takes both families, or IPv4 alone where the node has no IPv6', async t => {
  t.equal(await resolveListenAddress('::', async () => true), '::', 'IPv6 there: one socket for both families')
  t.equal(await resolveListenAddress('::', async () => false), '0.0.0.0', 'IPv6 off: IPv4 alone')
  t.equal(await resolveListenAddress('10.1.0.5', async () => false), '10.1.0.5', 'an address given is kept')
  t.equal(typeof await canBindIpv6(), 'boolean', 'this machine answers the question')
})

t.test('logger: JSON lines with the level as a name, for log pipelines', async t => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(...chunk.toString().split('\n').filter(l => l !== '')); done() } })
  const log = createLogger('info', { pod: 'agent-1' }, sink)
  log.info('hello')
  log.warn({ n: 1 }, 'careful')
  log.debug('not at info')
  const parsed = lines.map(l => JSON.parse(l) as { level: unknown, msg: string, pod: string, time: string })
  t.same(parsed.map(p => [p.level, p.msg, p.pod]), [['info', 'hello', 'agent-1'], ['warn', 'careful', 'agent-1']], 'level names, base fields, nothing below the level')
  t.match(parsed[0]?.time, /^\d{4}-\d{2}-\d{2}T/, 'ISO timestamps')
  // the production bundle shortens class names: an error's type is the name it gives itself, not its constructor's
  const Shortened = class extends Error { constructor () { super('bad frame'); this.name = 'WireError' } }
  log.error({ err: new Shortened() }, 'refused')
  log.error({ err: 'not an error' }, 'odd')
  const errors = lines.slice(2).map(l => JSON.parse(l) as { err: unknown })
  t.match(errors[0]?.err, { type: 'WireError', message: 'bad frame', stack: /WireError: bad frame/ }, 'the error named by its own name')
  t.equal(errors[1]?.err, 'not an error', 'a value that is not an error logged as it is')
})

t.test('heap growth: bounded while the view is large, lifted below 80 % of the threshold, V8 told only on a change', async t => {
  const set: string[] = []
  const changes: Array<[boolean, number]> = []
  const h = new HeapGrowth({ percent: 20, above: 100, setFlags: f => { set.push(f) }, onChange: (b, n) => { changes.push([b, n]) } })
  for (const n of [1, 10, 100]) h.update(n)
  t.strictSame(set, [], 'at or below the threshold V8 decides (no flag set)')
  h.update(101)
  t.equal(h.bounded, true)
  for (const n of [1000, 500, 80]) h.update(n)
  t.strictSame(set, ['--heap-growing-percent=20'], 'set once, and kept down to 80 % of the threshold')
  h.update(79)
  t.equal(h.bounded, false)
  h.update(90)
  t.strictSame(set, ['--heap-growing-percent=20', '--heap-growing-percent=0'], 'lifted below it (0: V8\'s own heuristics), not set again at 90')
  t.strictSame(changes, [[true, 101], [false, 79]])
  const joining: string[] = []
  const j = new HeapGrowth({ percent: 30, above: 100, setFlags: f => { joining.push(f) } })
  j.start()
  j.start()
  t.equal(j.bounded, true, 'bounded from the start, until the view is known')
  j.update(1000)
  j.update(10)
  t.strictSame(joining, ['--heap-growing-percent=30', '--heap-growing-percent=0'], 'kept for a large view, lifted for a small one')
  const off: string[] = []
  const never = new HeapGrowth({ percent: 0, above: 100, setFlags: f => { off.push(f) } })
  never.update(5000)
  t.strictSame(off, [], 'HEAP_GROWTH_PERCENT=0: never bound')
  t.throws(() => new HeapGrowth({ percent: -1, above: 1, setFlags: () => {} }), RangeError)
  // the flag is V8's, not Node's: a Node upgrade that dropped it would make V8 refuse it, and this fails
  const r = spawnSync(process.execPath, ['--heap-growing-percent=20', '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' })
  t.equal(r.stdout, 'ok', `this Node's V8 takes --heap-growing-percent (${r.stderr.trim().slice(0, 200)})`)
  const bogus = spawnSync(process.execPath, ['--heap-growing-percentage=20', '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' })
  t.not(bogus.stdout, 'ok', 'a flag V8 does not know is refused (so the check above can fail)')
})
