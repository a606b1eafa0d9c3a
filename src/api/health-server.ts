// The small HTTP server on CLIENT_PORT that answers GET /health: the target of the pod-level TCP probe.
import { createServer, type Server } from 'node:http'

export interface HealthServer { server: Server, close: () => Promise<void> }

export async function startHealthServer (host: string, port: number, podName: string): Promise<HealthServer> {
  // the original's client answered {"status":"healthy"} on its health port: tools that read it keep working
  const body = JSON.stringify({ status: 'healthy', pod_name: podName })
  const server = createServer((req, res) => {
    const ok = req.method === 'GET' && (req.url === '/health' || req.url?.startsWith('/health?') === true)
    res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' })
    res.end(ok ? body : '{"status":"not found"}')
  })
  server.requestTimeout = 5_000
  server.headersTimeout = 5_000
  server.keepAliveTimeout = 2_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port }, () => { server.off('error', reject); resolve() })
  })
  return {
    server,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
