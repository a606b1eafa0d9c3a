// Deployment: the manifests in deploy/ (schemas, env against the config parser, ports, probes, Services, RBAC,
// security context), the Dockerfile's build steps run for real in a temporary directory with the production tree
// started from it, and ICMP the way the pod does it (non-root, no_new_privs, NET_RAW only in the bounding set,
// net.ipv4.ping_group_range) inside a network namespace this test creates.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, posix, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import * as k8s from '@kubernetes/client-node'
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet'
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role'
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding'
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole'
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding'
import { Service } from 'kubernetes-models/v1/Service'
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { parseConfig, type Config } from '../src/node/config.ts'
import { LeaseStandIn } from '../tools/lease-stand-in.ts'
import { getJson, IMAGE_ENV, IMAGE_NODE_FLAGS, waitUntil } from '../tools/launcher.ts'
import { restrictedViolations } from './harness/pod-security.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DEPLOY = join(ROOT, 'deploy')
const isRoot = process.getuid?.() === 0
// CI sets this so that a missing privilege or tool fails instead of skipping
const required = process.env.K8SNET_REQUIRE_PRIVILEGED === '1'

// ---------------------------------------------------------------- manifests: loading and schema checks

type Obj = Record<string, any>
interface Doc { file: string, obj: Obj }

/** apiVersion/kind -> the kubernetes-models class (schema validation) and the @kubernetes/client-node type name. */
const KINDS: Record<string, { Model: new (data: any) => { validate: () => void }, type: string }> = {
  'apps/v1/DaemonSet': { Model: DaemonSet, type: 'V1DaemonSet' },
  'v1/Service': { Model: Service, type: 'V1Service' },
  'v1/ServiceAccount': { Model: ServiceAccount, type: 'V1ServiceAccount' },
  'rbac.authorization.k8s.io/v1/Role': { Model: Role, type: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { Model: RoleBinding, type: 'V1RoleBinding' },
  'rbac.authorization.k8s.io/v1/ClusterRole': { Model: ClusterRole, type: 'V1ClusterRole' },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { Model: ClusterRoleBinding, type: 'V1ClusterRoleBinding' }
}

function parseDocs (file: string, text: string): Doc[] {
  const docs: Doc[] = []
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map(e => e.message).join('; ')}`)
    const obj = d.toJS() as Obj | null
    if (obj !== null) docs.push({ file, obj })
  }
  return docs
}

/** The base's resources, as the kustomization lists them (the files themselves: namespace and image unset). */
function loadDocs (): Doc[] {
  const kustomization = parseDocs('kustomization.yaml', readFileSync(join(DEPLOY, 'kustomization.yaml'), 'utf8'))[0]?.obj
  return ((kustomization?.resources ?? []) as string[]).flatMap(file => parseDocs(file, readFileSync(join(DEPLOY, file), 'utf8')))
}

/**
 * Fields the Kubernetes API does not know (kubectl's strict field validation): kubernetes-models checks types and
 * required fields but lets unknown keys through, so a typo such as `publishNotReadyAddress` would pass it. Walks
 * the object along @kubernetes/client-node's attribute type maps (one per API type).
 */
function unknownFields (value: unknown, type: string, path: string, out: string[]): string[] {
  if (value === null || value === undefined) return out
  let m = /^Array<(.+)>$/.exec(type)
  if (m !== null) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, m?.[1] ?? '', `${path}[${i}]`, out))
    return out
  }
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (m !== null) {
    for (const [k, v] of Object.entries(value as Obj)) unknownFields(v, m[1] ?? '', `${path}.${k}`, out)
    return out
  }
  const cls = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => Array<{ baseName: string, type: string }> }>)[type]
  if (cls?.getAttributeTypeMap === undefined || typeof value !== 'object' || Array.isArray(value)) return out
  const attrs = cls.getAttributeTypeMap()
  for (const [k, v] of Object.entries(value as Obj)) {
    const a = attrs.find(x => x.baseName === k)
    if (a === undefined) out.push(`${path}.${k}`)
    else unknownFields(v, a.type, `${path}.${k}`, out)
  }
  return out
}

function kindOf (obj: Obj): typeof KINDS[string] | undefined { return KINDS[`${String(obj.apiVersion)}/${String(obj.kind)}`] }

const docs = loadDocs()
const find = (kind: string, name?: string): Obj => {
  const hits = docs.filter(d => d.obj.kind === kind && (name === undefined || d.obj.metadata?.name === name))
  if (hits.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : ` ${name}`} in deploy/, found ${hits.length}`)
  return (hits[0] as Doc).obj
}
const ds = find('DaemonSet')
const podSpec: Obj = ds.spec.template.spec
const container: Obj = podSpec.containers[0]
const services = docs.filter(d => d.obj.kind === 'Service').map(d => d.obj)
const headless = services.find(s => s.spec?.clusterIP === 'None') as Obj
const apiService = services.find(s => s.spec?.clusterIP !== 'None') as Obj
const portByName = (name: string): number => (container.ports as Obj[]).find(p => p.name === name)?.containerPort

t.test('every manifest parses and validates against the Kubernetes schemas, with no unknown field', async t => {
  t.ok(docs.length >= 6, `${docs.length} objects in deploy/ (${[...new Set(docs.map(d => d.file))].join(', ')})`)
  for (const { file, obj } of docs) {
    const kind = kindOf(obj)
    const what = `${file}: ${String(obj.kind)} ${String(obj.metadata?.name)}`
    if (kind === undefined) { t.fail(`${what}: no schema known for ${String(obj.apiVersion)} ${String(obj.kind)}`); continue }
    t.doesNotThrow(() => { new kind.Model(obj).validate() }, `${what}: valid`)
    t.same(unknownFields(obj, kind.type, obj.kind, []), [], `${what}: no unknown field`)
    // the namespace is given once, on the command line (kubectl apply -n); nothing may pin another
    t.equal(obj.metadata?.namespace, undefined, `${what}: no namespace written in the manifest`)
  }
  // the two checks above can fail: a wrong type and a misspelt field are caught
  const broken = structuredClone(ds)
  broken.spec.template.spec.containers[0].ports[0].containerPort = '8080'
  t.throws(() => { new DaemonSet(broken as any).validate() }, 'control: a port given as a string is rejected')
  const typo = structuredClone(headless)
  typo.spec.publishNotReadyAddress = true
  t.same(unknownFields(typo, 'V1Service', 'Service', []), ['Service.spec.publishNotReadyAddress'], 'control: a misspelt field is caught')
})

// ---------------------------------------------------------------- env: names and values against the parser

/** A valid environment: the names parseConfig reads are recorded through a Proxy. */
const VALID_ENV: Record<string, string> = {
  NODE_IP: '10.0.0.1', POD_IP: '10.244.0.5', POD_NAME: 'k8snet-checker-x7k2p', NAMESPACE: 'kube-system', NODE_NAME: 'node-1'
}
function namesRead (): Set<string> {
  const read = new Set<string>()
  const env = new Proxy({ ...VALID_ENV }, {
    get (target, prop) { if (typeof prop === 'string') read.add(prop); return Reflect.get(target, prop) }
  })
  parseConfig(env)
  return read
}

/** Read by the parser, deliberately not set by the DaemonSet. */
const ALLOWED_ABSENT: Record<string, string> = {
  KUBECONFIG: 'in a pod the agent uses its service account (in-cluster config); a kubeconfig is for running outside',
  KUBERNETES_SERVICE_HOST: 'set by the kubelet in every pod; it is how the agent knows it runs in-cluster',
  STATIC_PEERS: 'for running outside Kubernetes: in a cluster the headless Service (PEER_SERVICE) finds the peers',
  FPING_PATH: 'the image puts its fping first on PATH (docker/fping), so the default "fping" is right',
  API_TOKEN_FILE: 'set only with the optional token Secret mounted (deploy/options/api-token.yaml)',
  GOSSIP_PSK_FILE: 'set only with the optional private-mesh Secret mounted (deploy/options/private-mesh.yaml)',
  SERVER_URL: 'the original tool\'s server address: read only to warn that it is ignored (there is no server)',
  LISTEN_ADDRESS: 'its default, ::, binds both families where the node has IPv6 (0.0.0.0 where it has not)'
}

const DOWNWARD: Record<string, string> = {
  'status.hostIP': '10.0.0.1',
  'status.podIP': '10.244.0.5',
  'status.hostIPs': '10.0.0.1,fd00::1',
  'status.podIPs': '10.244.0.5,fd00:10:244::5',
  'metadata.name': 'k8snet-checker-x7k2p',
  'metadata.namespace': 'kube-system',
  'spec.nodeName': 'node-1'
}

/** The environment the kubelet would give the container: downward values faked, $(VAR) references expanded. */
function manifestEnv (extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const e of container.env as Obj[]) {
    if (e.valueFrom !== undefined) {
      const path = e.valueFrom.fieldRef?.fieldPath as string
      if (!(path in DOWNWARD)) throw new Error(`${String(e.name)}: unexpected valueFrom ${JSON.stringify(e.valueFrom)}`)
      env[e.name] = DOWNWARD[path] as string
    } else {
      // Kubernetes expands $(NAME) from variables defined earlier in the list; $$ escapes a dollar
      env[e.name] = String(e.value ?? '').replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m: string, name?: string) =>
        name === undefined ? '$' : env[name] ?? m)
    }
  }
  return { ...env, ...extra }
}

t.test('the DaemonSet sets exactly the variables the config parser reads', async t => {
  const read = namesRead()
  const inManifest = (container.env as Obj[]).map(e => e.name as string)
  t.equal(new Set(inManifest).size, inManifest.length, 'no variable set twice')
  t.ok(['NODE_IP', 'POD_IP', 'POD_NAME', 'NAMESPACE', 'HEARTBEAT_INTERVAL'].every(n => read.has(n)), `the Proxy saw parseConfig read ${read.size} variables`)
  for (const name of Object.keys(ALLOWED_ABSENT)) {
    t.ok(read.has(name), `${name} is allowed absent and the parser does read it`)
    t.notOk(inManifest.includes(name), `${name} is not set: ${ALLOWED_ABSENT[name]}`)
  }
  const expected = [...read].filter(n => !(n in ALLOWED_ABSENT)).sort()
  t.same([...inManifest].sort(), expected, 'manifest env names == names read by parseConfig, less the allowed-absent')
  // downward API identity
  const from = (name: string): unknown => (container.env as Obj[]).find(e => e.name === name)?.valueFrom?.fieldRef?.fieldPath
  t.same(
    { NODE_IP: from('NODE_IP'), POD_IP: from('POD_IP'), POD_NAME: from('POD_NAME'), NAMESPACE: from('NAMESPACE'), NODE_NAME: from('NODE_NAME') },
    { NODE_IP: 'status.hostIP', POD_IP: 'status.podIP', POD_NAME: 'metadata.name', NAMESPACE: 'metadata.namespace', NODE_NAME: 'spec.nodeName' },
    'identity comes from the downward API')
})

t.test('the manifest\'s values parse, equal the parser\'s defaults and agree with ports, probes and Services', async t => {
  const inPod = { KUBERNETES_SERVICE_HOST: '10.96.0.1' }
  let cfg: Config | undefined
  t.doesNotThrow(() => { cfg = parseConfig(manifestEnv(inPod)) }, 'parseConfig accepts the manifest\'s environment')
  if (cfg === undefined) return
  const defaults = parseConfig({ ...VALID_ENV, ...inPod })
  // every literal value is the parser's default, except the peer Service, which only a cluster can name, and the
  // identity files, which only the pod's volumes provide
  t.same({ ...cfg, peerService: '', identityTokenFile: '', identityKeyFile: '', nodeIps: defaults.nodeIps, podIps: defaults.podIps }, defaults, 'every other value is the default')
  t.same([cfg.nodeIps, cfg.podIps], [['10.0.0.1', 'fd00::1'], ['10.244.0.5', 'fd00:10:244::5']], 'a dual-stack pod knows both families\' addresses (status.hostIPs, status.podIPs)')
  const mounts = (container.volumeMounts as Obj[]).map(m => ({ path: m.mountPath as string, name: m.name as string }))
  const volumeOf = (file: string): Obj | undefined => {
    const m = mounts.find(x => file.startsWith(`${x.path}/`))
    return (ds.spec.template.spec.volumes as Obj[]).find(v => v.name === m?.name)
  }
  const token = volumeOf(cfg.identityTokenFile)?.projected?.sources?.[0]?.serviceAccountToken
  t.same(token, { audience: cfg.identityAudience, expirationSeconds: 3600, path: cfg.identityTokenFile.split('/').at(-1) },
    'the identity token is a projected ServiceAccount token of the audience the agents check, rotated by the kubelet')
  t.ok(volumeOf(cfg.identityKeyFile)?.emptyDir !== undefined, 'the pod\'s key lives on an emptyDir (it outlives a container restart, not the pod)')
  t.equal(cfg.kubeconfig, 'in-cluster', 'in a pod the Lease goes through the service account')
  t.equal(cfg.leaseNamespace, 'kube-system', 'the Lease lives in the agents\' own namespace')

  // PEER_SERVICE names the headless Service in the pod's namespace
  t.equal(cfg.peerService, `${String(headless.metadata.name)}.kube-system.svc.cluster.local`, `PEER_SERVICE resolves to the headless Service (${cfg.peerService})`)
  // named container ports == the ports the agent binds with these values == the code's defaults
  t.same(
    { api: portByName('api'), health: portByName('health'), gossip: portByName('gossip') },
    { api: cfg.httpPort, health: cfg.clientPort, gossip: cfg.gossipPort }, 'container ports are what the agent listens on')
  t.same({ api: defaults.httpPort, health: defaults.clientPort, gossip: defaults.gossipPort }, { api: 8080, health: 6100, gossip: 6200 },
    'the code\'s default ports')
  t.ok((container.ports as Obj[]).every(p => p.protocol === 'TCP'), 'all TCP')
  // probes point at named ports (their paths are requested from the running production agent below)
  t.equal(container.readinessProbe?.httpGet?.port, 'api', 'readiness probe on the API port')
  t.equal(container.livenessProbe?.httpGet?.port, 'health', 'liveness probe on the health port')

  // Services: selectors pick the DaemonSet's pods; target ports exist by name
  const labels = ds.spec.template.metadata.labels as Record<string, string>
  t.same(ds.spec.selector.matchLabels, labels, 'the DaemonSet selects its own template')
  for (const s of services) {
    t.ok(Object.entries(s.spec.selector as Record<string, string>).every(([k, v]) => labels[k] === v), `${String(s.metadata.name)} selects the agents`)
  }
  t.equal(services.length, 2, 'two Services')
  t.match(headless.spec, { clusterIP: 'None', publishNotReadyAddresses: true }, 'headless, not-ready addresses published')
  t.same(headless.spec.ports, [{ name: 'gossip', port: cfg.gossipPort, targetPort: 'gossip', protocol: 'TCP' }], 'headless Service carries the gossip port')
  t.equal(apiService.spec.type, 'ClusterIP', 'the API Service is a ClusterIP Service')
  t.same(apiService.spec.ports, [{ name: 'api', port: cfg.httpPort, targetPort: 'api', protocol: 'TCP' }], 'API Service -> port api')
})

/** `kubectl kustomize DIR` (offline), or null when kubectl is missing. */
function kustomize (dir: string): { docs: Doc[] } | { error: string } | null {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 })
  if (r.error !== undefined) return null
  if (r.status !== 0) return { error: r.stderr.trim() }
  return { docs: parseDocs(dir, r.stdout) }
}

t.test('kustomize: the base, every component and every example overlay render to valid objects', async t => {
  const base = kustomize(DEPLOY)
  if (base === null) { if (required) t.fail('needs kubectl (kubectl kustomize)'); else t.comment('skipped: no kubectl'); return }
  if ('error' in base) { t.fail(`kubectl kustomize deploy/: ${base.error}`); return }
  t.same(base.docs.map(d => `${String(d.obj.kind)}/${String(d.obj.metadata?.name)}`).sort(), docs.map(d => `${String(d.obj.kind)}/${String(d.obj.metadata?.name)}`).sort(),
    'the base renders exactly the objects of its resources')
  t.ok(base.docs.every(d => /^Cluster/.test(String(d.obj.kind)) || d.obj.metadata?.namespace === 'kube-system'), 'every namespaced object in the base\'s namespace (kube-system)')
  const binding = base.docs.find(d => d.obj.kind === 'RoleBinding')?.obj
  t.equal(binding?.subjects?.[0]?.namespace, 'kube-system', 'the RoleBinding\'s ServiceAccount subject follows the namespace')
  t.equal(base.docs.find(d => d.obj.kind === 'ClusterRoleBinding')?.obj.subjects?.[0]?.namespace, 'kube-system', 'so does the Node reader\'s ClusterRoleBinding')

  const COMPONENTS = join(DEPLOY, 'components')
  const components = readdirSync(COMPONENTS).filter(f => existsSync(join(COMPONENTS, f, 'kustomization.yaml'))).sort()
  t.same(components, ['api-token', 'legacy-server', 'private-mesh'], 'the documented options are components')
  const EXAMPLES = join(ROOT, 'examples', 'kustomize')
  const overlays = readdirSync(EXAMPLES).filter(f => existsSync(join(EXAMPLES, f, 'kustomization.yaml'))).sort()
  t.ok(overlays.length > 0, `example overlays: ${overlays.join(', ')}`)
  const tmp = mkdtempSync(join(tmpdir(), 'k8snet-kustomize-'))
  t.teardown(() => { rmSync(tmp, { recursive: true, force: true }) })
  const renders: Array<[string, string]> = [
    ...components.map(c => {
      // each component alone on the base, the way its header says to use it
      const dir = join(tmp, c)
      mkdirSync(dir)
      writeFileSync(join(dir, 'kustomization.yaml'), `resources: [${JSON.stringify(relative(dir, DEPLOY))}]\ncomponents: [${JSON.stringify(relative(dir, join(COMPONENTS, c)))}]\nnamespace: monitoring\nimages: [{ name: k8snet-checker, newName: registry.example/k8snet, newTag: "9.9" }]\n`)
      return [`component ${c}`, dir] as [string, string]
    }),
    ...overlays.map(o => [`examples/kustomize/${o}`, join(EXAMPLES, o)] as [string, string])
  ]
  for (const [what, dir] of renders) {
    const r = kustomize(dir)
    if (r === null || 'error' in r) { t.fail(`${what}: ${r === null ? 'no kubectl' : r.error}`); continue }
    for (const { obj } of r.docs) {
      const kind = kindOf(obj)
      if (kind === undefined) { t.fail(`${what}: unexpected ${String(obj.apiVersion)}/${String(obj.kind)}`); continue }
      t.doesNotThrow(() => { new kind.Model(obj).validate() }, `${what}: ${String(obj.kind)} validates`)
      t.same(unknownFields(obj, kind.type, String(obj.kind), []), [], `${what}: ${String(obj.kind)} has no unknown field`)
    }
    const d = r.docs.find(x => x.obj.kind === 'DaemonSet')?.obj as Obj
    const spec = d.spec.template.spec
    const c = spec.containers[0]
    if (what.startsWith('component')) {
      t.ok(r.docs.every(x => /^Cluster/.test(String(x.obj.kind)) || x.obj.metadata?.namespace === 'monitoring'), `${what}: the namespace set the kustomize way`)
      const crb = r.docs.find(x => x.obj.kind === 'ClusterRoleBinding')?.obj
      t.equal(crb?.subjects?.[0]?.namespace, 'monitoring', `${what}: the Node reader binding's subject follows the namespace`)
      t.equal(c.image, 'registry.example/k8snet:9.9', `${what}: the image set the kustomize way`)
    }
    const added = (c.env as Obj[]).filter(e => Object.hasOwn(ALLOWED_ABSENT, e.name))
    if (what === 'component legacy-server') {
      // the original server's Service name and port, selecting our agents: old clients post to us unchanged
      const legacy = r.docs.find(x => x.obj.kind === 'Service' && x.obj.metadata?.name === 'k8snet-checker-server')?.obj
      t.match(legacy?.spec, { type: 'ClusterIP', selector: d.spec.selector.matchLabels, ports: [{ port: 8080, targetPort: 'api' }] }, `${what}: Service k8snet-checker-server:8080 to the agents' API`)
      t.ok(spec.containers[0].ports.some((p: Obj) => p.name === 'api' && p.containerPort === 8080), `${what}: the agents' api port is 8080, the original clients' SERVER_URL port`)
      t.same(added, [], `${what}: the DaemonSet is unchanged`)
      continue
    }
    t.ok(what.startsWith('examples') || added.length === 1, `${what}: adds ${added.map(e => String(e.name)).join(', ')}`)
    for (const e of added) {
      const mount = (c.volumeMounts as Obj[]).find(m => String(e.value).startsWith(`${String(m.mountPath)}/`))
      t.ok(mount !== undefined, `${what}: ${String(e.name)} points into a mounted volume`)
      t.equal(mount?.readOnly, true, `${what}: mounted read-only`)
      const v = (spec.volumes as Obj[]).find(x => x.name === mount?.name)
      t.ok(v?.secret?.secretName !== undefined, `${what}: ${String(mount?.name)} comes from a Secret`)
      t.equal((v?.secret?.defaultMode ?? 0) & 0o004, 0o004, `${what}: readable by the non-root user (no fsGroup is set)`)
      t.doesNotThrow(() => parseConfig({ NODE_IP: '10.0.0.1', POD_IP: '10.244.0.5', POD_NAME: 'p', NAMESPACE: 'kube-system', [e.name]: e.value }), `${what}: the parser accepts ${String(e.name)}=${String(e.value)}`)
    }
  }
})

t.test('Pod Security "restricted": the rendered pod passes every control, and the check catches each kind of violation', async t => {
  const rendered = kustomize(DEPLOY)
  const renderedDs = rendered !== null && 'docs' in rendered ? rendered.docs.find(d => d.obj.kind === 'DaemonSet')?.obj : undefined
  if (rendered !== null && renderedDs === undefined) t.fail('kubectl kustomize deploy/ gave no DaemonSet')
  const template: Obj = (renderedDs ?? ds).spec.template
  t.same(restrictedViolations(template.spec, template.metadata), [], `${renderedDs === undefined ? 'the base file' : 'the rendered'} DaemonSet's pod: no violation of the restricted profile`)
  t.equal(template.metadata?.labels !== undefined && ds.metadata?.namespace === undefined, true, 'namespace left to kustomize')
  // each mutation is one thing the admission controller refuses; the check must name its control
  const mutations: Array<[string, (spec: Obj, c: Obj) => void]> = [
    ['Host Namespaces', spec => { spec.hostNetwork = true }],
    ['Privileged Containers', (_, c) => { c.securityContext.privileged = true }],
    ['Capabilities (Baseline)', (_, c) => { c.securityContext.capabilities.add = ['NET_RAW', 'SYS_ADMIN'] }],
    ['Capabilities (Restricted)', (_, c) => { c.securityContext.capabilities.add = ['NET_RAW'] }],
    ['Capabilities (Restricted)', (_, c) => { c.securityContext.capabilities = {} }],
    ['HostPath Volumes', spec => { spec.volumes.push({ name: 'h', hostPath: { path: '/' } }) }],
    ['Volume Types', spec => { spec.volumes.push({ name: 'n', nfs: { server: 'x', path: '/' } }) }],
    ['Host Ports', (_, c) => { c.ports[0].hostPort = 8080 }],
    ['/proc Mount Type', (_, c) => { c.securityContext.procMount = 'Unmasked' }],
    ['Seccomp (Baseline)', (_, c) => { c.securityContext.seccompProfile = { type: 'Unconfined' } }],
    ['Seccomp (Restricted)', (spec, c) => { delete spec.securityContext.seccompProfile; delete c.securityContext.seccompProfile }],
    ['Sysctls', spec => { spec.securityContext.sysctls.push({ name: 'net.core.somaxconn', value: '1024' }) }],
    ['Privilege Escalation', (_, c) => { delete c.securityContext.allowPrivilegeEscalation }],
    ['Running as Non-root', (spec, c) => { delete spec.securityContext.runAsNonRoot; delete c.securityContext.runAsNonRoot }],
    ['Running as Non-root user', (_, c) => { c.securityContext.runAsUser = 0 }],
    ['SELinux', (_, c) => { c.securityContext.seLinuxOptions = { type: 'spc_t' } }],
    ['AppArmor', (_, c) => { c.securityContext.appArmorProfile = { type: 'Unconfined' } }],
    ['HostProcess', spec => { spec.securityContext.windowsOptions = { hostProcess: true } }]
  ]
  for (const [control, mutate] of mutations) {
    const spec = structuredClone(template.spec) as Obj
    mutate(spec, spec.containers[0])
    const found = restrictedViolations(spec, template.metadata)
    t.ok(found.some(v => v.startsWith(`${control}:`)), `${control}: caught (${found.join('; ')})`)
  }
})

t.test('alert rules: promtool checks and unit-tests them; each has a runbook section; they name only metrics we export', async t => {
  const dir = join(ROOT, 'docs', 'prometheus')
  const rules = parseDocs('alerts.yaml', readFileSync(join(dir, 'alerts.yaml'), 'utf8'))[0]?.obj
  const list = ((rules?.groups ?? []) as Obj[]).flatMap(g => g.rules as Obj[])
  t.ok(list.length >= 10, `${list.length} rules`)
  const runbook = readFileSync(join(ROOT, 'docs', 'runbook.md'), 'utf8')
  const anchors = new Set([...runbook.matchAll(/^## (\S+)$/gm)].map(m => (m[1] ?? '').toLowerCase()))
  for (const r of list) {
    const url = String(r.annotations?.runbook_url ?? '')
    t.equal(url, `docs/runbook.md#${String(r.alert).toLowerCase()}`, `${String(r.alert)}: runbook_url into docs/runbook.md`)
    t.ok(anchors.has(String(r.alert).toLowerCase()), `${String(r.alert)}: the runbook has its section`)
  }
  // every k8snet_ metric an expression names is one the agent registers
  const exported = new Set([...readFileSync(join(ROOT, 'src', 'api', 'metrics.ts'), 'utf8').matchAll(/'(k8snet_[a-z_]+)'/g)].map(m => m[1]))
  for (const r of list) {
    for (const [name] of String(r.expr).matchAll(/k8snet_[a-z_]+/g)) t.ok(exported.has(name), `${String(r.alert)}: ${name} is exported`)
  }
  const promtool = spawnSync('promtool', ['--version'])
  if (promtool.error !== undefined) { if (required) t.fail('needs promtool (Debian package prometheus)'); else t.comment('skipped: no promtool'); return }
  const check = spawnSync('promtool', ['check', 'rules', 'alerts.yaml'], { cwd: dir, encoding: 'utf8' })
  t.equal(check.status, 0, `promtool check rules: ${check.stdout.trim().split('\n').at(-1) ?? ''}`)
  const test = spawnSync('promtool', ['test', 'rules', 'alerts.test.yaml'], { cwd: dir, encoding: 'utf8' })
  t.equal(test.status, 0, 'promtool test rules: every alert fires (and stays quiet) as its test says')
  if (test.status !== 0) t.comment(`${test.stdout}${test.stderr}`.slice(-3000))
})

t.test('the Grafana dashboard: valid, and its queries name only metrics we export (or kube-state-metrics\' and scrape ones)', async t => {
  const dash = JSON.parse(readFileSync(join(ROOT, 'docs', 'grafana', 'k8snet-checker.json'), 'utf8')) as { uid: string, panels: Array<{ id: number, title: string, type: string, targets: Array<{ expr: string }> }> }
  t.equal(dash.uid, 'k8snet-checker')
  t.same(new Set(dash.panels.map(p => p.id)).size, dash.panels.length, 'panel ids unique')
  for (const kind of ['heatmap', 'table', 'stat', 'timeseries']) t.ok(dash.panels.some(p => p.type === kind), `a ${kind} panel`)
  const exported = new Set([...readFileSync(join(ROOT, 'src', 'api', 'metrics.ts'), 'utf8').matchAll(/'(k8snet_[a-z_]+)'/g)].map(m => m[1]))
  // not ours: kube-state-metrics' DaemonSet count, and the process metrics every agent also exports (prom-client)
  const others = new Set(['kube_daemonset_status_desired_number_scheduled', 'process_resident_memory_bytes'])
  const functions = new Set(['sum', 'max', 'min', 'rate', 'by', 'histogram_quantile', 'le', 'avg', 'count'])
  for (const p of dash.panels) {
    t.ok(p.targets.length > 0, `${p.title}: has a query`)
    for (const { expr } of p.targets) {
      // metric names: identifiers followed by { or [ or a space/paren, minus functions, labels and keywords
      const names = [...expr.replace(/\{[^}]*\}/g, '{}').replace(/\b(by|without) \([^)]*\)/g, '').matchAll(/\b([a-z_][a-z0-9_]*)\b(?!\s*=)/g)].map(m => m[1] ?? '')
        .filter(n => !functions.has(n) && !/^\d/.test(n))
      for (const n of names) {
        const base = n.replace(/_(bucket|sum|count)$/, '')
        t.ok(exported.has(base) || others.has(n), `${p.title}: ${n} is exported`)
      }
    }
  }
})

t.test('RBAC: the Role grants get, create and update on the reporter Lease; the ClusterRole reads Nodes; nothing else', async t => {
  const role = find('Role')
  const binding = find('RoleBinding')
  const sa = find('ServiceAccount')
  const cfg = parseConfig(manifestEnv())
  const verbs = new Set<string>()
  for (const r of role.rules as Obj[]) {
    t.same(r.apiGroups, ['coordination.k8s.io'], 'API group coordination.k8s.io only')
    t.same(r.resources, ['leases'], 'resource leases only')
    t.equal(r.nonResourceURLs, undefined, 'no non-resource URL')
    if (r.resourceNames !== undefined) t.same(r.resourceNames, [cfg.leaseName], `limited to the Lease LEASE_NAME names (${cfg.leaseName})`)
    for (const v of r.verbs as string[]) {
      t.ok(['get', 'create', 'update'].includes(v), `verb ${v} is one the Lease store uses`)
      verbs.add(v)
    }
  }
  t.same([...verbs].sort(), ['create', 'get', 'update'], 'exactly get, create, update')
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name }, 'binding -> the Role')
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name }], 'subject: the agents\' ServiceAccount, in the binding\'s namespace')
  t.equal(podSpec.serviceAccountName, sa.metadata.name, 'the pods run as that ServiceAccount')
  // cluster-wide: reading Node objects, nothing more (the Lease holder's watch of cordoned and not-ready nodes)
  const clusterRoles = docs.filter(d => d.obj.kind === 'ClusterRole')
  t.equal(clusterRoles.length, 1, 'one ClusterRole')
  const cr = find('ClusterRole')
  t.same(cr.rules, [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }], 'the ClusterRole reads Nodes: get, list, watch; nothing else')
  const crb = find('ClusterRoleBinding')
  t.same(crb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: cr.metadata.name }, 'cluster binding -> that ClusterRole')
  t.same(crb.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name }], 'subject: the agents\' ServiceAccount (kustomize writes its namespace)')
})

t.test('security context, scheduling and rollout', async t => {
  const sc = container.securityContext as Obj
  t.match(sc, { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, seccompProfile: { type: 'RuntimeDefault' } })
  t.ok(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, `runAsUser ${String(sc.runAsUser)}`)
  t.same(sc.capabilities, { drop: ['ALL'] }, 'capabilities: drop ALL, nothing added')
  t.notOk(sc.privileged === true, 'not privileged')
  t.notOk(podSpec.hostNetwork === true, 'pod network (the pod-level probes target pod IPs)')
  t.match(podSpec.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } })
  const dockerUser = /^USER\s+(\d+):(\d+)\s*$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
  t.same([Number(dockerUser?.[1]), Number(dockerUser?.[2])], [sc.runAsUser, sc.runAsGroup], 'the image\'s USER is the manifest\'s runAsUser:runAsGroup')
  const range = (podSpec.securityContext.sysctls as Obj[]).find(s => s.name === 'net.ipv4.ping_group_range')?.value as string
  const [lo, hi] = (range ?? '').split(/\s+/).map(Number)
  t.ok(lo !== undefined && hi !== undefined && lo <= sc.runAsGroup && sc.runAsGroup <= hi, `ping_group_range "${range}" admits group ${String(sc.runAsGroup)}`)
  // every node, whatever its taints
  t.ok((podSpec.tolerations as Obj[]).some(x => x.operator === 'Exists' && x.key === undefined && x.effect === undefined), 'tolerates every taint')
  t.same(podSpec.nodeSelector, { 'kubernetes.io/os': 'linux' }, 'Linux nodes only (the image has no Windows build)')
  // the agent forces its own exit 5 s after SIGTERM (src/node/main.ts): the kubelet must not SIGKILL before that
  t.ok(podSpec.terminationGracePeriodSeconds > 5, `terminationGracePeriodSeconds ${String(podSpec.terminationGracePeriodSeconds)} > 5`)
  t.equal(ds.spec.updateStrategy?.type, 'RollingUpdate', 'rolling update')
  t.ok(ds.spec.updateStrategy?.rollingUpdate?.maxUnavailable !== undefined, 'maxUnavailable set')
  const mib = (q: string): number => { const m = /^(\d+)(Mi|Gi)$/.exec(q); if (m === null) throw new Error(`memory ${q}`); return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1) }
  const res = container.resources as Obj
  t.ok(mib(res.requests.memory) <= mib(res.limits.memory), 'memory request <= limit')
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  t.equal(String(container.image).split(':').at(-1), pkg.version, `image tag is the package version (${pkg.version})`)
})

// ---------------------------------------------------------------- the Dockerfile, run for real

interface Instr { op: string, args: string }
interface Stage { name: string, instrs: Instr[] }

function parseDockerfile (text: string): Stage[] {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
  const stages: Stage[] = []
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(line)
    if (m === null) throw new Error(`Dockerfile: cannot read "${line}"`)
    const op = (m[1] ?? '').toUpperCase()
    const args = m[2] ?? ''
    if (op === 'FROM') stages.push({ name: /\s+AS\s+(\S+)\s*$/i.exec(args)?.[1] ?? String(stages.length), instrs: [] })
    else if (stages.length > 0) stages.at(-1)?.instrs.push({ op, args })
  }
  return stages
}

/** Docker's .dockerignore rule: the last pattern that matches the path or one of its parent directories wins. */
function dockerignore (patterns: string[]): (path: string) => boolean {
  const rules = patterns.map(p => p.trim()).filter(p => p !== '' && !p.startsWith('#')).map(p => {
    const neg = p.startsWith('!')
    const body = posix.normalize((neg ? p.slice(1) : p).replace(/^\/+/, '')).replace(/\/+$/, '')
    const re = new RegExp('^' + body.split('/').map(seg => seg === '**'
      ? '.*'
      : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('/') + '$')
    return { neg, re }
  })
  return (path: string): boolean => {
    const parts = path.split('/')
    let excluded = false
    for (const r of rules) {
      for (let i = 1; i <= parts.length; i++) {
        if (r.re.test(parts.slice(0, i).join('/'))) { excluded = !r.neg; break }
      }
    }
    return !excluded
  }
}

/**
 * A command line that runs `argv` with exactly `env`: tap's process tracking adds NODE_OPTIONS (a loader of its own)
 * to every child's environment, which would more than double a Node process's memory; `env -i` drops it.
 */
function exact (env: Record<string, string>, argv: string[]): [string, string[]] {
  return ['env', ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv]]
}

function run (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): { code: number | null, out: string } {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 240_000 })
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

t.test('the Dockerfile builds a complete production tree: install, bundle, then the agent runs from the bundle alone', async t => {
  const stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
  t.same(stages.map(s => s.name), ['build', 'node', 'runtime'], 'stages: build, node, runtime')
  // the stages this machine replays; `node` (the stripped binary) and the runtime's RUN (apt-get, user creation) are
  // system setup, done for real by test/container.test.ts's image build
  const replayed = new Set(['build'])
  const runtime = stages.at(-1) as Stage
  const labels = runtime.instrs.filter(i => i.op === 'LABEL').map(i => i.args).join(' ')
  for (const key of ['title', 'description', 'version', 'revision', 'created', 'licenses', 'source', 'base.name']) {
    t.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key.replace('.', '\\.')}=`), `OCI label ${key}`)
  }
  t.ok(runtime.instrs.some(i => i.op === 'RUN' && /apt-get install .*\bfping\b/.test(i.args)), 'runtime image installs Debian\'s fping')
  t.ok(runtime.instrs.some(i => i.op === 'USER' && !/^(0|root)\b/.test(i.args)), 'runtime runs as a non-root user')
  const pkgVersion = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
  t.ok(runtime.instrs.some(i => i.op === 'ARG' && i.args === `VERSION=${pkgVersion}`), `the version label defaults to the package version (${pkgVersion})`)
  t.notOk(runtime.instrs.some(i => i.op === 'RUN' && /\bnpm\b/.test(i.args)), 'no npm step in the runtime stage')

  // the build context: the work tree's files (tracked or not, less .gitignore), filtered by .dockerignore
  const tmp = mkdtempSync(join(tmpdir(), 'k8snet-docker-'))
  t.teardown(() => { rmSync(tmp, { recursive: true, force: true }) })
  const context = join(tmp, 'context')
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0').filter(f => f !== '' && existsSync(join(ROOT, f)))
  const keep = dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n'))
  const inContext = files.filter(keep)
  for (const f of inContext) cpSync(join(ROOT, f), join(context, f))
  t.ok(inContext.length > 0 && inContext.length < files.length, `.dockerignore keeps ${inContext.length} of ${files.length} files`)
  t.notOk(inContext.some(f => /^(node_modules|dist|\.git|test|bench|deploy)\//.test(f)), 'no tests, deploy manifests or build output in the context')

  // each stage gets its own root directory; WORKDIR, COPY (from the context or --from a stage) and RUN as Docker does.
  // The runtime stage's RUN (apt-get, user creation) is system setup this machine does not repeat; its COPYs are done.
  const roots = new Map<string, string>()
  // a clean environment for npm: none of the npm_* variables of an outer `npm test`
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|INIT_CWD$)/i.test(k)))
  env.npm_config_update_notifier = 'false'
  for (const stage of stages) {
    const root = join(tmp, `stage-${stage.name}`)
    roots.set(stage.name, root)
    let workdir = '/'
    for (const { op, args } of stage.instrs) {
      if (op === 'WORKDIR') { workdir = posix.resolve(workdir, args); mkdirSync(join(root, workdir), { recursive: true }) }
      if (op === 'COPY') {
        const words = args.split(/\s+/)
        const from = words.find(w => w.startsWith('--from='))?.slice(7)
        const chmod = words.find(w => w.startsWith('--chmod='))?.slice(8)
        const paths = words.filter(w => !w.startsWith('--'))
        const dest = paths.pop() as string
        if (from !== undefined && !replayed.has(from)) { t.comment(`${stage.name}: COPY --from=${from} (a stage not replayed here)`); continue }
        const srcRoot = from === undefined ? context : roots.get(from)
        if (srcRoot === undefined) { t.fail(`COPY --from=${String(from)}: no such stage`); continue }
        for (const src of paths) {
          const source = from === undefined ? join(srcRoot, src) : join(srcRoot, src)
          if (!existsSync(source)) { t.fail(`${stage.name}: COPY ${src}: not in ${from === undefined ? 'the build context' : `stage ${from}`}`); continue }
          const target = join(root, posix.resolve(workdir, dest))
          const into = dest.endsWith('/') || paths.length > 1 ? join(target, posix.basename(src)) : target
          mkdirSync(dirname(into), { recursive: true })
          cpSync(source, into, { recursive: true, verbatimSymlinks: true })
          if (chmod !== undefined) chmodSync(into, parseInt(chmod, 8))
        }
      }
      if (op === 'RUN' && replayed.has(stage.name)) {
        const cmd = args.replace(/--mount=\S+\s*/g, '')
        const started = Date.now()
        const r = run('sh', ['-c', cmd], join(root, workdir), env)
        t.equal(r.code, 0, `${stage.name}: RUN ${cmd} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
        if (r.code !== 0) { t.comment(r.out.slice(-3000)); return }
      }
    }
  }

  // the runtime tree, as the image would hold it
  const rootfs = roots.get('runtime') as string
  const workdir = runtime.instrs.filter(i => i.op === 'WORKDIR').map(i => i.args).reduce((w, a) => posix.resolve(w, a), '/')
  const app = join(rootfs, workdir)
  const entry = JSON.parse(runtime.instrs.find(i => i.op === 'ENTRYPOINT')?.args ?? '[]') as string[]
  t.equal(entry[0], 'node', `ENTRYPOINT ${JSON.stringify(entry)}`)
  const main = entry.slice(1) // V8 flags, then the script
  const script = main.find(a => !a.startsWith('--')) ?? '-'
  t.ok(existsSync(join(app, script)), `${script} is in the image`)
  for (const flag of IMAGE_NODE_FLAGS) t.ok(main.includes(flag), `${flag}: the image runs the agent as the benchmarks do (IMAGE_NODE_FLAGS)`)
  const envLines = runtime.instrs.filter(i => i.op === 'ENV').map(i => i.args).join(' ')
  for (const [k, v] of Object.entries(IMAGE_ENV)) t.match(envLines, new RegExp(`(^|\\s)${k}=${v}(\\s|$)`), `${k}=${v}: the image's environment is the benchmarks' (IMAGE_ENV)`)
  t.notOk(existsSync(join(app, 'node_modules')), 'no node_modules in the image: the bundle holds every dependency it runs')
  t.ok(existsSync(join(app, 'dist', 'page', 'app.js')), 'the page\'s script beside the bundle')
  // (Node builds an ES module of a builtin by running every lazy getter it exports: tools/build.ts)
  t.strictSame(readFileSync(join(app, script), 'utf8').match(/from\s*["']node:(?!module["'])[a-z_/]+["']/g) ?? [], [],
    'the bundle imports Node\'s modules through require(), except node:module for require itself')
  t.notOk(existsSync(join(app, 'src')) || existsSync(join(app, 'test')), 'no sources or tests in the image')
  t.ok(statSync(join(rootfs, 'usr/local/bin/fping')).mode & 0o111, '/usr/local/bin/fping (the wrapper) is executable')
  t.comment(`production tree: ${run('du', ['-sh', app], tmp).out.trim()}`)

  // Node 24 (this test's runtime, as in node:24-*-slim) runs the entry point from the image's working directory
  const imageEnv: Record<string, string> = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, NODE_ENV: 'production', ...IMAGE_ENV }
  const version = run(...exact(imageEnv, [process.execPath, ...main, '--version']), app)
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  t.equal(version.code, 0, '--version exits 0')
  t.equal(version.out.trim(), `k8snet-checker ${pkg.version}`, `--version prints the package version (${version.out.trim()})`)

  const bad = run(...exact({ ...imageEnv, ...manifestEnv(), HEARTBEAT_INTERVAL: '20' }, [process.execPath, ...main]), app)
  t.equal(bad.code, 78, 'a configuration error exits 78 (EX_CONFIG)')
  t.match(bad.out, /^k8snet-checker: configuration error: HEARTBEAT_INTERVAL="20": expected a value below CACHE_KEY_SECOND \(15\)[^\n]*\n$/,
    'with one line naming the variable, the value and what was expected')

  // and the real thing: the manifest's environment, the Lease through a stand-in apiserver (this loads the
  // kubeconfig reader, imported lazily, from the bundle), the probes' paths on the manifest's ports
  const ip = '127.0.9.1'
  const podName = 'k8snet-checker-prod1'
  const apiserver = new LeaseStandIn(['token-prod'])
  await apiserver.start('127.0.0.1', 0)
  t.teardown(async () => { await apiserver.stop() })
  const kubeconfig = join(tmp, 'kubeconfig')
  apiserver.writeKubeconfig(kubeconfig, 'token-prod', 'kube-system')
  const agentEnv = {
    ...imageEnv,
    ...manifestEnv({
      // this machine is not a pod: loopback addresses, no cluster DNS to resolve (PEER_SERVICE would query the
      // system resolver), the stand-in apiserver instead of the service account, quicker heartbeats to elect sooner
      NODE_IP: ip,
      POD_IP: ip,
      NODE_IPS: ip,
      POD_IPS: ip,
      POD_NAME: podName,
      LISTEN_ADDRESS: ip,
      PEER_SERVICE: '',
      KUBECONFIG: kubeconfig,
      HEARTBEAT_INTERVAL: '1',
      CACHE_KEY_SECOND: '5',
      TEST_PORT: String(portByName('api'))
    })
  }
  const [cmd, argv] = exact(agentEnv, [process.execPath, ...main])
  const child = spawn(cmd, argv, { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stdout.on('data', (d: Buffer) => { if (log.length < 1e6) log += d.toString() })
  child.stderr.on('data', (d: Buffer) => { if (log.length < 1e6) log += d.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const ready = container.readinessProbe.httpGet
  const live = container.livenessProbe.httpGet
  const readyUrl = `http://${ip}:${portByName(ready.port)}${String(ready.path)}`
  const liveUrl = `http://${ip}:${portByName(live.port)}${String(live.path)}`
  try {
    const ms = await waitUntil('the readiness probe', async () => (await fetch(readyUrl)).status === 200, 15_000)
    t.pass(`readiness probe ${String(ready.path)} on port ${String(ready.port)} answers 200 (${ms} ms after start)`)
    t.equal((await fetch(liveUrl)).status, 200, `liveness probe ${String(live.path)} on port ${String(live.port)} answers 200`)
    t.match(await getJson(readyUrl), { ready: true }, 'ready: the view settled')
    const health = await getJson<{ status: string, pod_name: string, version: string }>(`http://${ip}:${portByName('api')}/api/v1/health`)
    t.match(health, { status: 'healthy', pod_name: podName, version: pkg.version })
    const leadMs = await waitUntil('the Lease', async () => (await getJson<{ is_self: boolean }>(`http://${ip}:${portByName('api')}/api/v1/leader`)).is_self, 30_000, 200)
    t.pass(`the agent took the reporter Lease through the Kubernetes client (${leadMs} ms)`)
    t.equal(apiserver.lease('kube-system', 'k8snet-checker-reporter')?.spec.holderIdentity, podName, 'the stand-in holds the Lease for it')
    const rssMiB = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024
    const requestMiB = Number(/^(\d+)Mi$/.exec(container.resources.requests.memory)?.[1])
    t.ok(rssMiB > 0 && rssMiB < requestMiB, `RSS of the started Lease holder ${rssMiB.toFixed(0)} MiB < memory request ${requestMiB} MiB`)
  } catch (err) {
    t.fail(`${(err as Error).message}\n${log.slice(-3000)}`)
  }
  const stopAt = Date.now()
  child.kill('SIGTERM')
  const code = await exited
  const stopMs = Date.now() - stopAt
  t.equal(code, 0, 'SIGTERM: clean exit 0')
  t.ok(stopMs < podSpec.terminationGracePeriodSeconds * 1000, `stopped in ${stopMs} ms, inside terminationGracePeriodSeconds`)
  t.equal(apiserver.lease('kube-system', 'k8snet-checker-reporter')?.spec.holderIdentity, '', 'the Lease was released on the way out')
})

// ---------------------------------------------------------------- ICMP as the pod does it

function which (cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}

t.test('ICMP in the pod: non-root, no_new_privs, no capability (an empty bounding set), ping_group_range', async t => {
  const fping = which('fping')
  const tools = { root: isRoot, fping: fping !== null, ip: which('ip') !== null, setpriv: which('setpriv') !== null }
  if (Object.values(tools).includes(false)) {
    const why = `needs ${JSON.stringify(tools)}`
    if (required) t.fail(why)
    else t.comment(`skipped: ${why}`)
    return
  }
  const real = resolve(fping as string)
  const sc = container.securityContext as Obj
  const range = (podSpec.securityContext.sysctls as Obj[]).find(s => s.name === 'net.ipv4.ping_group_range')?.value as string
  const fileCaps = /cap_net_raw/.test(spawnSync('getcap', [real], { encoding: 'utf8' }).stdout ?? '')
  const fpingVersion = /Version (\d+)\.(\d+)/.exec(spawnSync(real, ['-v'], { encoding: 'utf8' }).stdout ?? '')
  const before52 = fpingVersion !== null && (Number(fpingVersion[1]) < 5 || (Number(fpingVersion[1]) === 5 && Number(fpingVersion[2]) < 2))
  t.comment(`fping ${real}: version ${fpingVersion?.slice(1).join('.') ?? '?'}, file capability cap_net_raw: ${fileCaps}`)

  const ns = `k8sdep${process.pid}`
  spawnSync('ip', ['netns', 'del', ns])
  t.teardown(() => { spawnSync('ip', ['netns', 'del', ns]) })
  execFileSync('ip', ['netns', 'add', ns])
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
  const fpingModule = pathToFileURL(join(ROOT, 'src/probe/fping.ts')).href
  const wrapper = join(ROOT, 'docker/fping')

  /** The agent's process in the pod: uid/gid from the manifest, no capability held, no_new_privs; fpingRound from it. */
  const agentIcmp = (o: { netRawInBoundingSet: boolean, path: string, real: string }): { capPrm: string, ok: boolean, sent?: number, received?: number, error?: string } => {
    const script = `
      import { readFileSync } from 'node:fs'
      import { fpingRound } from ${JSON.stringify(fpingModule)}
      const capPrm = /CapPrm:\\s+(\\w+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]
      try {
        const r = (await fpingRound(['127.0.0.1'], { path: ${JSON.stringify(o.path)}, echoes: 2, timeoutMs: 300 })).get('127.0.0.1')
        console.log(JSON.stringify({ capPrm, ok: true, sent: r?.sent ?? 0, received: r?.received ?? 0 }))
      } catch (err) { console.log(JSON.stringify({ capPrm, ok: false, error: err.message })) }`
    const r = spawnSync('ip', ['netns', 'exec', ns, 'setpriv', `--reuid=${String(sc.runAsUser)}`, `--regid=${String(sc.runAsGroup)}`,
      '--clear-groups', '--no-new-privs', '--inh-caps=-all', `--bounding-set=-all${o.netRawInBoundingSet ? ',+net_raw' : ''}`,
      ...exact({ PATH: process.env.PATH ?? '', POD_IP: '127.0.0.1', K8SNET_FPING_REAL: o.real }, [process.execPath, '--input-type=module', '-e', script]).flat()],
    { encoding: 'utf8', timeout: 20_000 })
    try { return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') } catch { return { capPrm: '?', ok: false, error: `no answer: ${r.stdout}${r.stderr}` } }
  }
  t.same(sc.capabilities?.add ?? [], [], 'the manifest adds no capability: the bounding set is empty')
  // the image's fping: Debian's binary copied over itself, which drops its file capability (Dockerfile)
  const imageDir = mkdtempSync(join(tmpdir(), 'k8snet-fping-'))
  t.teardown(() => { rmSync(imageDir, { recursive: true, force: true }) })
  chmodSync(imageDir, 0o755)
  const imageFping = join(imageDir, 'fping')
  writeFileSync(imageFping, readFileSync(real), { mode: 0o755 })
  t.notMatch(spawnSync('getcap', [imageFping], { encoding: 'utf8' }).stdout ?? '', /cap_net_raw/, 'the copy carries no file capability')
  const asImage = (path: string): ReturnType<typeof agentIcmp> => agentIcmp({ netRawInBoundingSet: false, path, real: imageFping })

  // 1. without the sysctl: the non-root agent has no ICMP at all
  const closed = asImage(wrapper)
  t.equal(closed.capPrm, '0000000000000000', 'the agent process holds no capability')
  t.match(closed, { ok: false, error: /exit 4/ }, `without ping_group_range fping cannot open a socket (${String(closed.error)})`)

  // 2. the manifest's sysctl: unprivileged ICMP through the image's fping wrapper, with an empty bounding set
  execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', `echo '${range}' > /proc/sys/net/ipv4/ping_group_range`])
  const open = asImage(wrapper)
  t.match(open, { capPrm: '0000000000000000', ok: true, sent: 2, received: 2 }, 'with the manifest\'s ping_group_range: both echoes answered, no capability held')

  // 3. why the image strips the file capability: the kernel refuses to exec a file whose "+ep" capability is outside
  // the bounding set
  const packaged = agentIcmp({ netRawInBoundingSet: false, path: wrapper, real })
  if (fileCaps) t.match(packaged, { ok: false, error: /Operation not permitted/ }, `Debian's fping as packaged (cap_net_raw+ep) cannot even start without NET_RAW (${String(packaged.error)})`)
  else t.match(packaged, { ok: true, received: 2 }, 'this fping has no file capability as packaged')
  const withNetRaw = agentIcmp({ netRawInBoundingSet: true, path: wrapper, real })
  t.match(withNetRaw, { capPrm: '0000000000000000', ok: true, received: 2 }, 'NET_RAW in the bounding set would only let it start: no capability is held either way')

  // 4. why the wrapper: fping before 5.2 drops every reply on an unprivileged socket unless given a source address
  const plain = asImage(imageFping)
  if (before52) t.match(plain, { ok: true, sent: 2, received: 0 }, 'fping < 5.2 without -S: echoes sent, replies ignored (upstream #248): the wrapper is needed')
  else t.match(plain, { ok: true, received: 2 }, 'fping >= 5.2 answers without the wrapper\'s -S (harmless with it)')
})
