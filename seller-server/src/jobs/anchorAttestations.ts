import { EventEmitter } from 'node:events'
import type { JobAttestationsContract } from '@trickle/contracts'
import { type Hex, TrickleError } from '@trickle/protocol'
import type { FeeOverrides } from '@trickle/sdk'
import type { TransactionReceipt } from 'ethers'
import type { Logger } from 'pino'
import type { ReceiptStore } from '../receiptStore.ts'
import { decideAnchor } from './decideAnchor.ts'
import type { AttestedJob } from './jobProvider.ts'
import type { RecentJobs } from './recentJobs.ts'

/** What an {@link AttestationAnchorer} uses: injected, so tests and other servers can pass their own. */
export interface AnchorComponents {
  /** JobAttestations connected to the payee's wallet (the channels' payee is the only one who may attest) */
  attestations: JobAttestationsContract
  /** where the channels' durable receipts are (`latest`) */
  store: Pick<ReceiptStore, 'latest'>
  /**
   * resolves once no claim of the payee's account is running (`SettlementWorker.idle`): claims and
   * anchors send from one account, one after the other
   */
  claimsIdle(): Promise<void>
  /** the fee fields of a transaction (`feeOverrides` of `@trickle/sdk`) */
  fees(): Promise<FeeOverrides>
  /** the provider's recent jobs: their anchors are recorded there */
  recent: RecentJobs
  log: Logger
}

/** How an {@link AttestationAnchorer} works. */
export interface AnchorPolicy {
  /**
   * attestations held at most: sent and waiting for their session to end, and queued for their
   * transaction, each (beyond it the oldest waiting one, or the new queued one, is dropped and counted
   * failed)
   */
  maxPending: number
  /** tries of one anchor whose nonce another transaction of the account took (≥ 1) */
  nonceAttempts: number
  /** ms to wait for the anchoring transaction to be mined before it counts as failed */
  confirmTimeoutMs: number
  /** ms before the first retry after a nonce clash (doubled at each retry) */
  retryDelayMs: number
}

/** Default {@link AnchorPolicy}: 256 pending, 4 tries on a nonce clash, 60 s to be mined, 250 ms backoff. */
export const DEFAULT_ANCHOR_POLICY: AnchorPolicy = {
  maxPending: 256,
  nonceAttempts: 4,
  confirmTimeoutMs: 60_000,
  retryDelayMs: 250,
}

/** Counters of an anchorer since it started; gas in gas units, cost in wei. */
export interface AnchorStats {
  /** anchors waiting for their transaction now */
  queued: number
  /** `attest` transactions broadcast */
  sent: number
  /** anchors mined */
  anchored: number
  /** anchors that failed: RPC errors, reverts, timeouts, dropped for the bound */
  failed: number
  /** attestations not anchored because their session ended unpaid (see {@link decideAnchor}) */
  skipped: number
  /** gas units the `attest` transactions used, mined and reverted */
  gasUsed: bigint
  /** wei the `attest` transactions cost in gas */
  gasCostWei: bigint
}

/** A mined anchor. */
export interface AnchorRecord {
  jobId: Hex
  channelId: Hex
  /** the attestation's EIP-712 digest */
  digest: Hex
  /** the channel's cumulative receipt amount the anchor names, wei */
  cumulativeAmount: bigint
  txHash: Hex
  blockNumber: number
  gasUsed: bigint
}

/** Events of an {@link AttestationAnchorer}. */
export interface AnchorEvents {
  anchored: [AnchorRecord]
  anchorFailed: [{ jobId: Hex; channelId: Hex; error: TrickleError }]
}

/**
 * Anchors the attestations of a provider's finished jobs on-chain (SPEC.md §Jobs, "Anchoring"):
 * `JobAttestations.attest(channelId, digest, cumulativeAmount)` once the job's session ended with
 * every record paid, one transaction at a time, after the account's claims. A failure is logged and
 * counted, never felt by a session.
 */
export interface AttestationAnchorer {
  /** A job's attestation record was handed to its session: held until the session ends. */
  attested(job: AttestedJob): void
  /**
   * A job's session ended (its durable receipts stored): its attestation, if one was sent, is
   * anchored with the channel's latest durable receipt amount when every record is paid.
   * @param end - the job, its channel, and the records no durable receipt covers
   */
  sessionEnded(end: { jobId: Hex; channelId: Hex; unpaidChunks: number }): void
  readonly stats: Readonly<AnchorStats>
  readonly events: EventEmitter<AnchorEvents>
  /**
   * Resolves once no ended session's anchor is being decided, queued or sent (anchors queued
   * meanwhile are waited for too), or the anchorer stopped.
   */
  idle(): Promise<void>
  /**
   * Stops anchoring: the transaction being sent gets up to `graceMs` to be mined, the rest is dropped
   * (not anchored; logged).
   * @param graceMs - ms (default 0)
   */
  stop(graceMs?: number): Promise<void>
}

/**
 * Starts an anchorer (see {@link AttestationAnchorer}).
 * @param components - the contract bound to the payee's wallet, the receipt store, the claims' idle
 *   wait, fees, the recent jobs and a logger
 * @param policy - bounds and retries (default {@link DEFAULT_ANCHOR_POLICY})
 */
export function startAttestationAnchor(
  components: AnchorComponents,
  policy: AnchorPolicy = DEFAULT_ANCHOR_POLICY,
): AttestationAnchorer {
  const { attestations, store, recent, log } = components
  const events = new EventEmitter<AnchorEvents>()
  const stats: AnchorStats = {
    queued: 0,
    sent: 0,
    anchored: 0,
    failed: 0,
    skipped: 0,
    gasUsed: 0n,
    gasCostWei: 0n,
  }
  /** attestations sent whose session has not ended, by job id (lowercase) */
  const awaiting = new Map<string, AttestedJob>()
  /** anchors decided, waiting for their transaction */
  const queue: { job: AttestedJob; cumulativeAmount: bigint }[] = []
  let running: Promise<void> | undefined
  /** store reads of ended sessions not yet decided (at most one per job that was awaiting) */
  const decisions = new Set<Promise<void>>()
  let stopped = false

  const fail = (job: AttestedJob, error: TrickleError) => {
    stats.failed++
    recent.update(job.jobId, { anchor: 'failed' })
    log.warn({ err: error, jobId: job.jobId, channelId: job.channelId }, 'could not anchor a job attestation')
    events.emit('anchorFailed', { jobId: job.jobId, channelId: job.channelId, error })
  }

  const counted = (receipt: TransactionReceipt) => {
    stats.gasUsed += receipt.gasUsed
    stats.gasCostWei += receipt.gasUsed * receipt.gasPrice
  }

  /** Sends one anchor, retrying a nonce another transaction of the account took. */
  const anchor = async (job: AttestedJob, cumulativeAmount: bigint): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await components.claimsIdle()
        const tx = await attestations.attest(
          job.channelId,
          job.digest,
          cumulativeAmount,
          await components.fees(),
        )
        stats.sent++
        const receipt = await tx.wait(1, policy.confirmTimeoutMs)
        if (!receipt) throw new TrickleError('CHAIN_UNAVAILABLE', 'the anchoring transaction was not mined')
        counted(receipt)
        const record: AnchorRecord = {
          jobId: job.jobId,
          channelId: job.channelId,
          digest: job.digest,
          cumulativeAmount,
          txHash: receipt.hash as Hex,
          blockNumber: receipt.blockNumber,
          gasUsed: receipt.gasUsed,
        }
        stats.anchored++
        recent.update(job.jobId, {
          state: 'anchored',
          anchored: {
            txHash: record.txHash,
            blockNumber: record.blockNumber,
            cumulativeAmount,
            gasUsed: record.gasUsed,
          },
        })
        const status = recent.get(job.jobId)
        if (status) delete status.anchor
        log.info(
          {
            jobId: job.jobId,
            channelId: job.channelId,
            txHash: record.txHash,
            gasUsed: Number(record.gasUsed),
          },
          'job attestation anchored',
        )
        events.emit('anchored', record)
        return
      } catch (err) {
        // A replaced transaction's `receipt` is the other transaction's: its nonce was taken.
        const replaced = (err as { code?: unknown }).code === 'TRANSACTION_REPLACED'
        const mined = replaced ? undefined : (err as { receipt?: TransactionReceipt | null }).receipt
        if (mined) counted(mined)
        if (!mined && nonceClash(err) && attempt < policy.nonceAttempts && !stopped) {
          log.debug({ err, jobId: job.jobId, attempt }, 'anchor nonce taken: retrying')
          await new Promise((r) => setTimeout(r, policy.retryDelayMs * 2 ** (attempt - 1)))
          continue
        }
        const code = mined ? 'TRANSACTION_REVERTED' : 'CHAIN_UNAVAILABLE'
        return fail(
          job,
          err instanceof TrickleError
            ? err
            : new TrickleError(code, mined ? 'the anchoring transaction reverted' : 'could not anchor', {
                cause: err,
              }),
        )
      }
    }
  }

  const pump = () => {
    if (running || stopped || queue.length === 0) return
    running = (async () => {
      while (queue.length > 0 && !stopped) {
        const next = queue.shift()!
        stats.queued = queue.length
        await anchor(next.job, next.cumulativeAmount)
      }
    })().finally(() => {
      running = undefined
      pump()
    })
  }

  return {
    events,
    stats,
    attested(job) {
      if (stopped) return
      const key = job.jobId.toLowerCase()
      awaiting.delete(key)
      awaiting.set(key, job)
      if (awaiting.size > policy.maxPending) {
        const oldest = awaiting.values().next().value!
        awaiting.delete(oldest.jobId.toLowerCase())
        fail(
          oldest,
          new TrickleError('INTERNAL', `more than ${policy.maxPending} attestations wait for their session`),
        )
      }
    },
    sessionEnded(end) {
      const key = end.jobId.toLowerCase()
      const job = awaiting.get(key)
      // A job cancelled before its attestation was sent has nothing to anchor.
      if (!job || stopped) return
      awaiting.delete(key)
      const deciding = store
        .latest(job.channelId)
        .then((latest) => {
          if (stopped) return
          const decision = decideAnchor(end, latest)
          if (!decision.anchor) {
            stats.skipped++
            recent.update(job.jobId, { anchor: 'skipped' })
            log.info(
              { jobId: job.jobId, channelId: job.channelId, reason: decision.reason },
              'job attestation not anchored',
            )
            return
          }
          if (queue.length >= policy.maxPending) {
            return fail(
              job,
              new TrickleError('INTERNAL', `more than ${policy.maxPending} anchors are queued`),
            )
          }
          queue.push({ job, cumulativeAmount: decision.cumulativeAmount })
          stats.queued = queue.length
          pump()
        })
        .catch((err: unknown) =>
          fail(
            job,
            new TrickleError('STORE_FAILED', 'could not read the channel’s latest receipt', { cause: err }),
          ),
        )
        .finally(() => decisions.delete(deciding))
      decisions.add(deciding)
    },
    async idle() {
      while (!stopped && (running || decisions.size > 0)) {
        await Promise.allSettled([...decisions])
        if (running) await running
      }
    },
    async stop(graceMs = 0) {
      stopped = true
      const dropped = queue.length + awaiting.size
      queue.length = 0
      awaiting.clear()
      stats.queued = 0
      if (dropped > 0) log.warn({ dropped }, 'stopping: job attestations left unanchored')
      if (running && graceMs > 0) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([running, new Promise((r) => (timer = setTimeout(r, graceMs)))])
        clearTimeout(timer)
      }
    },
  }
}

/** Whether a send failed because the account's nonce was used by another transaction. */
function nonceClash(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; shortMessage?: unknown }
  if (
    e?.code === 'NONCE_EXPIRED' ||
    e?.code === 'REPLACEMENT_UNDERPRICED' ||
    e?.code === 'TRANSACTION_REPLACED'
  )
    return true
  const text = `${String(e?.shortMessage ?? '')} ${String(e?.message ?? '')}`.toLowerCase()
  return text.includes('nonce') || text.includes('replacement transaction') || text.includes('already known')
}
