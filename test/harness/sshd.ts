// Runs inside a node's namespace, standing in for sshd: a TCP listener on the node IP's TEST_PORT, closed on demand.
import { createServer, type Server, type Socket } from 'node:net'
import { serve } from './rpc.ts'

const [ip = '', portText = '22'] = process.argv.slice(2)
const port = Number(portText)
let server: Server | null = null
const sockets = new Set<Socket>()

async function open (): Promise<void> {
  if (server !== null) return
  const s = createServer(sock => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); sock.on('error', () => {}); sock.end() })
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(port, ip, () => { resolve() }) })
  server = s
}

async function close (): Promise<void> {
  const s = server
  server = null
  if (s === null) return
  for (const sock of sockets) sock.destroy()
  await new Promise(resolve => s.close(resolve))
}

serve(async req => {
  if (req.cmd === 'open') await open()
  else if (req.cmd === 'close') await close()
  else throw new Error(`unknown command ${req.cmd}`)
  return { listening: server !== null }
})
await open()
process.send?.({ id: 0, ok: true, ready: true })
