// One observer's view per round (whom it hears, the records it holds, silence, lost) as the model's TickInput.
import type { AgentRecord } from '../../src/core/record.ts'
import type { TickInput } from '../../src/report/network-model.ts'
import { podName } from './faults.ts'
import { HEARTBEAT_MS, PROBE_MS, type World } from './world.ts'

/** CACHE_KEY_SECOND: an agent not heard for longer is lost. */
export const TTL_MS = 15_000

export class ObserverView {
  readonly self: number
  /** When in each round this observer's model ticks, ms. */
  readonly tickAtMs: number
  private readonly world: World
  private readonly rng: () => number
  private readonly held: Array<AgentRecord | undefined>
  private readonly lastHeard: number[]
  private lastTick = -Infinity

  constructor (world: World, self: number, tickAtMs: number, rng: () => number) {
    this.world = world
    this.self = self
    this.tickAtMs = tickAtMs
    this.rng = rng
    this.held = new Array<AgentRecord | undefined>(world.n + 1)
    this.lastHeard = new Array<number>(world.n + 1).fill(-Infinity)
  }

  /** The latest heartbeat of agent i at or before t (one every HEARTBEAT_MS at its own phase). */
  private lastBeat (i: number, t: number): number {
    const phase = this.world.beatPhaseMs[i] as number
    return phase + HEARTBEAT_MS * Math.floor((t - phase) / HEARTBEAT_MS)
  }

  /** The view at this observer's tick in round r (call after the world ran round r). */
  tick (r: number): TickInput {
    const w = this.world
    const now = r * PROBE_MS + this.tickAtMs
    for (let i = 1; i <= w.n; i++) {
      const publishAt = w.publishAtMs[i] as number
      let heard = this.lastHeard[i] as number
      // the rest of the previous round: its results if published after the last tick, and its last beat
      if (r > 0 && w.hearable(i, this.self, r - 1)) {
        const pub = (r - 1) * PROBE_MS + publishAt
        if (pub > this.lastTick) this.held[i] = w.recordAt(i, r - 1)
        heard = Math.max(heard, pub, this.lastBeat(i, r * PROBE_MS - 1))
      }
      if (w.hearable(i, this.self, r)) {
        const pub = r * PROBE_MS + publishAt
        if (pub <= now) { this.held[i] = w.recordAt(i, r); heard = Math.max(heard, pub) }
        const beat = this.lastBeat(i, now)
        if (beat >= r * PROBE_MS) heard = Math.max(heard, beat)
      }
      this.lastHeard[i] = heard
    }
    this.lastTick = now
    const live: TickInput['live'] = []
    const lost: TickInput['lost'] = []
    const skewMs = new Map<string, number>()
    const own = w.offsetAt(this.self, r)
    for (let i = 1; i <= w.n; i++) {
      const record = this.held[i]
      if (record === undefined) continue
      if (i === this.self) { live.push({ record, silentMs: 0 }); continue }
      const silentMs = now - (this.lastHeard[i] as number)
      if (silentMs > TTL_MS) { lost.push({ record, silentMs }); continue }
      live.push({ record, silentMs })
      // the estimate is the origin's stamp against receipt: its offset, less a publish and transit delay
      skewMs.set(podName(i), w.offsetAt(i, r) - own - Math.floor(this.rng() * 100))
    }
    return { now, wallNow: w.wallEpoch + now + own, self: podName(this.self), live, lost, skewMs }
  }
}
