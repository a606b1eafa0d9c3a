// The verdict simulator (bench/sim/): its scoring, its world and observer mechanics, and seeded replay at 10 agents.
import t from 'tap'
import { drawFaults, flapSchedule } from '../bench/sim/faults.ts'
import { ObserverView, TTL_MS } from '../bench/sim/observer.ts'
import { HEALTHY_ROUNDS, runScenario } from '../bench/sim/scenario.ts'
import { churn, namedFraction, namesSelf, normalise, scoreRound, type Shown } from '../bench/sim/score.ts'
import { World } from '../bench/sim/world.ts'
import { mulberry32 } from './fixtures.ts'

const v = (kind: Shown['kind'], culprits: string[], observer = false): Shown =>
  ({ kind, subject: culprits.join(', '), culprits, ...(observer ? { observer: true } : {}) })

t.test('scoring: precision and recall of one round', async t => {
  const truth = ['node-3', 'agent-1 -> agent-2']
  t.same(scoreRound([v('isolated', ['node-3']), v('one-way', ['agent-1 -> agent-2'])], truth),
    { precision: 1, recall: 1, falsePositives: [], missed: [] }, 'a perfect list scores 1/1')
  const extra = scoreRound([v('isolated', ['node-3']), v('one-way', ['agent-1 -> agent-2']), v('lossy', ['node-5'])], truth)
  t.equal(extra.precision, 2 / 3, 'a verdict naming a node not at fault lowers precision')
  t.equal(extra.recall, 1)
  t.same(extra.falsePositives, ['lossy|node-5'])
  const mixed = scoreRound([v('partition', ['node-3', 'node-4'])], truth)
  t.equal(mixed.precision, 0, 'one wrong culprit makes the whole verdict a false positive')
  t.equal(mixed.recall, 0.5, 'its true culprit still counts as named')
  t.same(mixed.missed, ['agent-1 -> agent-2'])
  t.same(scoreRound([], truth), { precision: 1, recall: 0, falsePositives: [], missed: truth }, 'silence: nothing wrong said, nothing found')
  t.equal(scoreRound([v('one-way', ['agent-2 -> agent-1'])], truth).precision, 0, 'a link in the wrong direction is not the culprit')
  t.equal(scoreRound([v('stale', [])], []).precision, 0, 'a verdict naming nothing is not a true one')
  t.same(scoreRound([], []), { precision: 1, recall: 1, falsePositives: [], missed: [] }, 'healthy and silent is perfect')
})

t.test('scoring: pod names, fractions, the observer itself, churn', async t => {
  t.equal(normalise('agent-7'), 'node-7', 'a stale verdict names the pod: it stands for its node')
  t.equal(normalise('agent-7 -> agent-8'), 'agent-7 -> agent-8', 'links keep their pod names')
  t.equal(scoreRound([v('stale', ['agent-3'])], ['node-3']).precision, 1)
  t.equal(namedFraction([v('partition', ['node-1', 'node-2'])], ['node-1', 'node-2', 'node-3', 'node-4']), 0.5)
  t.ok(namesSelf([v('gossip-cut', ['node-4'], true)], 'node-4'))
  t.notOk(namesSelf([v('gossip-cut', ['node-4'])], 'node-4'), 'without observer: true it is about someone else')
  t.notOk(namesSelf([v('isolated', ['node-5'], true)], 'node-4'))
  const a = [v('isolated', ['node-3'])]
  const b = [v('isolated', ['node-3']), v('lossy', ['node-5'])]
  t.equal(churn([a, a, a]), 0)
  t.equal(churn([a, b, a, a]), 2, 'a verdict coming and going is two changes')
  t.equal(churn([b, [...b].reverse()]), 0, 'order does not matter')
})

t.test('faults: distinct nodes, flapping schedules, partition sizes', async t => {
  const rng = mulberry32(42)
  for (let k = 0; k < 50; k++) {
    const fs = drawFaults(['partition', 'one-way'], 10, rng, 12)
    const nodes = fs.flatMap(f => f.nodes)
    t.equal(new Set(nodes).size, nodes.length, 'no node in two faults')
    const g = fs[0]?.nodes.length ?? 0
    if (g < 2 || g > 3) t.fail(`partition of ${g} in a cluster of 10`)
  }
  const s = flapSchedule(mulberry32(7), 12)
  t.equal(s.length, 12)
  t.equal(s[0], true, 'starts down')
  const runs: number[] = []
  s.forEach((x, i) => { if (i === 0 || x !== s[i - 1]) runs.push(1); else runs[runs.length - 1] = (runs.at(-1) ?? 0) + 1 })
  t.ok(runs.slice(0, -1).every(r => r >= 1 && r <= 2), `phases of 1-2 rounds: ${runs.join(',')}`)
})

t.test('world and observer: a node down stops answering and is lost after the TTL; a partition cuts gossip', async t => {
  const rng = mulberry32(3)
  const faults = drawFaults(['node-down', 'partition'], 10, rng, 12)
  const down = faults[0]?.nodes[0] as number
  const group = faults[1]?.nodes ?? []
  const world = new World({ n: 10, faults, faultStart: 2, rng, epochRound: 0, wallEpoch: 0 })
  const observer = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].find(i => i !== down && !group.includes(i)) as number
  const view = new ObserverView(world, observer, 9_000, mulberry32(1))
  const other = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].find(i => i !== down && i !== observer && !group.includes(i)) as number
  for (let r = 0; r < 6; r++) {
    world.step()
    const input = view.tick(r)
    const into = world.recordAt(other, r).results.host.get(`10.0.0.${down}`)
    if (r < 2) {
      t.equal(into?.received, 3, `round ${r}: healthy`)
      t.equal(input.lost.length, 0)
    } else {
      t.equal(into?.received, 0, `round ${r}: the down node answers no echo`)
      t.equal(into?.tcp, 'timeout')
      t.notOk(world.hearable(down, observer, r))
      t.notOk(world.hearable(group[0] as number, observer, r), 'the other side of a partition is not heard')
      t.ok(world.hearable(group[0] as number, group[1] as number, r), 'its own side is')
    }
    if (r >= 4) t.ok(input.lost.some(l => l.record.identity.podName === `agent-${down}` && l.silentMs > TTL_MS), `round ${r}: lost`)
    t.ok(input.live.some(l => l.record.identity.podName === `agent-${observer}` && l.silentMs === 0), 'the observer holds itself')
  }
})

t.test('seeded scenarios at 10 agents replay exactly and score within bounds', async t => {
  for (const [kinds, seed] of [[['node-down'], 11], [['one-way'], 12], [['port-closed'], 13], [['gossip-cut'], 14]] as const) {
    const spec = { n: 10, kinds: [...kinds], seed }
    const a = runScenario(spec)
    const b = runScenario(spec)
    t.same(b.main.rounds, a.main.rounds, `${kinds.join('+')} seed ${seed}: the same seed replays the same verdicts`)
    t.same(a.truth, a.faults.flatMap(f => f.culprits))
    t.equal(a.main.rounds.length, 8, 'the rounds after the allowance are scored')
    t.ok(a.main.rounds.every(r => r.round >= HEALTHY_ROUNDS + 4))
    for (const x of [a.main.precision, a.main.recall]) t.ok(x >= 0 && x <= 1)
    t.equal(a.self !== null, kinds[0] === 'gossip-cut', 'the culprit\'s own view is scored for a gossip cut only (of these)')
    // the scoring of a real run: the truth itself as verdicts is perfect, one more blamed node is not
    const perfect = a.truth.map(c => v('isolated', [c]))
    t.same(scoreRound(perfect, a.truth), { precision: 1, recall: 1, falsePositives: [], missed: [] })
    const stranger = `node-${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].find(i => !a.faults.some(f => f.nodes.includes(i))) ?? 0}`
    t.equal(scoreRound([...perfect, v('lossy', [stranger])], a.truth).precision, perfect.length / (perfect.length + 1))
  }
})
