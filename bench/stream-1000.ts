// Benchmark: one real agent process fed the stream an agent receives at N = 1000 in steady state (issue 20 point 3):
// 999 virtual agents' signed, sealed, token-bearing messages at the gossip model's rates, its beats as an aggregator,
// its probe rounds on a sample, a page polling its API, and the Lease holder's report after a cluster-wide failure.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { RPC } from '@libp2p/gossipsub/message'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import pino from 'pino'
import { encodeMessage, encodeSyncResponse, decodeSyncRequest } from '../src/core/codec.ts'
import { newAgentKey, type AgentKey } from '../src/core/keys.ts'
import { aggregatorSets, BeatBook, chooseAggregators } from '../src/core/liveness.ts'
import type { GossipMessage, Identity, PathResult } from '../src/core/record.ts'
import { SelfRecord } from '../src/core/self-record.ts'
import { View } from '../src/core/view.ts'
import { contenders } from '../src/election/contenders.ts'
import { Beats } from '../src/gossip/beat.ts'
import { createMeshNode, IDONTWANT_MIN_BYTES, type MeshNode } from '../src/gossip/libp2p-node.ts'
import { SYNC_PROTOCOL, VIEW_TOPIC } from '../src/gossip/protocol.ts'
import { readAll, writeAll } from '../src/gossip/stream-io.ts'
import { DialPlanner } from '../src/gossip/dial-planner.ts'
import { parseConfig } from '../src/node/config.ts'
import { planRound } from '../src/probe/targets.ts'
import { mulberry32 } from '../test/fixtures.ts'
import { BUNDLE, buildBundle, FLOOR_BUNDLE, getJson, IMAGE_ENV, IMAGE_NODE_FLAGS, startAgentProcess, stopAgentProcess, waitUntil, type AgentProcess } from '../tools/launcher.ts'
import { LeaseStandIn } from '../tools/lease-stand-in.ts'
import { brkHeapRss, rssByMapping, vmRss } from './agent-memory.ts'
import { connectionGraph, DIGEST_KIND, identities, simDefaults, simulateAgents, simulateMesh, SteadyNetwork, gossipParams, type MessageMix } from './gossip-bytes.ts'
import { cpuParts, totalCpu, type CpuParts } from './idle-cpu.ts'
import { row, within, type Row, type Suite, type SuiteContext } from './suite.ts'

const N = 1000
const NAMESPACE = 'k8snet'
const SERVICE_ACCOUNT = 'k8snet-checker'
const AUDIENCE = 'k8snet-checker'
const GOSSIP_PORT = 6380
const CLIENT_PORT = 6381
const TEST_PORT = 6382
const HTTP_PORT = 6383
/** The agent: node 127.1.9.1, pod 127.2.9.1 (the virtual agents are 127.1.a.b and 127.2.a.b, a < 4). */
const AGENT_NODE_IP = '127.1.9.1'
const AGENT_POD_IP = '127.2.9.1'
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const silent = pino({ level: 'silent' })
const defaults = parseConfig({ NODE_IP: '10.0.0.1', POD_IP: '10.1.0.1', POD_NAME: 'defaults', NAMESPACE: 'defaults' })

/** One virtual agent: its key (gossip signatures and seals), its record, its probe state; a real node for a few. */
interface Origin {
  i: number
  key: AgentKey
  self: SelfRecord
  round: number
  node?: MeshNode
}

/** A name for the real agent that is both an aggregator and the first Lease contender of the 1001 (so it reports). */
function agentName (others: string[]): string {
  for (let j = 0; j < 1_000_000; j++) {
    const name = `k8snet-checker-s${j.toString(36)}`
    const all = [...others, name]
    if (contenders(all, 1)[0] === name && aggregatorSets(all).list.includes(name)) return name
  }
  throw new Error('no name is both an aggregator and the first contender')
}

/**
 * The virtual cluster: 999 agents whose records (real SelfRecord, sealed by each one's own Ed25519 key, carrying a
 * token the stand-in apiserver issued for its pod) change at the model's rates; the relays (the agents the dial
 * planner connects the real agent to) deliver each message in as many copies as gossipsub's mesh does, and answer
 * anti-entropy pulls from a view that holds everyone.
 */
class VirtualCluster {
  readonly origins: Origin[] = []
  readonly truth = new View({ ttlMs: 3_600_000, maxExternal: 1 })
  readonly relays: Origin[] = []
  readonly beaters: Origin[] = []
  readonly agentName: string
  readonly ids: Identity[]
  private readonly net: SteadyNetwork
  private readonly books = new Map<string, BeatBook>()
  private readonly aggregators: string[]
  private readonly rand = mulberry32(7)
  private readonly timers = new Set<NodeJS.Timeout>()
  private stopped = false
  private readonly listeners: Server[] = []
  private failing = false
  /** Messages generated, and copies sent, by kind. */
  readonly sent = new Map<string, { unique: number, copies: number, bytes: number }>()
  agentPeer = ''

  constructor (apiserver: LeaseStandIn) {
    this.ids = identities(N - 1, this.rand).map((id, i) => ({ ...id, namespace: NAMESPACE, nodeIp: `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, podIp: `127.2.${Math.floor(i / 250)}.${(i % 250) + 1}` }))
    this.agentName = agentName(this.ids.map(id => id.podName))
    this.net = new SteadyNetwork(this.rand, 0.02)
    for (const [i, id] of this.ids.entries()) {
      const key = newAgentKey()
      const identity = { ...id, peerId: key.peerId }
      this.ids[i] = identity
      apiserver.registerPod({ namespace: NAMESPACE, name: id.podName, uid: randomUUID(), nodeName: id.nodeName, serviceAccount: SERVICE_ACCOUNT })
      const self = new SelfRecord(identity, 1_765_000_000_000 + i, key.sign)
      self.setToken(apiserver.mintForTest({}, { pod: { namespace: NAMESPACE, name: id.podName }, audiences: [AUDIENCE] }))
      this.origins.push({ i, key, self, round: Math.floor(this.rand() * 20) })
    }
    const names = [...this.ids.map(id => id.podName), this.agentName]
    this.aggregators = aggregatorSets(names).list
    for (const a of this.aggregators) this.books.set(a, new BeatBook())
  }

  /** Every origin's first sample and full record, into the view the relays answer from. */
  seed (agentIdentity: Identity): void {
    for (const o of this.origins) {
      this.sample(o, agentIdentity)
      this.truth.apply(o.self.full(), o.key.peerId, Date.now())
    }
  }

  /** A new probe sample: the targets planRound picks this round, results from the steady (or failing) network. */
  private sample (o: Origin, agentIdentity: Identity): GossipMessage | null {
    const base = [...this.origins.map(x => x.self.record), { identity: agentIdentity }]
    o.round += defaults.probeSampleHold
    const plan = planRound(base, o.self.record, { testPort: TEST_PORT, clientPort: CLIENT_PORT, sampleAbove: defaults.probeSampleAbove, k: defaults.probeCoverage, round: o.round, hold: defaults.probeSampleHold })
    const me = o.self.record.identity
    const result = (source: string, ip: string, port: number, layer: 'host' | 'pod'): PathResult => {
      const r = this.net.result(source, ip, port, Date.now())
      // the cluster-wide failure: no pod answers another pod (a broken overlay), nodes still do
      return this.failing && layer === 'pod' ? { ...r, received: 0, rttMs: null, tcp: 'timeout', connectMs: null } : r
    }
    return o.self.update({
      host: plan.host.map(p => result(me.nodeIp, p.ip, p.port, 'host')),
      pod: plan.pod.map(p => result(me.podIp, p.ip, p.port, 'pod')),
      coarse: plan.sampled
    })
  }

  /** Real libp2p nodes for the relays (the planner's choice for the agent) and the origins that beat to it. */
  async startNodes (agentPeer: string): Promise<void> {
    const planner = new DialPlanner({ ip: AGENT_POD_IP, port: GOSSIP_PORT }, { maxPeers: defaults.meshMaxPeers })
    const wanted = new Set(planner.wanted(this.ids.map(id => ({ ip: id.podIp, port: GOSSIP_PORT }))).map(a => a.ip))
    const beatsAgent = (o: Origin): boolean => chooseAggregators(o.self.origin, this.aggregators).includes(this.agentName)
    // the two aggregators the agent beats to must be there to take its beats
    const agentAggs = new Set(chooseAggregators(this.agentName, this.aggregators))
    for (const o of this.origins) {
      const id = o.self.record.identity
      const relay = wanted.has(id.podIp)
      const beater = beatsAgent(o)
      if (!relay && !beater && !agentAggs.has(id.podName)) continue
      const node = await createMeshNode({ listenAddress: id.podIp, gossipPort: GOSSIP_PORT, maxConnections: 64, privateKey: o.key.libp2p })
      await node.start()
      node.services.pubsub.subscribe(VIEW_TOPIC)
      await node.handle(SYNC_PROTOCOL, (stream, conn) => { void this.serveSync(stream, conn.remotePeer.toString()) }, { maxInboundStreams: 8 })
      await new Beats({ node, view: this.truth, now: Date.now, log: silent }).register()
      o.node = node
      if (relay) this.relays.push(o)
      if (beater) this.beaters.push(o)
    }
    await this.retarget(agentPeer)
  }

  /** Anti-entropy as an agent answers it (the asker's own record is taken when it comes from its address). */
  /** Points the stream at another peer at the agent's address (the bare node of the floor): every node dials it. */
  async retarget (peerId: string): Promise<void> {
    this.agentPeer = peerId
    const addr = multiaddr(`/ip4/${AGENT_POD_IP}/tcp/${GOSSIP_PORT}/p2p/${peerId}`)
    await Promise.all(this.origins.map(async o => { await o.node?.dial(addr).catch(() => {}) }))
  }

  private async serveSync (stream: Parameters<Parameters<MeshNode['handle']>[1]>[0], peer: string): Promise<void> {
    const signal = AbortSignal.timeout(5_000)
    try {
      const req = decodeSyncRequest(await readAll(stream, 8 * 1024 * 1024, signal))
      if (req.self.identity.podIp === AGENT_POD_IP) this.truth.apply({ t: 'full', record: req.self }, peer, Date.now())
      await writeAll(stream, encodeSyncResponse(this.truth.answer(req.digest, Date.now())), signal)
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  /** TCP listeners for the probes: every virtual node's TEST_PORT and every virtual pod's health port. */
  async listen (): Promise<void> {
    for (const id of this.ids) {
      for (const [ip, port] of [[id.nodeIp, TEST_PORT], [id.podIp, CLIENT_PORT]] as const) {
        const s = createServer(c => { c.destroy() })
        await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(port, ip, resolve) })
        this.listeners.push(s)
      }
    }
  }

  /**
   * Runs the stream: each origin's new samples and full records at the model's per-origin rates (Poisson), every
   * aggregator's digest each heartbeat interval over the beats of its origins, every origin's beats (the real agent's
   * over real streams), each message signed by its origin and sent by `copies` relays.
   */
  run (mix: MessageMix, copies: number, agentIdentity: Identity): void {
    const rate = (kind: string): number => mix.filter(m => m.kind === kind || m.kind.startsWith(`${kind} `)).reduce((x, m) => x + m.rate, 0)
    const deltaRate = rate('delta') * N
    const fullRate = rate('full') * N
    const heartbeatMs = defaults.heartbeatIntervalS * 1000
    const poisson = (perS: number, fn: () => void): void => {
      const next = (): void => { this.later(-Math.log(1 - this.rand()) * 1000 / perS, () => { fn(); next() }) }
      if (perS > 0) next()
    }
    const pick = (): Origin => this.origins[Math.floor(this.rand() * this.origins.length)] as Origin
    poisson(deltaRate, () => { const o = pick(); const m = this.sample(o, agentIdentity); if (m !== null) this.gossip(o, m, 'delta', copies) })
    poisson(fullRate, () => { const o = pick(); this.gossip(o, o.self.full(), 'full', copies) })
    // beats and digests: spread over the interval as the agents' own timers are
    for (const o of this.origins) {
      const phase = this.rand() * heartbeatMs
      const beat = (): void => {
        for (const a of chooseAggregators(o.self.origin, this.aggregators)) {
          if (a === this.agentName) void this.beatAgent(o)
          else this.books.get(a)?.note(o.self.origin, o.self.record.rv, Date.now())
        }
        if (this.books.has(o.self.origin)) {
          const live = this.books.get(o.self.origin)?.drain(Date.now()) ?? []
          const hb = o.self.heartbeat(live)
          this.gossip(o, hb, DIGEST_KIND, copies)
          if (hb.t === 'hb' && hb.live !== undefined) this.truth.applyLiveness(hb.origin, hb.live, Date.now())
        }
      }
      this.later(phase, () => { beat(); this.timers.add(setInterval(beat, heartbeatMs)) })
    }
  }

  private async beatAgent (o: Origin): Promise<void> {
    if (o.node === undefined) return
    const { inc, rv } = o.self.record
    await new Beats({ node: o.node, view: this.truth, now: Date.now, log: silent }).send(this.agentPeer, { inc, rv })
    this.count('beat', 1, 1, 0)
  }

  /** From now on, every new sample finds pods unreachable from pods (and every origin takes a new sample). */
  failPods (agentIdentity: Identity, copies: number): void {
    this.failing = true
    for (const o of this.origins) {
      this.later(this.rand() * defaults.probeIntervalS * 1000, () => { const m = this.sample(o, agentIdentity); if (m !== null) this.gossip(o, m, 'delta', copies) })
    }
  }

  /** Signs the message as its origin (gossipsub StrictSign) and sends it from `copies` relays, a few ms apart. */
  private gossip (o: Origin, msg: GossipMessage, kind: string, copies: number): void {
    const data = encodeMessage(msg)
    this.truth.apply(msg, o.key.peerId, Date.now())
    const seqno = new Uint8Array(8)
    new DataView(seqno.buffer).setBigUint64(0, BigInt(Date.now()) * 1_000_000n + BigInt(o.self.record.seq), false)
    const unsigned = { from: peerIdFromString(o.key.peerId).toMultihash().bytes, data, seqno, topic: VIEW_TOPIC }
    const prefix = new TextEncoder().encode('libp2p-pubsub:')
    const body = RPC.Message.encode(unsigned)
    const signed = new Uint8Array(prefix.byteLength + body.byteLength)
    signed.set(prefix)
    signed.set(body, prefix.byteLength)
    const signature = o.key.sign(signed)
    const raw = { ...unsigned, signature, key: publicKeyToProtobuf(o.key.libp2p.publicKey) }
    const from = [...this.relays].sort(() => this.rand() - 0.5).slice(0, copies)
    from.forEach((r, j) => {
      const send = (): void => { (r.node?.services.pubsub as unknown as { sendRpc: (id: string, rpc: RPC) => boolean } | undefined)?.sendRpc(this.agentPeer, { subscriptions: [], messages: [raw] }) }
      if (j === 0) send()
      else this.later(1 + this.rand() * 20, send)
    })
    this.count(kind, 1, from.length, data.byteLength)
  }

  /** A timer that stop() cancels and that does nothing once stopped. */
  private later (ms: number, fn: () => void): void {
    const t = setTimeout(() => { this.timers.delete(t); if (!this.stopped) fn() }, ms)
    this.timers.add(t)
  }

  private count (kind: string, unique: number, copies: number, bytes: number): void {
    const c = this.sent.get(kind) ?? { unique: 0, copies: 0, bytes: 0 }
    c.unique += unique
    c.copies += copies
    c.bytes += bytes
    this.sent.set(kind, c)
  }

  async stop (): Promise<void> {
    this.stopped = true
    for (const t of this.timers) { clearTimeout(t); clearInterval(t) }
    await Promise.all(this.origins.map(async o => { await o.node?.stop() }))
    for (const s of this.listeners) s.close()
  }
}

/** Polls the API as the page does: its five documents, again after max(3 s, 4 x the fetch time). */
function pagePoller (apiUrl: string): { stop: () => void, polls: () => number } {
  const state = { stopped: false }
  let polls = 0
  const paths = ['api/v1/results', 'api/v1/report', 'api/v1/coverage', 'api/v1/health', 'api/v1/leader']
  const loop = async (): Promise<void> => {
    while (!state.stopped) {
      const t0 = performance.now()
      await Promise.all(paths.map(async p => await (await fetch(`${apiUrl}/${p}`, { signal: AbortSignal.timeout(15_000) })).text())).catch(() => {})
      polls++
      await sleep(Math.min(30_000, Math.max(3_000, (performance.now() - t0) * 4)))
    }
  }
  void loop()
  return { stop: () => { state.stopped = true }, polls: () => polls }
}

/** A counter or gauge of the agent's /metrics (summed over its series matching `labels`). */
async function metric (apiUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
  return text.split('\n').filter(l => l.startsWith(`${name}${labels}`) && (labels !== '' || /^[^{ ]+[{ ]/.exec(l)?.[0].slice(0, -1) === name))
    .reduce((x, l) => x + Number(l.split(' ').at(-1)), 0)
}

interface Health {
  view_size: number
  peers_connected: number
  gossip: { accepted: number, gaps: number, expired: number, rejected: Record<string, number>, ignored: Record<string, number>, liveness: { beats_heard: number, beats_refused: number, entries_applied: number, digests_refused: number } }
  sync: { served: number, pulled: number }
  identity: { required: boolean, refused: Record<string, number> }
  probes: { rounds: number }
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((x, v) => x + v, 0)

/** What the agent did over a window: CPU (% of a core), RSS samples, and its own counters' differences. */
/** CPU parts as percentages of a core: the main thread, V8's helpers, other threads, child processes. */
const cpuPartsText = (d: CpuParts, seconds: number): string =>
  `main ${(d.main / seconds / 10).toFixed(2)}, V8 helpers ${(d.v8 / seconds / 10).toFixed(2)}, other threads ${(d.other / seconds / 10).toFixed(2)}, children ${(d.children / seconds / 10).toFixed(2)}`

async function measureWindow (a: AgentProcess, ms: number): Promise<{ cpuPct: number, parts: string, rss: number[], brk: number[], accepted: number, rejected: number, ignored: number, gaps: number, expired: number, beats: number, liveApplied: number, modelCpuS: number, ticks: number, seconds: number, minView: number }> {
  const pid = a.child.pid ?? -1
  const h0 = await getJson<Health>(`${a.apiUrl}/api/v1/health`, 5_000)
  const model0 = await metric(a.apiUrl, 'k8snet_activity_cpu_seconds_total', '{activity="model"}')
  const c0 = cpuParts(pid)
  const t0 = performance.now()
  const rss: number[] = []
  const brk: number[] = []
  let minView = Infinity
  while (performance.now() - t0 < ms) {
    await sleep(Math.min(5_000, ms))
    rss.push(vmRss(pid) / 1e6)
    brk.push(brkHeapRss(pid) / 1e6)
    minView = Math.min(minView, (await getJson<Health>(`${a.apiUrl}/api/v1/health`, 5_000)).view_size)
  }
  const c1 = cpuParts(pid)
  const seconds = (performance.now() - t0) / 1000
  const h1 = await getJson<Health>(`${a.apiUrl}/api/v1/health`, 5_000)
  const model1 = await metric(a.apiUrl, 'k8snet_activity_cpu_seconds_total', '{activity="model"}')
  const d = { main: c1.main - c0.main, v8: c1.v8 - c0.v8, other: c1.other - c0.other, children: c1.children - c0.children }
  return {
    cpuPct: totalCpu(d) / seconds / 10,
    parts: cpuPartsText(d, seconds),
    rss,
    brk,
    accepted: h1.gossip.accepted - h0.gossip.accepted,
    rejected: sum(h1.gossip.rejected) - sum(h0.gossip.rejected),
    ignored: sum(h1.gossip.ignored) - sum(h0.gossip.ignored),
    gaps: h1.gossip.gaps - h0.gossip.gaps,
    expired: h1.gossip.expired - h0.gossip.expired,
    beats: h1.gossip.liveness.beats_heard - h0.gossip.liveness.beats_heard,
    liveApplied: h1.gossip.liveness.entries_applied - h0.gossip.liveness.entries_applied,
    modelCpuS: model1 - model0,
    ticks: Math.max(1, Math.round(seconds / defaults.probeIntervalS)),
    seconds,
    minView
  }
}

export const stream1000Suite: Suite = {
  name: 'stream-1000',
  title: 'The 1000-node cost with the real code: one agent fed the stream of a 1000-agent cluster',
  method: `One agent as the image runs it (the bundle, ${IMAGE_NODE_FLAGS.join(' ')}, its environment, default intervals), ` +
    'holding the Lease of the stand-in apiserver and checking identities against its keys, is fed the stream an agent receives ' +
    `in a cluster of ${N}: 999 virtual agents on 127.1/16 (nodes) and 127.2/16 (pods), each with its own Ed25519 key, a ` +
    'token the apiserver issued for its pod, and a real SelfRecord (sealed), whose new samples (planRound\'s targets, ' +
    'results of a steady network) and full records come at the per-agent rates the gossip-bytes model measures at N = 1000 ' +
    '(Poisson), whose aggregators publish a digest of the beats of their origins every heartbeat interval, and whose origins ' +
    'assigned to the agent (a name chosen to be an aggregator and the first contender) beat it over real streams. Each message ' +
    'is signed as its origin (gossipsub StrictSign) and reaches the agent from as many relays as the simulated mesh degree ' +
    'at N = 1000, a few ms apart; the relays are real libp2p nodes at the addresses the dial planner connects the agent to, ' +
    'and they answer its anti-entropy pulls from a view holding everyone. The agent probes a sample of the virtual nodes and ' +
    'pods (real TCP listeners, ICMP on loopback) and a page polls its API. CPU from /proc (threads and child processes) and ' +
    'RSS (VmRSS every 5 s) over the window; then every virtual pod stops answering every other (a broken overlay) and the ' +
    'model\'s tick and the report are timed by the agent itself (k8snet_activity_cpu_seconds_total, main-thread CPU).',
  // one run: about 8 minutes (the model's mix, a minute of settling, a 3-minute window, the failure and its reports)
  runs: 1,
  async run (ctx) { return await runStream(ctx, {}) }
}

/** The suite's run; `o` varies it for experiments (no page polling, another window). */
export async function runStream (ctx: SuiteContext, o: { page?: boolean, windowMs?: number, mixMs?: number, env?: Record<string, string>, nodeFlags?: string[] }): Promise<Row[]> {
  buildBundle()
  const rows: Row[] = []
  const settleMs = ctx.smoke ? 10_000 : 60_000
  const windowMs = o.windowMs ?? (ctx.smoke ? 20_000 : 180_000)
  const reportIntervalS = ctx.smoke ? 15 : 30
  // the message mix of an agent of a 1000-agent cluster (the gossip model: the real mesh, scheduler and records)
  const mix = (await simulateAgents({
    ...simDefaults(defaults),
    n: N,
    testPort: TEST_PORT,
    clientPort: CLIENT_PORT,
    warmMs: 30_000,
    measureMs: o.mixMs ?? (ctx.smoke ? 60_000 : 600_000),
    simulated: ctx.smoke ? 30 : 100,
    splitAt: IDONTWANT_MIN_BYTES,
    seed: 100
  })).mix
  ctx.log(`per-agent mix at N=${N} (gossip model): ${mix.map(m => `${m.kind} ${m.rate.toFixed(4)}/s x ${m.payload.toFixed(0)} B`).join(', ')}`)
  const dir = mkdtempSync(join(tmpdir(), 'k8snet-stream-'))
  const apiserver = new LeaseStandIn(['token-stream'])
  await apiserver.start('127.0.0.1', 0)
  const cluster = new VirtualCluster(apiserver)
  const name = cluster.agentName
  let agent: AgentProcess | null = null
  let page: ReturnType<typeof pagePoller> | null = null
  let floor: ChildProcess | null = null
  try {
    const nodeName = 'ip-127-1-9-1.stream'
    apiserver.registerPod({ namespace: NAMESPACE, name, uid: randomUUID(), nodeName, serviceAccount: SERVICE_ACCOUNT })
    const tokenFile = join(dir, 'token')
    writeFileSync(tokenFile, apiserver.mintForTest({}, { pod: { namespace: NAMESPACE, name }, audiences: [AUDIENCE] }))
    const kubeconfig = join(dir, 'kubeconfig')
    apiserver.writeKubeconfig(kubeconfig, 'token-stream', NAMESPACE)
    await cluster.listen()
    agent = startAgentProcess({
      name,
      ip: AGENT_POD_IP,
      peers: cluster.ids.map(id => `${id.podIp}:${GOSSIP_PORT}`),
      nodeFlags: [...IMAGE_NODE_FLAGS, ...(o.nodeFlags ?? [])],
      script: process.env.STREAM_SCRIPT ?? BUNDLE,
      log: join(dir, 'agent.log'),
      env: {
        ...IMAGE_ENV,
        ...o.env,
        NODE_IP: AGENT_NODE_IP,
        NODE_NAME: nodeName,
        NAMESPACE,
        GOSSIP_PORT: String(GOSSIP_PORT),
        CLIENT_PORT: String(CLIENT_PORT),
        TEST_PORT: String(TEST_PORT),
        HTTP_PORT: String(HTTP_PORT),
        KUBECONFIG: kubeconfig,
        IDENTITY_TOKEN_FILE: tokenFile,
        IDENTITY_AUDIENCE: AUDIENCE,
        REPORT_INTERVAL: String(reportIntervalS),
        LOG_LEVEL: 'info',
        // diagnostics: STREAM_CPU_PROFILE=dir (a V8 CPU profile as the agent stops), STREAM_HEAP=dir (heap snapshots
        // in the steady window and after the failure)
        NODE_OPTIONS: [
          ...(process.env.STREAM_CPU_PROFILE === undefined ? [] : [`--cpu-prof --cpu-prof-dir=${process.env.STREAM_CPU_PROFILE}`]),
          ...(process.env.STREAM_HEAP === undefined ? [] : [`--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${process.env.STREAM_HEAP}`])
        ].join(' ')
      }
    })
    const peerId = await within(agent.ready, 30_000, 'the agent to start')
    const a = agent
    const agentIdentity: Identity = { podName: name, nodeName, nodeIp: AGENT_NODE_IP, podIp: AGENT_POD_IP, namespace: NAMESPACE, version: '', peerId }
    cluster.seed(agentIdentity)
    await cluster.startNodes(peerId)
    const relay = cluster.relays[0]?.node
    if (relay === undefined) throw new Error('no relay: the planner picked nobody')
    const mesh = simulateMesh(connectionGraph(N, defaults.meshMaxPeers, mulberry32(200)), gossipParams(relay), mulberry32(300))
    const copies = Math.max(1, Math.min(cluster.relays.length, Math.round(mesh.d)))
    ctx.log(`agent ${name}: ${cluster.relays.length} relays (the planner's choice), ${cluster.beaters.length} origins beat to it; each message in ${copies} copies (simulated mesh degree ${mesh.d.toFixed(2)})`)
    const joinMs = await waitUntil('the agent\'s full view', async () => (await getJson<Health>(`${a.apiUrl}/api/v1/health`, 5_000)).view_size === N, 60_000, 250)
    ctx.log(`full view of ${N} after ${joinMs.toFixed(0)} ms`)
    cluster.run(mix, copies, agentIdentity)
    if (o.page !== false) page = pagePoller(a.apiUrl)
    await sleep(settleMs)
    const w = await measureWindow(a, windowMs)
    const h = await getJson<Health>(`${a.apiUrl}/api/v1/health`, 5_000)
    ctx.log(`steady, ${w.seconds.toFixed(0)} s: CPU ${w.cpuPct.toFixed(2)} % (${w.parts}), RSS ${w.rss.map(x => x.toFixed(0)).join(' ')} MB (of it malloc's main heap ${w.brk.map(x => x.toFixed(0)).join(' ')}); ` +
        `accepted ${(w.accepted / w.seconds).toFixed(1)}/s, rejected ${w.rejected}, ignored ${w.ignored}, gaps ${w.gaps}, expired ${w.expired}, ` +
        `beats heard ${(w.beats / w.seconds).toFixed(1)}/s, digest entries applied ${(w.liveApplied / w.seconds).toFixed(0)}/s, smallest view ${w.minView}; ` +
        `identities required ${String(h.identity.required)}, refused ${JSON.stringify(h.identity.refused)}; model ${(w.modelCpuS * 1000 / w.ticks).toFixed(0)} ms a tick; ` +
        `page polls ${page?.polls() ?? 0}; sent ${JSON.stringify(Object.fromEntries(cluster.sent))}`)
    if (w.rejected > 0 || w.expired > 0 || w.minView < N) ctx.log('warning: the stream was not all accepted (see the counters above)')
    const mb = async (m: string): Promise<string> => (await metric(a.apiUrl, m) / 1e6).toFixed(0)
    const memory = async (when: string): Promise<void> => {
      const maps = rssByMapping(a.child.pid ?? -1)
      ctx.log(`memory ${when}: V8 heap used ${await mb('nodejs_heap_size_used_bytes')} of ${await mb('nodejs_heap_size_total_bytes')} MB, external ${await mb('nodejs_external_memory_bytes')} MB; ` +
        `resident: malloc's main heap ${(maps.brk / 1e6).toFixed(0)} MB, other anonymous ${(maps.anon / 1e6).toFixed(0)} MB, files ${(maps.file / 1e6).toFixed(0)} MB`)
      if (process.env.STREAM_HEAP !== undefined) { a.child.kill('SIGUSR2'); await sleep(20_000) }
    }
    await memory('in the steady window')
    rows.push(row(`agent CPU, fed a ${N}-agent cluster's stream, probing, polled by a page`, '% of a core', [w.cpuPct], '<= 5 % of a core (issue 20)', 5))
    rows.push(row('agent RSS over the window (peak)', 'MB', [Math.max(...w.rss)], '<= 125 MB (issue 20)', 125))
    rows.push(row('of it: the reachability model\'s tick, steady network (main thread)', 'ms a tick', [w.modelCpuS * 1000 / w.ticks], 'informative'))
    rows.push(row('messages accepted into the view', 'msgs/s', [w.accepted / w.seconds], 'informative'))
    // the cluster-wide failure, and the report that follows it
    const reports0 = await metric(a.apiUrl, 'k8snet_reports_printed_total')
    const report0 = await metric(a.apiUrl, 'k8snet_activity_cpu_seconds_total', '{activity="report"}')
    cluster.failPods(agentIdentity, copies)
    await sleep(defaults.probeIntervalS * 1000 * 2)
    const f = await measureWindow(a, Math.max(reportIntervalS * 1000 + 5_000, defaults.probeIntervalS * 3000))
    const reports = await metric(a.apiUrl, 'k8snet_reports_printed_total') - reports0
    const reportS = await metric(a.apiUrl, 'k8snet_activity_cpu_seconds_total', '{activity="report"}') - report0
    const verdicts = await metric(a.apiUrl, 'k8snet_verdicts')
    const tickMs = f.modelCpuS * 1000 / f.ticks
    const reportMs = reports === 0 ? NaN : reportS * 1000 / reports
    ctx.log(`overlay broken: ${reports} reports, ${reportMs.toFixed(0)} ms each, model ${tickMs.toFixed(0)} ms a tick, ${verdicts} verdicts; CPU ${f.cpuPct.toFixed(2)} %, RSS ${f.rss.map(x => x.toFixed(0)).join(' ')} MB, accepted ${(f.accepted / f.seconds).toFixed(1)}/s`)
    if (verdicts === 0) ctx.log('warning: the report holds no verdict for the broken overlay')
    await memory('after the failure')
    rows.push(row('Lease holder\'s report, cluster-wide failure: the model\'s tick + building and printing the report (main thread)', 'ms', [tickMs + reportMs], '<= 200 ms (issue 20)', 200))
    rows.push(row('of it: building and printing the report', 'ms', [reportMs], 'informative'))
    rows.push(row('agent RSS after the failure (peak)', 'MB', [Math.max(...f.rss)], 'informative'))
    // the floor: the agent's stack alone (a bare gossipsub node at the agent's address) fed the same stream
    // (STREAM_CPU_PROFILE: the agent writes its profile only if it exits on its own)
    await stopAgentProcess(a, process.env.STREAM_CPU_PROFILE === undefined ? 'SIGKILL' : 'SIGTERM')
    agent = null
    const profileFlags = process.env.STREAM_CPU_PROFILE === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.STREAM_CPU_PROFILE}`]
    floor = spawn(process.execPath, [...IMAGE_NODE_FLAGS, ...profileFlags, FLOOR_BUNDLE, AGENT_POD_IP, String(GOSSIP_PORT), VIEW_TOPIC], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    const bare = floor
    const ready = await within(new Promise<{ peers: string[] }>(resolve => { bare.on('message', m => { if ((m as { ready?: boolean }).ready === true) resolve(m as { peers: string[] }) }) }), 30_000, 'the bare gossipsub node to start')
    const barePeer = ready.peers[0]?.split('/p2p/')[1]
    if (barePeer === undefined) throw new Error('the bare node announced no peer id')
    await cluster.retarget(barePeer)
    await sleep(settleMs / 2)
    const c0 = cpuParts(bare.pid ?? -1)
    const t0 = performance.now()
    await sleep(ctx.smoke ? 10_000 : 60_000)
    const c1 = cpuParts(bare.pid ?? -1)
    const fd = { main: c1.main - c0.main, v8: c1.v8 - c0.v8, other: c1.other - c0.other, children: c1.children - c0.children }
    const floorS = (performance.now() - t0) / 1000
    const floorPct = totalCpu(fd) / floorS / 10
    ctx.log(`floor: a bare gossipsub node fed the same stream: ${floorPct.toFixed(2)} % of a core (${cpuPartsText(fd, floorS)})`)
    rows.push(row('floor: a bare gossipsub node of the same stack at the agent\'s address, fed the same stream (no view, validator, probes, API)', '% of a core', [floorPct], 'floor'))
    rows.push(row('agent / bare gossipsub fed the same stream', 'x', [w.cpuPct / floorPct], 'ratio'))
  } finally {
    // (STREAM_CPU_PROFILE: the bare node too writes its profile, as it exits on the IPC channel's close)
    const bare = floor
    if (bare !== null && bare.exitCode === null && process.env.STREAM_CPU_PROFILE !== undefined) {
      bare.disconnect()
      await new Promise(resolve => { bare.once('exit', resolve); setTimeout(resolve, 5_000) })
    }
    floor?.kill('SIGKILL')
    page?.stop()
    // (STREAM_CPU_PROFILE=dir: the agent writes a V8 CPU profile there as it stops)
    if (agent !== null) await stopAgentProcess(agent, process.env.STREAM_CPU_PROFILE === undefined ? 'SIGKILL' : 'SIGTERM')
    await cluster.stop()
    await apiserver.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}
