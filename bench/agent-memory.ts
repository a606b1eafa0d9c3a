// Benchmark: agent memory. (1) The resident set of real agents with 10 live peers on loopback, read from
// /proc/<pid>/status after steady state. (2) What a 1000-agent view adds: a child process (--expose-gc) fills a real
// View with 1000 agents' records the way an agent does (decoded gossip, then a few rounds of deltas) and reports RSS
// and heap before and after, after gc.
import { fork } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { AgentRecord, GossipMessage, Identity, LayerDelta, PathResult } from '../src/core/record.ts'
import { BUNDLE, buildBundle, getJson, IMAGE_ENV, IMAGE_NODE_FLAGS, startAgentProcess, stopAgentProcess, waitUntil, type AgentProcess } from '../tools/launcher.ts'
import { identities } from './gossip-bytes.ts'
import { procCpuMs, row, type Row, type Suite } from './suite.ts'

const MB = 1024 * 1024

/** VmRSS of a process, in bytes. */
export function vmRss (pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (m === null) throw new Error(`no VmRSS for ${pid}`)
  return Number(m[1]) * 1024
}

/** Resident bytes of a process by mapping kind, from /proc/<pid>/smaps. */
export interface RssByMapping {
  /** glibc's main heap (the [heap] mapping, what brk grew): malloc'd memory, not V8's. */
  brk: number
  /** Other anonymous mappings: V8's heap pages, malloc's mmap'd chunks, thread stacks. */
  anon: number
  /** File-backed mappings: the Node binary's text, shared libraries. */
  file: number
}

export function rssByMapping (pid: number): RssByMapping {
  const out = { brk: 0, anon: 0, file: 0 }
  let kind: keyof RssByMapping = 'anon'
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line)
    if (head !== null) {
      const path = head[2] ?? ''
      kind = path === '[heap]' ? 'brk' : head[1] !== '0' || path.startsWith('/') ? 'file' : 'anon'
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss !== null) out[kind] += Number(rss[1]) * 1024
  }
  return out
}

/** Resident bytes of a process's glibc main heap (the [heap] mapping, what brk grew): malloc'd memory, not V8's. */
export function brkHeapRss (pid: number): number { return rssByMapping(pid).brk }

interface Health { view_size: number, peers_connected: number, connections: number, probes: { rounds: number } }

/**
 * Starts n agents, waits for a converged mesh and a few probe rounds, returns each agent's RSS (several reads) and
 * its CPU share over the steady-state wait.
 */
async function clusterRss (n: number, ipPrefix: string, steadyMs: number, reads: number, env: Record<string, string>, nodeFlags?: readonly string[], script?: string): Promise<{ rss: number[][], cpu: number[] }> {
  const ips = Array.from({ length: n }, (_, i) => `${ipPrefix}${i + 1}`)
  const agents: AgentProcess[] = ips.map((ip, i) => startAgentProcess({ name: `mem-${i + 1}`, ip, peers: ips, env, ...(nodeFlags === undefined ? {} : { nodeFlags }), ...(script === undefined ? {} : { script }) }))
  try {
    await Promise.all(agents.map(async a => await a.ready))
    const health = async (): Promise<Health[]> => await Promise.all(agents.map(async a => await getJson<Health>(`${a.apiUrl}/api/v1/health`, 10_000)))
    await waitUntil('every view to hold every agent', async () => (await health()).every(h => h.view_size === n && h.peers_connected === n - 1), 40_000, 200)
    const c0 = agents.map(a => procCpuMs(a.child.pid ?? -1))
    const t0 = Date.now()
    await sleep(steadyMs)
    const cpu = agents.map((a, i) => (procCpuMs(a.child.pid ?? -1) - (c0[i] ?? 0)) / (Date.now() - t0))
    const hs = await health()
    if (hs.some(h => h.probes.rounds < 1)) throw new Error('an agent has not probed yet')
    const out: number[][] = agents.map(() => [])
    for (let r = 0; r < reads; r++) {
      for (const [i, a] of agents.entries()) out[i]?.push(vmRss(a.child.pid ?? -1))
      if (r < reads - 1) await sleep(2_000)
    }
    return { rss: out, cpu }
  } finally {
    await Promise.all(agents.map(async a => await stopAgentProcess(a, 'SIGKILL')))
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the child: a 1000-agent view

export interface ViewMemory { paths: number, rssBefore: number, rssFilled: number, rssAfterGc: number, heapBefore: number, heapAfterGc: number, agents: number }

/**
 * What an agent receives while its view of `agents` agents fills, as wire bytes: a warm-up anti-entropy answer (two
 * records), the joining answer with every record, then three probe rounds of deltas (agent 0..n-1 in each round).
 * Built by the parent: the senders live in other processes, and their garbage must not stay in the measured one
 * (V8 keeps the pages of a burst's garbage for reuse after an ordinary gc, see the notes).
 */
async function viewWire (agents: number, perLayer: number): Promise<Uint8Array[]> {
  const { encodeMessage, encodeSyncResponse } = await import('../src/core/codec.ts')
  const { newAgentKey } = await import('../src/core/keys.ts')
  const ids = viewIdentities(agents)
  // every record and delta carries a seal as agents send them (64 random-looking bytes; one key signs for all)
  const key = newAgentKey()
  const sealOf = (i: number, r: number): string => Buffer.from(key.sign(new TextEncoder().encode(`${i}/${r}`))).toString('base64')
  const inc = (i: number): number => 1_732_000_000_000 + i
  // agent i's results in round r: `perLayer` host and pod targets, the rotating sample of src/probe/targets.ts, with
  // values from a stateless hash
  const targets = (i: number, r: number): number[] =>
    Array.from({ length: Math.min(perLayer, agents - 1) }, (_, m) => (i + 1 + ((r * perLayer + m) % (agents - 1))) % agents)
  const path = (i: number, t: number, layer: number, r: number): PathResult => {
    let h = (i * 73856093) ^ (t * 19349663) ^ (layer * 83492791) ^ (r * 2654435761)
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0
    const rttMs = 0.15 + (h % 1000) / 740
    const connectMs = 0.2 + ((h >>> 10) % 1000) / 555
    const target = layer === 0 ? ids[t]?.nodeIp ?? '' : ids[t]?.podIp ?? ''
    return { target, port: layer === 0 ? 22 : 6100, sent: 3, received: 3, rttMs, tcp: 'open', connectMs, durationMs: Math.max(rttMs * 1.3, connectMs) + 0.05, checkedAt: 1_732_000_000_000 + r * 10_000 }
  }
  const layer = (i: number, r: number, l: number): Map<string, PathResult> => new Map(targets(i, r).map(t => { const p = path(i, t, l, r); return [p.target, p] }))
  const record = (i: number): AgentRecord => ({ identity: ids[i] as AgentRecord['identity'], inc: inc(i), seq: 1, rv: 0, results: { host: layer(i, 0, 0), pod: layer(i, 0, 1), service: null }, leader: false, seal: { seq: 1, sig: sealOf(i, 0) } })
  const answer = (of: number[]): Uint8Array => encodeSyncResponse({ full: of.map(i => ({ record: record(i), ageMs: 0 })), touch: [], externals: [], extTouch: [], left: [] })
  const out = [answer([0, 1]), answer(ids.map((_, i) => i))]
  // three probe rounds of deltas (each rotation replaces the sample)
  for (let r = 1; r <= 3; r++) {
    for (let i = 0; i < agents; i++) {
      const delta = (l: number): LayerDelta => {
        const next = layer(i, r, l)
        return { upsert: [...next.values()], remove: [...layer(i, r - 1, l).keys()].filter(ip => !next.has(ip)) }
      }
      const msg: GossipMessage = { t: 'delta', origin: ids[i]?.podName ?? '', inc: inc(i), seq: 1 + r, base: r - 1, rv: r, host: delta(0), pod: delta(1), service: undefined, seal: sealOf(i, r) }
      out.push(encodeMessage(msg))
    }
  }
  return out
}

/** The view's agents (the same in the parent, which encodes their messages, and the child, which checks signers). */
function viewIdentities (agents: number): Identity[] {
  let seed = 7
  const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
  return identities(agents, rand)
}

/** Length-prefixed messages in one buffer, and back (the child reads them as views of one allocation). */
function packWire (msgs: Uint8Array[]): Buffer {
  const out = Buffer.alloc(msgs.reduce((s, m) => s + 4 + m.byteLength, 0))
  let at = 0
  for (const m of msgs) { out.writeUInt32LE(m.byteLength, at); out.set(m, at + 4); at += 4 + m.byteLength }
  return out
}

function unpackWire (buf: Buffer): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let at = 0; at < buf.byteLength; at += 4 + buf.readUInt32LE(at)) out.push(buf.subarray(at + 4, at + 4 + buf.readUInt32LE(at)))
  return out
}

async function viewChild (agents: number, wireFile: string): Promise<ViewMemory> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  // everything the view needs is loaded before the first reading
  const { decodeMessage, decodeSyncResponse } = await import('../src/core/codec.ts')
  const { View } = await import('../src/core/view.ts')
  const settle = async (): Promise<void> => { for (let i = 0; i < 3; i++) { gc(); await sleep(50) } }
  const ids = viewIdentities(agents)
  // the senders' bytes: one allocation, held until the last reading (in both readings, so they add nothing)
  const wire = readFileSync(wireFile)
  const [warmUp, joining, ...deltas] = unpackWire(wire)
  if (warmUp === undefined || joining === undefined || deltas.length !== 3 * agents) throw new Error(`${wireFile}: not the wire of ${agents} agents`)
  // a warm-up view, thrown away: code paths compiled, lazily created structures in place
  new View({ ttlMs: 15_000, maxExternal: 256 }).merge(decodeSyncResponse(warmUp), 0)
  await settle()
  const rssBefore = process.memoryUsage().rss
  const heapBefore = process.memoryUsage().heapUsed
  const view = new View({ ttlMs: 15_000, maxExternal: 256 })
  // joining: the whole view in one anti-entropy answer
  view.merge(decodeSyncResponse(joining), 0)
  // then three probe rounds of deltas as they arrive, 100 messages at a time
  for (const [k, bytes] of deltas.entries()) {
    const i = k % agents
    const outcome = view.apply(decodeMessage(bytes), ids[i]?.peerId ?? '', 1 + Math.floor(k / agents))
    if (outcome !== 'accepted') throw new Error(`delta ${outcome}`)
    if (i % 100 === 99) await sleep(1)
  }
  const rssFilled = process.memoryUsage().rss
  await settle()
  const mem = process.memoryUsage()
  const held = view.agentEntries()
  const paths = held.reduce((s, e) => s + e.record.results.host.size + e.record.results.pod.size, 0) / held.length
  if (held.length !== agents) throw new Error(`the view holds ${held.length} agents, not ${agents}`)
  // (read after the last reading, so the senders' bytes cannot be freed before it)
  if (wire.byteLength === 0) throw new Error('no wire')
  return { agents, paths, rssBefore, rssFilled, rssAfterGc: mem.rss, heapBefore, heapAfterGc: mem.heapUsed }
}

if (process.env.K8SNET_BENCH_VIEW_CHILD !== undefined) {
  const [agents, wireFile] = process.env.K8SNET_BENCH_VIEW_CHILD.split(',')
  viewChild(Number(agents ?? 1000), wireFile ?? '')
    .then(r => { process.send?.(r); process.disconnect?.() })
    .catch((err: unknown) => { process.stderr.write(`${String((err as Error).stack ?? err)}\n`); process.exit(1) })
}

export async function viewMemory (agents: number, perLayer: number, nodeFlags: string[] = []): Promise<ViewMemory> {
  const dir = mkdtempSync(join(tmpdir(), 'k8snet-bench-view-'))
  try {
    const wireFile = join(dir, 'wire')
    writeFileSync(wireFile, packWire(await viewWire(agents, perLayer)))
    const child = fork(fileURLToPath(import.meta.url), [], {
      execArgv: ['--expose-gc', ...nodeFlags],
      env: { PATH: process.env.PATH ?? '', K8SNET_BENCH_VIEW_CHILD: `${agents},${wireFile}` },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc']
    })
    return await new Promise<ViewMemory>((resolve, reject) => {
      child.once('message', m => { resolve(m as ViewMemory) })
      child.once('exit', code => { reject(new Error(`view child exited (${code}) without an answer`)) })
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** The image's flags as rows name them (a smaller young generation among them: what the agent's RSS is made of beyond its live heap, see the notes). */
const IMAGE_FLAGS = IMAGE_NODE_FLAGS.join(' ')

export const agentMemorySuite: Suite = {
  name: 'agent-memory',
  title: 'Agent memory',
  method: 'RSS: 10 real agents on loopback (127.0.4.x, started like the tests do: src/ under Node\'s type stripping, ' +
    'no V8 flags, on a host with no memory limit) with default intervals; after the mesh converged and 30 s of steady ' +
    'state (probe rounds, heartbeats), VmRSS from /proc/<pid>/status, read three times 2 s apart; the figure is the ' +
    'median over agents, reads and runs (each run a new cluster). View: a child process run with --expose-gc fills a ' +
    'real View with 1000 agents\' records the way an agent does (joining: one anti-entropy answer with every record, ' +
    'decoded; then three probe rounds of deltas of a rotating sample, decoded and merged, 100 at a time) and reports ' +
    'RSS and V8 heap before filling and after filling + gc. The senders\' wire bytes are encoded by the parent and ' +
    'read by the child, as one buffer, before the first reading (held until the last), so the measured process only ' +
    'decodes and merges. Rows marked ' + IMAGE_FLAGS + ' use the V8 flags the ' +
    'image runs the agent with (Dockerfile ENTRYPOINT); the goals judge those. The cluster row "as the image runs it" ' +
    'also runs the production bundle (dist/agent.mjs, built first by tools/build.ts as the Dockerfile does) with the image\'s environment (' + Object.entries(IMAGE_ENV).map(([k, v]) => `${k}=${v}`).join(' ') + ').',
  async run (ctx) {
    const rows: Row[] = []
    const runs = ctx.smoke ? 1 : Math.max(1, Math.min(ctx.runs, 3))
    // smoke runs (CI) exercise the code; their short, small figures are not judged against the goals
    const judged = (goal: string, limit: number): [string, number | null] => ctx.smoke ? ['', null] : [goal, limit]
    const n = ctx.smoke ? 4 : 10
    const env = { TEST_PORT: '8080', LOG_LEVEL: 'warn', ...(ctx.smoke ? { PROBE_INTERVAL: '2', HEARTBEAT_INTERVAL: '1', CACHE_KEY_SECOND: '4' } : {}) }
    // (node flags, not NODE_OPTIONS: Node refuses some V8 flags there, --single-threaded-gc among them)
    const variants: Array<[string, readonly string[] | undefined, number]> = [['', undefined, runs], ...(ctx.smoke ? [] : [[IMAGE_FLAGS, IMAGE_NODE_FLAGS, Math.min(runs, 2)] as [string, readonly string[], number]])]
    // the image's way: the production bundle (built here as the Dockerfile builds it) with the image's flags
    if (!ctx.smoke) buildBundle()
    for (const [flag, nodeFlags, times] of variants) {
      const rss: number[] = []
      for (let r = 0; r < times; r++) {
        const { rss: perAgent, cpu } = await clusterRss(n, '127.0.4.', ctx.smoke ? 3_000 : 30_000, ctx.smoke ? 1 : 3, nodeFlags === undefined ? env : { ...env, ...IMAGE_ENV }, nodeFlags, nodeFlags === undefined ? undefined : BUNDLE)
        ctx.log(`${flag === '' ? 'as launched' : flag}, run ${r + 1}: ${n} agents, RSS per agent ${perAgent.map(a => (Math.max(...a) / MB).toFixed(0)).join(' ')} MB (max of reads); ` +
          `CPU in steady state ${cpu.map(c => (c * 100).toFixed(1)).join(' ')} % of a core`)
        rss.push(...perAgent.flat().map(b => b / MB))
      }
      // the image runs the agent with the flag (Dockerfile ENTRYPOINT): that is the configuration the goal judges
      rows.push(flag === ''
        ? row(`agent RSS with ${n - 1} live peers, no V8 flags (as tests and the demo launch it)`, 'MB', rss)
        : row(`agent RSS with ${n - 1} live peers, the bundle, node ${flag} (as the image runs it)`, 'MB', rss, ...judged('<= 100 MB (issue 20)', 100)))
    }

    const agents = ctx.smoke ? 200 : 1000
    const viewRuns = ctx.smoke ? 1 : ctx.runs
    for (const [perLayer, flags] of [[10, []], [10, [...IMAGE_NODE_FLAGS]], [100, []]] as Array<[number, string[]]>) {
      const added: number[] = []
      const heap: number[] = []
      const filled: number[] = []
      let paths = 0
      for (let r = 0; r < viewRuns; r++) {
        const m = await viewMemory(agents, perLayer, flags)
        added.push((m.rssAfterGc - m.rssBefore) / MB)
        filled.push((m.rssFilled - m.rssBefore) / MB)
        heap.push((m.heapAfterGc - m.heapBefore) / MB)
        paths = m.paths
        ctx.log(`${agents} agents x ${m.paths.toFixed(0)} paths${flags.length > 0 ? ` (${flags.join(' ')})` : ''}: RSS ${(m.rssBefore / MB).toFixed(0)} MB before, ${(m.rssFilled / MB).toFixed(0)} MB filled, ` +
          `${(m.rssAfterGc / MB).toFixed(0)} MB after gc; heap ${(m.heapBefore / MB).toFixed(1)} -> ${(m.heapAfterGc / MB).toFixed(1)} MB`)
      }
      const main = perLayer === 10 && flags.length === 0
      const shipped = perLayer === 10 && flags.length > 0
      const what = `${agents}-agent view, ${paths.toFixed(0)} paths per record${perLayer === 10 ? '' : ' (pessimistic: 100 per layer)'}${flags.length > 0 ? `, node ${flags.join(' ')} (as the image runs it)` : ''}`
      rows.push(shipped ? row(`${what}: RSS added, after gc`, 'MB', added, ...judged('<= 50 MB', 50)) : row(`${what}: RSS added, after gc`, 'MB', added))
      if (flags.length > 0) continue
      rows.push(main ? row(`${what}: V8 heap added, after gc`, 'MB', heap, ...judged('<= 50 MB', 50)) : row(`${what}: V8 heap added, after gc`, 'MB', heap))
      if (main) rows.push(row(`${what}: RSS added while filling (before gc)`, 'MB', filled))
    }
    return rows
  }
}
