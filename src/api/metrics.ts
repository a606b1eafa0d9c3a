// Prometheus metrics of one agent (prom-client): process and Node.js defaults, probe counters and RTT histograms fed
// by each round, gossip/sync/election state read at scrape time, and the view-derived samples (src/report/metric-samples.ts).
import { REVISION, VERSION } from '../shared/version.ts'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Layer } from '../core/record.ts'
import type { RoundResult } from '../probe/round.ts'
import { metricSamples } from '../report/metric-samples.ts'
import { outcomeOf } from '../report/paths.ts'
import type { Verdict } from '../report/verdicts.ts'
import type { ViewSnapshot } from './projection.ts'
import type { HealthInfo, LeaderInfo } from './routes.ts'

export interface MetricsSources {
  snapshot: () => ViewSnapshot
  health: () => HealthInfo
  leader: () => LeaderInfo
  /** The verdicts of a report built from this view (asked only when this agent holds the Lease). */
  verdicts: (v: ViewSnapshot) => Verdict[]
  self: string
  /** The reachability model's pairs flapping now. */
  history?: () => { flapping: number }
  /** Nodes excluded now (set aside by Kubernetes, as the Lease holder says). */
  excluded?: () => number
  /** This agent's wall clock minus the cluster's median, ms, from the origin times its peers' messages carry (null: not estimated yet). */
  clockOffsetMs?: () => number | null
}

const RTT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
const MAX_VERDICT_SERIES = 64

export class AgentMetrics {
  readonly registry = new Registry()
  private readonly src: MetricsSources
  private readonly pathsTotal: Counter
  private readonly swept: Counter
  private readonly watched: Gauge
  private readonly rtt: Histogram
  private readonly connect: Histogram
  private readonly round: Histogram
  private readonly view: Map<string, Gauge> = new Map()
  private readonly gossip: Counter
  private readonly rejected: Counter
  private readonly ignored: Counter
  private readonly bytes: Counter
  private readonly sync: Counter
  private readonly reports: Counter
  private readonly activityCpu: Counter
  private readonly unknownFields: Counter
  private readonly legacyRows: Counter
  private readonly pathChanges: Counter
  private readonly flapping: Gauge
  private readonly excludedNodes: Gauge
  private readonly clockOffset: Gauge
  private readonly gauges: Record<'peers' | 'holder' | 'contender' | 'transitions' | 'electionEnabled', Gauge>

  constructor (src: MetricsSources) {
    this.src = src
    const r = this.registry
    // event-loop delay sampled every 50 ms, not prom-client's 10 ms: 100 wake-ups a second cost each agent ~0.4 % of
    // a core for nothing (a stall still shows: any sample inside it comes late by the stall's remainder)
    collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: 50 })
    const counter = (name: string, help: string, labelNames: string[]): Counter => new Counter({ name, help, labelNames, registers: [r] })
    const gauge = (name: string, help: string, labelNames: string[] = []): Gauge => new Gauge({ name, help, labelNames, registers: [r] })
    this.pathsTotal = counter('k8snet_probe_paths_total', 'Paths this agent probed, by layer and outcome (ok, loss, port-closed, port-silent, unreachable).', ['layer', 'outcome'])
    this.swept = counter('k8snet_probe_sweep_promoted_total', 'Targets outside the sample that stopped answering this agent\'s ICMP sweep and were probed fully (clusters above PROBE_SAMPLE_ABOVE).', [])
    this.watched = gauge('k8snet_probe_watched', 'Targets outside the sample this agent probes fully because they failed lately or report it unreachable, by layer.', ['layer'])
    this.rtt = new Histogram({ name: 'k8snet_probe_rtt_seconds', help: 'ICMP round-trip time of this agent\'s answered paths, by layer.', labelNames: ['layer'], buckets: RTT_BUCKETS, registers: [r] })
    this.connect = new Histogram({ name: 'k8snet_probe_connect_seconds', help: 'TCP connect (or refusal) time of this agent\'s paths, by layer.', labelNames: ['layer'], buckets: RTT_BUCKETS, registers: [r] })
    this.round = new Histogram({ name: 'k8snet_probe_round_seconds', help: 'Wall time of one probe round.', buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [r] })
    this.gossip = counter('k8snet_gossip_messages_total', 'Gossip messages: published by this agent, accepted into its view, gaps repaired, origins expired.', ['event'])
    this.rejected = counter('k8snet_gossip_rejected_total', 'Gossip messages rejected by the validator, by reason (the sender is penalised).', ['reason'])
    this.ignored = counter('k8snet_gossip_ignored_total', 'Gossip messages ignored (stale or over capacity), by reason.', ['reason'])
    this.bytes = counter('k8snet_gossip_payload_bytes_total', 'Payload bytes of gossip messages, by direction (envelope and framing not counted).', ['direction'])
    this.sync = counter('k8snet_sync_total', 'Anti-entropy exchanges: served to peers, pulled from peers, failed.', ['event'])
    this.reports = counter('k8snet_reports_printed_total', 'Reports this agent printed as Lease holder.', [])
    this.activityCpu = counter('k8snet_activity_cpu_seconds_total', 'Main-thread CPU of this agent\'s periodic work: the reachability model\'s tick (every probe interval, every agent) and, as Lease holder, building and printing the report.', ['activity'])
    gauge('k8snet_build_info', 'Always 1: the agent\'s version, the source revision of its image and the Node.js version it runs on.', ['version', 'revision', 'nodejs']).set({ version: VERSION, revision: REVISION, nodejs: process.version }, 1)
    this.unknownFields = counter('k8snet_legacy_unknown_fields_total', 'Fields of legacy POST bodies that their schema does not know, dropped (the original\'s server ignored them), by route.', ['route'])
    this.legacyRows = counter('k8snet_legacy_rows_total', 'Rows of legacy results POSTs this agent took in, by fate: kept, or dropped by the thinning above PROBE_SAMPLE_ABOVE rows (passing rows outside the rotating sample, failing rows beyond the cap).', ['fate'])
    this.pathChanges = counter('k8snet_path_state_changes_total', 'Settled state changes of measured pairs in this agent\'s reachability model (its history), by layer.', ['layer'])
    this.clockOffset = gauge('k8snet_clock_offset_seconds', 'This agent\'s wall clock minus the median of its peers\' clocks, estimated from the origin times of their messages against its receipt times (one series per agent; absent until estimated).')
    this.excludedNodes = gauge('k8snet_excluded_nodes', 'Nodes Kubernetes has set aside (cordoned, not ready, being removed), as the Lease holder watches them: not judged by this agent.')
    this.flapping = gauge('k8snet_flapping_paths', 'Pairs this agent\'s model finds flapping now (reachable and unreachable in turn within its window).')
    this.gauges = {
      peers: gauge('k8snet_gossip_peers_connected', 'Peers this agent holds a connection to.'),
      holder: gauge('k8snet_lease_holder', '1 when this agent holds the reporter Lease.'),
      contender: gauge('k8snet_lease_contender', '1 when this agent contends for the Lease (at most 3 agents do).'),
      transitions: gauge('k8snet_lease_transitions', 'leaseTransitions of the Lease as this agent last read it.'),
      electionEnabled: gauge('k8snet_election_enabled', '1 when this agent has a Kubernetes API to elect through.')
    }
    const viewGauge = (name: string, help: string, labels: string[]): void => { this.view.set(name, gauge(name, help, labels)) }
    viewGauge('k8snet_paths', 'This agent\'s current paths, by layer and outcome.', ['layer', 'outcome'])
    viewGauge('k8snet_inbound_peers_measuring', 'Peers whose latest results include a path to this agent, by layer.', ['layer'])
    viewGauge('k8snet_inbound_peers_reaching', 'Of those, peers that reach this agent (ICMP answered or TCP answered), by layer.', ['layer'])
    viewGauge('k8snet_inbound_rtt_median_seconds', 'Median RTT of the peers\' paths to this agent, by layer (NaN when none answered).', ['layer'])
    viewGauge('k8snet_view_agents', 'Live agents in this agent\'s view.', [])
    viewGauge('k8snet_view_versions', 'Distinct agent versions in the view (more than 1 during a rollout).', [])
    viewGauge('k8snet_verdict', 'Lease holder only: a current verdict, one series per culprit (node, or a link\'s source and target pods; layer where the kind has one), with the share of observers that agree.', ['kind', 'subject', 'node', 'source', 'target', 'layer'])
    viewGauge('k8snet_verdicts', 'Lease holder only: how many verdicts the current report holds (reporter: its pod).', ['reporter'])
  }

  /** Counts fields dropped from a legacy body (the route's path is one of four: the label stays bounded). */
  countUnknownFields (route: string, count: number): void { this.unknownFields.inc({ route }, count) }

  /** Counts the rows of one legacy results POST, kept and dropped by the thinning. */
  countLegacyRows (kept: number, dropped: number): void {
    this.legacyRows.inc({ fate: 'kept' }, kept)
    this.legacyRows.inc({ fate: 'dropped' }, dropped)
  }

  // ---- counted where the events happen: the composition root passes these to the mesh, anti-entropy, the
  // reporter and the model (MeshEvents, SyncEvents, the reporter's and the model's events)

  gossipMessage (event: 'published' | 'accepted' | 'gaps' | 'expired', n = 1): void { this.gossip.inc({ event }, n) }
  gossipRejected (reason: string): void { this.rejected.inc({ reason }) }
  gossipIgnored (reason: string): void { this.ignored.inc({ reason }) }
  gossipBytes (direction: 'in' | 'out', n: number): void { this.bytes.inc({ direction }, n) }
  syncExchange (event: 'served' | 'pulled' | 'failed'): void { this.sync.inc({ event }) }
  reportPrinted (cpuSeconds: number): void {
    this.reports.inc()
    this.activityCpu.inc({ activity: 'report' }, cpuSeconds)
  }

  modelTicked (cpuSeconds: number): void { this.activityCpu.inc({ activity: 'model' }, cpuSeconds) }
  pathChange (layer: Layer): void { this.pathChanges.inc({ layer }) }

  /** Counts one probe round's outcomes and timings; `watched`: the exception watch's size (null: no sample). */
  observeRound (r: RoundResult, wallMs: number, watched: Record<'host' | 'pod', number> | null = null): void {
    this.swept.inc(r.promoted)
    for (const layer of ['host', 'pod'] as const) this.watched.set({ layer }, watched?.[layer] ?? 0)
    for (const layer of ['host', 'pod'] as const satisfies readonly Layer[]) {
      for (const p of r[layer]) {
        this.pathsTotal.inc({ layer, outcome: outcomeOf(p) })
        if (p.rttMs !== null) this.rtt.observe({ layer }, p.rttMs / 1000)
        if (p.connectMs !== null) this.connect.observe({ layer }, p.connectMs / 1000)
      }
    }
    this.round.observe(wallMs / 1000)
  }

  /** The exposition text, every gauge refreshed from the agent's current state. */
  async text (): Promise<string> {
    const h = this.src.health()
    const l = this.src.leader()
    const offset = this.src.clockOffsetMs?.() ?? null
    this.clockOffset.reset()
    if (offset !== null) this.clockOffset.set(offset / 1000)
    const hist = this.src.history?.()
    if (hist !== undefined) {
      this.flapping.set(hist.flapping)
    }
    const excluded = this.src.excluded?.()
    if (excluded !== undefined) this.excludedNodes.set(excluded)
    this.gauges.peers.set(h.peers_connected)
    this.gauges.holder.set(l.is_self ? 1 : 0)
    this.gauges.contender.set(l.contending ? 1 : 0)
    this.gauges.transitions.set(l.lease?.transitions ?? 0)
    this.gauges.electionEnabled.set(l.election_enabled ? 1 : 0)

    const v = this.src.snapshot()
    const samples = metricSamples({
      agents: v.agents.map(e => e.record),
      self: this.src.self,
      verdicts: l.is_self ? this.src.verdicts(v) : null,
      maxVerdicts: MAX_VERDICT_SERIES
    })
    for (const g of this.view.values()) g.reset()
    for (const s of samples) this.view.get(s.name)?.set(s.labels, s.value)
    return await this.registry.metrics()
  }

  get contentType (): string { return this.registry.contentType }
}
