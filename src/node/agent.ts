// The composition root: builds the view, the mesh, discovery, anti-entropy and the APIs, and owns start/stop.
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { buildApi } from '../api/app.ts'
import { startHealthServer, type HealthServer } from '../api/health-server.ts'
import type { ViewSnapshot } from '../api/projection.ts'
import { Discovery } from '../gossip/discovery.ts'
import { createMeshNode, type MeshNode } from '../gossip/libp2p-node.ts'
import { GossipMesh } from '../gossip/mesh.ts'
import type { ExternalBody } from '../gossip/record.ts'
import { externalKey } from '../gossip/record.ts'
import { SelfRecord } from '../gossip/self-record.ts'
import { AntiEntropy } from '../gossip/sync.ts'
import { View } from '../gossip/view.ts'
import { dnsProbe } from '../probe/dns-probe.ts'
import { fpingRound } from '../probe/fping.ts'
import { runRound, type Probers } from '../probe/round.ts'
import { ProbeScheduler } from '../probe/scheduler.ts'
import { planRound } from '../probe/targets.ts'
import { tcpProbe } from '../probe/tcp-probe.ts'
import type { Config } from './config.ts'
import { InjectError } from './errors.ts'
import { VERSION } from './version.ts'
import type { FastifyInstance } from 'fastify'

export interface Agent {
  config: Config
  node: MeshNode
  view: View
  mesh: GossipMesh
  sync: AntiEntropy
  probes: ProbeScheduler
  stop: () => Promise<void>
}

const now = (): number => performance.now()

export async function startAgent (config: Config, log: Logger): Promise<Agent> {
  const startedAt = now()
  const node = await createMeshNode({
    listenAddress: config.listenAddress,
    gossipPort: config.gossipPort,
    maxConnections: Math.max(64, config.meshMaxPeers * 4)
  })
  const view = new View({ ttlMs: config.cacheKeySecond * 1000, maxExternal: config.maxExternalOrigins })
  const self = new SelfRecord({
    podName: config.podName,
    nodeName: config.nodeName,
    nodeIp: config.nodeIp,
    podIp: config.podIp,
    namespace: config.namespace,
    version: VERSION,
    peerId: node.peerId.toString()
  }, Date.now())
  const sync = new AntiEntropy({ node, view, self: () => self.record, now, log, onChange: () => {} })
  const discovery = new Discovery(node, {
    self: { ip: config.podIp, port: config.gossipPort },
    peerService: config.peerService,
    staticPeers: config.staticPeers,
    gossipPort: config.gossipPort,
    intervalMs: config.discoveryIntervalS * 1000,
    maxPeers: config.meshMaxPeers,
    now
  }, log)
  const mesh = new GossipMesh({ node, view, self, sync, now, log, onOriginSeen: ip => { discovery.heardOf(ip) } }, {
    heartbeatMs: config.heartbeatIntervalS * 1000,
    fullRefreshMs: config.fullRefreshIntervalS * 1000
  })
  node.addEventListener('peer:disconnect', () => { discovery.poke() })

  const probers: Probers = {
    icmp: async ips => await fpingRound(ips, { path: config.fpingPath, echoes: config.probeEchoes, timeoutMs: config.probeTimeoutMs }),
    tcp: tcpProbe,
    dns: dnsProbe,
    wallNow: Date.now
  }
  const service = config.customServiceName === '' ? null : { name: config.customServiceName, port: config.customServicePort }
  const probes = new ProbeScheduler({
    plan: round => planRound(view.agentEntries().map(e => e.record), self.record, {
      testPort: config.testPort,
      clientPort: config.clientPort,
      sampleAbove: config.probeSampleAbove,
      k: config.probeCoverage,
      round
    }),
    run: async plan => await runRound(plan, { timeoutMs: config.probeTimeoutMs, concurrency: config.probeConcurrency, service }, probers),
    publish: r => { mesh.updateResults({ host: r.host, pod: r.pod, service: r.service }) },
    log: log.child({ component: 'probe' }),
    intervalMs: config.probeIntervalS * 1000,
    wallNow: Date.now
  })

  await sync.register()
  await node.start()
  mesh.start()
  discovery.start()

  const snapshot = (): ViewSnapshot => {
    view.expire(now())
    return { agents: view.agentEntries(), externals: view.externalEntries() }
  }
  const inject = (body: ExternalBody): void => {
    const key = externalKey(body)
    const held = view.externalEntries().find(e => e.record.key === key)
    // a legacy client's reports may land on different agents: keep its writes ordered even across clock skew
    const at = Math.max(Date.now(), (held?.record.at ?? 0) + 1)
    const msg = { t: 'ext' as const, record: { key, at, by: node.peerId.toString(), body } }
    const outcome = view.apply(msg, node.peerId.toString(), now())
    if (outcome === 'capacity') throw new InjectError('CAPACITY', `at most ${config.maxExternalOrigins} legacy origins are kept (MAX_EXTERNAL_ORIGINS)`)
    if (outcome !== 'accepted') throw new InjectError('INVALID', `report not accepted (${outcome})`)
    mesh.publish(msg)
  }
  const api: FastifyInstance = buildApi({
    snapshot,
    inject,
    health: () => ({
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
        ignored: mesh.stats.ignored
      },
      sync: { served: sync.stats.served, pulled: sync.stats.pulled, failed: sync.stats.failed },
      probes: {
        rounds: probes.stats.rounds,
        last_round_ms: probes.stats.lastRoundMs === null ? null : Math.round(probes.stats.lastRoundMs),
        last_targets: probes.stats.lastTargets,
        icmp_error: probes.stats.icmpError
      }
    }),
    coverageK: config.probeCoverage
  }, { bodyLimit: config.apiBodyLimitBytes, logger: log.child({ component: 'api' }) })
  let health: HealthServer | undefined
  try {
    await api.listen({ host: config.listenAddress, port: config.httpPort })
    health = await startHealthServer(config.listenAddress, config.clientPort, config.podName)
  } catch (err) {
    await api.close()
    discovery.stop()
    await mesh.stop()
    await node.stop()
    throw err
  }
  probes.start()
  log.info({ peerId: node.peerId.toString(), gossip: `${config.listenAddress}:${config.gossipPort}`, api: `${config.listenAddress}:${config.httpPort}`, version: VERSION }, 'agent started')

  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      discovery.stop()
      await probes.stop()
      await mesh.stop()
      // give the leave announcement a moment on the wire before the connections close
      await new Promise(resolve => setTimeout(resolve, 150))
      await Promise.allSettled([api.close(), health?.close(), node.stop()])
      log.info('agent stopped')
    })()
    await stopping
  }
  return { config, node, view, mesh, sync, probes, stop }
}
