// Request/reply over a child process's IPC channel: the harness drives its helper processes with it.
import type { ChildProcess } from 'node:child_process'

export interface RpcRequest { id: number, cmd: string, [k: string]: unknown }
export interface RpcReply { id: number, ok: boolean, error?: string, [k: string]: unknown }

let nextId = 1

/** Sends a command to a helper and waits for its reply (rejects on an error reply, exit or timeout). */
export async function call<T extends Record<string, unknown>> (child: ChildProcess, cmd: string, args: Record<string, unknown> = {}, timeoutMs = 5_000): Promise<T & RpcReply> {
  const id = nextId++
  return await new Promise((resolve, reject) => {
    const done = (): void => { clearTimeout(timer); child.off('message', onMessage); child.off('exit', onExit) }
    const onMessage = (m: unknown): void => {
      const r = m as RpcReply
      if (r?.id !== id) return
      done()
      if (r.ok) resolve(r as T & RpcReply)
      else reject(new Error(`${cmd}: ${r.error ?? 'failed'}`))
    }
    const onExit = (): void => { done(); reject(new Error(`${cmd}: helper exited`)) }
    const timer = setTimeout(() => { done(); reject(new Error(`${cmd}: no reply in ${timeoutMs} ms`)) }, timeoutMs)
    child.on('message', onMessage)
    child.once('exit', onExit)
    child.send({ id, cmd, ...args })
  })
}

/** In a helper: answers the parent's commands with `handle`, and exits when the parent goes away. */
export function serve (handle: (req: RpcRequest) => Promise<Record<string, unknown>>): void {
  if (process.send === undefined) throw new Error('a harness helper must be started with an IPC channel')
  process.on('message', (m: unknown) => {
    const req = m as RpcRequest
    handle(req).then(
      out => process.send?.({ id: req.id, ok: true, ...out }),
      (err: unknown) => process.send?.({ id: req.id, ok: false, error: (err as Error).message })
    )
  })
  process.once('disconnect', () => process.exit(0))
}
