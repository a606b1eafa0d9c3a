// Starts agents as child processes on loopback (each on its own 127.x address) for the demo and the tests.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The production entry point; benchmarks that trace the mesh (K8SNET_TRACE_ACCEPTED=1) get the traced one. */
const MAIN = fileURLToPath(new URL('../src/node/main.ts', import.meta.url))
const TRACED_MAIN = fileURLToPath(new URL('./traced-main.ts', import.meta.url))
/** The production bundle (npm run build): what the image runs. */
export const BUNDLE = fileURLToPath(new URL('../dist/agent.mjs', import.meta.url))

/** The benchmarks' floor (bench/raw-gossip-node.ts: a bare gossipsub node of the same stack), built as BUNDLE is. */
export const FLOOR_BUNDLE = fileURLToPath(new URL('../dist/raw-gossip-node.mjs', import.meta.url))

/** Builds BUNDLE as the Dockerfile does (tools/build.ts), and FLOOR_BUNDLE beside it; throws with the build's errors. */
export function buildBundle (): void {
  const b = spawnSync(process.execPath, [fileURLToPath(new URL('./build.ts', import.meta.url)), '--with-floor'], { encoding: 'utf8' })
  if (b.status !== 0) throw new Error(`npm run build failed: ${b.stderr}`)
}
/**
 * Agents run from source load the libp2p stack from node_modules: these flags give it the production build's patches
 * (tools/build-plugins.ts), so tests and benchmarks run the stack the image runs.
 */
export const STACK_PATCH_FLAGS: readonly string[] = ['--import', fileURLToPath(new URL('./stack-patch-hooks.ts', import.meta.url))]
/** The flags that give `script` the patched stack: a source script (.ts) needs the hooks, a bundle has them built in. */
export const stackPatchFlagsFor = (script: string): readonly string[] => script.endsWith('.ts') ? STACK_PATCH_FLAGS : []
/**
 * Node flags of launched agents: none by default, and in particular not the parent's own (a test runner's loaders
 * would ride along into every agent, ~160 MB each). Launched agents favour start-up (the join-time tests).
 */
const NODE_FLAGS: readonly string[] = []
/**
 * The V8 flags the image runs the agent with (Dockerfile ENTRYPOINT; the deploy test holds the two together):
 * - a small young generation keeps RSS near the heap, and spares the agent the long memory-reducing collection that
 *   follows a young generation grown to its default 16 MB at start-up (about 0.2 s more start-up);
 * - scavenges on the main thread alone: a parallel one waits for helper threads that a busy node (or a CPU quota)
 *   may not schedule at once, and a 2 MB young generation gains nothing from them (bench/notes/log/mesh-timing.md;
 *   --single-threaded-gc did as well for latency but cost 15 MB of RSS).
 */
export const IMAGE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--no-parallel-scavenge']
/** The environment the image sets for the agent (Dockerfile ENV; the deploy test holds the two together). */
export const IMAGE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' }

export interface AgentProcessOptions {
  name: string
  ip: string
  /** Gossip addresses of every agent (ip or ip:port), the static discovery list. */
  peers: string[]
  env?: Record<string, string>
  /** Where the agent's JSON log goes: a file path, 'inherit', or dropped when absent. */
  log?: string | 'inherit'
  /** Receives the agent's plain-text stdout lines (the report), as opposed to its JSON log lines. */
  onText?: (line: string) => void
  /** A command the agent runs under, e.g. ['ip', 'netns', 'exec', 'ns1'] (it must exec, keeping fds and env). */
  prefix?: string[]
  /** Node flags for this agent instead of NODE_FLAGS (e.g. IMAGE_NODE_FLAGS, to run it as the image does). */
  nodeFlags?: readonly string[]
  /** The entry point instead of src/node/main.ts (BUNDLE, built by npm run build, is what the image runs). */
  script?: string
}

export interface AgentProcess {
  name: string
  ip: string
  apiUrl: string
  child: ChildProcess
  /** Resolves with the peer id once the agent has started, rejects if it exits first. */
  ready: Promise<string>
  exited: Promise<number | null>
  startedAt: number
}

export function agentEnv (o: AgentProcessOptions): Record<string, string> {
  return {
    NODE_IP: o.ip,
    POD_IP: o.ip,
    POD_NAME: o.name,
    NODE_NAME: `node-${o.name}`,
    NAMESPACE: 'demo',
    LISTEN_ADDRESS: o.ip,
    STATIC_PEERS: o.peers.join(','),
    LOG_LEVEL: 'info',
    ...o.env
  }
}

export function startAgentProcess (o: AgentProcessOptions): AgentProcess {
  const env = agentEnv(o)
  const toFile = o.log !== undefined && o.log !== 'inherit'
  const stdio = o.log === 'inherit'
    ? ['ignore', 'inherit', 'inherit', 'ipc'] as const
    : ['ignore', toFile || o.onText !== undefined ? 'pipe' : 'ignore', 'pipe', 'ipc'] as const
  const childEnv = { PATH: process.env.PATH ?? '', ...env }
  const main = o.script ?? (env.K8SNET_TRACE_ACCEPTED === '1' ? TRACED_MAIN : MAIN)
  const flags = [...stackPatchFlagsFor(main), ...(o.nodeFlags ?? NODE_FLAGS)]
  const child = o.prefix === undefined || o.prefix.length === 0
    ? fork(main, [], { env: childEnv, execPath: process.execPath, execArgv: flags, stdio: [...stdio] })
    : spawn(o.prefix[0] as string, [...o.prefix.slice(1), process.execPath, ...flags, main], { env: childEnv, stdio: [...stdio] })
  const out = toFile && o.log !== undefined ? createWriteStream(o.log, { flags: 'a' }) : null
  if (out !== null) child.stderr?.pipe(out)
  if (child.stdout !== null) {
    createInterface({ input: child.stdout }).on('line', line => {
      out?.write(line + '\n')
      if (o.onText !== undefined && !line.startsWith('{')) o.onText(line)
    })
  }
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000) })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  const ready = new Promise<string>((resolve, reject) => {
    child.on('message', (m: unknown) => {
      const msg = m as { ready?: boolean, peerId?: string }
      if (msg.ready === true) resolve(msg.peerId ?? '')
    })
    void exited.then(code => { reject(new Error(`${o.name} exited (${code}) before it was ready: ${stderr.trim()}`)) })
  })
  ready.catch(() => {})
  return { name: o.name, ip: o.ip, apiUrl: `http://${o.ip}:${env.HTTP_PORT ?? '8080'}`, child, ready, exited, startedAt: Date.now() }
}

export async function stopAgentProcess (a: AgentProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill(signal)
  return await a.exited
}

export async function getJson<T = unknown> (url: string, timeoutMs = 2_000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`)
  return await res.json() as T
}

/** Polls `check` until it returns true or the time runs out; returns the elapsed ms, or throws. */
export async function waitUntil (what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<number> {
  const start = Date.now()
  for (;;) {
    try { if (await check()) return Date.now() - start } catch { /* not yet */ }
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

/** The pod IPs in an agent's view, read through its API. */
export async function podIpsOf (a: AgentProcess): Promise<string[]> {
  const r = await getJson<{ pod_ips: string[] }>(`${a.apiUrl}/api/v1/pods`)
  return r.pod_ips
}
