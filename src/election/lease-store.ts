// The Lease store contract (get / create / update one Lease) and its typed errors.

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
