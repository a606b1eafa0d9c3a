// A small shell kept running beside the agent that starts fping for each round: forking the agent itself (150+ MB)
// blocks its event loop ~10 ms per round, which showed up as gossip latency; forking a 1-MB shell costs nothing.
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'

/** One run of fping: its exit code and what it printed (both streams). */
export interface FpingRun { code: number, output: string }

const DONE = '@@k8snet-fping-done '
const MAX_OUTPUT = 4 * 1024 * 1024
/** Word-split the request line without globbing; run fping with it; report the exit code after its output. */
const SCRIPT = `set -f
while IFS= read -r line; do
  set -- $line
  "$FPING" "$@" </dev/null 2>&1
  echo "${DONE}$?"
done`

/** A token the shell passes through word splitting unchanged: options and IP addresses only. */
const SAFE = /^[A-Za-z0-9.:-]+$/

interface Pending { resolve: (r: FpingRun) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }

export class FpingLauncher {
  private readonly path: string
  private readonly shell: string
  private child: ChildProcessByStdio<Writable, Readable, null> | null = null
  private buffer = ''
  private pending: Pending | null = null
  private queue: Promise<unknown> = Promise.resolve()

  constructor (fpingPath: string, shell = '/bin/sh') {
    this.path = fpingPath
    this.shell = shell
  }

  /** Runs `fping args...` (one run at a time); rejects when the shell cannot run or the run outlasts `timeoutMs`. */
  async run (args: string[], timeoutMs: number): Promise<FpingRun> {
    const bad = args.find(a => !SAFE.test(a))
    if (bad !== undefined) throw new Error(`refusing an fping argument the shell would split: ${JSON.stringify(bad.slice(0, 60))}`)
    const run = this.queue.then(async () => await this.runNow(args, timeoutMs))
    this.queue = run.catch(() => {})
    return await run
  }

  /** Ends the shell (it exits when its input closes); resolves once it has exited. */
  async stop (): Promise<void> {
    const child = this.child
    this.child = null
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
    child.stdin.end()
    await exited
  }

  private async runNow (args: string[], timeoutMs: number): Promise<FpingRun> {
    const child = this.child ?? this.startShell()
    return await new Promise<FpingRun>((resolve, reject) => {
      const timer = setTimeout(() => {
        // abandon this shell at once (a hung fping may hold its output open long after the shell is killed)
        if (this.child === child) this.child = null
        child.stdout.destroy()
        child.kill('SIGKILL')
        this.fail(new Error(`fping gave no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending = { resolve, reject, timer }
      this.buffer = ''
      child.stdin.write(args.join(' ') + '\n')
    })
  }

  private startShell (): ChildProcessByStdio<Writable, Readable, null> {
    const child = spawn(this.shell, ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, FPING: this.path } })
    this.child = child
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d: string) => { this.take(d) })
    child.stdin.on('error', () => {})
    child.once('error', (e) => { this.gone(child, new Error(`cannot start ${this.shell}: ${e.message}`)) })
    child.once('exit', (code, signal) => { this.gone(child, new Error(`the fping shell exited (${signal ?? code})`)) })
    return child
  }

  private take (d: string): void {
    if (this.pending === null) return
    this.buffer += d
    if (this.buffer.length > MAX_OUTPUT) this.buffer = this.buffer.slice(-MAX_OUTPUT)
    const at = this.buffer.lastIndexOf(DONE)
    if (at < 0) return
    const end = this.buffer.indexOf('\n', at)
    if (end < 0) return
    const code = Number(this.buffer.slice(at + DONE.length, end))
    const output = this.buffer.slice(0, at)
    const p = this.pending
    this.pending = null
    clearTimeout(p.timer)
    p.resolve({ code, output })
  }

  private gone (child: ChildProcessByStdio<Writable, Readable, null>, err: Error): void {
    // a shell already abandoned (timed out) says nothing about the run under way now
    if (this.child !== child) return
    this.child = null
    this.fail(err)
  }

  private fail (err: Error): void {
    const p = this.pending
    if (p === null) return
    this.pending = null
    clearTimeout(p.timer)
    p.reject(err)
  }
}
