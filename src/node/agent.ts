// The composition root: builds the view, mesh, discovery, anti-entropy, probes, election, reporter and APIs,
// and owns start/stop.
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import type { Logger } from 'pino'
import { buildApi } from '../api/app.ts'
import { AgentMetrics } from '../api/metrics.ts'
import { startHealthServer, type HealthServer } from '../api/health-server.ts'
import { clientCount, type ViewSnapshot } from '../api/projection.ts'
import { thinLegacyResults } from '../api/legacy-thin.ts'
import { historyAnswer, type HistoryAnswer } from '../api/history.ts'
import type { ApiDeps, HealthInfo, HistoryQuery, LeaderInfo, Readiness } from '../api/routes.ts'
import { Discovery } from '../gossip/discovery.ts'
import { Admission } from '../gossip/admission.ts'
import { createMeshNode, SCORE_THRESHOLDS, type MeshNode } from '../gossip/libp2p-node.ts'
import { GossipMesh } from '../gossip/mesh.ts'
import { injectExternal } from '../core/inject.ts'
import { IdentityVerifier, type ProveIdentity } from '../core/identity.ts'
import { newAgentKey, PeerKeys, persistentAgentKey, type AgentKey } from '../core/keys.ts'
import type { ExcludedNode, ExternalBody, GossipMessage, SecondaryIps } from '../core/record.ts'
import { SelfRecord } from '../core/self-record.ts'
import { Beats } from '../gossip/beat.ts'
import { BeatBook, MAX_LEGACY_ENTRIES } from '../core/liveness.ts'
import { AntiEntropy } from '../gossip/sync.ts'
import { Trust } from '../core/trust.ts'
import { View } from '../core/view.ts'
import { dnsProbe } from '../probe/dns-probe.ts'
import { fpingRound } from '../probe/fping.ts'
import { FpingLauncher } from '../probe/fping-launcher.ts'
import { publishRound, sampleKeptMs } from '../probe/publish.ts'
import { runRound, type Probers } from '../probe/round.ts'
import { ProbeScheduler } from '../probe/scheduler.ts'
import { allTargets, planRound, type ProbeCandidate } from '../probe/targets.ts'
import { ProbeWatch, reportersOfDown } from '../probe/watch.ts'
import { tcpProbe } from '../probe/tcp-probe.ts'
import { ClockSkew } from '../report/clock-skew.ts'
import { FamilyModels } from '../report/family-models.ts'
import { modelOptions, NetworkModel } from '../report/network-model.ts'
import { buildReport, type Report } from '../report/report.ts'
import { Reporter } from '../report/reporter.ts'
import { threadCpuMs } from '../shared/cpu.ts'
import { HeapGrowth } from './heap-growth.ts'
import { renderOriginal } from '../report/original-format.ts'
import type { Config } from './config.ts'
import { ElectionSupervisor } from '../election/election-supervisor.ts'
import { LeaderElection } from '../election/leader-election.ts'
import type { KubeAccess } from '../kube/kube-access.ts'
import { JwksSource } from '../kube/kube-jwks.ts'
import { kubeLeaseStore } from '../election/kube-lease-store.ts'
import { NodeWatch } from '../kube/node-watch.ts'
import type { Secrets } from './secrets.ts'
import { VERSION } from '../shared/version.ts'
import { resolveListenAddress } from './listen-address.ts'

export interface Agent {
  config: Config
  node: MeshNode
  view: View
  mesh: GossipMesh
  sync: AntiEntropy
  probes: ProbeScheduler
  supervisor: ElectionSupervisor | null
  reporter: Reporter
  /** The reachability model over time: every agent ticks it each probe interval; reports and the API read it. */
  model: NetworkModel
  /** Injects a legacy client's report as the API's POST routes do (throws InjectError when it cannot be kept). */
  inject: (body: ExternalBody) => void
  stop: () => Promise<void>
}

const now = (): number => performance.now()

/**
 * The legacy clients' heartbeats held in the view, as probe targets named by their pod names: only those on a node
 * where an agent runs (as in a migration, old clients and agents on the same nodes), so a made-up heartbeat cannot
 * point every agent's probes at an address outside the cluster's nodes.
 */
function legacyTargets (view: View): ProbeCandidate[] {
  const nodes = new Set(view.agentEntries().map(e => e.record.identity.nodeIp))
  return view.externalEntries().flatMap(e => e.record.body.part === 'hb' && nodes.has(e.record.body.value.nodeIp)
    ? [{ identity: { podName: e.record.body.value.podName, nodeIp: e.record.body.value.nodeIp, podIp: e.record.body.value.podIp } }]
    : [])
}
/**
 * Legacy result rows every agent keeps at most, over all clients: what MAX_EXTERNAL_ORIGINS clients hold after
 * thinning (a host and a pod post of PROBE_COVERAGE passing rows each, with as many failing ones, a Service result
 * and a heartbeat), and never below what a 100-node cluster's full posts need.
 */
export const legacyRowBudget = (c: Pick<Config, 'maxExternalOrigins' | 'probeCoverage'>): number =>
  Math.max(50_000, c.maxExternalOrigins * (4 * c.probeCoverage + 2))
/**
 * A legacy client's unchanged report is gossiped again at most this often (its heartbeat meanwhile rides on this
 * agent's own, its results on its heartbeat); thinned results show another window of passing rows as often.
 */
const LEGACY_REFRESH_MS = 600_000
/** Node changes within this long go out in one full record. */
const EXCLUDED_PUBLISH_DELAY_MS = 1_000
/** How long a starting agent waits for a peer's view before it counts as settled (election, readiness). */
const SETTLE_MS = 3_000

/** Results older than this make a source stale: the longest they may stand unrefreshed, plus three rounds. */
const staleAfterMs = (c: Config, sampled: boolean): number =>
  Math.max(c.fullRefreshIntervalS * 1000, sampled ? sampleKeptMs(c) : 0) + 3 * c.probeIntervalS * 1000

interface Parts {
  config: Config
  log: Logger
  node: MeshNode
  view: View
  self: SelfRecord
  mesh: GossipMesh
  sync: AntiEntropy
  metrics: AgentMetrics
  model: NetworkModel
  /** What a part needs done when the agent stops (after the election is given up). */
  stopping: Array<() => Promise<void>>
}

function buildProbes ({ config, log, view, self, mesh, metrics }: Parts, fping: FpingLauncher): ProbeScheduler {
  const probers: Probers = {
    icmp: async (ips, echoes) => await fpingRound(ips, { path: config.fpingPath, echoes: echoes ?? config.probeEchoes, timeoutMs: config.probeTimeoutMs, launcher: fping }),
    tcp: tcpProbe,
    dns: dnsProbe,
    wallNow: Date.now
  }
  const service = config.customServiceName === '' ? null : { name: config.customServiceName, port: config.customServicePort }
  const ports = { testPort: config.testPort, clientPort: config.clientPort }
  // above the sample size, the rest is swept with ICMP and what stopped answering is watched (watch.ts)
  const watch = new ProbeWatch(self.origin)
  return new ProbeScheduler({
    // agents that fell silent stay targets for a while: a node whose link died is reported, not forgotten
    // legacy clients of the original tool are targets too (their node's TEST_PORT, their health port on CLIENT_PORT):
    // in a mixed cluster every pair is checked by someone
    plan: round => {
      const agents = [...view.agentEntries(), ...view.lostEntries(now())].map(e => e.record as ProbeCandidate).concat(legacyTargets(view))
      const sample = planRound(agents, self.record, { ...ports, sampleAbove: config.probeSampleAbove, k: config.probeCoverage, round, hold: config.probeSampleHold })
      if (!sample.sampled) return sample
      const reporters = reportersOfDown(view.agentEntries().map(e => e.record), self.record.identity, ports)
      return watch.widen(sample, allTargets(agents, self.record, ports), round, reporters)
    },
    run: async plan => {
      const started = performance.now()
      const r = await runRound(plan, { timeoutMs: config.probeTimeoutMs, concurrency: config.probeConcurrency, service, suspect: (ip, e) => watch.suspect(ip, e), maxPromoted: watch.o.max }, probers)
      if (plan.sampled) {
        watch.noteEchoes(r.echoes)
        watch.afterRound(r, { host: config.testPort, pod: config.clientPort })
      }
      metrics.observeRound(r, performance.now() - started, plan.sampled ? watch.size : null)
      return r
    },
    publish: (r, plan) => { publishRound(mesh, r, plan, config) },
    log: log.child({ component: 'probe' }),
    intervalMs: config.probeIntervalS * 1000,
    wallNow: Date.now
  })
}

function buildElection (parts: Parts, kube: KubeAccess | null, settled: () => boolean): ElectionSupervisor | null {
  const { config, log, view, self, mesh, model } = parts
  if (kube === null) {
    log.warn('no Kubernetes API (neither KUBECONFIG nor in-cluster): this agent never contends for the reporter Lease')
    return null
  }
  log.info({ apiserver: kube.server.origin, via: kube.source }, 'the reporter Lease goes through this apiserver')
  const store = kubeLeaseStore(kube, { namespace: config.leaseNamespace, name: config.leaseName })
  let supervisor: ElectionSupervisor | null = null
  // the holder watches the Node objects and says in its record which nodes Kubernetes has set aside
  let excludedTimer: NodeJS.Timeout | undefined
  const setExcluded = (list: ExcludedNode[]): void => {
    self.record.excluded = list
    // a burst of Node changes (a drain, a zone going NotReady) goes out as one full record
    if (excludedTimer === undefined) excludedTimer = setTimeout(() => { excludedTimer = undefined; mesh.publish(self.full()) }, EXCLUDED_PUBLISH_DELAY_MS)
  }
  const nodes = new NodeWatch(kube, { log: log.child({ component: 'nodes' }), onChange: setExcluded })
  parts.stopping.push(async () => { clearTimeout(excludedTimer); await nodes.stop() })
  const election = new LeaderElection(store, {
    identity: config.podName,
    leaseDurationMs: config.leaseDurationMs,
    renewDeadlineMs: config.leaseRenewDeadlineMs,
    retryPeriodMs: config.leaseRetryPeriodMs,
    now,
    wallNow: () => new Date(),
    log: log.child({ component: 'election' }),
    onStartedLeading: () => { supervisor?.setLeading(true); nodes.start() },
    onStoppedLeading: () => {
      void nodes.stop()
      clearTimeout(excludedTimer)
      excludedTimer = undefined
      self.record.excluded = []
      supervisor?.setLeading(false)
    }
  })
  supervisor = new ElectionSupervisor({
    election,
    view,
    self,
    mesh,
    maxContenders: config.leaseContenders,
    settled,
    stableMs: 2 * config.heartbeatIntervalS * 1000,
    cutOff: () => model.observerCutOff(),
    handoverMs: 2 * config.leaseDurationMs,
    now,
    checkEveryMs: 200,
    log: log.child({ component: 'election' })
  })
  return supervisor
}

/** Optional observers the process edge may attach (main.ts, for benchmarks); the agent works without them. */
export interface AgentHooks {
  onAccepted?: (msg: GossipMessage) => void
  onPublishing?: (msg: GossipMessage) => void
}

/** The second family's node and pod addresses (dual-stack), as the identity carries them. */
function secondaryIps (config: Config): { secondary?: SecondaryIps } {
  const [nodeIp, podIp] = [config.nodeIps[1], config.podIps[1]]
  if (nodeIp === undefined && podIp === undefined) return {}
  return { secondary: { ...(nodeIp === undefined ? {} : { nodeIp }), ...(podIp === undefined ? {} : { podIp }) } }
}

export async function startAgent (config: Config, log: Logger, hooks: AgentHooks = {}, secrets: Secrets = { apiToken: null, psk: null }, kube: KubeAccess | null = null): Promise<Agent> {
  const startedAt = now()
  // gossip connections only from members: what discovery found (remembered 10 min) and the static list
  const admission = new Admission({ rememberMs: 600_000, now }, config.staticPeers.map(p => p.ip))
  let lastRefusalLog = -Infinity
  // one key per process: libp2p signs gossip with it, the agent seals its record versions with it
  // (kept in the pod's emptyDir when configured: a restarted container keeps the key its pod's token is bound to)
  const key = ((): AgentKey => {
    if (config.identityKeyFile === '') return newAgentKey()
    try {
      return persistentAgentKey(config.identityKeyFile)
    } catch (err) {
      log.warn({ err: (err as Error).message, file: config.identityKeyFile }, 'cannot keep the pod\'s key there (is the volume mounted?): this process uses a key of its own, which a restart will not keep')
      return newAgentKey()
    }
  })()
  // "::": both families where the node has IPv6, else IPv4 alone
  const listenAddress = await resolveListenAddress(config.listenAddress)
  const node = await createMeshNode({
    privateKey: key.libp2p,
    listenAddress,
    announce: config.podIps,
    gossipPort: config.gossipPort,
    maxConnections: Math.max(64, config.meshMaxPeers * 4),
    admits: ip => admission.admits(ip),
    onRefused: ip => {
      admission.refused++
      if (now() - lastRefusalLog > 10_000) {
        lastRefusalLog = now()
        log.warn({ ip, refused: admission.refused }, 'refused a gossip connection from an address discovery does not know (not an agent of this mesh?)')
      }
      discovery.poke() // a new member may simply be ahead of our last lookup
    },
    ...(secrets.psk === null ? {} : { psk: secrets.psk })
  })
  const view = new View({
    ttlMs: config.cacheKeySecond * 1000,
    maxExternal: config.maxExternalOrigins,
    maxExternalItems: legacyRowBudget(config),
    legacyGraceMs: config.heartbeatIntervalS * 1000
  })
  const self = new SelfRecord({
    podName: config.podName,
    nodeName: config.nodeName,
    nodeIp: config.nodeIp,
    podIp: config.podIp,
    namespace: config.namespace,
    version: VERSION,
    peerId: node.peerId.toString(),
    ...secondaryIps(config)
  }, Date.now(), key.sign)
  // identities: each record carries its pod's projected token; once the cluster's keys are known, peers' must too
  const identity = new IdentityVerifier({ audience: config.identityAudience })
  let jwks: JwksSource | null = null
  const prove: ProveIdentity = record => {
    // tokens carry the apiserver's times: judged on its clock (from its last answer), so a node whose clock is set
    // wrong does not refuse every peer (nor take expired tokens)
    const c = identity.check(record, (Date.now() + (jwks?.issuerClockOffsetMs ?? -(clockOffset() ?? 0))) / 1000)
    if (c.ok) return c.proof
    if (c.reason === 'unknown-key') jwks?.unknownKey()
    return null
  }
  const readToken = (): string | null => {
    if (config.identityTokenFile === '') return null
    try { return readFileSync(config.identityTokenFile, 'utf8').trim() || null } catch { return null }
  }
  self.setToken(readToken())
  // the metrics count events as the parts below report them (each is passed the metrics as its sink), and read
  // the agent's state at scrape time through functions defined below
  const metrics: AgentMetrics = new AgentMetrics({
    snapshot: () => snapshot(),
    health: () => health(),
    leader: () => leader(),
    verdicts: v => report(v).verdicts,
    self: config.podName,
    history: () => ({ flapping: model.history.flapping(now()).length }),
    excluded: () => model.excludedNow.size,
    clockOffsetMs: () => clockOffset()
  })
  const sync = new AntiEntropy({
    node,
    view,
    self: () => self.record,
    now,
    log,
    verify: new PeerKeys().verify,
    // the first pull ends the join: the peers not yet dialed are dialed now (Discovery's first contacts)
    onChange: () => { if (sync.stats.pulled === 1) discovery.poke() },
    prove,
    events: metrics,
    onSelfBehind: held => {
      log.warn({ held, own: self.record.inc }, 'the mesh holds this agent\'s name at a later incarnation (a clock set back?): moving past it')
      self.reincarnate(held)
      mesh.publish(self.full())
    }
  })
  const discovery = new Discovery(node, {
    onResolved: ips => { admission.saw(ips) },
    self: { ip: config.podIp, port: config.gossipPort },
    peerService: config.peerService,
    staticPeers: config.staticPeers,
    gossipPort: config.gossipPort,
    intervalMs: config.discoveryIntervalS * 1000,
    maxPeers: config.meshMaxPeers,
    now,
    // joining until settled (defined below with the election: the view pulled, or no peer answered in time)
    joining: () => !settled()
  }, log)
  const beats = new Beats({ node, view, now, log, onLegacyGap: peer => { void sync.pull(peer) } })
  // origin times against receipt times: how far each agent's wall clock is from this one's
  const skew = new ClockSkew()
  const onAccepted = (msg: GossipMessage): void => {
    skew.observeMessage(msg, Date.now())
    hooks.onAccepted?.(msg)
  }
  // the legacy clients whose unchanged heartbeats this agent took since its own last one, which carries them
  const legacyBook = new BeatBook(MAX_LEGACY_ENTRIES)
  const mesh = new GossipMesh({ node, view, self, sync, beats, legacy: legacyBook, now, log, onOriginSeen: ip => { discovery.heardOf(ip) }, onAccepted, onPublishing: hooks.onPublishing, prove, events: metrics }, {
    heartbeatMs: config.heartbeatIntervalS * 1000,
    fullRefreshMs: config.fullRefreshIntervalS * 1000,
    digestAbove: config.heartbeatDigestAbove
  })
  node.addEventListener('peer:disconnect', () => { discovery.poke() })
  const sampled = (): boolean => view.agentCount > config.probeSampleAbove
  // one model a family (the second only on a dual-stack cluster); the primary one answers for the history and the cut
  const models = new FamilyModels(() => new NetworkModel(modelOptions(config.probeIntervalS * 1000,
    // evidence is current while its source is heard within a few heartbeats (never longer than the TTL)
    Math.min(config.cacheKeySecond * 1000, 2.5 * config.heartbeatIntervalS * 1000),
    { staleAfterMs: staleAfterMs(config, sampled()) }), metrics))
  const model = models.primary
  const tickModel = (): void => {
    const cpu0 = threadCpuMs()
    const t = now()
    view.expire(t)
    const entries = view.agentEntries()
    skew.forget(new Set(entries.map(e => e.record.identity.podName)))
    for (const m of [model, models.secondary?.model]) if (m !== undefined) m.o.verdict.staleAfterMs = staleAfterMs(config, sampled())
    models.tick({
      now: t,
      wallNow: Date.now(),
      self: config.podName,
      live: entries.map(e => ({ record: e.record, silentMs: e.trust === Trust.Self ? 0 : Math.max(0, t - e.lastHeard) })),
      lost: view.lostEntries(t),
      skewMs: skew.estimates(entries.filter(e => e.trust !== Trust.Self).map(e => e.record.identity.podName)),
      othersAlive: supervisor?.othersAlive() ?? null
    })
    metrics.modelTicked((threadCpuMs() - cpu0) / 1000)
  }
  /** This agent's clock minus the cluster's median, ms (null with fewer than two peers estimated). */
  const clockOffset = (): number | null => {
    const offsets = [...skew.estimates().values(), 0].sort((a, b) => a - b)
    if (offsets.length < 3) return null
    return -(offsets[Math.floor(offsets.length / 2)] ?? 0)
  }
  /** The correction for the report's time: the cluster's time when this clock is off by more than the threshold. */
  const ownClockOffset = (): number => {
    const off = clockOffset() ?? 0
    return Math.abs(off) > model.o.verdict.skewThresholdMs ? -off : 0
  }
  const parts: Parts = { config, log, node, view, self, mesh, sync, metrics, model, stopping: [] }
  // fping starts from a small shell kept beside the agent: forking the agent itself stalls gossip for ~10 ms a round
  const fping = new FpingLauncher(config.fpingPath)
  const probes = buildProbes(parts, fping)
  // settled: the view was pulled from a peer, or none answered within 3 s (the first agent of a cluster)
  const settled = (): boolean => sync.stats.pulled > 0 || now() - startedAt > SETTLE_MS
  const supervisor = buildElection(parts, kube, settled)

  const snapshot = (): ViewSnapshot => {
    view.expire(now())
    return { agents: view.agentEntries(), externals: view.externalEntries() }
  }
  const report = (v: ViewSnapshot = snapshot()): Report => {
    const offset = ownClockOffset()
    return buildReport({
      live: v.agents.map(e => e.record),
      lost: view.lostEntries(now()),
      legacyClients: clientCount(v).active_client_count - v.agents.length,
      nowWall: Date.now() + offset,
      clockOffsetMs: -offset,
      reporter: supervisor?.holder() ?? null,
      verdicts: models.verdicts
    })
  }
  const reporter = new Reporter({
    intervalMs: config.reportIntervalS * 1000,
    isLeader: () => supervisor?.isLeader() ?? false,
    build: () => report(),
    // the legacy records read right after build() (same tick): those of the view the report was built from
    render: config.reportFormat === 'original' ? r => renderOriginal(r, view.externalEntries().map(e => e.record.body)).join('\n') + '\n' : config.reportFormat === 'json' ? () => '' : undefined,
    print: text => { process.stdout.write(text) },
    wallNow: Date.now,
    cpuNow: threadCpuMs,
    log,
    events: metrics
  })
  const inject = (posted: ExternalBody): void => {
    const by = node.peerId.toString()
    const wallNow = Date.now()
    // a legacy client of a big cluster posts a row per node: keep what our own sampled probes would hold
    const { body, dropped } = thinLegacyResults(posted, {
      keepAllUpTo: config.probeSampleAbove,
      sample: config.probeCoverage,
      failingMax: config.probeSampleAbove,
      round: Math.floor(wallNow / LEGACY_REFRESH_MS)
    })
    const quiet = { refreshMs: LEGACY_REFRESH_MS, book: legacyBook }
    const msg = injectExternal(view, body, { by, wallNow, monoNow: now(), maxExternal: config.maxExternalOrigins, quiet })
    if (msg !== null) mesh.publish(msg)
    if (body.part === 'host' || body.part === 'pod') metrics.countLegacyRows(body.value.length, dropped)
  }
  const peerScores = (): { penalised_peers: number, graylisted_peers: number } => {
    const scorer = node.services.pubsub as unknown as { getScore?: (id: string) => number }
    const scores = [...new Set(node.getConnections().map(c => c.remotePeer.toString()))].map(id => scorer.getScore?.(id) ?? 0)
    return { penalised_peers: scores.filter(s => s < 0).length, graylisted_peers: scores.filter(s => s < SCORE_THRESHOLDS.graylistThreshold).length }
  }
  const health = (): HealthInfo => ({
    pod_name: config.podName,
    node_name: config.nodeName,
    version: VERSION,
    peers_connected: new Set(node.getConnections().map(c => c.remotePeer.toString())).size,
    connections: node.getConnections().length,
    view_size: view.agentCount,
    uptime_s: Math.round(now() - startedAt) / 1000,
    gossip: {
      published: mesh.stats.published,
      accepted: mesh.stats.accepted,
      gaps: mesh.stats.gaps,
      expired: mesh.stats.expired,
      rejected: mesh.stats.rejected,
      ignored: mesh.stats.ignored,
      bytes_out: mesh.stats.bytesOut,
      bytes_in: mesh.stats.bytesIn,
      sent: mesh.stats.sent,
      sent_bytes: mesh.stats.sentBytes,
      mesh_peers: mesh.meshPeers(),
      refused_connections: admission.refused,
      ...peerScores(),
      liveness: {
        beats_sent: beats.stats.sent,
        beats_failed: beats.stats.failed,
        beats_heard: beats.stats.heard,
        beats_refused: beats.stats.refused,
        beats_cut: beats.stats.cut,
        entries_applied: mesh.stats.liveRefreshed,
        digests_refused: mesh.stats.liveRefused,
        legacy_entries_applied: mesh.stats.legacyRefreshed
      }
    },
    sync: { served: sync.stats.served, pulled: sync.stats.pulled, failed: sync.stats.failed },
    identity: {
      required: view.identitiesRequired,
      own_token: self.record.token !== undefined,
      refused: { ...identity.refused } as Record<string, number>,
      keys_fetched: jwks?.fetched ?? 0,
      keys_failed: jwks?.failed ?? 0
    },
    probes: {
      rounds: probes.stats.rounds,
      last_round_ms: probes.stats.lastRoundMs === null ? null : Math.round(probes.stats.lastRoundMs),
      last_targets: probes.stats.lastTargets,
      icmp_error: probes.stats.icmpError
    }
  })
  const leader = (): LeaderInfo => {
    const holder = supervisor?.holder() ?? null
    const e = supervisor?.state() ?? null
    return {
      holder,
      holder_node_ip: holder === null ? null : view.agent(holder)?.record.identity.nodeIp ?? null,
      is_self: holder === config.podName,
      election_enabled: supervisor !== null,
      contenders: supervisor?.contenders ?? [],
      contending: e?.enabled ?? false,
      lease: e === null ? null : { observed_holder: e.holder, transitions: e.transitions, last_renew_ago_ms: e.lastRenewAgoMs, reports_printed: reporter.printed }
    }
  }
  const history = (q: HistoryQuery): HistoryAnswer => historyAnswer(model.pairs(now(), q), now(), model.o.flapWindowMs, model.o.flapMin)
  const ready = (): Readiness => settled()
    ? { ready: true, reason: sync.stats.pulled > 0 ? 'the view was pulled from a peer' : `no peer answered within ${SETTLE_MS / 1000} s: serving this agent's own view` }
    : { ready: false, reason: 'pulling the cluster\'s view from a peer' }
  const deps: ApiDeps = { snapshot, inject, health, leader, report, history, coverageK: config.probeCoverage, metrics, ready }
  const api = buildApi(deps, {
    bodyLimit: config.apiBodyLimitBytes,
    logger: log.child({ component: 'api' }),
    writes: { enabled: config.apiWrites, token: secrets.apiToken, perMinute: config.apiWriteRate },
    onUnknownFields: (url, count) => { metrics.countUnknownFields(url, count) }
  })

  await sync.register()
  await beats.register()
  if (config.identityTokenFile !== '' && kube !== null) {
    jwks = new JwksSource(kube, {
      now,
      log: log.child({ component: 'identity' }),
      onKeys: keys => {
        identity.setKeys(keys)
        if (!view.identitiesRequired) log.info('the cluster\'s service-account keys are known: every agent record must now carry its pod\'s token')
        view.requireIdentity(true)
      }
    })
  } else if (config.identityTokenFile !== '') {
    log.warn('IDENTITY_TOKEN_FILE is set but there is no Kubernetes API to fetch the cluster\'s keys from: identities are not checked')
  }
  const heap = new HeapGrowth({
    percent: config.heapGrowthPercent,
    above: config.heapGrowthAbove,
    setFlags: setFlagsFromString,
    onChange: (bounded, origins) => {
      if (bounded) log.info({ origins, percent: config.heapGrowthPercent }, 'a large view: V8\'s heap growth bounded')
      else log.debug({ origins }, 'a small view: V8 sizes its heap (the bound is lifted)')
    }
  })
  // V8's heap growth bounded from the start (the join decodes a whole view at once), lifted for a small view once known
  heap.start()
  // the kubelet rotates the token file: a new token goes out with a full record at once
  const tokenTimer = setInterval(() => { if (self.setToken(readToken())) mesh.publish(self.full()) }, 30_000)
  await node.start()
  mesh.start()
  discovery.start()
  jwks?.start()
  let healthServer: HealthServer | undefined
  try {
    await api.listen({ host: listenAddress, port: config.httpPort })
    healthServer = await startHealthServer(listenAddress, config.clientPort, config.podName)
  } catch (err) {
    clearInterval(tokenTimer)
    jwks?.stop()
    await api.close()
    discovery.stop()
    await mesh.stop()
    await node.stop()
    throw err
  }
  probes.start()
  tickModel()
  const modelTimer = setInterval(tickModel, config.probeIntervalS * 1000)
  // (legacy clients count too: 5000 of them churn like a large cluster's agents)
  const heapTimer = setInterval(() => { if (settled()) heap.update(view.agentCount + view.externalCount) }, 1000)
  supervisor?.start()
  reporter.start()
  log.info({ peerId: node.peerId.toString(), listen: listenAddress, gossipPort: config.gossipPort, apiPort: config.httpPort, version: VERSION }, 'agent started')

  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      reporter.stop()
      clearInterval(modelTimer)
      clearInterval(heapTimer)
      clearInterval(tokenTimer)
      jwks?.stop()
      discovery.stop()
      await probes.stop()
      await fping.stop()
      // release the Lease first (the others take over at once), then announce the leave
      await supervisor?.stop()
      await Promise.allSettled(parts.stopping.map(async f => { await f() }))
      await mesh.stop()
      // give the leave announcement a moment on the wire before the connections close
      await new Promise(resolve => setTimeout(resolve, 150))
      await Promise.allSettled([api.close(), healthServer?.close(), node.stop()])
      log.info('agent stopped')
    })()
    await stopping
  }
  return { config, node, view, mesh, sync, probes, supervisor, reporter, model, inject, stop }
}
