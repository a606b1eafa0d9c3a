// A kubelet stand-in for containers: runs the rendered DaemonSet's pod on every node of a VirtualCluster with podman,
// honouring the pod spec (env and the downward API, the service account volume and in-cluster apiserver, projected
// tokens, emptyDir, Secrets, securityContext and sysctls, probes, restarts, grace period, resources). A field it does
// not understand fails the run: nothing in the manifest is silently ignored.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions, type SpawnSyncReturns } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { chmodSync, createWriteStream, mkdirSync, rmSync, writeFileSync, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { ProjectedServiceAccountToken, type VirtualCluster, type VirtualNode } from './cluster.ts'

type Obj = Record<string, any>

/** A field of the manifest the runner cannot honour. */
export class PodSpecError extends Error {
  constructor (where: string, why: string) {
    super(`${where}: ${why}`)
    this.name = 'PodSpecError'
  }
}

/** podman on these machines: runc (crun refuses hybrid cgroups), cgroupfs, and rlimits the runtime may set. */
export const PODMAN = ['podman', '--runtime', 'runc', '--cgroup-manager=cgroupfs']

/** podman with this machine's flags, waited for (spawnSync's options as given). */
export function podman (args: string[], opts: SpawnSyncOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(PODMAN[0] as string, [...PODMAN.slice(1), ...args], { encoding: 'utf8', ...opts }) as SpawnSyncReturns<string>
}
const RLIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=1024:1024']

/** Why containers cannot run here, or null when they can. */
export function podmanUnavailable (): string | null {
  if (process.getuid?.() !== 0) return 'needs root'
  for (const cmd of ['podman', 'buildah', 'mmdebstrap', 'runc', 'kubectl']) {
    if (spawnSync(cmd, ['--version']).error !== undefined) return `needs ${cmd}`
  }
  return null
}

/** Removes the containers of harness processes that are gone (a test killed before it cleaned up). */
export function sweepContainers (): void {
  const r = podman(['ps', '-a', '--filter', 'label=k8snet-harness', '--format', '{{.ID}} {{index .Labels "k8snet-harness"}}'])
  for (const line of (r.stdout ?? '').split('\n')) {
    const [id, pid] = line.trim().split(' ')
    if (id === undefined || id === '' || pid === undefined) continue
    let alive = true
    try { process.kill(Number(pid), 0) } catch { alive = false }
    if (!alive || Number(pid) === process.pid) podman(['rm', '-f', '-t', '0', id], { stdio: 'ignore' })
  }
}

// ------------------------------------------------------------------------------------ what the runner understands

/** The pod spec fields the runner honours: true for a leaf, an object for a nested mapping (lists: their items). */
type Schema = { [key: string]: true | Schema }
const PROBE: Schema = {
  httpGet: { path: true, port: true, scheme: true },
  initialDelaySeconds: true,
  periodSeconds: true,
  timeoutSeconds: true,
  failureThreshold: true,
  successThreshold: true
}
const SECCOMP: Schema = { type: true }
const POD_SCHEMA: Schema = {
  serviceAccountName: true,
  automountServiceAccountToken: true,
  terminationGracePeriodSeconds: true,
  nodeSelector: true,
  tolerations: { operator: true, key: true, value: true, effect: true, tolerationSeconds: true },
  enableServiceLinks: true,
  dnsPolicy: true,
  restartPolicy: true,
  securityContext: { runAsNonRoot: true, runAsUser: true, runAsGroup: true, seccompProfile: SECCOMP, sysctls: { name: true, value: true } },
  containers: {
    name: true,
    image: true,
    imagePullPolicy: true,
    ports: { name: true, containerPort: true, protocol: true },
    env: { name: true, value: true, valueFrom: { fieldRef: { fieldPath: true, apiVersion: true } } },
    volumeMounts: { name: true, mountPath: true, readOnly: true },
    readinessProbe: PROBE,
    livenessProbe: PROBE,
    resources: { requests: { cpu: true, memory: true }, limits: { cpu: true, memory: true } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: true,
      runAsGroup: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: true,
      privileged: true,
      capabilities: { drop: true, add: true },
      seccompProfile: SECCOMP
    }
  },
  volumes: {
    name: true,
    projected: { sources: { serviceAccountToken: { audience: true, expirationSeconds: true, path: true } }, defaultMode: true },
    emptyDir: { medium: true, sizeLimit: true },
    secret: { secretName: true, defaultMode: true }
  }
}

/** Every field of `value` outside `schema`, as paths. */
function notUnderstood (value: unknown, schema: true | Schema, path: string, out: string[]): string[] {
  if (schema === true || value === null || typeof value !== 'object') return out
  if (Array.isArray(value)) { value.forEach((v, i) => notUnderstood(v, schema, `${path}[${i}]`, out)); return out }
  for (const [k, v] of Object.entries(value)) {
    const s = schema[k]
    if (s === undefined) out.push(`${path}.${k}`)
    else notUnderstood(v, s, `${path}.${k}`, out)
  }
  return out
}

const FIELD_REFS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName', 'status.podIP', 'status.hostIP', 'status.podIPs', 'status.hostIPs']

/** Kubernetes quantities: memory (Ki, Mi, Gi, k, M, G, plain bytes) in bytes; CPU (m, plain cores) in cores. */
export function memoryBytes (q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q)
  if (m === null) throw new PodSpecError('resources', `memory quantity ${q}`)
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ''] ?? 1
  return Math.round(Number(m[1]) * unit)
}
export function cpuCores (q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(q)
  if (m === null) throw new PodSpecError('resources', `cpu quantity ${q}`)
  return Number(m[1]) / (m[2] === 'm' ? 1000 : 1)
}

/** The kubelet's $(VAR) expansion of env values: earlier variables only; $$ escapes; an unknown reference stays. */
export function expand (value: string, vars: Map<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name: string | undefined) =>
    name === undefined ? '$' : (vars.get(name) ?? all))
}

// ------------------------------------------------------------------------------------------------------ the pods

export interface PodRunnerOptions {
  cluster: VirtualCluster
  /** The rendered objects (kubectl kustomize's output): one DaemonSet, its ServiceAccount. */
  objects: Obj[]
  /** Secret name -> files, for secret volumes. */
  secrets?: Record<string, Record<string, string>>
  /** Where container logs and volumes go. */
  dir: string
  /** Each line a container writes to stdout that is not JSON (the report). */
  onText?: (pod: string, line: string) => void
}

export interface ProbeState { ready: boolean, failures: number, successes: number }

/** A pod of the DaemonSet on one node, and its current container. */
export interface Pod {
  name: string
  uid: string
  node: VirtualNode
  image: string
  /** Containers started (1 + restarts). */
  starts: number
  restarts: { reason: 'exited' | 'liveness', at: number, exitCode: number | null }[]
  ready: boolean
  container: string | null
  child: ChildProcess | null
  /** The current container's exit. */
  exited: Promise<number | null> | null
  /** Set when the pod is being deleted: no restart. */
  deleting: boolean
  /** Set when the node's kubelet is gone (a simulated node failure): nothing is restarted or probed. */
  orphaned: boolean
  log: WriteStream
  kubelets: ProjectedServiceAccountToken[]
  timers: Set<NodeJS.Timeout>
}

export class PodRunner {
  readonly pods = new Map<VirtualNode, Pod>()
  private readonly o: PodRunnerOptions
  private template: Obj
  private readonly ds: Obj
  private readonly sa: Obj | undefined
  private readonly namespace: string
  private readonly label = `k8snet-harness=${process.pid}`

  constructor (o: PodRunnerOptions) {
    this.o = o
    const dss = o.objects.filter(x => x.kind === 'DaemonSet')
    if (dss.length !== 1) throw new PodSpecError('objects', `expected one DaemonSet, got ${dss.length}`)
    this.ds = dss[0] as Obj
    this.namespace = String(this.ds.metadata?.namespace ?? 'default')
    this.template = structuredClone(this.ds.spec.template)
    this.sa = o.objects.find(x => x.kind === 'ServiceAccount' && x.metadata?.name === (this.template.spec.serviceAccountName ?? 'default'))
    this.check(this.template)
  }

  /** Refuses a template with a field the runner does not honour, or a value it cannot. */
  private check (template: Obj): void {
    const spec: Obj = template.spec
    const unknown = notUnderstood(spec, POD_SCHEMA, 'spec.template.spec', [])
    if (unknown.length > 0) throw new PodSpecError(unknown.join(', '), 'not understood by the pod runner')
    const containers = spec.containers as Obj[]
    if (containers.length !== 1) throw new PodSpecError('spec.template.spec.containers', 'one container only')
    const c = containers[0] as Obj
    if (c.imagePullPolicy === 'Always') throw new PodSpecError('imagePullPolicy', 'Always needs a registry; none is reachable here')
    if (spec.enableServiceLinks !== false) throw new PodSpecError('enableServiceLinks', 'service link variables are not produced: set it false')
    if ((spec.dnsPolicy ?? 'ClusterFirst') !== 'ClusterFirst') throw new PodSpecError('dnsPolicy', `${String(spec.dnsPolicy)} is not supported`)
    if ((spec.restartPolicy ?? 'Always') !== 'Always') throw new PodSpecError('restartPolicy', 'a DaemonSet pod restarts Always')
    for (const e of (c.env ?? []) as Obj[]) {
      const path = e.valueFrom?.fieldRef?.fieldPath
      if (path !== undefined && !FIELD_REFS.includes(path)) throw new PodSpecError(`env ${String(e.name)}`, `fieldRef ${String(path)} is not resolved by the runner`)
    }
    for (const p of [c.readinessProbe, c.livenessProbe]) {
      if (p !== undefined && p.httpGet === undefined) throw new PodSpecError('probe', 'only httpGet probes are run')
      if (p?.httpGet?.scheme !== undefined && p.httpGet.scheme !== 'HTTP') throw new PodSpecError('probe', 'only HTTP')
    }
    for (const s of (spec.securityContext?.seccompProfile?.type === undefined ? [] : [spec.securityContext.seccompProfile.type]).concat(c.securityContext?.seccompProfile?.type ?? [])) {
      if (s !== 'RuntimeDefault') throw new PodSpecError('seccompProfile', `${String(s)}: only RuntimeDefault (podman's default profile)`)
    }
    for (const t of (spec.tolerations ?? []) as Obj[]) {
      if (t.operator !== 'Exists' && t.operator !== 'Equal') throw new PodSpecError('tolerations', `operator ${String(t.operator)}`)
    }
  }

  /** The update strategy's maxUnavailable, in pods (an integer or a percentage of the nodes, rounded down, at least 1). */
  get maxUnavailable (): number {
    const v = this.ds.spec.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1
    const n = this.o.cluster.nodes.length
    return Math.max(1, typeof v === 'string' && v.endsWith('%') ? Math.floor(n * Number(v.slice(0, -1)) / 100) : Number(v))
  }

  /** A node's labels, as a Linux kubelet registers them. */
  nodeLabels (n: VirtualNode): Record<string, string> {
    return { 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': process.arch === 'arm64' ? 'arm64' : 'amd64', 'kubernetes.io/hostname': this.o.cluster.nodeName(n) }
  }

  /** The nodes the DaemonSet places a pod on: its nodeSelector matches their labels (they carry no taint). */
  get scheduledNodes (): VirtualNode[] {
    const selector = (this.template.spec.nodeSelector ?? {}) as Record<string, string>
    return this.o.cluster.nodes.filter(n => Object.entries(selector).every(([k, v]) => this.nodeLabels(n)[k] === v))
  }

  /** One pod per node the DaemonSet selects. */
  async start (): Promise<void> {
    sweepContainers()
    await Promise.all(this.scheduledNodes.map(async n => { await this.createPod(n) }))
  }

  get image (): string { return String(this.template.spec.containers[0].image) }

  /** A new pod from the current template on node n (as the DaemonSet controller creates it). */
  async createPod (n: VirtualNode): Promise<Pod> {
    const name = `${String(this.ds.metadata.name)}-${randomBytes(3).toString('hex').slice(0, 5)}`
    const uid = randomUUID()
    const dir = join(this.o.dir, name)
    mkdirSync(dir, { recursive: true })
    const pod: Pod = {
      name,
      uid,
      node: n,
      image: this.image,
      starts: 0,
      restarts: [],
      ready: false,
      container: null,
      child: null,
      exited: null,
      deleting: false,
      orphaned: false,
      log: createWriteStream(join(dir, 'container.log'), { flags: 'a' }),
      kubelets: [],
      timers: new Set()
    }
    this.pods.set(n, pod)
    const spec: Obj = this.template.spec
    await this.o.cluster.registerPod({ namespace: this.namespace, name, uid, nodeName: this.o.cluster.nodeName(n), serviceAccount: this.serviceAccount })
    await this.mountVolumes(pod, spec)
    this.startContainer(pod)
    return pod
  }

  private get serviceAccount (): string { return String(this.template.spec.serviceAccountName ?? 'default') }
  private get user (): { uid: number, gid: number } {
    const pod: Obj = this.template.spec.securityContext ?? {}
    const c: Obj = this.template.spec.containers[0].securityContext ?? {}
    return { uid: Number(c.runAsUser ?? pod.runAsUser ?? 0), gid: Number(c.runAsGroup ?? pod.runAsGroup ?? 0) }
  }

  private volumeDir (pod: Pod, name: string): string { return join(this.o.dir, pod.name, 'volumes', name) }

  /** The kubelet's volume set-up: the service account volume, projected tokens, emptyDirs, Secrets. */
  private async mountVolumes (pod: Pod, spec: Obj): Promise<void> {
    const cluster = this.o.cluster
    const ca = cluster.ca
    const tokenFor = async (dir: string, audience: string, expirationSeconds: number, path: string, extraFiles?: Record<string, string>): Promise<void> => {
      const kubelet = new ProjectedServiceAccountToken({
        apiUrl: cluster.apiserverUrl,
        kubeletToken: cluster.kubeletToken(pod.node),
        namespace: this.namespace,
        serviceAccount: this.serviceAccount,
        pod: { name: pod.name, uid: pod.uid },
        audience,
        expirationSeconds,
        dir,
        path,
        owner: this.user,
        ...(ca === null ? {} : { ca }),
        ...(extraFiles === undefined ? {} : { extraFiles })
      })
      pod.kubelets.push(kubelet)
      await kubelet.start()
    }
    const automount = spec.automountServiceAccountToken ?? this.sa?.automountServiceAccountToken ?? true
    if (automount === true) {
      if (ca === null) throw new PodSpecError('automountServiceAccountToken', 'the cluster\'s apiserver has no CA (start it with podRunner)')
      await tokenFor(this.volumeDir(pod, 'kube-api-access'), '', 3607, 'token', { 'ca.crt': ca.toString(), namespace: this.namespace })
    }
    for (const v of (spec.volumes ?? []) as Obj[]) {
      const dir = this.volumeDir(pod, String(v.name))
      if (v.projected !== undefined) {
        for (const source of v.projected.sources as Obj[]) {
          const t = source.serviceAccountToken as Obj
          await tokenFor(dir, String(t.audience ?? ''), Number(t.expirationSeconds ?? 3600), String(t.path))
        }
      } else if (v.emptyDir !== undefined) {
        // kept across container restarts, gone with the pod; world-writable as the kubelet makes it
        mkdirSync(dir, { recursive: true })
        chmodSync(dir, 0o777)
      } else if (v.secret !== undefined) {
        const files = this.o.secrets?.[String(v.secret.secretName)]
        if (files === undefined) throw new PodSpecError(`volume ${String(v.name)}`, `Secret ${String(v.secret.secretName)} does not exist`)
        mkdirSync(dir, { recursive: true })
        for (const [f, content] of Object.entries(files)) writeFileSync(join(dir, f), content, { mode: Number(v.secret.defaultMode ?? 0o644) })
      }
    }
  }

  /** The container's environment: values, the downward API, then $(VAR) expansion in order. */
  env (pod: Pod): Map<string, string> {
    const n = pod.node
    const field: Record<string, string> = {
      'metadata.name': pod.name,
      'metadata.namespace': this.namespace,
      'metadata.uid': pod.uid,
      'spec.nodeName': this.o.cluster.nodeName(n),
      'spec.serviceAccountName': this.serviceAccount,
      'status.podIP': n.podIp,
      'status.hostIP': n.nodeIp,
      // the kubelet writes the lists comma-separated, the primary first
      'status.podIPs': n.podIps.join(','),
      'status.hostIPs': n.nodeIps.join(',')
    }
    const vars = new Map<string, string>()
    // what every pod gets: the apiserver's Service (the ClusterIP, here the stand-in's address), and its hostname
    vars.set('KUBERNETES_SERVICE_HOST', this.o.cluster.infraIp)
    vars.set('KUBERNETES_SERVICE_PORT', String(this.o.cluster.apiserverPort))
    for (const e of (this.template.spec.containers[0].env ?? []) as Obj[]) {
      const ref = e.valueFrom?.fieldRef?.fieldPath as string | undefined
      vars.set(String(e.name), ref !== undefined ? (field[ref] ?? '') : expand(String(e.value ?? ''), vars))
    }
    return vars
  }

  /** podman's arguments for the pod's container. */
  private runArgs (pod: Pod): string[] {
    const spec: Obj = this.template.spec
    const c: Obj = spec.containers[0]
    const psc: Obj = spec.securityContext ?? {}
    const sc: Obj = c.securityContext ?? {}
    const args = ['run', '--rm', '--name', `${pod.name}-${pod.starts}`, '--label', this.label, '--network', `ns:/run/netns/${pod.node.ns}`,
      '--hostname', pod.name, ...RLIMITS, '--pull', 'never']
    const { uid, gid } = this.user
    const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot
    if (nonRoot === true && uid === 0) throw new PodSpecError('runAsNonRoot', 'the container would run as root')
    if (sc.runAsUser !== undefined || psc.runAsUser !== undefined) args.push('--user', `${uid}:${gid}`)
    if (sc.readOnlyRootFilesystem === true) args.push('--read-only', '--read-only-tmpfs=false')
    if (sc.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges')
    if (sc.privileged === true) args.push('--privileged')
    for (const cap of (sc.capabilities?.drop ?? []) as string[]) args.push('--cap-drop', cap)
    for (const cap of (sc.capabilities?.add ?? []) as string[]) args.push('--cap-add', cap)
    for (const s of (psc.sysctls ?? []) as Obj[]) args.push('--sysctl', `${String(s.name)}=${String(s.value)}`)
    // ClusterFirst: the cluster's DNS, the namespace's search path, ndots 5
    args.push('--dns', this.o.cluster.infraIp, '--dns-option', 'ndots:5')
    for (const d of [`${this.namespace}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local']) args.push('--dns-search', d)
    const limits: Obj = c.resources?.limits ?? {}
    if (limits.memory !== undefined) args.push('--memory', String(memoryBytes(String(limits.memory))))
    if (limits.cpu !== undefined) args.push('--cpus', String(cpuCores(String(limits.cpu))))
    const requests: Obj = c.resources?.requests ?? {}
    if (requests.cpu !== undefined) args.push('--cpu-shares', String(Math.max(2, Math.round(cpuCores(String(requests.cpu)) * 1024))))
    args.push('--stop-timeout', String(this.grace))
    for (const [k, v] of this.env(pod)) args.push('--env', `${k}=${v}`)
    if (this.template.spec.automountServiceAccountToken !== false && (this.sa?.automountServiceAccountToken ?? true) === true) {
      args.push('--volume', `${this.volumeDir(pod, 'kube-api-access')}:/var/run/secrets/kubernetes.io/serviceaccount:ro`)
    }
    for (const m of (c.volumeMounts ?? []) as Obj[]) {
      args.push('--volume', `${this.volumeDir(pod, String(m.name))}:${String(m.mountPath)}${m.readOnly === true ? ':ro' : ''}`)
    }
    args.push(pod.image)
    return args
  }

  get grace (): number { return Number(this.template.spec.terminationGracePeriodSeconds ?? 30) }

  private startContainer (pod: Pod): void {
    pod.starts++
    pod.ready = false
    const name = `${pod.name}-${pod.starts}`
    pod.container = name
    const child = spawn(PODMAN[0] as string, [...PODMAN.slice(1), ...this.runArgs(pod)], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.on('error', () => {})
    pod.child = child
    child.stderr?.pipe(pod.log, { end: false })
    if (child.stdout !== null) {
      createInterface({ input: child.stdout }).on('line', line => {
        pod.log.write(line + '\n')
        if (!line.startsWith('{')) this.o.onText?.(pod.name, line)
      })
    }
    const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
    pod.exited = exited
    void exited.then(code => { void this.onExit(pod, name, code) })
    this.runProbes(pod, name)
  }

  /** restartPolicy Always: the kubelet's back-off (10 s, doubling to 5 min; this runner restarts the first at once). */
  private async onExit (pod: Pod, name: string, code: number | null): Promise<void> {
    if (pod.container !== name) return
    pod.container = null
    pod.child = null
    pod.ready = false
    if (pod.deleting || pod.orphaned) return
    const last = pod.restarts.at(-1)
    if (last?.reason !== 'liveness' || last.at < Date.now() - 60_000) pod.restarts.push({ reason: 'exited', at: Date.now(), exitCode: code })
    const backoffMs = Math.min(300_000, pod.restarts.length <= 1 ? 0 : 10_000 * 2 ** (pod.restarts.length - 2))
    await sleep(backoffMs)
    if (!pod.deleting && !pod.orphaned && pod.container === null) this.startContainer(pod)
  }

  /** Readiness and liveness probes at the manifest's delays, periods, timeouts and thresholds. */
  private runProbes (pod: Pod, name: string): void {
    const c: Obj = this.template.spec.containers[0]
    const portOf = (port: unknown): number => typeof port === 'number' ? port : Number((c.ports as Obj[]).find(p => p.name === port)?.containerPort)
    const probe = (p: Obj | undefined, onResult: (ok: boolean, state: ProbeState) => void): void => {
      if (p === undefined) return
      const state: ProbeState = { ready: false, failures: 0, successes: 0 }
      const url = `http://${pod.node.podIp}:${portOf(p.httpGet.port)}${String(p.httpGet.path ?? '/')}`
      const tick = async (): Promise<void> => {
        if (pod.container !== name || pod.deleting || pod.orphaned) return
        let ok = false
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(Number(p.timeoutSeconds ?? 1) * 1000) })
          ok = res.status >= 200 && res.status < 400
          await res.body?.cancel()
        } catch { ok = false }
        if (pod.container !== name) return
        if (ok) { state.successes++; state.failures = 0 } else { state.failures++; state.successes = 0 }
        onResult(ok, state)
        schedule(Number(p.periodSeconds ?? 10) * 1000)
      }
      const schedule = (ms: number): void => {
        const timer = setTimeout(() => { pod.timers.delete(timer); void tick() }, ms)
        timer.unref()
        pod.timers.add(timer)
      }
      schedule(Number(p.initialDelaySeconds ?? 0) * 1000)
    }
    probe(c.readinessProbe, (ok, s) => {
      if (ok && s.successes >= Number(c.readinessProbe.successThreshold ?? 1)) pod.ready = true
      if (!ok && s.failures >= Number(c.readinessProbe.failureThreshold ?? 3)) pod.ready = false
    })
    probe(c.livenessProbe, (ok, s) => {
      if (ok || s.failures < Number(c.livenessProbe.failureThreshold ?? 3)) return
      // a failed liveness probe: the container is killed with the grace period and started again
      pod.restarts.push({ reason: 'liveness', at: Date.now(), exitCode: null })
      pod.ready = false
      void this.stopContainer(pod, name)
    })
  }

  /** SIGTERM, then SIGKILL after the grace period (podman stop), and waits for the exit. */
  private async stopContainer (pod: Pod, name: string): Promise<void> {
    const exited = pod.exited
    podman(['stop', '--time', String(this.grace), name], { stdio: 'ignore', timeout: (this.grace + 30) * 1000 })
    await exited
  }

  private clearTimers (pod: Pod): void {
    for (const t of pod.timers) clearTimeout(t)
    pod.timers.clear()
  }

  /** Deletes node n's pod gracefully (SIGTERM, grace period), and its volumes. Returns the ms it took to stop. */
  async deletePod (n: VirtualNode): Promise<number> {
    const pod = this.pods.get(n)
    if (pod === undefined) return 0
    const started = Date.now()
    pod.deleting = true
    this.clearTimers(pod)
    if (pod.container !== null) await this.stopContainer(pod, pod.container)
    const ms = Date.now() - started
    for (const k of pod.kubelets) k.stop()
    pod.log.end()
    this.pods.delete(n)
    rmSync(join(this.o.dir, pod.name, 'volumes'), { recursive: true, force: true })
    return ms
  }

  /** Sends `signal` to node n's container (the runner restarts it if it exits, as the kubelet would). */
  signal (n: VirtualNode, signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT' | 'SIGTERM'): void {
    const pod = this.pods.get(n)
    if (pod?.container === null || pod === undefined) throw new Error(`no container on ${n.name}`)
    podman(['kill', '--signal', signal.replace('SIG', ''), pod.container], { stdio: 'ignore' })
  }

  /**
   * Node n fails: its container is killed and nothing restarts it (the kubelet is gone with the node). `revive`
   * brings the node back: the kubelet finds the pod's container dead and starts it again.
   */
  async failNode (n: VirtualNode): Promise<void> {
    const pod = this.pods.get(n)
    if (pod === undefined) return
    pod.orphaned = true
    this.clearTimers(pod)
    const exited = pod.exited
    if (pod.container !== null) this.signal(n, 'SIGKILL')
    await exited
  }

  revive (n: VirtualNode): void {
    const pod = this.pods.get(n)
    if (pod === undefined || !pod.orphaned) return
    pod.orphaned = false
    pod.restarts.push({ reason: 'exited', at: Date.now(), exitCode: 137 })
    this.startContainer(pod)
  }

  /**
   * A rolling update to `image`, as the DaemonSet controller does it with maxSurge 0: at most maxUnavailable old pods
   * deleted at a time, each replaced by a new pod that must become ready before the next batch. Calls `during`
   * after every step, so a test can watch the cluster throughout.
   */
  async rollout (image: string, o: { readyTimeoutMs?: number, onStep?: (what: string) => Promise<void> } = {}): Promise<void> {
    this.template = structuredClone(this.template)
    this.template.spec.containers[0].image = image
    this.check(this.template)
    const old = [...this.pods.values()].filter(p => p.image !== image).map(p => p.node)
    for (let i = 0; i < old.length; i += this.maxUnavailable) {
      const batch = old.slice(i, i + this.maxUnavailable)
      await Promise.all(batch.map(async n => { await this.deletePod(n) }))
      await o.onStep?.(`deleted ${batch.map(n => n.name).join(', ')}`)
      const pods = await Promise.all(batch.map(async n => await this.createPod(n)))
      await this.waitReady(pods, o.readyTimeoutMs ?? 120_000, o.onStep)
      await o.onStep?.(`ready on ${batch.map(n => n.name).join(', ')}`)
    }
  }

  /** Resolves when every pod given (default: all) passes its readiness probe. */
  async waitReady (pods: Pod[] = [...this.pods.values()], timeoutMs = 120_000, onStep?: (what: string) => Promise<void>): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!pods.every(p => p.ready)) {
      if (Date.now() > deadline) throw new Error(`pods not ready after ${timeoutMs} ms: ${pods.filter(p => !p.ready).map(p => p.name).join(', ')}`)
      await sleep(250)
      await onStep?.('waiting')
    }
  }

  /** Resident memory of node n's agent process (PID 1 of its container), in bytes, or null. */
  rssBytes (n: VirtualNode): number | null {
    const pod = this.pods.get(n)
    if (pod?.container == null) return null
    const r = podman(['exec', pod.container, 'sh', '-c', 'grep VmRSS /proc/1/status'])
    const kb = /VmRSS:\s+(\d+) kB/.exec(r.stdout ?? '')?.[1]
    return kb === undefined ? null : Number(kb) * 1024
  }

  /** Stops every pod at once (SIGKILL) and removes the containers. */
  async stop (): Promise<void> {
    for (const pod of this.pods.values()) {
      pod.deleting = true
      this.clearTimers(pod)
      for (const k of pod.kubelets) k.stop()
    }
    spawnSync('sh', ['-c', `${PODMAN.join(' ')} ps -aq --filter label=${this.label} | xargs -r ${PODMAN.join(' ')} rm -f -t 0`], { stdio: 'ignore' })
    await Promise.all([...this.pods.values()].map(async p => { await p.exited; p.log.end() }))
    this.pods.clear()
  }
}
