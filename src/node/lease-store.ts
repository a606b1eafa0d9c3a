// The Lease store contract (get / create / update one Lease), its typed errors, and a lazily loaded store.

export interface LeaseRecord {
  holder: string
  durationS: number
  acquireTime: Date | null
  renewTime: Date | null
  transitions: number
  resourceVersion: string
}

export type LeaseSpec = Omit<LeaseRecord, 'resourceVersion'>

/** Another writer got there first: AlreadyExists on create, Conflict (stale resourceVersion) on update. */
export class LeaseConflict extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'LeaseConflict'
  }
}

/** The apiserver failed or could not be reached (code 0 when there was no HTTP answer). */
export class LeaseApiError extends Error {
  readonly code: number
  constructor (code: number, message: string) {
    super(message)
    this.name = 'LeaseApiError'
    this.code = code
  }
}

export interface LeaseStore {
  /** The Lease, or null when it does not exist. */
  get: () => Promise<LeaseRecord | null>
  create: (spec: LeaseSpec) => Promise<LeaseRecord>
  update: (spec: LeaseSpec, resourceVersion: string) => Promise<LeaseRecord>
}

/**
 * A store whose implementation is loaded on first use: the Kubernetes client takes ~0.3 s to import, which a
 * starting agent must not spend before it has synced its view (and only contenders ever need it).
 */
export function lazyLeaseStore (load: () => Promise<LeaseStore>): LeaseStore {
  let loaded: Promise<LeaseStore> | null = null
  const store = async (): Promise<LeaseStore> => await (loaded ??= load())
  return {
    get: async () => await (await store()).get(),
    create: async (spec) => await (await store()).create(spec),
    update: async (spec, rv) => await (await store()).update(spec, rv)
  }
}
