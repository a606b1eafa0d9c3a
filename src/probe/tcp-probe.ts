// One TCP connect with a deadline, classified: open, refused (host up, port closed), timeout, unreachable.
import { connect } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { TcpOutcome } from '../core/record.ts'

export interface TcpResult { tcp: TcpOutcome, connectMs: number | null }

/**
 * A refusal proves the host answered; a kernel timeout is a timeout; anything else (EHOSTUNREACH, ENETUNREACH,
 * EHOSTDOWN, EPERM from a local firewall...) means no path to the host.
 */
export function classifyTcpError (code: string | undefined): TcpOutcome {
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET') return 'refused'
  if (code === 'ETIMEDOUT') return 'timeout'
  return 'unreachable'
}

export async function tcpProbe (host: string, port: number, timeoutMs: number): Promise<TcpResult> {
  const start = performance.now()
  return await new Promise(resolve => {
    const socket = connect({ host, port, noDelay: true })
    let done = false
    const finish = (tcp: TcpOutcome, timed: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ tcp, connectMs: timed ? performance.now() - start : null })
    }
    const timer = setTimeout(() => { finish('timeout', false) }, timeoutMs)
    socket.once('connect', () => { finish('open', true) })
    socket.once('error', (e: NodeJS.ErrnoException) => {
      const tcp = classifyTcpError(e.code)
      finish(tcp, tcp !== 'timeout')
    })
  })
}
