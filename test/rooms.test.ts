// The rooms of src/ and their arrows (docs/architecture.md): no import cycle, and every import points down.
import { readdirSync, readFileSync } from 'node:fs'
import { join, posix, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/** Which rooms each room may import from: the one statement of the allowed direction. */
const ROOM_ARROWS: Record<string, string[]> = {
  shared: [],
  core: ['shared'],
  kube: ['core', 'shared'],
  gossip: ['core', 'shared'],
  probe: ['core', 'shared'],
  report: ['core', 'shared'],
  election: ['gossip', 'kube', 'core', 'shared'],
  api: ['report', 'probe', 'core', 'shared'],
  node: ['api', 'election', 'report', 'probe', 'gossip', 'kube', 'core', 'shared']
}

/** Imports that go against ROOM_ARROWS (or to no file of the graph), as "from -> to". */
function againstArrows (graph: Map<string, string[]>): string[] {
  const out: string[] = []
  for (const [f, deps] of graph) {
    const room = f.split('/')[0] as string
    for (const d of deps) {
      const to = d.split('/')[0] as string
      if (!(room in ROOM_ARROWS)) out.push(`${f}: not in a known room`)
      else if (to !== room && !(ROOM_ARROWS[room] ?? []).includes(to)) out.push(`${f} -> ${d}`)
      else if (!graph.has(d)) out.push(`${f} -> ${d} (no such file)`)
    }
  }
  return out
}

/** The import cycles of a graph: its strongly connected components of more than one file (Tarjan). */
function importCycles (graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const cycles: string[][] = []
  const visit = (v: string): void => {
    index.set(v, index.size)
    low.set(v, index.get(v) as number)
    stack.push(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v) as number, low.get(w) as number)) } else if (stack.includes(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number))
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = []
      let w: string
      do { w = stack.pop() as string; scc.push(w) } while (w !== v)
      if (scc.length > 1) cycles.push(scc.sort())
    }
  }
  for (const f of graph.keys()) if (!index.has(f)) visit(f)
  return cycles
}

t.test('src/: no import cycle, and every import points down the rooms\' arrows', async t => {
  const srcDir = fileURLToPath(new URL('../src/', import.meta.url))
  const files = readdirSync(srcDir, { recursive: true, encoding: 'utf8' }).filter(f => f.endsWith('.ts')).map(f => f.split(sep).join('/'))
  const graph = new Map<string, string[]>()
  for (const f of files) {
    const text = readFileSync(join(srcDir, f), 'utf8')
    graph.set(f, [...text.matchAll(/^(?:import|export)\b[^'"]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gm)].map(m => posix.normalize(posix.join(posix.dirname(f), m[1] as string))))
  }
  t.ok(files.length > 50, `${files.length} source files read`)
  t.same(files.filter(f => !((f.split('/')[0] as string) in ROOM_ARROWS)), [], 'every file is in a room')
  t.same(againstArrows(graph), [], 'no import against the arrows')
  t.same(importCycles(graph), [], 'no import cycle')
  // the checks catch what they are for (a made-up graph)
  const bad = new Map([['core/a.ts', ['report/b.ts']], ['report/b.ts', ['core/c.ts']], ['core/c.ts', ['core/a.ts']]])
  t.same(againstArrows(bad), ['core/a.ts -> report/b.ts'], 'an upward arrow is caught')
  t.same(importCycles(bad), [['core/a.ts', 'core/c.ts', 'report/b.ts']], 'and a cycle')
})
