// The image and the pod spec for real: builds the Dockerfile with buildah, renders deploy/ with kubectl kustomize, and
// runs the DaemonSet's pod on each node of a 6-node namespace cluster with podman (test/harness/pod-runner.ts), the
// in-cluster apiserver path over TLS included. Then: convergence with real ICMP as the non-root user, a killed
// container, a stopped one (the Lease released), a rolling update to a second tag, a frozen agent restarted by its
// liveness probe. Needs root, podman, buildah, mmdebstrap, runc, kubectl; K8SNET_REQUIRE_PRIVILEGED=1 makes a skip fail.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { parseAllDocuments } from 'yaml'
import type { PairMap } from '../src/api/projection.ts'
import { getJson, waitUntil } from '../tools/launcher.ts'
import type { Report } from '../src/report/report.ts'
import { harnessUnavailable, VirtualCluster, type VirtualNode } from './harness/cluster.ts'
import { cpuCores, expand, memoryBytes, podman, PodRunner, podmanUnavailable } from './harness/pod-runner.ts'
import { restrictedViolations } from './harness/pod-security.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const N = 6
const IMAGE = 'localhost/k8snet-checker'
/** The agents' timers in this cluster (an overlay patches them, the kustomize way): a TTL of 6 s. */
const TIMERS: Record<string, string> = {
  HEARTBEAT_INTERVAL: '2',
  CACHE_KEY_SECOND: '6',
  PROBE_INTERVAL: '3',
  REPORT_INTERVAL: '5',
  DISCOVERY_INTERVAL: '1',
  LEASE_DURATION: '6',
  LEASE_RENEW_DEADLINE: '4',
  LEASE_RETRY_PERIOD: '1'
}
const TTL_MS = 6_000

t.test('the pod runner refuses what it cannot honour, and expands env as the kubelet does', async t => {
  const rendered = spawnSync('kubectl', ['kustomize', join(ROOT, 'deploy')], { encoding: 'utf8' })
  if (rendered.error !== undefined) { if (process.env.K8SNET_REQUIRE_PRIVILEGED === '1') t.fail('needs kubectl'); else t.comment('skipped: no kubectl'); return }
  const objects = parseAllDocuments(rendered.stdout).map(d => d.toJS() as Record<string, any>)
  const cluster = { nodes: [] } as unknown as VirtualCluster
  t.doesNotThrow(() => new PodRunner({ cluster, objects, dir: '/nonexistent' }), 'the shipped manifest is understood whole')
  const windows = structuredClone(objects)
  const windowsDs = windows.find(o => o.kind === 'DaemonSet') as Record<string, any>
  windowsDs.spec.template.spec.nodeSelector = { 'kubernetes.io/os': 'windows' }
  const oneNode = { nodes: [{ index: 1 }], nodeName: () => 'node-1' } as unknown as VirtualCluster
  t.equal(new PodRunner({ cluster: oneNode, objects, dir: '/nonexistent' }).scheduledNodes.length, 1, 'the shipped nodeSelector selects a Linux node')
  t.same(new PodRunner({ cluster: oneNode, objects: windows, dir: '/nonexistent' }).scheduledNodes, [], 'a nodeSelector no node matches places no pod')
  const variants: Array<[string, (spec: Record<string, any>) => void, RegExp]> = [
    ['an unknown pod field', spec => { spec.hostAliases = [{ ip: '10.0.0.1', hostnames: ['x'] }] }, /spec\.template\.spec\.hostAliases: not understood/],
    ['an unknown container field', spec => { spec.containers[0].startupProbe = { httpGet: { path: '/', port: 1 } } }, /containers\[0\]\.startupProbe: not understood/],
    ['a misspelt securityContext field', spec => { spec.containers[0].securityContext.readOnlyRootFileSystem = true }, /readOnlyRootFileSystem: not understood/],
    ['an unresolved downward API field', spec => { spec.containers[0].env.push({ name: 'X', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } }) }, /fieldRef metadata\.labels/],
    ['a pull from a registry', spec => { spec.containers[0].imagePullPolicy = 'Always' }, /Always needs a registry/],
    ['a second container', spec => { spec.containers.push(structuredClone(spec.containers[0])) }, /one container only/],
    ['an exec probe', spec => { spec.containers[0].livenessProbe = { exec: { command: ['true'] } } }, /livenessProbe\.exec: not understood/],
    ['node affinity', spec => { spec.affinity = { nodeAffinity: {} } }, /spec\.template\.spec\.affinity: not understood/]
  ]
  for (const [what, mutate, error] of variants) {
    const copy = structuredClone(objects)
    mutate(copy.find(o => o.kind === 'DaemonSet')?.spec.template.spec)
    t.throws(() => new PodRunner({ cluster, objects: copy, dir: '/nonexistent' }), { name: 'PodSpecError', message: error }, `${what}: the run fails`)
  }
  const vars = new Map([['NAMESPACE', 'kube-system']])
  t.equal(expand('peers.$(NAMESPACE).svc', vars), 'peers.kube-system.svc', '$(VAR) from an earlier variable')
  t.equal(expand('$$(NAMESPACE) $(MISSING)', vars), '$(NAMESPACE) $(MISSING)', '$$ escapes; an unknown reference stays')
  t.equal(memoryBytes('512Mi'), 536870912, 'memory quantities')
  t.equal(cpuCores('50m'), 0.05, 'cpu quantities')
})

const why = podmanUnavailable() ?? harnessUnavailable()
if (why !== null) {
  if (process.env.K8SNET_REQUIRE_PRIVILEGED === '1') t.fail(`the container cluster cannot run: ${why}`)
  else t.comment(`skipped: the container cluster ${why}`)
} else {
  const work = mkdtempSync(join(tmpdir(), 'k8snet-containers-'))
  const tag = `ci${process.pid}`
  t.teardown(() => {
    rmSync(work, { recursive: true, force: true })
    podman(['rmi', '-f', `${IMAGE}:${tag}-b`], { stdio: 'ignore' })
  })

  let built = false
  await t.test('the image builds from the Dockerfile, and runs as its non-root user', async t => {
    const started = Date.now()
    const r = spawnSync('bash', [join(ROOT, 'docker/build-image.sh'), `${IMAGE}:${tag}`], { cwd: ROOT, encoding: 'utf8', timeout: 20 * 60_000 })
    t.equal(r.status, 0, `docker/build-image.sh (${((Date.now() - started) / 1000).toFixed(0)} s)`)
    if (r.status !== 0) { t.comment((r.stderr ?? '').slice(-4000)); return }
    const inspect = JSON.parse(podman(['image', 'inspect', `${IMAGE}:${tag}`]).stdout) as Array<{ Size: number, Config: { User: string, Labels: Record<string, string> } }>
    const img = inspect[0]
    t.equal(img?.Config.User, '10001:10001', 'USER 10001:10001')
    t.equal(img?.Config.Labels['org.opencontainers.image.licenses'], 'MIT', 'licence label MIT (LICENSE)')
    t.comment(`image size ${((img?.Size ?? 0) / 1e6).toFixed(1)} MB uncompressed`)
    const v = podman(['run', '--rm', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=1024:1024', `${IMAGE}:${tag}`, '--version'])
    t.match(v.stdout, /^k8snet-checker \d+\.\d+\.\d+/, `--version: ${v.stdout.trim()}`)
    // the second tag a rolling update moves to
    podman(['tag', `${IMAGE}:${tag}`, `${IMAGE}:${tag}-b`])
    built = true
  })

  if (built) await t.test('a 6-node container cluster runs the rendered manifest', async t => { await runCluster(t, work, tag) })
}

async function runCluster (t: Test, work: string, tag: string): Promise<void> {
  // the overlay: the image built above, the cluster's faster timers; everything else is deploy/ as shipped
  const overlay = join(work, 'overlay')
  mkdirSync(overlay)
  writeFileSync(join(overlay, 'kustomization.yaml'), JSON.stringify({
    resources: [relative(overlay, join(ROOT, 'deploy'))],
    images: [{ name: 'k8snet-checker', newName: IMAGE, newTag: tag }],
    patches: [{
      target: { kind: 'DaemonSet', name: 'k8snet-checker' },
      patch: JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 'k8snet-checker' },
        spec: { template: { spec: { containers: [{ name: 'agent', env: Object.entries(TIMERS).map(([name, value]) => ({ name, value })) }] } } }
      })
    }]
  }))
  const rendered = spawnSync('kubectl', ['kustomize', overlay], { encoding: 'utf8' })
  if (rendered.status !== 0) { t.fail(`kubectl kustomize: ${rendered.stderr}`); return }
  const objects = parseAllDocuments(rendered.stdout).map(d => d.toJS() as Record<string, any>)
  const ds = objects.find(o => o.kind === 'DaemonSet')
  t.same(restrictedViolations(ds?.spec.template.spec, ds?.spec.template.metadata), [], 'the rendered pod meets Pod Security "restricted"')

  const reports: Array<{ pod: string, at: number, line: string }> = []
  const c = new VirtualCluster({ nodes: N, podRunner: true })
  const runner = new PodRunner({ cluster: c, objects, dir: join(work, 'pods'), onText: (pod, line) => { reports.push({ pod, at: Date.now(), line }) } })
  t.teardown(async () => { await runner.stop(); await c.stop() })
  await c.start()

  const api = async <T>(n: VirtualNode, path: string): Promise<T> => await getJson<T>(`http://${n.podIp}:8080${path}`)
  const podCount = async (n: VirtualNode): Promise<number> => (await api<{ count: number }>(n, '/api/v1/pods')).count
  const liveNodes = (): VirtualNode[] => c.nodes.filter(n => runner.pods.get(n)?.container != null && runner.pods.get(n)?.orphaned !== true)
  const counts = async (nodes = liveNodes()): Promise<number[]> => await Promise.all(nodes.map(async n => await podCount(n).catch(() => -1)))
  const holderNode = async (): Promise<VirtualNode | undefined> => {
    const h = (await c.lease()).holder
    return c.nodes.find(n => runner.pods.get(n)?.name === h)
  }

  await t.test('the DaemonSet\'s pods start, become ready and converge; ICMP and TCP are real as the non-root user', async t => {
    const started = Date.now()
    t.equal(runner.scheduledNodes.length, N, 'the nodeSelector (kubernetes.io/os: linux) selects every node of this Linux cluster')
    await runner.start()
    await runner.waitReady([...runner.pods.values()], 120_000)
    t.pass(`all ${N} pods ready (${Date.now() - started} ms), in-cluster apiserver over TLS`)
    await waitUntil('every view holds every agent', async () => (await counts()).every(x => x === N), 60_000, 250)
    t.pass(`every agent holds all ${N} (${Date.now() - started} ms)`)
    const complete = async (): Promise<boolean> => {
      for (const n of c.nodes) {
        const hosts = (await api<{ results: PairMap }>(n, '/api/v1/test-results/hosts')).results
        const pods = (await api<{ results: PairMap }>(n, '/api/v1/test-results/pods')).results
        const ok = c.nodes.every(s => c.nodes.every(d => s === d || (
          hosts[s.nodeIp]?.[d.nodeIp]?.ping === 'reachable' && hosts[s.nodeIp]?.[d.nodeIp]?.port_status === 'open' &&
          pods[s.podIp]?.[d.podIp]?.ping === 'reachable' && pods[s.podIp]?.[d.podIp]?.port_status === 'open')))
        if (!ok) return false
      }
      return true
    }
    await waitUntil('every pair measured reachable and open, on both layers, in every view', complete, 60_000, 500)
    t.pass('every ordered pair: ping "reachable" (unprivileged ICMP from uid 10001, no capability) and the port open, host and pod level')
    await waitUntil('a Lease holder', async () => (await holderNode()) !== undefined, 30_000)
    const holder = await holderNode() as VirtualNode
    t.pass(`${String(runner.pods.get(holder)?.name)} holds the Lease (in-cluster service account, TLS to the apiserver)`)
    await waitUntil('a printed report', async () => reports.some(r => r.line.startsWith('==== k8snet-checker network report')), 30_000)
    const report = await api<Report>(holder, '/api/v1/report')
    t.same(report.verdicts, [], 'the holder\'s report: no verdict')
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim()
    const metrics = await (await fetch(`http://${holder.podIp}:8080/metrics`)).text()
    t.match(metrics, 'k8snet_build_info{version="', 'k8snet_build_info is exported')
    if (head !== '') t.match(metrics, `revision="${head}"`, `with the image's source revision (${head.slice(0, 12)})`)
    // counted where they happen (the mesh, anti-entropy and the reporter are passed the metrics as their sink)
    const count = (series: string): number => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0)
    t.ok(count('k8snet_gossip_messages_total{event="published"}') > 0, 'gossip messages published, counted')
    t.ok(count('k8snet_gossip_messages_total{event="accepted"}') > 0, 'gossip messages accepted, counted')
    t.ok(count('k8snet_gossip_payload_bytes_total{direction="in"}') > 0, 'payload bytes in, counted')
    t.ok(count('k8snet_reports_printed_total') > 0, 'reports printed by the holder, counted')
    for (const n of c.nodes) {
      const rss = runner.rssBytes(n)
      t.ok(rss !== null && rss > 0, `${n.name}: agent RSS ${((rss ?? 0) / 2 ** 20).toFixed(0)} MiB in its container`)
    }
    const ping = JSON.parse(podman(['inspect', runner.pods.get(c.node(1))?.container ?? ''], { encoding: 'utf8' }).stdout)[0]
    t.same(ping?.EffectiveCaps ?? [], [], 'the container holds no capability')
    t.equal(ping?.HostConfig?.ReadonlyRootfs, true, 'read-only root filesystem')
    t.match(ping?.HostConfig?.SecurityOpt ?? [], ['no-new-privileges'], 'no-new-privileges (allowPrivilegeEscalation: false)')
    // resources: what this machine's cgroups (v1, cgroupfs) enforce from the manifest
    const cg = podman(['exec', runner.pods.get(c.node(1))?.container ?? '', 'sh', '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares'], { encoding: 'utf8' })
    const [memLimit, quota, period, shares] = cg.stdout.trim().split('\n').map(Number)
    const res = ds?.spec.template.spec.containers[0].resources
    t.equal(memLimit, memoryBytes(res.limits.memory), `memory limit ${String(res.limits.memory)} enforced (memory.limit_in_bytes)`)
    t.equal((quota ?? 0) / (period ?? 1), cpuCores(res.limits.cpu), `cpu limit ${String(res.limits.cpu)} enforced (CFS quota)`)
    t.equal(shares, Math.round(cpuCores(res.requests.cpu) * 1024), `cpu request ${String(res.requests.cpu)} as cpu.shares`)
    t.comment(`not enforced here: the memory request (${String(res.requests.memory)}), which only schedules on a real cluster`)
  })

  await t.test('a killed container (its node gone) leaves every view within the TTL; back, it rejoins', async t => {
    const holder = await holderNode()
    const victim = c.nodes.find(n => n !== holder) as VirtualNode
    const others = c.nodes.filter(n => n !== victim)
    const killedAt = Date.now()
    await runner.failNode(victim)
    const ms = await waitUntil('every other view drops it', async () => (await counts(others)).every(x => x === N - 1), TTL_MS * 3, 100)
    t.ok(ms <= TTL_MS + 2_500, `gone from all ${others.length} other views ${Date.now() - killedAt} ms after SIGKILL (TTL ${TTL_MS} ms, plus up to one expiry sweep)`)
    runner.revive(victim)
    await runner.waitReady([runner.pods.get(victim)].filter(p => p !== undefined), 60_000)
    await waitUntil('it rejoins every view', async () => (await counts()).every(x => x === N), 30_000, 250)
    t.pass('restarted by the kubelet, back in every view')
    // with its kubelet alive, a container that dies is started again (restartPolicy Always)
    const pod = runner.pods.get(victim)
    const starts = pod?.starts ?? 0
    runner.signal(victim, 'SIGKILL')
    await waitUntil('the kubelet restarts the container', async () => (pod?.starts ?? 0) > starts && pod?.ready === true, 60_000, 100)
    t.match(pod?.restarts.at(-1), { reason: 'exited', exitCode: 137 }, 'restartPolicy Always: the killed container (exit 137) was started again')
    await waitUntil('it is in every view', async () => (await counts()).every(x => x === N), 30_000, 250)
  })

  await t.test('a stopped pod (the Lease holder) leaves at once and releases the Lease within its grace period', async t => {
    await waitUntil('a Lease holder', async () => (await holderNode()) !== undefined, 30_000)
    const holder = await holderNode() as VirtualNode
    const oldName = runner.pods.get(holder)?.name
    const others = c.nodes.filter(n => n !== holder)
    const stoppedAt = Date.now()
    const [stopMs] = await Promise.all([
      runner.deletePod(holder),
      waitUntil('the Lease is released or taken over', async () => (await c.lease()).holder !== oldName, runner.grace * 1000, 50)
    ])
    t.ok(stopMs < runner.grace * 1000, `the container stopped on SIGTERM in ${stopMs} ms (grace ${runner.grace} s)`)
    t.ok(Date.now() - stoppedAt < runner.grace * 1000, `the Lease left ${String(oldName)} within the grace period`)
    const leftMs = await waitUntil('every other view drops it', async () => (await counts(others)).every(x => x === N - 1), TTL_MS, 50)
    t.ok(leftMs < TTL_MS, `it left every other view in ${Date.now() - stoppedAt} ms (a goodbye, not the TTL)`)
    await runner.createPod(holder)
    await runner.waitReady([runner.pods.get(holder)].filter(p => p !== undefined), 60_000)
    await waitUntil('the new pod joins every view', async () => (await counts()).every(x => x === N), 30_000, 250)
    t.pass('the DaemonSet\'s new pod on that node joined every view')
  })

  await t.test('a rolling update to a second tag, node by node: no verdict, and no view ever below N-1', async t => {
    let minView = N
    const verdicts = new Set<string>()
    // what users see: the views of the pods the Service routes to (ready ones)
    const steps: string[] = []
    const watch = async (what: string): Promise<void> => {
      if (what !== 'waiting') steps.push(`${((Date.now() - started) / 1000).toFixed(1)} s ${what}`)
      const seen = await counts(liveNodes().filter(n => runner.pods.get(n)?.ready === true))
      minView = Math.min(minView, ...seen.filter(x => x >= 0))
      const h = await holderNode()
      if (h !== undefined && runner.pods.get(h)?.ready === true) {
        const r = await api<Report>(h, '/api/v1/report').catch(() => null)
        for (const v of r?.verdicts ?? []) {
          const key = `${v.kind}: ${v.subject}`
          if (!verdicts.has(key)) steps.push(`${((Date.now() - started) / 1000).toFixed(1)} s ${String(runner.pods.get(h)?.name)} reports ${key}: ${v.summary} [${v.evidence.join('; ')}]`)
          verdicts.add(key)
        }
      }
    }
    // from a settled cluster: the crash above (down for the kubelet's 10 s back-off) is reported until it clears
    await waitUntil('the holder reports no verdict', async () => {
      const h = await holderNode()
      return h !== undefined && (await api<Report>(h, '/api/v1/report')).verdicts.length === 0
    }, 30_000, 500)
    const started = Date.now()
    await runner.rollout(`${IMAGE}:${tag}-b`, { readyTimeoutMs: 90_000, onStep: watch })
    await waitUntil('every view holds every agent', async () => (await counts()).every(x => x === N), 30_000, 250)
    t.ok([...runner.pods.values()].every(p => p.image === `${IMAGE}:${tag}-b`), `every pod runs the second tag (${((Date.now() - started) / 1000).toFixed(0)} s, maxUnavailable ${runner.maxUnavailable})`)
    t.ok(minView >= N - 1, `the smallest view during the rollout held ${minView} agents`)
    t.same([...verdicts], [], 'no verdict in the holder\'s report during the rollout')
    if (verdicts.size > 0) t.comment(steps.join('\n'))
  })

  await t.test('a frozen agent (SIGSTOP) fails its liveness probe and is restarted', async t => {
    const holder = await holderNode()
    const victim = c.nodes.find(n => n !== holder && n.index !== 1) as VirtualNode
    const pod = runner.pods.get(victim)
    if (pod === undefined) { t.fail('no pod'); return }
    const starts = pod.starts
    const frozenAt = Date.now()
    runner.signal(victim, 'SIGSTOP')
    await waitUntil('the liveness probe restarts it', async () => pod.starts > starts, 120_000, 250)
    t.ok(pod.restarts.some(r => r.reason === 'liveness' && r.at >= frozenAt), `restarted after a failed liveness probe ${Date.now() - frozenAt} ms after SIGSTOP`)
    await runner.waitReady([pod], 60_000)
    await waitUntil('it rejoins every view', async () => (await counts()).every(x => x === N), 30_000, 250)
    t.pass('ready again and back in every view')
  })
}
