// Probes: the sampling rule at N=1000, fping parsing, real TCP/ICMP/DNS on loopback, timeouts and unreachable
// targets inside a network namespace this test creates, and a changed result reaching every agent.
import { execFileSync, spawnSync } from 'node:child_process'
import type { Server } from 'node:net'
import t from 'tap'
import { Trust } from '../src/core/trust.ts'
import { startHealthServer } from '../src/api/health-server.ts'
import { pairResults, serviceResults } from '../src/api/projection.ts'
import { emptyResults, type AgentRecord } from '../src/core/record.ts'
import { dnsProbe } from '../src/probe/dns-probe.ts'
import { fpingRound, IcmpUnavailable, parseFpingOutput, sendInterval } from '../src/probe/fping.ts'
import { FpingLauncher } from '../src/probe/fping-launcher.ts'
import { runRound, type Probers, type RoundResult } from '../src/probe/round.ts'
import { chooseAgents, coverage, planRound, sampleOffsets, type ProbeTarget } from '../src/probe/targets.ts'
import { ProbeWatch, reportersOfDown } from '../src/probe/watch.ts'
import { tcpProbe } from '../src/probe/tcp-probe.ts'
import { getJson, waitUntil, type AgentProcess } from '../tools/launcher.ts'
import { close, listen, portOf, startProbedAgents } from './harness/probed-agents.ts'

const isRoot = process.getuid?.() === 0
const hasFping = spawnSync('fping', ['-v']).status === 0
// CI sets this so that a missing capability fails instead of skipping
const required = process.env.K8SNET_REQUIRE_PRIVILEGED === '1'

function agent (name: string, nodeIp: string, podIp: string): AgentRecord {
  return {
    identity: { podName: name, nodeName: name, nodeIp, podIp, namespace: 'ns', version: '1', peerId: `peer-${name}` },
    inc: 1,
    seq: 1,
    rv: 0,
    results: emptyResults()
  }
}

t.test('sampling: at N=1000 every target is probed by exactly k agents each round, never by itself', async t => {
  const n = 1000
  const k = 10
  const names = Array.from({ length: n }, (_, i) => `agent-${String(i).padStart(4, '0')}`)
  for (const round of [0, 1, 57, 998, 123456]) {
    const probers = new Map<string, number>()
    const bad: string[] = []
    for (const self of names) {
      const chosen = chooseAgents(names, self, { sampleAbove: 100, k, round })
      if (new Set(chosen).size !== k || chosen.includes(self)) bad.push(self)
      for (const c of chosen) probers.set(c, (probers.get(c) ?? 0) + 1)
    }
    t.same(bad, [], `round ${round}: each agent probes k distinct others, never itself`)
    const counts = [...probers.values()]
    t.equal(probers.size, n, `round ${round}: every target is probed`)
    t.equal(Math.min(...counts), k, `round ${round}: at least k probers each`)
    t.equal(Math.max(...counts), k, `round ${round}: no target over-probed`)
  }
  // every ordered pair is covered within ceil((n-1)/k) consecutive rounds
  const rounds = Math.ceil((n - 1) / k)
  const offsets = new Set<number>()
  for (let r = 0; r < rounds; r++) for (const o of sampleOffsets(n, k, 1000 + r)) offsets.add(o)
  t.equal(offsets.size, n - 1, `all ${n - 1} offsets (so all ${n * (n - 1)} ordered pairs) covered in ${rounds} rounds`)
  t.same(chooseAgents(names.slice(0, 50), 'agent-0003', { sampleAbove: 100, k, round: 7 }).length, 49, 'below the threshold: everyone')
})

t.test('planRound on a dual-stack cluster: each family of each peer is a target, where this agent has that family', async t => {
  const dual = (name: string, n: number): AgentRecord => {
    const a = agent(name, `10.0.0.${n}`, `10.1.0.${n}`)
    return { ...a, identity: { ...a.identity, secondary: { nodeIp: `fd00::${n}`, podIp: `fd01::${n}` } } }
  }
  const self = dual('a', 1)
  const view = [self, dual('b', 2), agent('c', '10.0.0.3', '10.1.0.3')]
  const plan = planRound(view, self, { testPort: 22, clientPort: 6100, sampleAbove: 100, k: 10, round: 0 })
  t.same(plan.host.map(p => p.ip).sort(), ['10.0.0.2', '10.0.0.3', 'fd00::2'], 'both of a dual-stack peer\'s node addresses, the single-stack one\'s only')
  t.same(plan.pod.map(p => p.ip).sort(), ['10.1.0.2', '10.1.0.3', 'fd01::2'])
  const single = planRound(view, view[2] as AgentRecord, { testPort: 22, clientPort: 6100, sampleAbove: 100, k: 10, round: 0 })
  t.same(single.pod.map(p => p.ip).sort(), ['10.1.0.1', '10.1.0.2'], 'an agent with IPv4 alone probes IPv4 alone')
})

t.test('planRound: targets from the view, never self, one host target per node IP', async t => {
  const self = agent('a', '10.0.0.1', '10.1.0.1')
  const view = [self, agent('b', '10.0.0.2', '10.1.0.2'), agent('c', '10.0.0.2', '10.1.0.3'), agent('d', '10.0.0.1', '10.1.0.4')]
  const plan = planRound(view, self, { testPort: 22, clientPort: 6100, sampleAbove: 100, k: 10, round: 0 })
  t.same(plan.host, [{ ip: '10.0.0.2', port: 22 }], 'self node excluded, shared node IP probed once')
  t.same(plan.pod.map(p => p.ip).sort(), ['10.1.0.2', '10.1.0.3', '10.1.0.4'])
  t.ok(plan.pod.every(p => p.port === 6100))
  t.equal(plan.sampled, false)
  const gone = planRound([self, view[1] as AgentRecord], self, { testPort: 22, clientPort: 6100, sampleAbove: 100, k: 10, round: 0 })
  t.same(gone.pod.map(p => p.ip), ['10.1.0.2'], 'an agent that left the view is no longer probed')
  // coverage counts who holds a result for whom
  const b = view[1] as AgentRecord
  self.results.pod.set('10.1.0.2', { target: '10.1.0.2', port: 6100, sent: 3, received: 3, rttMs: 0.1, tcp: 'open', connectMs: 0.2, durationMs: 0.3, checkedAt: 0 })
  const cov = coverage(view)
  t.same(cov.get('b'), { host: 0, pod: 1 })
  t.same(cov.get('a'), { host: 0, pod: 0 })
  t.ok(b)
})

t.test('fping output parsing and send pacing', async t => {
  const out = parseFpingOutput([
    '10.0.0.1 : 0.31 0.29 0.30',
    '10.0.0.2 : - - -',
    '10.0.0.3 : 0.50 - 0.70',
    'fd00::1  : 1.25 1.75 -',
    'ICMP Host Unreachable from 10.0.0.9 for ICMP Echo sent to 10.0.0.4',
    '10.0.0.5 : 0.1 0.2',
    'garbage line'
  ].join('\n'), 3)
  t.same(out.get('10.0.0.1'), { sent: 3, received: 3, rttsMs: [0.31, 0.29, 0.30] })
  t.same(out.get('10.0.0.2'), { sent: 3, received: 0, rttsMs: [] })
  t.same(out.get('10.0.0.3'), { sent: 3, received: 2, rttsMs: [0.5, 0.7] })
  t.same(out.get('fd00::1'), { sent: 3, received: 2, rttsMs: [1.25, 1.75] })
  t.notOk(out.has('10.0.0.4'), 'unreachable notices are not results')
  t.notOk(out.has('10.0.0.5'), 'a line with the wrong number of columns is ignored')
  t.equal(sendInterval(1000, 3, 600), 0.2, '3000 echoes spread over 600 ms')
  t.equal(sendInterval(2, 3, 600), 1, 'few targets: at most 1 ms apart')
  t.equal(sendInterval(100000, 3, 600), 0.1, 'never faster than 0.1 ms')
  await t.rejects(fpingRound(['127.0.0.1'], { path: '/nonexistent/fping', echoes: 1, timeoutMs: 100 }), IcmpUnavailable)
})

t.test('the fping launcher: a missing binary, a hung run, a dead shell, unsafe arguments', async t => {
  const missing = new FpingLauncher('/nonexistent/fping')
  try {
    await t.rejects(fpingRound(['127.0.0.1'], { path: '/nonexistent/fping', echoes: 1, timeoutMs: 100, launcher: missing }), IcmpUnavailable, 'a missing binary: ICMP unavailable')
  } finally { await missing.stop() }
  const noShell = new FpingLauncher('fping', '/nonexistent/sh')
  await t.rejects(noShell.run(['-v'], 2_000), /cannot start/, 'no shell: a clear error')
  // /bin/sleep stands in for an fping that hangs
  const sleeper = new FpingLauncher('/bin/sleep')
  try {
    await t.rejects(sleeper.run(['30'], 200), /no answer within 200 ms/, 'a run that outlasts its bound is given up')
    const next = await sleeper.run(['0'], 5_000)
    t.equal(next.code, 0, 'and the next run gets a fresh shell')
    await t.rejects(sleeper.run(['1;', 'reboot'], 1_000), /refusing/, 'an argument the shell would split is refused')
    await t.rejects(sleeper.run(['$(id)'], 1_000), /refusing/, 'so is one it would expand')
  } finally { await sleeper.stop() }
})

t.test('a round with fake probers: Service DNS failure, ICMP unavailable', async t => {
  const probers: Probers = {
    icmp: async () => { throw new IcmpUnavailable('no fping') },
    tcp: async (ip) => ip === '10.0.0.2' ? { tcp: 'open', connectMs: 0.5 } : { tcp: 'refused', connectMs: 0.2 },
    dns: async () => ({ ok: false, ms: 3, addresses: [], error: 'ENOTFOUND' }),
    wallNow: () => 1_700_000_000_000
  }
  const plan = { host: [{ ip: '10.0.0.2', port: 22 }], pod: [{ ip: '10.1.0.2', port: 6100 }], sampled: false }
  const r = await runRound(plan, { timeoutMs: 1000, concurrency: 4, service: { name: 'svc.ns', port: 80 } }, probers)
  t.equal(r.icmpError, 'no fping')
  t.match(r.host[0], { target: '10.0.0.2', sent: 0, received: 0, rttMs: null, tcp: 'open' })
  t.match(r.pod[0], { target: '10.1.0.2', tcp: 'refused' })
  t.match(r.service, { name: 'svc.ns', dnsOk: false, dnsError: 'ENOTFOUND', addresses: [], paths: [] })
  // in the API: ICMP that could not run is "unknown", not "unreachable"
  const rec = agent('a', '10.0.0.1', '10.1.0.1')
  const h = r.host[0]
  if (h !== undefined) rec.results.host.set(h.target, h)
  rec.results.service = r.service
  const pairs = pairResults({ agents: [{ record: rec, lastHeard: 0, trust: Trust.Self }], externals: [] }, 'host')
  t.match(pairs['10.0.0.1']?.['10.0.0.2'], { ping: 'unknown', port_status: 'open', loss: null })
  const svc = serviceResults({ agents: [{ record: rec, lastHeard: 0, trust: Trust.Self }], externals: [] })
  t.match(svc['10.1.0.1'], { reachable: false, target_ip: '', dns: { ok: false, error: 'ENOTFOUND' } })
})

t.test('the exception watch: a swept target that stops answering is probed fully, watched, and released', async t => {
  const targets = (prefix: string, port: number, n: number): ProbeTarget[] => Array.from({ length: n }, (_, i) => ({ ip: `${prefix}.${i + 2}`, port }))
  const everyone = { host: targets('10.0.0', 22, 40), pod: targets('10.1.0', 6100, 40) }
  const sample = { host: everyone.host.slice(0, 3), pod: everyone.pod.slice(0, 3), sampled: true }
  const down = new Set(['10.0.0.20', '10.1.0.20'])
  const dropIcmp = new Set(['10.0.0.30'])
  /** Silent once (a lost sweep echo): the full probe that follows finds it well. */
  const flaky = new Set<string>()
  const tcpCalls: string[] = []
  const probers: Probers = {
    icmp: async (ips, echoes = 3) => new Map(ips.map(ip => {
      const silent = down.has(ip) || dropIcmp.has(ip) || flaky.has(ip)
      flaky.delete(ip)
      return [ip, { sent: echoes, received: silent ? 0 : echoes, rttsMs: silent ? [] : Array<number>(echoes).fill(0.3) }]
    })),
    tcp: async ip => { tcpCalls.push(ip); return down.has(ip) ? { tcp: 'timeout', connectMs: null } : { tcp: 'open', connectMs: 0.2 } },
    dns: async () => ({ ok: true, ms: 1, addresses: [], error: null }),
    wallNow: () => 1_700_000_000_000
  }
  const watch = new ProbeWatch('agent-1', { rounds: 2, max: 5, answerMemory: 100 })
  const round = async (r: number, reporters?: { host: ProbeTarget[], pod: ProbeTarget[] }): Promise<RoundResult> => {
    const plan = watch.widen(sample, everyone, r, reporters)
    tcpCalls.length = 0
    const res = await runRound(plan, { timeoutMs: 1000, concurrency: 4, service: null, suspect: (ip, e) => watch.suspect(ip, e), maxPromoted: watch.o.max }, probers)
    watch.noteEchoes(res.echoes)
    watch.afterRound(res, { host: 22, pod: 6100 })
    return res
  }
  t.equal(watch.widen(sample, everyone, 0).sweep?.host.length, 37, 'the sweep covers everyone outside the sample')
  // a plan that is not a sample is left alone
  t.same(watch.widen({ ...sample, sampled: false }, everyone, 0), { ...sample, sampled: false })
  // first round: .20 and .30 never answered before, so their silence is not news (ICMP may be filtered)
  down.clear(); dropIcmp.clear()
  let r = await round(1)
  t.equal(r.promoted, 0)
  t.equal(r.host.length, 3, 'only the sample is reported')
  t.same(tcpCalls.length, 6, 'TCP only for the sample; the other 74 targets are swept with ICMP')
  t.equal(r.echoes.size, 80)
  // the link to .20 breaks: the sweep finds it silent, it is probed fully and reported in the same round; a lost
  // sweep echo of .21 is probed again, found well, and not reported
  down.add('10.0.0.20'); down.add('10.1.0.20'); flaky.add('10.0.0.21')
  r = await round(2)
  t.equal(r.promoted, 2)
  t.notOk(r.host.some(x => x.target === '10.0.0.21'), 'a single lost echo is not news')
  t.notOk(r.host.some(x => x.target === '10.0.0.30'), 'a target that never answered ICMP is not news either')
  t.match(r.host.find(x => x.target === '10.0.0.20'), { sent: 3, received: 0, tcp: 'timeout' })
  t.match(r.pod.find(x => x.target === '10.1.0.20'), { tcp: 'timeout' })
  t.same(watch.size, { host: 1, pod: 1 })
  // while it fails it stays watched (probed fully, not swept)
  r = await round(3)
  t.equal(r.promoted, 0)
  t.ok(r.host.some(x => x.target === '10.0.0.20'))
  // healed: still reported (the recovery is seen) until the watch runs out two rounds after the last failure
  down.clear()
  r = await round(4)
  t.match(r.host.find(x => x.target === '10.0.0.20'), { received: 3, tcp: 'open' })
  r = await round(5)
  t.ok(r.host.some(x => x.target === '10.0.0.20'))
  r = await round(6)
  t.notOk(r.host.some(x => x.target === '10.0.0.20'), 'released')
  t.same(watch.size, { host: 0, pod: 0 })
  // an agent that reports this one unreachable is probed back (its reverse path measured)
  r = await round(7, { host: [{ ip: '10.0.0.33', port: 22 }], pod: [] })
  t.match(r.host.find(x => x.target === '10.0.0.33'), { tcp: 'open', received: 3 })
  // more gone silent at once than the watch holds: a wide outage, left to the sample (no tilted evidence)
  for (let i = 2; i < 42; i++) down.add(`10.0.0.${i}`)
  r = await round(8)
  t.equal(r.promoted, 0, 'nothing promoted when 30-odd targets fall silent together')
  t.ok(watch.size.host <= 5, `host watch ${watch.size.host} within its cap`)
  // ICMP that could not run promotes nothing
  const broken: Probers = { ...probers, icmp: async () => { throw new IcmpUnavailable('no fping') } }
  const res = await runRound(watch.widen(sample, everyone, 9), { timeoutMs: 1000, concurrency: 4, service: null, suspect: (ip, e) => watch.suspect(ip, e) }, broken)
  t.equal(res.promoted, 0)
})

t.test('reportersOfDown: the agents whose results say this one is unreachable, per layer', async t => {
  const me = agent('me', '10.0.0.1', '10.1.0.1')
  const a = agent('a', '10.0.0.2', '10.1.0.2')
  const b = agent('b', '10.0.0.3', '10.1.0.3')
  const base = { port: 22, rttMs: null, connectMs: null, durationMs: 1000, checkedAt: 0 }
  a.results.host.set('10.0.0.1', { ...base, target: '10.0.0.1', sent: 3, received: 0, tcp: 'timeout' })
  a.results.pod.set('10.1.0.1', { ...base, target: '10.1.0.1', port: 6100, sent: 3, received: 3, tcp: 'open', rttMs: 0.3, connectMs: 0.2 })
  b.results.pod.set('10.1.0.1', { ...base, target: '10.1.0.1', port: 6100, sent: 0, received: 0, tcp: 'unreachable' })
  b.results.host.set('10.0.0.1', { ...base, target: '10.0.0.1', sent: 3, received: 2, tcp: 'refused' })
  const r = reportersOfDown([me, a, b], me.identity, { testPort: 22, clientPort: 6100 })
  t.same(r, { host: [{ ip: '10.0.0.2', port: 22 }], pod: [{ ip: '10.1.0.3', port: 6100 }] })
})

t.test('real sockets on loopback: open, refused, the health server, ICMP, DNS', async t => {
  const open = await listen('127.0.0.1')
  const closed = await listen('127.0.0.1')
  const closedPort = portOf(closed)
  await close(closed)
  const health = await startHealthServer('127.0.1.40', 16100, 'probe-test')
  t.teardown(async () => { await close(open); await health.close() })

  const o = await tcpProbe('127.0.0.1', portOf(open), 1000)
  t.equal(o.tcp, 'open')
  t.ok(o.connectMs !== null && o.connectMs >= 0, 'connect time measured')
  const r = await tcpProbe('127.0.0.1', closedPort, 1000)
  t.equal(r.tcp, 'refused', 'a closed port is refused: host up, port closed')
  t.ok(r.connectMs !== null)
  t.equal((await tcpProbe('127.0.1.40', 16100, 1000)).tcp, 'open', 'the health server accepts the pod-level probe')
  const res = await fetch('http://127.0.1.40:16100/health')
  t.equal(res.status, 200)
  t.match(await res.json(), { status: 'healthy', pod_name: 'probe-test' })
  t.equal((await fetch('http://127.0.1.40:16100/other')).status, 404)

  const dns = await dnsProbe('localhost', 1000)
  t.ok(dns.ok && dns.addresses.length > 0, `localhost resolves (${dns.addresses.join(', ')})`)
  const nx = await dnsProbe('no-such-name.invalid', 2000)
  t.equal(nx.ok, false)
  t.ok(nx.error !== null && nx.error.length > 0, `a failed lookup says why (${nx.error})`)

  if (!hasFping && !required) {
    t.comment('fping is not installed: ICMP on loopback not checked here (CI installs it)')
    return
  }
  const echo = await fpingRound(['127.0.0.1', '127.0.1.40'], { path: 'fping', echoes: 3, timeoutMs: 500 })
  t.same(echo.get('127.0.0.1')?.received, 3, 'three echoes answered')
  // the same through the launcher the agent uses (a shell beside it starts fping): same results, runs queued
  const launcher = new FpingLauncher('fping')
  try {
    const [viaShell, again] = await Promise.all([
      fpingRound(['127.0.0.1', '127.0.1.40'], { path: 'fping', echoes: 3, timeoutMs: 500, launcher }),
      fpingRound(['127.0.0.2'], { path: 'fping', echoes: 2, timeoutMs: 500, launcher })
    ])
    t.same(viaShell.get('127.0.0.1')?.received, 3, 'through the launcher: three echoes answered')
    t.same([...viaShell.keys()].sort(), [...echo.keys()].sort(), 'the same targets as a direct run')
    t.same(again.get('127.0.0.2')?.received, 2, 'a second run at the same time waits its turn')
  } finally { await launcher.stop() }
  t.ok((echo.get('127.0.0.1')?.rttsMs ?? []).every(ms => ms >= 0 && ms < 100), 'RTTs are echo round trips in ms')
  const round = await runRound(
    { host: [{ ip: '127.0.0.1', port: portOf(open) }], pod: [{ ip: '127.0.1.40', port: closedPort }], sampled: false },
    { timeoutMs: 1000, concurrency: 8, service: null },
    { icmp: async ips => await fpingRound(ips, { path: 'fping', echoes: 2, timeoutMs: 500 }), tcp: tcpProbe, dns: dnsProbe, wallNow: Date.now })
  t.match(round.host[0], { target: '127.0.0.1', sent: 2, received: 2, tcp: 'open' })
  t.match(round.pod[0], { target: '127.0.1.40', sent: 2, received: 2, tcp: 'refused' })
  t.ok((round.host[0]?.rttMs ?? -1) >= 0, 'mean RTT set')
})

t.test('timeouts, unreachable targets and ICMP loss inside a network namespace', async t => {
  if (!isRoot || !hasFping) {
    const why = `needs root and fping (root: ${isRoot}, fping: ${hasFping})`
    if (required) t.fail(why)
    else t.comment(`skipped: ${why}`)
    return
  }
  const ns = `k8snp${process.pid}`
  const host = `kp${process.pid}h`.slice(0, 15)
  const peer = `kp${process.pid}n`.slice(0, 15)
  const run = (...args: string[]): void => { execFileSync(args[0] ?? '', args.slice(1), { stdio: 'pipe' }) }
  const cleanup = (): void => {
    spawnSync('ip', ['netns', 'del', ns])
    spawnSync('ip', ['link', 'del', host])
  }
  cleanup()
  t.teardown(cleanup)
  run('ip', 'netns', 'add', ns)
  run('ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', peer)
  run('ip', 'link', 'set', peer, 'netns', ns)
  run('ip', 'addr', 'add', '10.199.0.1/29', 'dev', host)
  run('ip', 'link', 'set', host, 'up')
  const inNs = (...args: string[]): void => { run('ip', 'netns', 'exec', ns, ...args) }
  inNs('ip', 'addr', 'add', '10.199.0.2/29', 'dev', peer)
  inNs('ip', 'addr', 'add', '10.199.0.3/29', 'dev', peer)
  inNs('ip', 'link', 'set', peer, 'up')
  inNs('nft', 'add', 'table', 'inet', 't')
  inNs('nft', 'add', 'chain', 'inet', 't', 'in', '{ type filter hook input priority 0; }')
  inNs('nft', 'add', 'rule', 'inet', 't', 'in', 'tcp', 'dport', '9', 'reject', 'with', 'icmp', 'type', 'host-unreachable')
  inNs('nft', 'add', 'rule', 'inet', 't', 'in', 'tcp', 'dport', '10', 'drop')
  inNs('nft', 'add', 'rule', 'inet', 't', 'in', 'ip', 'daddr', '10.199.0.3', 'icmp', 'type', 'echo-request', 'drop')

  const unreachable = await tcpProbe('10.199.0.2', 9, 1000)
  t.equal(unreachable.tcp, 'unreachable', 'ICMP host-unreachable answer: unreachable')
  const timedOut = await tcpProbe('10.199.0.2', 10, 300)
  t.same(timedOut, { tcp: 'timeout', connectMs: null }, 'silently dropped SYN: timeout at the probe deadline')
  t.equal((await tcpProbe('10.199.0.2', 11, 1000)).tcp, 'refused', 'no listener: refused')
  const echo = await fpingRound(['10.199.0.2', '10.199.0.3'], { path: 'fping', echoes: 3, timeoutMs: 300 })
  t.same(echo.get('10.199.0.2')?.received, 3, 'echoes answered')
  t.same(echo.get('10.199.0.3'), { sent: 3, received: 0, rttsMs: [] }, 'dropped echoes: 100 % loss over 3 sent')
})

t.test('a changed result propagates to every agent', async t => {
  // three agents; the test plays sshd on each node IP's TEST_PORT, then closes one
  // (and plays the custom Service: "localhost" resolves to 127.0.0.1, where it listens)
  const ips = ['127.0.1.31', '127.0.1.32', '127.0.1.33']
  const { agents, sshd, svc, stop } = await startProbedAgents({ ips, testPort: 16022, prefix: 'prober' })
  t.teardown(stop)
  type Pairs = Record<string, Record<string, { port_status: string, tcp: string, ping: string }>>
  const hostPairs = async (a: AgentProcess): Promise<Pairs> => (await getJson<{ results: Pairs }>(`${a.apiUrl}/api/v1/test-results/hosts`)).results
  const allPairs = (p: Pairs, status: (src: string, dst: string) => string): boolean =>
    ips.every(src => ips.every(dst => src === dst || p[src]?.[dst]?.port_status === status(src, dst)))

  const first = await waitUntil('every pair open on every agent', async () =>
    (await Promise.all(agents.map(hostPairs))).every(p => allPairs(p, () => 'open')), 15_000, 100)
  t.comment(`all host pairs open on every agent after ${first} ms`)
  const pods = await getJson<{ results: Pairs }>(`${agents[0]?.apiUrl ?? ''}/api/v1/test-results/pods`)
  t.equal(pods.results['127.0.1.32']?.['127.0.1.33']?.port_status, 'open', 'pod layer: health port open')

  type ServiceRows = Record<string, { port_status: Record<string, string>, reachable: boolean, target_ip: string, dns: { ok: boolean, addresses: string[] }, latency: string }>
  const service = (await getJson<{ results: ServiceRows }>(`${agents[1]?.apiUrl ?? ''}/api/v1/test-results/service`)).results
  t.same(Object.keys(service).sort(), ips, 'every agent reported its Service check, visible on any agent')
  for (const ip of ips) {
    t.match(service[ip], { port_status: { [String(portOf(svc))]: 'open' }, reachable: true, dns: { ok: true } }, `${ip}: Service resolved and reachable`)
    t.ok(service[ip]?.dns.addresses.includes('127.0.0.1'), 'every resolved address kept')
  }

  await close(sshd.get('127.0.1.32') as Server)
  const ms = await waitUntil('the closed port to show on every agent', async () =>
    (await Promise.all(agents.map(hostPairs))).every(p => allPairs(p, (_s, d) => d === '127.0.1.32' ? 'closed' : 'open')), 10_000, 50)
  t.comment(`closed TEST_PORT visible on every agent ${ms} ms after it closed`)
  const p = await hostPairs(agents[2] as AgentProcess)
  t.match(p['127.0.1.31']?.['127.0.1.32'], { port_status: 'closed', tcp: 'refused' }, 'agent 1 -> 2 refused, as seen from agent 3')
  const podsAfter = await getJson<{ results: Pairs }>(`${agents[0]?.apiUrl ?? ''}/api/v1/test-results/pods`)
  t.equal(podsAfter.results['127.0.1.31']?.['127.0.1.32']?.port_status, 'open', 'the pod layer to node 2 still works')
})
