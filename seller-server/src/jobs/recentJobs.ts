import type { Hex } from '@trickle/protocol'

/** How the anchoring of an ended job's attestation stands (see `anchorAttestations.ts`). */
export type AnchorState =
  /** queued, or waiting for the job's session to end with its records paid */
  | 'pending'
  /** this provider has no JobAttestations address: nothing is anchored */
  | 'off'
  /** not anchored: the session ended with records no receipt covers, or no receipt at all */
  | 'skipped'
  /** the anchoring transaction failed (logged and counted; the job and its session are unaffected) */
  | 'failed'

/**
 * A job as its provider sees it (`GET /jobs/<jobId>`, SPEC.md §Jobs): `running` (CPU ms and records
 * so far), `cancelled` (the session ended before the job did; or a signed cancel stopped it, then with
 * the fields of `ended` and error `JOB_CANCELLED`), `ended` (exit code, the attestation's
 * EIP-712 digest and how its anchoring stands), `anchored` (the anchoring transaction and the
 * channel's cumulative receipt amount it names).
 */
export interface JobStatus {
  /** the quote id */
  jobId: Hex
  productId: bigint
  /** the channel that pays for it */
  channelId: Hex
  state: 'running' | 'cancelled' | 'ended' | 'anchored'
  /** ms since the epoch */
  startedAt: number
  /** CPU ms used so far (charged, once ended) */
  cpuMs: number
  /** records (units) the job produced so far, the attestation's own included once ended */
  records: number
  /** ms since the epoch, once ended */
  endedAt?: number
  /** the module's exit code (−1 when stopped), once ended */
  exitCode?: number
  /** the code that stopped the job (`JOB_CPU_LIMIT`, `JOB_CANCELLED`…), `''` when it exited; once ended */
  error?: string
  /** `jobAttestationDigest` of the attestation sent: what is anchored; once ended */
  attestationHash?: Hex
  /** how the anchoring stands, once ended and until anchored */
  anchor?: AnchorState
  /** once anchored: the `JobAttestations.attest` transaction */
  anchored?: {
    txHash: Hex
    blockNumber: number
    /** the channel's cumulative receipt amount the anchor names, wei */
    cumulativeAmount: bigint
    /** gas the transaction used */
    gasUsed: bigint
  }
}

/** Jobs {@link RecentJobs} keeps by default. */
export const DEFAULT_RECENT_JOBS = 1024

/**
 * The status of a provider's recent jobs, at most `capacity` of them (least recently updated dropped
 * first: an LRU over updates, so a running job is never dropped before jobs that ended long ago,
 * unless `capacity` jobs were touched since).
 */
export class RecentJobs {
  private readonly jobs = new Map<string, JobStatus>()
  readonly capacity: number

  /** @param capacity - jobs kept at most (≥ 1, default {@link DEFAULT_RECENT_JOBS}) */
  constructor(capacity: number = DEFAULT_RECENT_JOBS) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`)
    this.capacity = capacity
  }

  /** The job's status, or undefined when it is unknown or was dropped. */
  get(jobId: string): JobStatus | undefined {
    return this.jobs.get(jobId.toLowerCase())
  }

  /** Records a job's status (a new job, or a new state of one), the most recent. */
  set(status: JobStatus): void {
    const key = status.jobId.toLowerCase()
    this.jobs.delete(key)
    this.jobs.set(key, status)
    while (this.jobs.size > this.capacity) this.jobs.delete(this.jobs.keys().next().value!)
  }

  /**
   * Changes a kept job's status (moving it to the most recent); nothing when it is not kept.
   * @returns the new status, or undefined
   */
  update(jobId: string, change: Partial<JobStatus>): JobStatus | undefined {
    const now = this.get(jobId)
    if (!now) return undefined
    const next = { ...now, ...change }
    this.set(next)
    return next
  }

  /** Jobs kept now. */
  get size(): number {
    return this.jobs.size
  }
}
