// The agent process: parse the environment, start the agent, stop cleanly on SIGTERM/SIGINT or when the parent goes.
import { describeVariables, parseConfig } from './config.ts'
import { ConfigError } from '../shared/config-error.ts'
import { createLogger } from './logger.ts'
import { startAgent, type Agent, type AgentHooks } from './agent.ts'
import { loadKubeAccess } from '../kube/kube-access.ts'
import { loadSecrets } from './secrets.ts'
import { VERSION } from '../shared/version.ts'

/** --help: every variable the parser reads, with its default, what it accepts and what it means. */
export function helpText (): string {
  const lines = [
    `k8snet-checker ${VERSION}: a Kubernetes network-connectivity checker, one agent per node (docs: README.md)`,
    '',
    'Usage: k8snet-checker [--help | --version]',
    'Configured by environment variables only; a bad value stops it at start with one line naming the variable (exit 78).',
    ''
  ]
  for (const v of describeVariables()) {
    lines.push(`  ${v.name}  (default: ${v.default === '' ? '""' : v.default})`)
    lines.push(`      ${v.meaning}`)
    lines.push(`      accepts: ${v.accepts}`)
  }
  return lines.join('\n') + '\n'
}

/**
 * What a process that runs the agent may add: hooks into its mesh, and a call once it runs (the benchmarks' traced
 * entry point, tools/traced-main.ts, uses both; the production entry point, main.ts, neither).
 */
export interface ProcessExtras {
  hooks?: AgentHooks
  onStarted?: (agent: Agent, log: ReturnType<typeof createLogger>) => void
}

async function main (extras: ProcessExtras): Promise<void> {
  if (process.argv.includes('--version')) {
    process.stdout.write(`k8snet-checker ${VERSION}\n`)
    return
  }
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(helpText())
    return
  }
  // started by a launcher (demo, tests) over IPC: never outlive it, not even while still starting
  let parentGone = (): void => { process.exit(0) }
  if (process.send !== undefined) process.once('disconnect', () => { parentGone() })
  let config
  try {
    config = parseConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`k8snet-checker: configuration error: ${err.message}\n`)
      process.exit(78)
    }
    throw err
  }
  const log = createLogger(config.logLevel, { pod: config.podName, node: config.nodeName })
  for (const name of config.ignored) {
    log.warn({ variable: name }, `${name} is ignored: agents form a mesh and there is no central server any more`)
  }
  process.on('unhandledRejection', (err) => { log.warn({ err }, 'unhandled rejection (ignored)') })
  let secrets, kube
  try {
    secrets = loadSecrets(config)
    kube = await loadKubeAccess(config.kubeconfig, process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`k8snet-checker: configuration error: ${err.message}\n`)
      process.exit(78)
    }
    throw err
  }
  if (secrets.psk !== null) log.info('private mesh: gossip connections need the same pre-shared key (GOSSIP_PSK_FILE); agents with another key never connect')
  const agent = await startAgent(config, log, extras.hooks ?? {}, secrets, kube)
  const shutdown = (why: string): void => {
    log.info({ why }, 'shutting down')
    const hard = setTimeout(() => process.exit(1), 5_000)
    hard.unref()
    void agent.stop().then(() => process.exit(0))
  }
  process.once('SIGTERM', () => { shutdown('SIGTERM') })
  process.once('SIGINT', () => { shutdown('SIGINT') })
  parentGone = () => { shutdown('parent gone') }
  extras.onStarted?.(agent, log)
  if (process.send !== undefined) process.send({ ready: true, peerId: agent.node.peerId.toString() })
}

/** Runs the agent as this process: configuration, start, signals, the launcher's IPC; exits on a fatal error. */
export function runAgentProcess (extras: ProcessExtras = {}): void {
  main(extras).catch((err: unknown) => {
    process.stderr.write(`k8snet-checker: failed to start: ${(err as Error).message}\n`)
    process.exit(1)
  })
}
