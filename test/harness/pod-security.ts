// The Pod Security Standards' "restricted" profile (every Baseline control, then the Restricted ones), as listed on
// the Kubernetes documentation's Pod Security Standards page: what the admission controller would refuse in a pod.
type Obj = Record<string, any>

/** Capabilities Baseline lets a container add. */
const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE',
  'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'])
/** The safe sysctls Baseline allows (namespaced, isolated from the node). */
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes'])
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'])
/** Volume sources Restricted allows. */
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'])

/** Every violation of the restricted profile in a pod (its spec and metadata), as "control: where". Empty: admitted. */
export function restrictedViolations (spec: Obj, metadata: Obj = {}): string[] {
  const out: string[] = []
  const bad = (control: string, where: string): void => { out.push(`${control}: ${where}`) }
  const pod: Obj = spec.securityContext ?? {}
  const containers: Array<[string, Obj]> = ['containers', 'initContainers', 'ephemeralContainers']
    .flatMap(list => ((spec[list] ?? []) as Obj[]).map((c, i): [string, Obj] => [`${list}[${i}] ${String(c.name)}`, c]))
  const seccompOk = (sc: Obj | undefined): boolean => sc?.seccompProfile?.type === 'RuntimeDefault' || sc?.seccompProfile?.type === 'Localhost'

  // --- Baseline
  if (pod.windowsOptions?.hostProcess === true) bad('HostProcess', 'spec.securityContext.windowsOptions.hostProcess')
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[ns] === true) bad('Host Namespaces', `spec.${ns}`)
  for (const [where, c] of containers) {
    const sc: Obj = c.securityContext ?? {}
    if (sc.windowsOptions?.hostProcess === true) bad('HostProcess', where)
    if (sc.privileged === true) bad('Privileged Containers', where)
    for (const cap of (sc.capabilities?.add ?? []) as string[]) if (!BASELINE_CAPABILITIES.has(cap)) bad('Capabilities (Baseline)', `${where} adds ${cap}`)
    for (const p of (c.ports ?? []) as Obj[]) if ((p.hostPort ?? 0) !== 0) bad('Host Ports', `${where} hostPort ${String(p.hostPort)}`)
    if (sc.procMount !== undefined && sc.procMount !== 'Default') bad('/proc Mount Type', `${where} procMount ${String(sc.procMount)}`)
  }
  for (const [where, sc] of [['spec.securityContext', pod] as [string, Obj], ...containers.map(([w, c]): [string, Obj] => [w, c.securityContext ?? {}])]) {
    const apparmor = sc.appArmorProfile?.type
    if (apparmor !== undefined && apparmor !== 'RuntimeDefault' && apparmor !== 'Localhost') bad('AppArmor', `${where} ${String(apparmor)}`)
    const se: Obj | undefined = sc.seLinuxOptions
    if (se !== undefined) {
      if (!SELINUX_TYPES.has(se.type ?? '')) bad('SELinux', `${where} type ${String(se.type)}`)
      if ((se.user ?? '') !== '' || (se.role ?? '') !== '') bad('SELinux', `${where} user or role set`)
    }
    if (sc.seccompProfile?.type === 'Unconfined') bad('Seccomp (Baseline)', `${where} Unconfined`)
  }
  for (const [key, value] of Object.entries((metadata.annotations ?? {}) as Record<string, string>)) {
    if (key.startsWith('container.apparmor.security.beta.kubernetes.io/') && value !== 'runtime/default' && !value.startsWith('localhost/')) bad('AppArmor', `annotation ${key}=${value}`)
  }
  for (const s of (pod.sysctls ?? []) as Obj[]) if (!SAFE_SYSCTLS.has(s.name)) bad('Sysctls', `${String(s.name)} is not a safe sysctl`)
  for (const v of (spec.volumes ?? []) as Obj[]) if (v.hostPath !== undefined) bad('HostPath Volumes', `volume ${String(v.name)}`)

  // --- Restricted
  for (const v of (spec.volumes ?? []) as Obj[]) {
    const source = Object.keys(v).filter(k => k !== 'name')
    if (source.length !== 1 || !RESTRICTED_VOLUMES.has(source[0] ?? '')) bad('Volume Types', `volume ${String(v.name)} (${source.join(', ')})`)
  }
  for (const [where, c] of containers) {
    const sc: Obj = c.securityContext ?? {}
    if (sc.allowPrivilegeEscalation !== false) bad('Privilege Escalation', `${where} allowPrivilegeEscalation is not false`)
    if (sc.runAsNonRoot === false || (sc.runAsNonRoot !== true && pod.runAsNonRoot !== true)) bad('Running as Non-root', `${where} runAsNonRoot is not true`)
    if (sc.runAsUser === 0) bad('Running as Non-root user', `${where} runAsUser 0`)
    if (sc.seccompProfile !== undefined ? !seccompOk(sc) : !seccompOk(pod)) bad('Seccomp (Restricted)', `${where} neither RuntimeDefault nor Localhost`)
    const caps: Obj = sc.capabilities ?? {}
    if (!((caps.drop ?? []) as string[]).includes('ALL')) bad('Capabilities (Restricted)', `${where} does not drop ALL`)
    for (const cap of (caps.add ?? []) as string[]) if (cap !== 'NET_BIND_SERVICE') bad('Capabilities (Restricted)', `${where} adds ${cap}`)
  }
  if (pod.runAsUser === 0) bad('Running as Non-root user', 'spec.securityContext.runAsUser 0')
  return out
}
