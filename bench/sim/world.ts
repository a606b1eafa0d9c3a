// The simulated cluster: each agent's probe results per round under the faults and noise, as its gossip carries them.
import type { AgentRecord, Identity, Layer, PathResult } from '../../src/core/record.ts'
import { resultChanged } from '../../src/core/self-record.ts'
import type { EchoResult } from '../../src/probe/fping.ts'
import { SWEEP_ECHOES } from '../../src/probe/round.ts'
import { sampleOffsets, type ProbeTarget, type RoundPlan } from '../../src/probe/targets.ts'
import { failing, ProbeWatch } from '../../src/probe/watch.ts'
import { ident } from '../../test/fixtures.ts'
import { LOSSY_P, type Fault } from './faults.ts'

export const PROBE_MS = 10_000
export const HEARTBEAT_MS = 5_000
export const TEST_PORT = 22
export const CLIENT_PORT = 6100
const ECHOES = 3
/** Background noise on every path: each ICMP echo lost, each TCP connect timing out. */
export const NOISE_ECHO = 0.002
export const NOISE_TCP = 0.001
/** PROBE_SAMPLE_ABOVE, PROBE_COVERAGE, PROBE_SAMPLE_HOLD defaults. */
export const SAMPLE_ABOVE = 100
export const COVERAGE = 10
export const SAMPLE_HOLD = 20
/** FULL_REFRESH_INTERVAL (60 s) in rounds: a full record re-sends every result with its new time. */
const REFRESH_ROUNDS = 6

/** What the faults do in one round. */
interface RoundState {
  /** No traffic in or out (node down, flapping node in a down phase). */
  down: Set<number>
  /** Neither hears nor is heard on gossip. */
  deaf: Set<number>
  /** Pod layer down in and out. */
  podDown: Set<number>
  /** Partition side (absent: the main side). */
  side: Map<number, number>
  /** Directed pairs "s>t" whose probes fail on both layers (one-way, flapping link). */
  blocked: Set<string>
  closed: Set<number>
  lossy: Set<number>
}

export interface WorldOptions {
  n: number
  faults: Fault[]
  /** The first round the faults hold. */
  faultStart: number
  rng: () => number
  /** The wall-clock round index of round 0 (it rotates the sample above SAMPLE_ABOVE agents). */
  epochRound: number
  /** True wall time of round 0, ms. */
  wallEpoch: number
}

export class World {
  readonly n: number
  readonly sampled: boolean
  readonly faults: Fault[]
  readonly faultStart: number
  /** Per agent (index 1..n): when in a round its results are published, and its heartbeat phase, ms. */
  readonly publishAtMs: number[]
  readonly beatPhaseMs: number[]
  readonly wallEpoch: number
  /** Per fault: whether its link was probed, by the direction that shows it, in some fault round (node faults: true). */
  readonly measured: boolean[]
  round = -1
  private readonly rng: () => number
  private readonly epochRound: number
  private readonly ids: Identity[]
  private readonly refreshPhase: number[]
  /** Agent numbers in the order of their pod names (what planRound sorts), and each agent's place in it. */
  private readonly sorted: number[]
  private readonly pos: number[]
  private cur: Array<AgentRecord | undefined>
  private prev: Array<AgentRecord | undefined>
  private readonly states = new Map<number, RoundState>()
  /** Above SAMPLE_ABOVE: each agent's exception watch (the real one), its sweep's targets, and agents by IP. */
  private readonly watches: ProbeWatch[] = []
  private readonly everyone: Record<'host' | 'pod', ProbeTarget[]> = { host: [], pod: [] }
  private readonly byIp = new Map<string, number>()

  constructor (o: WorldOptions) {
    this.n = o.n
    this.sampled = o.n > SAMPLE_ABOVE
    this.faults = o.faults
    this.faultStart = o.faultStart
    this.rng = o.rng
    this.epochRound = o.epochRound
    this.wallEpoch = o.wallEpoch
    this.ids = Array.from({ length: o.n + 1 }, (_, i) => ident(i))
    this.publishAtMs = Array.from({ length: o.n + 1 }, () => 1000 + Math.floor(o.rng() * 2000))
    this.beatPhaseMs = Array.from({ length: o.n + 1 }, () => Math.floor(o.rng() * HEARTBEAT_MS))
    this.refreshPhase = Array.from({ length: o.n + 1 }, () => Math.floor(o.rng() * REFRESH_ROUNDS))
    this.sorted = Array.from({ length: o.n }, (_, i) => i + 1).sort((a, b) => `agent-${a}` < `agent-${b}` ? -1 : 1)
    this.pos = new Array<number>(o.n + 1).fill(0)
    this.sorted.forEach((a, j) => { this.pos[a] = j })
    this.cur = new Array<AgentRecord | undefined>(o.n + 1)
    this.prev = new Array<AgentRecord | undefined>(o.n + 1)
    this.measured = o.faults.map(f => f.kind !== 'one-way' && f.kind !== 'flapping-link')
    if (this.sampled) {
      for (let i = 1; i <= o.n; i++) {
        const id = this.ids[i] as Identity
        this.watches[i] = new ProbeWatch(id.podName)
        this.everyone.host.push({ ip: id.nodeIp, port: TEST_PORT })
        this.everyone.pod.push({ ip: id.podIp, port: CLIENT_PORT })
        this.byIp.set(id.nodeIp, i)
        this.byIp.set(id.podIp, i)
      }
    }
  }

  /** The faults' effect in round r (none before faultStart). */
  state (r: number): RoundState {
    const held = this.states.get(r)
    if (held !== undefined) return held
    const s: RoundState = { down: new Set(), deaf: new Set(), podDown: new Set(), side: new Map(), blocked: new Set(), closed: new Set(), lossy: new Set() }
    const f = r - this.faultStart
    if (f >= 0) {
      this.faults.forEach((fault, k) => {
        const [x = 0, y = 0] = fault.nodes
        const downNow = fault.down?.[f] ?? false
        switch (fault.kind) {
          case 'node-down': s.down.add(x); s.deaf.add(x); break
          case 'flapping-node': if (downNow) { s.down.add(x); s.deaf.add(x) } break
          case 'partition': for (const g of fault.nodes) s.side.set(g, k + 1); break
          case 'one-way': s.blocked.add(`${x}>${y}`); break
          case 'flapping-link': if (downNow) { s.blocked.add(`${x}>${y}`); s.blocked.add(`${y}>${x}`) } break
          case 'pod-network': s.podDown.add(x); s.deaf.add(x); break
          case 'port-closed': s.closed.add(x); break
          case 'lossy': s.lossy.add(x); break
          case 'gossip-cut': s.deaf.add(x); break
          case 'clock-skew': break
        }
      })
    }
    this.states.set(r, s)
    return s
  }

  /** Agent i's wall clock minus true time in round r, ms. */
  offsetAt (i: number, r: number): number {
    if (r < this.faultStart) return 0
    return this.faults.find(f => f.kind === 'clock-skew' && f.nodes[0] === i)?.offsetMs ?? 0
  }

  /** Whether o receives i's gossip during round r (gossip is relayed: only partitions and silenced agents cut it). */
  hearable (i: number, o: number, r: number): boolean {
    if (i === o) return true
    const s = this.state(r)
    if (s.deaf.has(i) || s.deaf.has(o)) return false
    return (s.side.get(i) ?? 0) === (s.side.get(o) ?? 0)
  }

  /** The record agent i published in round r (this round or the one before). */
  recordAt (i: number, r: number): AgentRecord {
    const rec = r === this.round ? this.cur[i] : r === this.round - 1 ? this.prev[i] : undefined
    if (rec === undefined) throw new Error(`no record of agent ${i} for round ${r} (world at round ${this.round})`)
    return rec
  }

  /** Runs the next round: every agent probes its targets and publishes. */
  step (): void {
    const r = ++this.round
    const s = this.state(r)
    const sampleRound = Math.floor((this.epochRound + r) / SAMPLE_HOLD)
    const newSample = this.sampled && (r === 0 || sampleRound !== Math.floor((this.epochRound + r - 1) / SAMPLE_HOLD))
    const offsets = this.sampled ? sampleOffsets(this.n, COVERAGE, sampleRound) : null
    const inFault = r >= this.faultStart
    this.prev = this.cur.slice()
    const reports = this.sampled ? this.downReports() : null
    for (let i = 1; i <= this.n; i++) {
      const targets = offsets === null
        ? Array.from({ length: this.n - 1 }, (_, j) => j + 1 >= i ? j + 2 : j + 1)
        : offsets.map(o => this.sorted[((this.pos[i] as number) + o) % this.n] as number)
      const checkedAt = this.wallEpoch + r * PROBE_MS + (this.publishAtMs[i] as number) + this.offsetAt(i, r)
      const host: PathResult[] = []
      const pod: PathResult[] = []
      const full = (layer: Layer, t: number, measured?: PathResult): void => {
        const x = measured ?? this.probe(layer, i, t, s, checkedAt)
        ;(layer === 'host' ? host : pod).push(x)
        if (x.received > 0) this.watches[i]?.noteAnswer(x.target)
        if (inFault) this.noteMeasured(i, t)
      }
      if (reports === null) {
        for (const t of targets) { full('host', t); full('pod', t) }
      } else {
        this.sweepRound(i, r, targets, reports, full, s, checkedAt)
        this.watches[i]?.afterRound({ host, pod }, { host: TEST_PORT, pod: CLIENT_PORT })
      }
      const refresh = offsets === null ? (r + (this.refreshPhase[i] as number)) % REFRESH_ROUNDS === 0 : newSample
      this.cur[i] = this.publish(i, this.cur[i], host, pod, refresh || r === 0)
    }
  }

  /**
   * A sampled agent's round as round.ts runs it with the watch: the sample and the watched targets probed fully,
   * everyone else swept with one echo; a silent one that used to answer is probed again in full and reported only
   * if that fails too.
   */
  private sweepRound (i: number, r: number, sample: number[], reports: Map<number, Array<{ layer: 'host' | 'pod', from: number }>>,
    full: (layer: Layer, t: number, measured?: PathResult) => void, s: RoundState, checkedAt: number): void {
    const watch = this.watches[i] as ProbeWatch
    const id = (t: number): Identity => this.ids[t] as Identity
    const plan: RoundPlan = {
      host: sample.map(t => ({ ip: id(t).nodeIp, port: TEST_PORT })),
      pod: sample.map(t => ({ ip: id(t).podIp, port: CLIENT_PORT })),
      sampled: true
    }
    // the agents whose records (as this one heard them last round) say they cannot reach it
    const reporters: Record<'host' | 'pod', ProbeTarget[]> = { host: [], pod: [] }
    for (const x of reports.get(i) ?? []) {
      if (this.hearable(x.from, i, r - 1)) reporters[x.layer].push(x.layer === 'host' ? { ip: id(x.from).nodeIp, port: TEST_PORT } : { ip: id(x.from).podIp, port: CLIENT_PORT })
    }
    const wide = watch.widen(plan, this.everyone, r, reporters)
    for (const layer of ['host', 'pod'] as const) {
      for (const t of wide[layer]) full(layer, this.byIp.get(t.ip) as number)
      const suspects: number[] = []
      for (const t of wide.sweep?.[layer] ?? []) {
        const j = this.byIp.get(t.ip) as number
        if (j === i) continue
        const lost = this.blockedPath(layer, i, j, s) ? 1 : 1 - (1 - NOISE_ECHO) * (1 - (s.lossy.has(j) ? LOSSY_P : 0))
        const echo: EchoResult = lost === 1 || this.rng() < lost ? { sent: SWEEP_ECHOES, received: 0, rttsMs: [] } : { sent: SWEEP_ECHOES, received: SWEEP_ECHOES, rttsMs: [0.5] }
        if (echo.received > 0) watch.noteAnswer(t.ip)
        else if (watch.suspect(t.ip, echo)) suspects.push(j)
      }
      // round.ts: more suspects than the watch holds is a wide outage, left to the sample
      if (suspects.length > watch.o.max) continue
      for (const j of suspects) {
        const again = this.probe(layer, i, j, s, checkedAt)
        if (failing(again)) full(layer, j, again)
      }
    }
  }

  /** Per agent, who reported it failing in the records of the round before (what the agents' views then held). */
  private downReports (): Map<number, Array<{ layer: 'host' | 'pod', from: number }>> {
    const out = new Map<number, Array<{ layer: 'host' | 'pod', from: number }>>()
    for (let j = 1; j <= this.n; j++) {
      const rec = this.prev[j]
      if (rec === undefined) continue
      for (const layer of ['host', 'pod'] as const) {
        for (const x of rec.results[layer].values()) {
          if (!failing(x)) continue
          const t = this.byIp.get(x.target)
          if (t === undefined) continue
          const l = out.get(t) ?? []
          l.push({ layer, from: j })
          out.set(t, l)
        }
      }
    }
    return out
  }

  private noteMeasured (s: number, t: number): void {
    this.faults.forEach((f, k) => {
      if (this.measured[k] === true) return
      const [a, b] = f.nodes
      if ((s === a && t === b) || (f.kind === 'flapping-link' && s === b && t === a)) this.measured[k] = true
    })
  }

  private blockedPath (layer: Layer, s: number, t: number, st: RoundState): boolean {
    return st.down.has(s) || st.down.has(t) || (st.side.get(s) ?? 0) !== (st.side.get(t) ?? 0) || st.blocked.has(`${s}>${t}`) ||
      (layer === 'pod' && (st.podDown.has(s) || st.podDown.has(t)))
  }

  /** One path check: 3 ICMP echoes and one TCP connect (1 s timeout: a lost SYN is a timeout). */
  private probe (layer: Layer, s: number, t: number, st: RoundState, checkedAt: number): PathResult {
    const id = this.ids[t] as Identity
    const base = { target: layer === 'host' ? id.nodeIp : id.podIp, port: layer === 'host' ? TEST_PORT : CLIENT_PORT, sent: ECHOES, checkedAt }
    if (this.blockedPath(layer, s, t, st)) return { ...base, received: 0, rttMs: null, tcp: 'timeout', connectMs: null, durationMs: 1000 }
    const p = st.lossy.has(t) ? LOSSY_P : 0
    const echoLost = 1 - (1 - NOISE_ECHO) * (1 - p)
    let received = 0
    for (let k = 0; k < ECHOES; k++) if (this.rng() >= echoLost) received++
    const tcpLost = 1 - (1 - NOISE_TCP) * (1 - p * p)
    const tcp = this.rng() < tcpLost ? 'timeout' : layer === 'host' && st.closed.has(t) ? 'refused' : 'open'
    return {
      ...base,
      received,
      rttMs: received > 0 ? 0.5 : null,
      tcp,
      connectMs: tcp === 'timeout' ? null : 0.4,
      durationMs: received < ECHOES || tcp === 'timeout' ? 1000 : 2
    }
  }

  /** What peers hold after this round: a full record, or the held one with the changed results (self-record.ts). */
  private publish (i: number, old: AgentRecord | undefined, host: PathResult[], pod: PathResult[], full: boolean): AgentRecord {
    const make = (h: Map<string, PathResult>, p: Map<string, PathResult>): AgentRecord =>
      ({ identity: this.ids[i] as Identity, inc: 1000 + i, seq: (old?.seq ?? 0) + 1, rv: (old?.rv ?? 0) + 1, results: { host: h, pod: p, service: null } })
    if (old === undefined || full) return make(new Map(host.map(x => [x.target, x])), new Map(pod.map(x => [x.target, x])))
    const h = changed(old.results.host, host, this.sampled)
    const p = changed(old.results.pod, pod, this.sampled)
    if (h === null && p === null) return old
    return make(h ?? old.results.host, p ?? old.results.pod)
  }
}

/** The held layer with the new round's news applied, or null when nothing is news (unchanged results keep their time). */
function changed (held: Map<string, PathResult>, next: PathResult[], coarse: boolean): Map<string, PathResult> | null {
  const upsert = next.filter(x => { const old = held.get(x.target); return old === undefined || resultChanged(old, x, coarse) })
  const keep = new Set(next.map(x => x.target))
  const remove = [...held.keys()].filter(ip => !keep.has(ip))
  if (upsert.length === 0 && remove.length === 0) return null
  const out = new Map(held)
  for (const ip of remove) out.delete(ip)
  for (const x of upsert) out.set(x.target, x)
  return out
}
