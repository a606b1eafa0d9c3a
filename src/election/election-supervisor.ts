// Decides from the view whether this agent contends for the Lease (at most N do), gossips who holds it, and
// wakes the contenders at once when the holder is seen to let go.
import type { Logger } from 'pino'
import type { GossipMesh } from '../gossip/mesh.ts'
import type { SelfRecord } from '../core/self-record.ts'
import type { View } from '../core/view.ts'
import { contenders } from './contenders.ts'
import type { ElectionState, LeaderElection } from './leader-election.ts'

export interface SupervisorDeps {
  election: LeaderElection
  view: View
  self: SelfRecord
  mesh: GossipMesh
  maxContenders: number
  /** True once the view can be trusted to name the contenders (first anti-entropy pull, or a few seconds alone). */
  settled: () => boolean
  /** Membership must have stayed the same this long before a (non-leading) agent starts contending. */
  stableMs: number
  /**
   * The witness: whether this agent's own model finds it is the one cut off (isolated, on the smaller side of a
   * partition, its gossip or pod network cut). A holder so cut off hands the Lease over.
   */
  cutOff?: () => boolean
  /**
   * How long a cut-off agent stays out of the election, so that one seeing more of the cluster takes the Lease; when
   * nobody has taken it by then, most of the cluster is really gone and the survivors report again.
   */
  handoverMs?: number
  now: () => number
  checkEveryMs: number
  log: Logger
}

export class ElectionSupervisor {
  contenders: string[] = []
  private readonly d: SupervisorDeps
  private timer: NodeJS.Timeout | undefined
  private sawLeader = false
  private settledAt: number | null = null
  private members = ''
  private membersSince = 0
  /** The view's membership as last read (names and their ranking are read again only when it changes). */
  private membership = -1
  private ranked: string[] = []
  /** When this agent found itself cut off (null: it is not). */
  private cutOffSince: number | null = null
  handovers = 0

  constructor (d: SupervisorDeps) {
    this.d = d
  }

  start (): void {
    this.timer = setInterval(() => { this.check() }, this.d.checkEveryMs)
    this.check()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.d.election.disable()
  }

  /** Called by the election when leadership starts or ends: every pod learns the holder through gossip. */
  setLeading (leading: boolean): void {
    if (this.d.self.record.leader === leading) return
    this.d.self.record.leader = leading
    this.d.mesh.publish(this.d.self.full())
  }

  /**
   * What the Lease witnesses about the agents this one cannot reach: alive (true) when an agent it does not hear holds
   * and renews the Lease; gone (false) when this agent stood aside for handoverMs and then took the Lease itself, since nobody
   * else had; unknown (null) otherwise, and on agents that do not contend.
   */
  othersAlive (): boolean | null {
    const e = this.d.election.state()
    // a holder this agent still hears is on its own side: it says nothing of the others
    if (e.heldByOther) return e.holder !== null && this.d.view.agent(e.holder) === undefined ? true : null
    const waited = this.cutOffSince !== null && this.d.now() - this.cutOffSince >= (this.d.handoverMs ?? 0)
    return waited && e.leading ? false : null
  }

  /** The fence for printing: this agent holds the Lease and renewed it within the renew deadline. */
  isLeader (): boolean { return this.d.election.isLeader() }

  state (): ElectionState { return this.d.election.state() }

  /** The holder as gossiped (null when nobody claims the Lease). */
  holder (): string | null {
    return this.d.view.agentEntries().find(e => e.record.leader === true)?.record.identity.podName ?? null
  }

  /**
   * Contend when among the lowest hashes of a view whose membership has been stable for a while (a starting
   * agent's partial view must not make it poll the apiserver); an incumbent leader keeps contending, so an agent
   * joining with a lower hash does not cause a handover.
   */
  /** One evaluation (the timer runs it every checkEveryMs). */
  check (): void {
    // (every checkEveryMs on every agent: at 1000 agents, sorting and hashing every name each time cost 1.5 % of a core)
    if (this.d.view.membership !== this.membership) {
      this.membership = this.d.view.membership
      const names = this.d.view.agentEntries().map(e => e.record.identity.podName).sort()
      const key = names.join(',')
      if (key !== this.members) {
        this.members = key
        this.membersSince = this.d.now()
      }
      this.ranked = contenders(names, this.d.maxContenders)
    }
    if (!this.d.settled()) return
    this.settledAt ??= this.d.now()
    const me = this.d.self.origin
    this.contenders = this.ranked
    const stable = this.d.now() - this.membersSince >= this.d.stableMs
    const leading = this.d.election.state().leading
    const leaderNow = this.holder() !== null
    // the holder just let go: a contender settled for a while steps in now, even if that departure (or a restart
    // before it) means the membership has not been stable for long (rolling restarts kill holder after holder);
    // one that has just started does not (its view may still be partial, so its idea of the contenders may be wrong)
    const leaderGone = this.sawLeader && !leaderNow
    this.sawLeader = leaderNow
    const seasoned = this.d.now() - this.settledAt >= this.d.stableMs
    if (this.standingAside(leading)) return
    if (this.contenders.includes(me) || leading) {
      if (stable || leading || (leaderGone && seasoned)) this.d.election.enable()
    } else if (this.d.election.state().enabled) {
      this.d.log.info({ contenders: this.contenders }, 'no longer a Lease contender')
      void this.d.election.disable()
    }
    if (leaderGone) this.d.election.poke()
  }

  /** A cut-off agent keeps out of the election for handoverMs (releasing the Lease if it holds it). */
  private standingAside (leading: boolean): boolean {
    const cut = this.d.cutOff?.() ?? false
    if (!cut) { this.cutOffSince = null; return false }
    const now = this.d.now()
    this.cutOffSince ??= now
    if (now - this.cutOffSince >= (this.d.handoverMs ?? 0)) return false
    if (this.d.election.state().enabled) {
      if (leading) this.handovers++
      this.d.log.warn({ leading }, leading
        ? 'this agent is cut off from most of the cluster: handing the reporter Lease over to one that sees more'
        : 'this agent is cut off from most of the cluster: not contending for the reporter Lease for now')
      void this.d.election.disable()
    }
    return true
  }
}
