// What a benchmark drives over IPC (K8SNET_TRACE_ACCEPTED=1 under a launcher): reports of the legacy records this
// agent publishes and accepts, and legacy heartbeats handed in by the parent as the API's POST would take them.
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { normaliseHeartbeat, type HeartbeatBody } from '../src/api/legacy.ts'
import type { ExternalBody, GossipMessage } from '../src/core/record.ts'
import type { AgentHooks } from '../src/node/agent.ts'

/** Whether this agent runs under a launcher that asked for the benchmark's hooks. */
const benchHooksWanted = (): boolean => process.env.K8SNET_TRACE_ACCEPTED === '1' && process.send !== undefined

/**
 * Reports each legacy (external) record this agent publishes or accepts to the parent, with a wall-clock time at
 * sub-millisecond resolution, so a benchmark can time propagation without polling the API. Only legacy records: they
 * are the benchmark's trials, and reporting every heartbeat would load the agent more than the raw baseline.
 */
export function traceHooks (): AgentHooks {
  if (!benchHooksWanted()) return {}
  const send = (trace: string, msg: GossipMessage): void => {
    if (msg.t !== 'ext') return
    process.send?.({ trace, t: msg.t, key: msg.record.key, at: performance.timeOrigin + performance.now() })
  }
  return { onAccepted: msg => { send('accepted', msg) }, onPublishing: msg => { send('publishing', msg) } }
}

const optionalString = (v: unknown): boolean => v === undefined || typeof v === 'string'

function isHeartbeatBody (v: unknown): v is HeartbeatBody {
  if (typeof v !== 'object' || v === null) return false
  const b = v as Record<string, unknown>
  return typeof b.pod_name === 'string' && typeof b.node_ip === 'string' && typeof b.pod_ip === 'string' &&
    optionalString(b.namespace) && optionalString(b.timestamp)
}

/**
 * Takes `{ heartbeat: <the legacy POST body> }` messages from the parent and injects them as the POST route does, so
 * a benchmark can make a change in an agent the way the raw baseline is told to publish (an IPC message) rather than
 * over HTTP. What is not a heartbeat body, or is refused, is logged and dropped.
 */
export function acceptInjections (inject: (body: ExternalBody) => void, log: Logger): void {
  if (!benchHooksWanted()) return
  process.on('message', (m: unknown) => {
    if (typeof m !== 'object' || m === null || !('heartbeat' in m)) return
    try {
      const hb = m.heartbeat
      if (!isHeartbeatBody(hb)) throw new Error('not a legacy heartbeat body')
      inject(normaliseHeartbeat(hb))
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'injection from the launcher refused')
    }
  })
}
