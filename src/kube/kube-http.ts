// Plain calls to the apiserver on one kept-alive connection pool, with this agent's credentials and a bounded answer.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { KubeAccess, Obj } from './kube-access.ts'
import { VERSION } from '../shared/version.ts'

export interface KubeAnswer {
  status: number
  body: unknown
  /** The apiserver's clock (its Date header, 1 s resolution) minus this agent's when the answer came; null if absent. */
  clockOffsetMs: number | null
}

export interface KubeHttpOptions {
  /** A request with no complete answer by then fails. */
  timeoutMs: number
  /** An answer larger than this is cut and fails. */
  maxAnswerBytes: number
  /** The error a failed call throws (status 0: no answer at all). */
  error: (status: number, message: string) => Error
}

/** A long-lived GET whose answer is a stream of JSON objects, one per line (a watch). */
export interface KubeStream {
  /** Ends with the HTTP status when the stream ends (200: the server closed it), and the Status body of a failure. */
  done: Promise<{ status: number, body: unknown }>
  abort: () => void
}

export interface KubeHttp {
  /** The apiserver's base URL, without a trailing slash. */
  base: string
  call: (method: 'GET' | 'POST' | 'PUT', url: string, body?: Obj) => Promise<KubeAnswer>
  /** Streams a watch: each line's object to `onObject`; a line longer than maxAnswerBytes ends it with an error. */
  stream: (url: string, onObject: (o: unknown) => void, idleMs: number) => KubeStream
}

export function kubeHttp (access: KubeAccess, o: KubeHttpOptions): KubeHttp {
  const secure = access.server.protocol === 'https:'
  const agent = secure
    ? new HttpsAgent({
      keepAlive: true,
      maxSockets: 2,
      ...(access.ca === null ? {} : { ca: access.ca }),
      ...(access.clientCert === null ? {} : { cert: access.clientCert.cert, key: access.clientCert.key }),
      rejectUnauthorized: !access.insecure,
      ...(access.serverName === null ? {} : { servername: access.serverName })
    })
    : new HttpAgent({ keepAlive: true, maxSockets: 2 })
  const { timeoutMs, maxAnswerBytes } = o
  const call = async (method: 'GET' | 'POST' | 'PUT', url: string, body?: Obj): Promise<KubeAnswer> => {
    let authorization: string | null
    try {
      authorization = await access.authorization()
    } catch (err) {
      throw o.error(0, `no credentials for the apiserver: ${(err as Error).message}`)
    }
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const headers: Record<string, string | number> = { accept: 'application/json', 'user-agent': `k8snet-checker/${VERSION}` }
    if (authorization !== null) headers.authorization = authorization
    if (payload !== undefined) { headers['content-type'] = 'application/json'; headers['content-length'] = payload.length }
    return await new Promise<KubeAnswer>((resolve, reject) => {
      const send = secure ? httpsRequest : httpRequest
      const req = send(url, { method, headers, agent, timeout: timeoutMs }, (res: IncomingMessage) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > maxAnswerBytes) { req.destroy(new Error(`answer larger than ${maxAnswerBytes} bytes`)); return }
          chunks.push(c)
        })
        res.on('error', (err) => { reject(o.error(0, `apiserver answer cut: ${err.message}`)) })
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let parsed: unknown = null
          try { parsed = text === '' ? null : JSON.parse(text) } catch { /* judged by the caller */ }
          const date = Date.parse(res.headers.date ?? '')
          resolve({ status: res.statusCode ?? 0, body: parsed, clockOffsetMs: Number.isNaN(date) ? null : date + 500 - Date.now() })
        })
      })
      req.on('timeout', () => { req.destroy(new Error(`no answer within ${timeoutMs} ms`)) })
      req.on('error', (err) => { reject(o.error(0, `apiserver unreachable: ${err.message}`)) })
      req.end(payload)
    })
  }
  // a watch holds its connection for minutes: its own pool, so the Lease's calls never wait behind it
  const streamAgent = secure
    ? new HttpsAgent({ keepAlive: false, ...(access.ca === null ? {} : { ca: access.ca }), ...(access.clientCert === null ? {} : { cert: access.clientCert.cert, key: access.clientCert.key }), rejectUnauthorized: !access.insecure, ...(access.serverName === null ? {} : { servername: access.serverName }) })
    : new HttpAgent({ keepAlive: false })
  const stream = (url: string, onObject: (o: unknown) => void, idleMs: number): KubeStream => {
    let abort = (): void => {}
    const done = (async () => {
      let authorization: string | null
      try {
        authorization = await access.authorization()
      } catch (err) {
        throw o.error(0, `no credentials for the apiserver: ${(err as Error).message}`)
      }
      const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `k8snet-checker/${VERSION}` }
      if (authorization !== null) headers.authorization = authorization
      return await new Promise<{ status: number, body: unknown }>((resolve, reject) => {
        const send = secure ? httpsRequest : httpRequest
        const req = send(url, { method: 'GET', headers, agent: streamAgent, timeout: idleMs }, (res: IncomingMessage) => {
          const status = res.statusCode ?? 0
          let pending = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => {
            pending += chunk
            // a failure's Status object is read whole at the end
            if (status !== 200) { if (pending.length > maxAnswerBytes) req.destroy(new Error('answer too large')); return }
            let nl: number
            while ((nl = pending.indexOf('\n')) >= 0) {
              const line = pending.slice(0, nl).trim()
              pending = pending.slice(nl + 1)
              if (line === '') continue
              let parsed: unknown
              try { parsed = JSON.parse(line) } catch { req.destroy(new Error('a watch line that is not JSON')); return }
              onObject(parsed)
            }
            if (pending.length > maxAnswerBytes) req.destroy(new Error(`a watch line longer than ${maxAnswerBytes} bytes`))
          })
          res.on('error', (err) => { reject(o.error(0, `apiserver stream cut: ${err.message}`)) })
          res.on('end', () => {
            let body: unknown = null
            try { body = pending.trim() === '' ? null : JSON.parse(pending) } catch { /* a cut stream */ }
            resolve({ status, body })
          })
        })
        abort = () => { req.destroy(new Error('aborted')) }
        req.on('timeout', () => { req.destroy(new Error(`nothing from the apiserver for ${idleMs} ms`)) })
        req.on('error', (err) => { reject(o.error(0, `apiserver stream: ${err.message}`)) })
        req.end()
      })
    })()
    return { done, abort: () => { abort() } }
  }
  return { base: access.server.href.replace(/\/+$/, ''), call, stream }
}
