// Starts a virtual cluster and keeps it up until Ctrl-C: `node test/harness/up.ts [nodes]` (root), to explore by hand.
import { VirtualCluster, harnessUnavailable } from './cluster.ts'

const why = harnessUnavailable()
if (why !== null) {
  process.stderr.write(`cannot start a virtual cluster: ${why}\n`)
  process.exit(1)
}
const nodes = Number(process.argv[2] ?? '6')
const c = new VirtualCluster({ nodes, onText: (agent, line) => { process.stdout.write(`${agent} | ${line}\n`) } })
await c.start()
process.stdout.write(`ready: ${nodes} nodes; APIs at ${c.nodes.map(n => c.apiUrl(n)).join(' ')}; logs in ${c.logDir}\n`)
setInterval(() => {}, 1 << 30) // until SIGINT/SIGTERM, which the cluster turns into a clean teardown
