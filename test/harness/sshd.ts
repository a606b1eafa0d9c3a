// Runs inside a node's namespace, standing in for sshd: a TCP listener on each node IP's TEST_PORT, closed on demand.
import { createServer, type Server, type Socket } from 'node:net'
import { serve } from './rpc.ts'

// argv: the node's addresses, comma-separated, and the port
const [ipList = '', portText = '22'] = process.argv.slice(2)
const port = Number(portText)
let servers: Server[] = []
const sockets = new Set<Socket>()

async function open (): Promise<void> {
  if (servers.length > 0) return
  servers = await Promise.all(ipList.split(',').map(async ip => {
    const s = createServer(sock => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); sock.on('error', () => {}); sock.end() })
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(port, ip, () => { resolve() }) })
    return s
  }))
}

async function close (): Promise<void> {
  const all = servers
  servers = []
  for (const sock of sockets) sock.destroy()
  await Promise.all(all.map(async s => await new Promise(resolve => s.close(resolve))))
}

serve(async req => {
  if (req.cmd === 'open') await open()
  else if (req.cmd === 'close') await close()
  else throw new Error(`unknown command ${req.cmd}`)
  return { listening: servers.length > 0 }
})
await open()
process.send?.({ id: 0, ok: true, ready: true })
