// The agent process as benchmarks run it (K8SNET_TRACE_ACCEPTED=1 under tools/launcher.ts): the production agent,
// plus the IPC hooks of tools/bench-hooks.ts. Not in the image: the production entry point is src/node/main.ts.
import { enableCompileCache } from 'node:module'

enableCompileCache()
const { runAgentProcess } = await import('../src/node/cli.ts')
const { acceptInjections, traceHooks } = await import('./bench-hooks.ts')
runAgentProcess({ hooks: traceHooks(), onStarted: (agent, log) => { acceptInjections(agent.inject, log) } })
