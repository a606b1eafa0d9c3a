// The Lease-elected reporter with real agent processes and the stand-in apiserver: one leader, only the
// contenders call the apiserver, failover on SIGTERM and SIGKILL, stepping down when the apiserver goes away.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { pino } from 'pino'
import type { GossipMesh } from '../src/gossip/mesh.ts'
import { SelfRecord } from '../src/gossip/self-record.ts'
import { View } from '../src/gossip/view.ts'
import { contenders } from '../src/node/contenders.ts'
import { ElectionSupervisor } from '../src/node/election-supervisor.ts'
import type { LeaderElection } from '../src/node/leader-election.ts'
import { getJson, startAgentProcess, stopAgentProcess, waitUntil, type AgentProcess } from '../src/node/launcher.ts'
import { LeaseStandIn } from '../src/node/lease-stand-in.ts'
import { ident } from './fixtures.ts'

const N = 5
const LEASE = { duration: 3, renew: 2, retry: 0.5 }
const ips = Array.from({ length: N }, (_, i) => `127.0.1.${51 + i}`)
const names = ips.map((_ip, i) => `reporter-${i + 1}`)
const dir = mkdtempSync(join(tmpdir(), 'k8snet-election-'))
const apiserver = new LeaseStandIn(names.map(n => `token-${n}`))
const agents = new Map<string, AgentProcess>()
/** Every report header printed: which agent, and which REPORT_INTERVAL (1 s) it was for. */
const prints: Array<{ agent: string, interval: number, at: number }> = []

interface Leader { holder: string | null, is_self: boolean, contenders: string[], contending: boolean }

function start (name: string): AgentProcess {
  const i = names.indexOf(name)
  const kubeconfig = join(dir, `${name}.kubeconfig`)
  apiserver.writeKubeconfig(kubeconfig, `token-${name}`, 'demo')
  const a = startAgentProcess({
    name,
    ip: ips[i] ?? '',
    peers: ips,
    env: {
      HEARTBEAT_INTERVAL: '1',
      CACHE_KEY_SECOND: '4',
      PROBE_INTERVAL: '2',
      REPORT_INTERVAL: '1',
      LEASE_DURATION: String(LEASE.duration),
      LEASE_RENEW_DEADLINE: String(LEASE.renew),
      LEASE_RETRY_PERIOD: String(LEASE.retry),
      KUBECONFIG: kubeconfig,
      LOG_LEVEL: 'warn'
    },
    onText: line => {
      const m = /^==== k8snet-checker network report (\S+)/.exec(line)
      if (m !== null) prints.push({ agent: name, interval: Math.round(Date.parse(m[1] ?? '') / 1000), at: Date.now() })
    }
  })
  agents.set(name, a)
  return a
}

const running = (): AgentProcess[] => [...agents.values()].filter(a => a.child.exitCode === null && a.child.signalCode === null)
const lease = (): { holder: string, transitions: number } | null => {
  const l = apiserver.lease('demo', 'k8snet-checker-reporter')
  return l === undefined ? null : { holder: String(l.spec.holderIdentity ?? ''), transitions: Number(l.spec.leaseTransitions ?? 0) }
}
const leaderViews = async (): Promise<Leader[]> => await Promise.all(running().map(async a => await getJson<Leader>(`${a.apiUrl}/api/v1/leader`)))

async function oneLeader (): Promise<string> {
  let holder = ''
  await waitUntil('exactly one leader, seen by every agent', async () => {
    const l = lease()
    const views = await leaderViews()
    holder = l?.holder ?? ''
    return holder !== '' && views.every(v => v.holder === holder) && views.filter(v => v.is_self).length === 1
  }, 15_000, 100)
  return holder
}

t.before(async () => { await apiserver.start('127.0.0.1', 0) })
t.teardown(async () => {
  await Promise.all([...agents.values()].map(async a => await stopAgentProcess(a, 'SIGKILL')))
  await apiserver.stop()
})

t.test('exactly one leader, and only the three contenders ever call the apiserver', async t => {
  for (const n of names) start(n)
  await Promise.all(running().map(async a => await a.ready))
  const holder = await oneLeader()
  const expected = contenders(names, 3)
  t.ok(expected.includes(holder), `the holder ${holder} is a contender`)
  // (an agent whose view still lacks a member names another set: wait for the views to settle, not for speed)
  const same = (v: { contenders: string[] }): boolean => [...v.contenders].sort().join() === [...expected].sort().join()
  await waitUntil('every view to settle on the contenders', async () => (await leaderViews()).every(same), 15_000, 100).catch(() => {})
  const views = await leaderViews()
  for (const v of views) t.same([...v.contenders].sort(), [...expected].sort(), 'every agent names the same three contenders')
  await waitUntil('the three contenders to contend', async () => (await leaderViews()).filter(v => v.contending).length === 3, 5_000, 100)
  t.same((await leaderViews()).filter(v => v.contending).length, 3, 'three agents contend, the others do not')
  await new Promise(resolve => setTimeout(resolve, 2_000))
  const callers = Object.keys(apiserver.stats.byToken).map(tok => tok.replace(/^token-/, '')).sort()
  t.same(callers, [...expected].sort(), `only the contenders called the apiserver (${JSON.stringify(apiserver.stats.byToken)})`)
  t.notOk(apiserver.stats.rejected.Unauthorized, 'every call was authenticated')
  t.notOk(apiserver.stats.rejected.BadRequest, 'every MicroTime was well formed')
})

t.test('the leader alone prints the report, once per interval', async t => {
  const holder = lease()?.holder ?? ''
  const since = Date.now()
  await waitUntil('two reports', async () => prints.filter(p => p.at >= since).length >= 2, 5_000, 100)
  const recent = prints.filter(p => p.at >= since)
  t.same([...new Set(recent.map(p => p.agent))], [holder], 'only the holder printed')
  const report = await getJson<{ activeAgents: number, verdicts: unknown[] }>(`${running()[0]?.apiUrl ?? ''}/api/v1/report`)
  t.equal(report.activeAgents, N, 'the same report is served as JSON by any agent')
  t.ok(Array.isArray(report.verdicts))
})

t.test('SIGTERM of the leader: it releases the Lease and another takes over within 2 s', async t => {
  const old = lease()
  const holder = old?.holder ?? ''
  const t0 = Date.now()
  await stopAgentProcess(agents.get(holder) as AgentProcess, 'SIGTERM')
  await waitUntil('a new holder', async () => { const l = lease(); return l !== null && l.holder !== '' && l.holder !== holder }, 10_000, 20)
  const ms = Date.now() - t0
  t.comment(`new holder ${lease()?.holder ?? ''} ${ms} ms after SIGTERM of ${holder}`)
  t.ok(ms <= 2_000, `takeover within 2 s (${ms} ms)`)
  t.ok((lease()?.transitions ?? 0) > (old?.transitions ?? 0), 'leaseTransitions counted')
  await oneLeader()
})

t.test('SIGKILL of the leader: a new one within lease duration + retry period', async t => {
  const holder = lease()?.holder ?? ''
  const t0 = Date.now()
  await stopAgentProcess(agents.get(holder) as AgentProcess, 'SIGKILL')
  await waitUntil('a new holder', async () => { const l = lease(); return l !== null && l.holder !== '' && l.holder !== holder }, 15_000, 20)
  const ms = Date.now() - t0
  const bound = (LEASE.duration + LEASE.retry) * 1000
  t.comment(`new holder ${lease()?.holder ?? ''} ${ms} ms after SIGKILL of ${holder} (bound ${bound} ms)`)
  t.ok(ms <= bound, `takeover within lease duration + retry period (${ms} ms)`)
  t.ok(ms >= (LEASE.duration - LEASE.retry * 2) * 1000, 'not before the dead holder\'s Lease could expire')
  await oneLeader()
})

t.test('apiserver gone: the leader steps down after its renew deadline and nobody prints; back: one leader again', async t => {
  const holder = await oneLeader()
  await apiserver.stop()
  const stoppedAt = Date.now()
  await waitUntil('the leader to step down', async () => !(await leaderViews()).some(v => v.is_self), (LEASE.renew + 3) * 1000, 100)
  const ms = Date.now() - stoppedAt
  t.comment(`${holder} stepped down ${ms} ms after the apiserver went away (renew deadline ${LEASE.renew * 1000} ms)`)
  t.ok(ms >= LEASE.renew * 1000 - 600, 'not before its renew deadline')
  const quietFrom = stoppedAt + LEASE.renew * 1000 + 200
  await new Promise(resolve => setTimeout(resolve, Math.max(0, quietFrom - Date.now()) + 3_000))
  t.same(prints.filter(p => p.at >= quietFrom), [], 'nobody printed while no one could renew the Lease')

  await apiserver.start()
  const back = await oneLeader()
  t.comment(`after the apiserver came back: ${back} holds the Lease`)
  const since = Date.now()
  await waitUntil('reports to resume', async () => prints.some(p => p.at >= since), 5_000, 100)
  t.pass('reports resumed')
})

t.test('no two agents ever printed the same interval', async t => {
  const byInterval = new Map<number, Set<string>>()
  for (const p of prints) byInterval.set(p.interval, new Set([...(byInterval.get(p.interval) ?? []), p.agent]))
  const doubled = [...byInterval.entries()].filter(([, s]) => s.size > 1)
  t.same(doubled, [], `${prints.length} reports over ${byInterval.size} intervals, each printed by one agent`)
  const perAgent = new Map<string, number[]>()
  for (const p of prints) perAgent.set(p.agent, [...(perAgent.get(p.agent) ?? []), p.interval])
  for (const [agent, intervals] of perAgent) t.equal(new Set(intervals).size, intervals.length, `${agent} printed each interval once`)
})

t.test('the stand-in is strict: it fails clients that break the Lease rules', async t => {
  const s = new LeaseStandIn(['good'])
  await s.start('127.0.0.1', 0)
  t.teardown(async () => { await s.stop() })
  const base = `${s.url}/apis/coordination.k8s.io/v1/namespaces/ns/leases`
  const call = async (method: string, url: string, body?: unknown, token = 'good'): Promise<{ code: number, json: { reason?: string, metadata?: { resourceVersion: string } } }> => {
    const res = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    return { code: res.status, json: await res.json() as { reason?: string, metadata?: { resourceVersion: string } } }
  }
  const lease = (spec: object, rv?: string): object => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', ...(rv === undefined ? {} : { resourceVersion: rv }) }, spec })
  const micro = '2026-11-25T10:00:00.123456Z'
  t.match(await call('GET', `${base}/l`, undefined, 'bad'), { code: 401, json: { reason: 'Unauthorized' } }, 'a wrong bearer token is refused')
  t.match(await call('GET', `${base}/l`), { code: 404, json: { reason: 'NotFound' } }, 'a missing Lease is 404')
  t.match(await call('POST', base, lease({ holderIdentity: 'a', renewTime: '2026-11-25T10:00:00Z' })), { code: 400 }, 'a renewTime without 6 fractional digits is refused')
  const created = await call('POST', base, lease({ holderIdentity: 'a', renewTime: micro, leaseDurationSeconds: 15 }))
  t.equal(created.code, 201, 'create answers 201')
  t.match(await call('POST', base, lease({ holderIdentity: 'b', renewTime: micro })), { code: 409, json: { reason: 'AlreadyExists' } })
  const rv1 = created.json.metadata?.resourceVersion ?? ''
  t.match(await call('PUT', `${base}/l`, lease({ holderIdentity: 'a', renewTime: micro })), { code: 422 }, 'an update without resourceVersion is invalid')
  const updated = await call('PUT', `${base}/l`, lease({ holderIdentity: 'a', renewTime: micro }, rv1))
  t.equal(updated.code, 200)
  t.not(updated.json.metadata?.resourceVersion, rv1, 'every write bumps resourceVersion')
  t.match(await call('PUT', `${base}/l`, lease({ holderIdentity: 'b', renewTime: micro }, rv1)), { code: 409, json: { reason: 'Conflict' } }, 'a stale resourceVersion conflicts')
  t.equal(s.lease('ns', 'l')?.spec.holderIdentity, 'a', 'the conflicting write changed nothing')
})

t.test('supervisor: a contender settled for a while steps in at once when the holder lets go, stable membership or not', async t => {
  const scene = (): { view: View, self: SelfRecord, holder: SelfRecord, calls: string[], sup: ElectionSupervisor, clock: { now: number } } => {
    const view = new View({ ttlMs: 15_000, maxExternal: 8 })
    const self = new SelfRecord(ident(1), 1000)
    view.setSelf(self.record, 0)
    const others = [2, 3, 4].map(n => new SelfRecord(ident(n), 1000))
    for (const o of others) view.apply({ t: 'full', record: { ...structuredClone(o.record), leader: o === others[0] } }, o.record.identity.peerId, 0)
    const calls: string[] = []
    let enabled = false
    const election = {
      enable: () => { if (!enabled) calls.push('enable'); enabled = true },
      disable: async () => { calls.push('disable'); enabled = false },
      poke: () => { calls.push('poke') },
      state: () => ({ enabled, leading: false, holder: null, transitions: 0, lastRenewAgoMs: null, attempts: 0, failures: 0 }),
      isLeader: () => false
    }
    const clock = { now: 0 }
    const sup = new ElectionSupervisor({
      election: election as unknown as LeaderElection,
      view,
      self,
      mesh: { publish: () => {} } as unknown as GossipMesh,
      maxContenders: 4,
      settled: () => true,
      stableMs: 1_500,
      now: () => clock.now,
      checkEveryMs: 60_000,
      log: pino({ level: 'silent' })
    })
    return { view, self, holder: others[0] as SelfRecord, calls, sup, clock }
  }
  const a = scene()
  a.sup.check()
  t.strictSame(a.calls, [], 'a membership just seen is not stable: no contending yet')
  a.clock.now = 1_000
  a.view.apply({ t: 'leave', origin: 'agent-4', inc: 1000, seq: 5 }, ident(4).peerId, a.clock.now)
  a.sup.check()
  t.strictSame(a.calls, [], 'another member leaving changes nothing')
  a.clock.now = 2_000
  a.view.apply(a.holder.leave(), a.holder.record.identity.peerId, a.clock.now)
  a.sup.check()
  t.strictSame(a.calls, ['enable', 'poke'], 'the holder gone, membership unstable: a contender settled 2 s ago contends and tries now')

  const b = scene()
  b.sup.check()
  b.clock.now = 500
  b.view.apply(b.holder.leave(), b.holder.record.identity.peerId, b.clock.now)
  b.sup.check()
  t.strictSame(b.calls, ['poke'], 'one settled only 0.5 s ago leaves the takeover to contenders already running')
})
