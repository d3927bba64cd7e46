import type { Address } from '@trickle/protocol'
import type { JobStatus } from './recentJobs.ts'

/**
 * What a provider does with a signed cancel of a job: `cancel` (stop the running job now),
 * `cancelled` (it already is: answered as a success, so a cancel may be sent again), `ended` (it
 * ended on its own first: nothing to cancel), `unknown` (no such job among the recent ones),
 * `forbidden` (not signed by a key of the job's channel).
 */
export type JobCancelDecision = 'cancel' | 'cancelled' | 'ended' | 'unknown' | 'forbidden'

/**
 * Decides a job's cancel (SPEC.md §Jobs, "Cancel"): only a key whose receipts the provider takes on
 * the job's channel (its signer, its payer, a previous signer still valid) may stop it — the signer is
 * checked before anything about the job is told.
 * @param job - the job's status and the receipt signers of its channel when its session started;
 *   undefined when the provider does not know it
 * @param signer - the address the cancel's signature recovers to, undefined when it does not recover
 */
export function decideJobCancel(
  job: { status: Pick<JobStatus, 'state' | 'error'>; signers: readonly Address[] } | undefined,
  signer: Address | undefined,
): JobCancelDecision {
  if (job === undefined) return 'unknown'
  const recovered = signer?.toLowerCase()
  if (recovered === undefined || !job.signers.some((s) => s.toLowerCase() === recovered)) return 'forbidden'
  if (job.status.state === 'cancelled' || job.status.error === 'JOB_CANCELLED') return 'cancelled'
  return job.status.state === 'running' ? 'cancel' : 'ended'
}
