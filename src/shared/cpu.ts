// CPU time of the calling thread (the agent's main thread), for the cost of its periodic work in the metrics.

/** Milliseconds of CPU (user + system) the current thread has used since it started. */
export function threadCpuMs (): number {
  const u = process.threadCpuUsage()
  return (u.user + u.system) / 1000
}
