// Pure (time passed in): the reachability model on a dual-stack cluster. The primary family's model judges as on a
// single-stack cluster; a second model judges the other family's addresses and paths alone; a path fault that only one
// family shows says which, one both show is one verdict.
import { addressIn, familyOf, type Family } from '../core/families.ts'
import type { AgentRecord } from '../core/record.ts'
import type { NetworkModel, TickInput } from './network-model.ts'
import type { LostAgent, Verdict, VerdictKind } from './verdicts.ts'

/** Verdicts about paths, which one family can show alone; the rest (gossip, clocks, stale results, Service) are family-blind. */
const PATH_KINDS: ReadonlySet<VerdictKind> = new Set<VerdictKind>(['flapping', 'isolated', 'partition', 'outbound', 'inbound', 'overlay', 'node-ip', 'one-way', 'port-closed', 'test-port', 'lossy'])

/**
 * An agent's record as the model of `family` sees it: its node and pod addresses of that family as its identity (so
 * only that family's results name members), no Service check (the primary model's). Null when it has none there.
 */
export function recordInFamily (r: AgentRecord, family: Family): AgentRecord | null {
  const nodeIp = addressIn(r.identity, 'host', family)
  const podIp = addressIn(r.identity, 'pod', family)
  if (nodeIp === undefined || podIp === undefined) return null
  return { ...r, identity: { ...r.identity, nodeIp, podIp }, results: { ...r.results, service: null } }
}

const keyOf = (v: Verdict): string => `${v.kind}|${[...v.culprits].sort().join(',')}`
const only = (v: Verdict, family: Family): Verdict => ({ ...v, subject: `${v.subject} over ${family}`, summary: `${family} only: ${v.summary}` })

export class FamilyModels {
  readonly primary: NetworkModel
  private readonly make: () => NetworkModel
  private second: { family: Family, model: NetworkModel } | null = null
  private shown: Verdict[] = []

  /** `make`: a new model (the primary one, and the second family's when a dual-stack member first appears). */
  constructor (make: () => NetworkModel) {
    this.make = make
    this.primary = make()
  }

  /** The verdicts shown (both families merged). */
  get verdicts (): Verdict[] { return this.shown }

  /** The second family's model, once one was needed (for tests and the API's diagnostics). */
  get secondary (): { family: Family, model: NetworkModel } | null { return this.second }

  tick (input: TickInput): Verdict[] {
    const primary = this.primary.tick(input)
    const self = input.live.find(a => a.record.identity.podName === input.self)?.record
    const dual = input.live.some(a => a.record.identity.secondary !== undefined)
    if (self === undefined || !dual) { this.second = null; this.shown = primary; return primary }
    const family: Family = familyOf(self.identity.podIp) === 'IPv4' ? 'IPv6' : 'IPv4'
    if (this.second?.family !== family) this.second = { family, model: this.make() }
    const project = <T extends { record: AgentRecord }>(xs: T[]): T[] => xs.flatMap(x => {
      const record = recordInFamily(x.record, family)
      return record === null ? [] : [{ ...x, record }]
    })
    const second = this.second.model.tick({ ...input, live: project(input.live), lost: project<LostAgent>(input.lost) })
    // each side's shown verdicts against the other's raw ones (a family that sees the fault at all, even unsettled,
    // shares it: labels do not flicker while one model raises a tick after the other)
    const primaryRaw = new Set(this.primary.rawVerdicts.map(keyOf))
    const secondRaw = new Set(this.second.model.rawVerdicts.filter(v => PATH_KINDS.has(v.kind)).map(keyOf))
    const primaryFamily = familyOf(self.identity.podIp)
    this.shown = [
      ...primary.map(v => PATH_KINDS.has(v.kind) && !secondRaw.has(keyOf(v)) ? only(v, primaryFamily) : v),
      ...second.filter(v => PATH_KINDS.has(v.kind) && !primaryRaw.has(keyOf(v))).map(v => only(v, family))
    ]
    return this.shown
  }
}
