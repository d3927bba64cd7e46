import { EventEmitter } from 'node:events'
import { ChannelStatus, type ChannelView } from '@trickle/contracts'
import { type AcceptedReceipt, type Hex, TrickleError } from '@trickle/protocol'
import pRetry, { AbortError } from 'p-retry'
import type { Logger } from 'pino'
import {
  type ClaimEstimate,
  type ClaimRevert,
  type ClaimSender,
  estimateClaim,
  sendClaim,
  type TrackedClaim,
  trackClaim,
} from './claimTransaction.ts'
import {
  type ClaimDecision,
  type ClaimReason,
  type ClaimSituation,
  type ClaimTrigger,
  decideClaim,
  needsClaimCost,
  type SettlementPolicy,
  type SkipReason,
} from './decideClaim.ts'
import { fromChain } from './fromChain.ts'
import type { ClaimRecord, StoredReceipt } from './receiptStore.ts'
import { receiptFitsChannel, retireForeignReceipts } from './resolveChannel.ts'

/**
 * Which trigger a coalesced follow-up pass keeps: a deadline (close, signer change) and a manual call
 * (both claim whatever the amount) over a session end (claims above its minimum) over the rest.
 */
const TRIGGER_URGENCY: Record<ClaimTrigger, number> = {
  threshold: 0,
  sweep: 1,
  pending: 1,
  age: 1,
  session_end: 2,
  manual: 3,
  signer_changed: 3,
  close_requested: 4,
}

/** Counters of a settlement worker since it started. Counts are claims; amounts are wei. */
export interface SettlementStats {
  /** claim transactions signed and broadcast */
  claimsSent: number
  /** claims mined and paid */
  claimsMined: number
  /** claims mined but reverted (their gas is spent) */
  claimsReverted: number
  /** claims whose nonce another transaction took */
  claimsDropped: number
  /** channels whose challenge period ended (or that were closed) with receipts unclaimed */
  claimsMissed: number
  /** passes that did not claim because the claim would pay under the session-end or age minimum */
  claimsDeferred: number
  /** sweeps completed */
  sweeps: number
  /** wei the mined claims paid */
  paidWei: bigint
  /** wei the claim transactions cost in gas, mined and reverted */
  gasSpentWei: bigint
  /** gas units the claim transactions used, mined and reverted */
  gasUsed: bigint
  /** wei of stored receipts lost to missed challenge periods */
  missedWei: bigint
  /**
   * wei the stored receipts of open and closing channels would still pay: recomputed from the chain by
   * each sweep, and kept current between sweeps as receipts are stored (`receiptStored`: up by what
   * a receipt adds above the highest amount seen or claimed on its channel) and claims are mined
   * (down by what they paid) or missed. Between sweeps it is not capped by the channels' deposits
   */
  unclaimedWei: bigint
}

/** A failed claim attempt. */
export interface ClaimFailure {
  channelId: Hex
  /**
   * `TRANSACTION_REVERTED` (the claim was mined and reverted: see `revert`), `CLAIM_REJECTED` (the
   * contract refuses it at estimation), `CLAIM_MISSED`, `CHAIN_UNAVAILABLE`, `STORE_FAILED` (the
   * chain's or the store's error its `cause`), `INTERNAL` (an unexpected fault of the worker)
   */
  error: TrickleError
  /** whether the worker tries again on its own in this pass */
  willRetry: boolean
  /** the claim transaction, when one was mined */
  txHash?: Hex
  /** why the mined claim reverted: `out_of_gas` (gas used vs. its limit) or the contract's error */
  revert?: ClaimRevert
}

/** A channel whose challenge period ended (or that was closed) with stored receipts unclaimed. */
export interface ClaimMissed {
  channelId: Hex
  /** wei the stored receipts would have paid, now refunded (or refundable) to the payer */
  unclaimed: bigint
  /** unix seconds the challenge period ended (0 if the chain does not say) */
  closeDeadline: bigint
  /** on-chain status: closing (past the deadline) or closed */
  status: ChannelStatus
}

/** Events of the settlement worker. */
export interface SettlementEvents {
  /** a claim transaction was recorded and broadcast; `cost` is its expected gas cost (wei) */
  claimSent: [ClaimRecord & { trigger: ClaimTrigger; reason: ClaimReason; gasLimit: bigint; cost: bigint }]
  /** a claim was mined and paid `paid` wei */
  claimed: [ClaimRecord]
  /** a claim attempt failed; `willRetry` says whether the worker tries again on its own */
  claimFailed: [ClaimFailure]
  /** a pass did not claim: what it would pay (wei) is under the minimum (wei) that `reason` names */
  claimDeferred: [
    { channelId: Hex; trigger: ClaimTrigger; reason: SkipReason; unclaimed: bigint; minimum: bigint },
  ]
  /** `CLAIM_MISSED`: stored receipts can no longer be claimed; reported once per channel */
  claimMissed: [ClaimMissed]
  /** a payer asked to close a channel of this StreamChannels deployment (any payee) */
  closeRequested: [{ channelId: Hex; closeDeadline: bigint }]
}

/** The seller's settlement worker: turns stored receipts into on-chain claims. */
export interface SettlementWorker {
  readonly events: EventEmitter<SettlementEvents>
  /** counters since the start (a live object: read it, do not keep a copy) */
  readonly stats: Readonly<SettlementStats>
  /** Tells the worker a receipt was stored; claims once the channel's unclaimed value passes the threshold. */
  receiptStored(receipt: AcceptedReceipt): void
  /** Tells the worker a session ended on `channelId` (claims if the policy says so, see {@link decideClaim}). */
  sessionEnded(channelId: Hex): void
  /**
   * Claims the channel's latest stored receipt now if it pays anything, retrying transient RPC
   * failures with backoff until it is mined or can no longer be (challenge period over), and a claim
   * that reverted once. Concurrent calls for one channel share one attempt, so one claim is never
   * sent twice. A channel already reported missed resolves undefined.
   * @returns the mined claim, or undefined when there was nothing to claim (or the policy deferred it,
   *   for triggers other than `manual`)
   * @throws TrickleError `CLAIM_REJECTED` (the contract refuses: stale, wrong signer…),
   *   `CLAIM_MISSED` (the challenge period ended first), `TRANSACTION_REVERTED` (claims were mined and
   *   reverted twice), `CHAIN_UNAVAILABLE` after the worker stopped
   */
  settle(channelId: Hex, trigger?: ClaimTrigger): Promise<ClaimRecord | undefined>
  /** Resolves once no claim is running (claims started meanwhile are waited for too). */
  idle(): Promise<void>
  /**
   * Stops polling and retrying; claims still running after `graceMs` are abandoned and stay
   * `pending` in the ledger, to resume at the next start.
   * @param graceMs - ms to let running claims finish first (default 0)
   */
  stop(graceMs?: number): Promise<void>
}

const EVENT_CURSOR_KEY = 'settlement.logsCursor'
/** meta key marking a channel settlement is done with (closed, or past its deadline) */
const finalKey = (channelId: Hex) => `settlement.final.${channelId.toLowerCase()}`
/** reverted claims one settle call accepts before it gives up (each one costs gas) */
const MAX_REVERTS_PER_SETTLE = 2

/**
 * Starts the settlement worker of one payee on one StreamChannels deployment. Whether to claim is
 * {@link decideClaim}'s call; this does the I/O. It looks at a channel
 * - when a receipt is stored that takes the unclaimed value past {@link SettlementPolicy.claimThreshold},
 * - when a session ends (if {@link SettlementPolicy.claimOnSessionEnd}; claims only above the
 *   session-end minimum, against the claim's estimated gas cost),
 * - at once when it sees `CloseRequested` for a channel it holds receipts for, so the claim lands
 *   inside the challenge period, and when it sees `SignerChanged` (receipts of the replaced signer
 *   only stay valid for one challenge period),
 * - on a sweep every {@link SettlementPolicy.sweepIntervalMs} and at start, which also catches events
 *   missed while the seller was down (the log cursor is persisted too), claims receipts older than
 *   {@link SettlementPolicy.maxUnclaimedAgeMs}, and reports channels whose challenge period ended with
 *   receipts unclaimed (`CLAIM_MISSED`: logged at error level, `claimMissed` event, counters), after
 *   which it marks them in the store's meta and never reads them again.
 *
 * Every claim is written to the ledger, signed, before it is broadcast; a restart rebroadcasts the
 * same transaction instead of signing a new one, and a channel never has two claims in flight. Its
 * gas limit is the estimate plus {@link SettlementPolicy.claimGasMarginPercent}; a claim that reverts
 * is logged with its cause (out of gas, or the contract's error) and reported in `claimFailed`.
 *
 * @param sender - payee wallet, provider, contract, ledger and fee mode
 * @param policy - when to claim (see {@link SettlementPolicy})
 */
export function startSettlementWorker(
  sender: ClaimSender,
  policy: SettlementPolicy,
  log: Logger,
): SettlementWorker {
  const { provider, channels, store } = sender
  const events = new EventEmitter<SettlementEvents>()
  const abort = new AbortController()
  const payee = sender.wallet.address.toLowerCase()
  const stats: SettlementStats = {
    claimsSent: 0,
    claimsMined: 0,
    claimsReverted: 0,
    claimsDropped: 0,
    claimsMissed: 0,
    claimsDeferred: 0,
    sweeps: 0,
    paidWei: 0n,
    gasSpentWei: 0n,
    gasUsed: 0n,
    missedWei: 0n,
    unclaimedWei: 0n,
  }
  /** one attempt per channel at a time; a request during an attempt runs one more after it */
  const inflight = new Map<string, Promise<ClaimRecord | undefined>>()
  const again = new Map<string, ClaimTrigger>()
  /**
   * channels whose payer requested close: every receipt stored on them is claimed at once, whatever
   * the threshold, since they pay only until the deadline (lowercase ids)
   */
  const closing = new Set<string>()
  /** channels {@link closeOut} took (lowercase ids); also marked in the store's meta */
  const closedOut = new Set<string>()
  /** highest cumulative amount mined per channel, as this worker saw it (wei) */
  const claimedSoFar = new Map<string, bigint>()
  /**
   * highest cumulative amount of a stored receipt per channel, as this worker saw it (wei): what a
   * new receipt adds to {@link SettlementStats.unclaimedWei}
   */
  const storedSoFar = new Map<string, bigint>()
  /** Moves `stats.unclaimedWei` by `delta` wei, never below 0 (the next sweep sets it exactly). */
  const adjustUnclaimed = (delta: bigint) => {
    const next = stats.unclaimedWei + delta
    stats.unclaimedWei = next > 0n ? next : 0n
  }
  /** errors already logged and the extra fields of their `claimFailed` event */
  const failures = new WeakMap<Error, Pick<ClaimFailure, 'txHash' | 'revert'>>()
  /** claims are signed one at a time so nonces never collide */
  let sendQueue: Promise<unknown> = Promise.resolve()
  const timers: NodeJS.Timeout[] = []

  /** The chain's clock: the latest block's timestamp, unix seconds. */
  const chainNow = async () => {
    const block = await fromChain('read the latest block', () => provider.getBlock('latest'))
    if (!block) throw new TrickleError('CHAIN_UNAVAILABLE', 'the node has no latest block')
    return BigInt(block.timestamp)
  }

  /** What {@link decideClaim} needs about a channel, without the claim's cost. */
  async function situationOf(
    receipt: StoredReceipt,
    view: ChannelView,
    trigger: ClaimTrigger,
    now: () => Promise<bigint>,
  ): Promise<ClaimSituation> {
    const covered = receipt.amount < view.deposit ? receipt.amount : view.deposit
    const signer = receipt.signer.toLowerCase()
    return {
      trigger,
      status: view.status,
      closeDeadline: view.closeDeadline,
      chainNow: view.status === ChannelStatus.closing ? await now() : 0n,
      unclaimed: covered - view.claimed,
      signerReplaced: signer !== view.signer.toLowerCase() && signer !== view.payer.toLowerCase(),
      unclaimedSince: await store.unclaimedSince(receipt.channelId, view.claimed),
      now: Date.now(),
      claimCost: undefined,
    }
  }

  /** Reads a channel; undefined when it does not pay this seller or its receipts belong elsewhere. */
  async function channelOf(receipt: StoredReceipt): Promise<ChannelView | undefined> {
    let view: ChannelView
    try {
      view = await channels.getChannel(receipt.channelId)
    } catch (cause) {
      throw new TrickleError('CHAIN_UNAVAILABLE', 'could not read the channel', { cause })
    }
    if (!receiptFitsChannel(receipt, view)) {
      await retireForeignReceipts(store, receipt, log)
      return undefined
    }
    if (view.payee.toLowerCase() !== payee) return undefined
    noteClaimed(receipt.channelId, view.claimed)
    return view
  }

  /**
   * Marks a channel that can no longer be claimed so it is never read again; when receipts were left
   * unpaid, reports `CLAIM_MISSED` (error log, `claimMissed` event, counters).
   * @returns the `CLAIM_MISSED` error, or undefined when nothing was lost or it was reported before
   */
  async function closeOut(
    channelId: Hex,
    view: ChannelView,
    unclaimed: bigint,
  ): Promise<TrickleError | undefined> {
    const key = channelId.toLowerCase() as Hex
    closing.delete(key)
    // The sweep and a pass of `settle` may both find the channel over: report it once.
    if (closedOut.has(key)) return undefined
    closedOut.add(key)
    if ((await store.getMeta(finalKey(key))) !== undefined) return undefined
    const lost = unclaimed > 0n ? unclaimed : 0n
    await store.setMeta(
      finalKey(key),
      JSON.stringify({
        status: view.status,
        closeDeadline: view.closeDeadline.toString(),
        claimed: view.claimed.toString(),
        missedWei: lost.toString(),
        at: Date.now(),
      }),
    )
    if (lost === 0n) return undefined
    adjustUnclaimed(-lost)
    stats.claimsMissed++
    stats.missedWei += lost
    const error = new TrickleError('CLAIM_MISSED', `the challenge period of ${key} ended before the claim`, {
      details: `${lost} wei of stored receipts unclaimed, refunded to the payer; claimed ${view.claimed} wei`,
    })
    log.error(
      {
        code: error.code,
        channelId: key,
        unclaimedWei: lost.toString(),
        claimedWei: view.claimed.toString(),
        closeDeadline: Number(view.closeDeadline),
        status: view.status === ChannelStatus.closed ? 'closed' : 'closing',
      },
      'claim missed: the challenge period ended before the seller claimed; the payer gets the receipts’ value back',
    )
    failures.set(error, {})
    events.emit('claimMissed', {
      channelId: key,
      unclaimed: lost,
      closeDeadline: view.closeDeadline,
      status: view.status,
    })
    return error
  }

  /** Counts and reports a decision not to claim below a minimum. */
  function deferred(channelId: Hex, situation: ClaimSituation, decision: ClaimDecision): void {
    if (decision.claim) return
    if (decision.reason !== 'below_session_end_minimum' && decision.reason !== 'below_age_minimum') return
    stats.claimsDeferred++
    const minimum = decision.minimum ?? 0n
    log[decision.reason === 'below_age_minimum' ? 'debug' : 'info'](
      {
        channelId,
        trigger: situation.trigger,
        reason: decision.reason,
        unclaimedWei: situation.unclaimed.toString(),
        minimumWei: minimum.toString(),
        claimCostWei: situation.claimCost?.toString(),
      },
      'claim deferred: it would pay less than the policy’s minimum',
    )
    events.emit('claimDeferred', {
      channelId,
      trigger: situation.trigger,
      reason: decision.reason,
      unclaimed: situation.unclaimed,
      minimum,
    })
  }

  /** Logs a reverted claim with its cause; returns the `TRANSACTION_REVERTED` error to report. */
  function reverted(claim: TrackedClaim): TrickleError {
    stats.claimsReverted++
    const revert: ClaimRevert = claim.revert ?? { cause: 'unknown', gasUsed: 0n, gasLimit: 0n }
    const why =
      revert.cause === 'out_of_gas'
        ? `out of gas (used ${revert.gasUsed} of its ${revert.gasLimit} gas limit)`
        : revert.cause === 'contract'
          ? `the contract reverted with ${revert.error}`
          : `reason unknown (used ${revert.gasUsed} of ${revert.gasLimit} gas)`
    const error = new TrickleError('TRANSACTION_REVERTED', `claim ${claim.txHash} reverted`, { details: why })
    log.error(
      {
        code: error.code,
        channelId: claim.channelId,
        tx: claim.txHash,
        cause: revert.cause,
        revertError: revert.error,
        gasUsed: revert.gasUsed.toString(),
        gasLimit: revert.gasLimit.toString(),
        gasCostWei: claim.gasCost?.toString(),
      },
      `claim reverted: ${why}`,
    )
    failures.set(error, { txHash: claim.txHash, revert })
    return error
  }

  /** Counts a finished claim; a reverted one is reported and returned as its error. */
  function report(claim: TrackedClaim): ClaimRecord | TrickleError | undefined {
    if (claim.gasCost !== undefined) stats.gasSpentWei += claim.gasCost
    if (claim.gasUsed !== undefined) stats.gasUsed += claim.gasUsed
    if (claim.status === 'mined') {
      stats.claimsMined++
      stats.paidWei += claim.paid
      adjustUnclaimed(-claim.paid)
      noteClaimed(claim.channelId, claim.cumulativeAmount)
      log.info({ channelId: claim.channelId, paid: claim.paid.toString(), tx: claim.txHash }, 'claimed')
      events.emit('claimed', claim)
      return claim
    }
    if (claim.status === 'reverted') return reverted(claim)
    stats.claimsDropped++
    log.warn({ channelId: claim.channelId, tx: claim.txHash, status: claim.status }, 'claim not mined')
    return undefined
  }

  /**
   * One pass: finish pending claims of the channel, then decide on its latest receipt, and claim it
   * if {@link decideClaim} says so.
   * @param reverts - reverted claims so far in this settle call (shared by its attempts)
   */
  async function attempt(
    channelId: Hex,
    trigger: ClaimTrigger,
    reverts: { count: number },
  ): Promise<ClaimRecord | undefined> {
    let last: ClaimRecord | undefined
    for (const pending of await store.pendingClaims(channelId)) {
      const outcome = report(await trackClaim(sender, pending, policy.pollIntervalMs, abort.signal))
      if (outcome instanceof TrickleError) {
        // A claim of an earlier run reverted: report it, then claim again below.
        events.emit('claimFailed', { channelId, error: outcome, willRetry: true, ...failures.get(outcome) })
      } else if (outcome) last = outcome
    }
    if ((await store.getMeta(finalKey(channelId))) !== undefined) return last
    const receipt = await store.latest(channelId)
    if (!receipt) return last
    const view = await channelOf(receipt)
    if (!view) return last
    const situation = await situationOf(receipt, view, trigger, chainNow)
    let decision = decideClaim(situation, policy)
    if (!decision.claim) {
      if (decision.reason === 'missed' || decision.reason === 'final') {
        const missed = await closeOut(channelId, view, situation.unclaimed)
        if (missed) throw new AbortError(missed)
      }
      deferred(channelId, situation, decision)
      return last
    }
    if (view.status === ChannelStatus.closing) closing.add(channelId.toLowerCase())
    let estimate: ClaimEstimate
    try {
      estimate = await estimateClaim(sender, receipt, policy.claimGasMarginPercent)
    } catch (err) {
      if (err instanceof TrickleError && err.code === 'CLAIM_REJECTED') throw new AbortError(err)
      throw err
    }
    if (needsClaimCost(decision)) {
      const priced = { ...situation, claimCost: estimate.cost }
      decision = decideClaim(priced, policy)
      if (!decision.claim) {
        deferred(channelId, priced, decision)
        return last
      }
    }
    const reason = decision.reason
    const queued = sendQueue.then(() => sendClaim(sender, estimate))
    sendQueue = queued.catch(() => undefined)
    const sent = await queued
    stats.claimsSent++
    events.emit('claimSent', { ...sent, trigger, reason, gasLimit: estimate.gasLimit, cost: estimate.cost })
    log.info(
      {
        channelId,
        amount: receipt.amount.toString(),
        tx: sent.txHash,
        trigger,
        reason,
        gasLimit: estimate.gasLimit.toString(),
        costWei: estimate.cost.toString(),
      },
      'claim sent',
    )
    const outcome = report(await trackClaim(sender, sent, policy.pollIntervalMs, abort.signal))
    if (outcome instanceof TrickleError) {
      // The receipts are still unclaimed: estimate again (with the state that made it fail) and retry,
      // but not forever, since every reverted claim costs gas.
      reverts.count++
      throw reverts.count >= MAX_REVERTS_PER_SETTLE ? new AbortError(outcome) : outcome
    }
    return outcome ?? last
  }

  function noteClaimed(channelId: Hex, amount: bigint) {
    const key = channelId.toLowerCase()
    const known = claimedSoFar.get(key)
    if (known === undefined || amount > known) claimedSoFar.set(key, amount)
  }

  // Chain and store calls throw their own codes; anything else is a fault of the worker itself.
  const asTrickleError = (error: unknown, message: string) =>
    error instanceof TrickleError ? error : new TrickleError('INTERNAL', message, { cause: error })

  function settle(channelId: Hex, trigger: ClaimTrigger = 'manual'): Promise<ClaimRecord | undefined> {
    const key = channelId.toLowerCase()
    const running = inflight.get(key)
    if (running) {
      // Ask for one more pass after the running one: a newer receipt may have arrived meanwhile. Of
      // several requests the most urgent decides it: a `threshold` pass skips small amounts.
      const queued = again.get(key)
      if (queued === undefined || TRIGGER_URGENCY[trigger] > TRIGGER_URGENCY[queued]) again.set(key, trigger)
      return running.then(() => inflight.get(key) ?? running)
    }
    const reverts = { count: 0 }
    const run = pRetry(() => attempt(key as Hex, trigger, reverts), {
      retries: Number.POSITIVE_INFINITY,
      factor: 2,
      minTimeout: policy.retry.minTimeoutMs,
      maxTimeout: policy.retry.maxTimeoutMs,
      randomize: true,
      signal: abort.signal,
      onFailedAttempt: ({ error, retryDelay }) => {
        if (abort.signal.aborted) return
        const e = asTrickleError(error, error.message)
        const extra = failures.get(e)
        if (!extra) log.warn({ channelId: key, code: e.code, err: e, retryDelay }, 'claim attempt failed')
        events.emit('claimFailed', { channelId: key as Hex, error: e, willRetry: true, ...extra })
      },
    })
      .catch((error: unknown) => {
        const e = asTrickleError(error, 'settlement stopped')
        if (!abort.signal.aborted) {
          const extra = failures.get(e)
          if (!extra) log.error({ channelId: key, code: e.code, err: e }, 'claim abandoned')
          events.emit('claimFailed', { channelId: key as Hex, error: e, willRetry: false, ...extra })
        }
        throw e
      })
      .finally(() => {
        inflight.delete(key)
        const next = again.get(key)
        again.delete(key)
        if (next && !abort.signal.aborted) settle(key as Hex, next).catch(() => undefined)
      })
    inflight.set(key, run)
    return run
  }

  const settleInBackground = (channelId: Hex, trigger: ClaimTrigger) => {
    settle(channelId, trigger).catch(() => undefined)
  }

  /** Reads new CloseRequested / SignerChanged logs, page by page, from the persisted cursor. */
  async function pollEvents(): Promise<void> {
    const closeTopic = channels.interface.getEvent('CloseRequested')!.topicHash
    const signerTopic = channels.interface.getEvent('SignerChanged')!.topicHash
    const head = await fromChain('read the block number', () => provider.getBlockNumber())
    const cursor = await store.getMeta(EVENT_CURSOR_KEY)
    if (cursor === undefined) {
      // First start on this ledger: it holds no receipts yet, so earlier events cannot concern it.
      await store.setMeta(EVENT_CURSOR_KEY, String(head))
      return
    }
    if (Number(cursor) > head) {
      // The chain is shorter than what was read: a fresh chain on the same chain id and contract
      // address. Events of its earlier blocks are covered by the sweep, which reads every channel.
      log.warn(
        { cursor: Number(cursor), head },
        'the chain is behind the event cursor: restarting it at the head',
      )
      await store.setMeta(EVENT_CURSOR_KEY, String(head))
      return
    }
    let from = Number(cursor) + 1
    while (from <= head && !abort.signal.aborted) {
      const to = Math.min(head, from + policy.logsPageBlocks - 1)
      const logs = await fromChain('read the channels’ events', () =>
        provider.getLogs({
          address: channels.target as string,
          topics: [[closeTopic, signerTopic]],
          fromBlock: from,
          toBlock: to,
        }),
      )
      log.debug({ from, to, logs: logs.length }, 'settlement events read')
      for (const entry of logs) {
        const channelId = entry.topics[1]!.toLowerCase() as Hex
        const isClose = entry.topics[0] === closeTopic
        // Claim first, then tell the server (which ends live sessions on the channel): the claims
        // their endings ask for then follow this one instead of racing it.
        if (isClose) closing.add(channelId)
        if (await store.latest(channelId)) {
          log.info({ channelId, event: isClose ? 'CloseRequested' : 'SignerChanged' }, 'claiming at once')
          settleInBackground(channelId, isClose ? 'close_requested' : 'signer_changed')
        }
        if (isClose) {
          const closeDeadline = channels.interface.parseLog(entry)!.args.getValue('closeDeadline') as bigint
          events.emit('closeRequested', { channelId, closeDeadline })
        }
      }
      await store.setMeta(EVENT_CURSOR_KEY, String(to))
      from = to + 1
    }
  }

  /**
   * Looks at every channel with receipts worth more than its mined claims (except those marked
   * final): claims what {@link decideClaim} says to (closing, signer replaced, over the threshold,
   * too old), reports the ones that can no longer be claimed, and totals what is still unclaimed.
   */
  async function sweep(): Promise<void> {
    for (const pending of await store.pendingClaims()) settleInBackground(pending.channelId, 'pending')
    let head: Promise<bigint> | undefined
    const now = () => (head ??= chainNow())
    let unclaimed = 0n
    for (const channelId of await store.unsettledChannels()) {
      if (abort.signal.aborted) return
      if ((await store.getMeta(finalKey(channelId))) !== undefined) continue
      const receipt = await store.latest(channelId)
      if (!receipt) continue
      const view = await channelOf(receipt)
      if (!view) continue
      const situation = await situationOf(receipt, view, 'sweep', now)
      const decision = decideClaim(situation, policy)
      if (decision.claim) settleInBackground(channelId, decision.reason)
      else if (decision.reason === 'missed' || decision.reason === 'final') {
        await closeOut(channelId, view, situation.unclaimed)
        continue
      }
      if (receipt.amount > (storedSoFar.get(channelId) ?? 0n)) storedSoFar.set(channelId, receipt.amount)
      if (situation.unclaimed > 0n) unclaimed += situation.unclaimed
    }
    stats.unclaimedWei = unclaimed
    stats.sweeps++
  }

  function every(ms: number, task: () => Promise<void>, what: string) {
    let running = false
    const run = () => {
      if (running || abort.signal.aborted) return
      running = true
      task()
        .catch((err: unknown) => log.warn({ err, code: (err as { code?: unknown }).code }, `${what} failed`))
        .finally(() => {
          running = false
        })
    }
    const timer = setInterval(run, ms)
    timer.unref()
    timers.push(timer)
    run()
  }
  every(policy.pollIntervalMs, pollEvents, 'event poll')
  every(policy.sweepIntervalMs, sweep, 'settlement sweep')

  return {
    events,
    stats,
    receiptStored(receipt) {
      const key = receipt.channelId.toLowerCase()
      /** Adds what the receipt pays above the highest amount seen stored or claimed on the channel. */
      const count = (claimed: bigint) => {
        const seen = storedSoFar.get(key) ?? 0n
        const floor = seen > claimed ? seen : claimed
        if (receipt.amount > floor) adjustUnclaimed(receipt.amount - floor)
        if (receipt.amount > seen) storedSoFar.set(key, receipt.amount)
      }
      const known = claimedSoFar.get(key)
      // A session may store receipts after the close request's claim read the store.
      if (closing.has(key)) {
        if (known !== undefined) count(known)
        return settleInBackground(key as Hex, 'close_requested')
      }
      const check = (claimed: bigint) => {
        count(claimed)
        if (receipt.amount - claimed >= policy.claimThreshold) settleInBackground(key as Hex, 'threshold')
      }
      if (known !== undefined) return check(known)
      // First receipt of this channel since the start: what earlier runs claimed is in the ledger.
      store
        .lastClaim(key as Hex)
        .then((claim) => {
          claimedSoFar.set(key, claim?.cumulativeAmount ?? 0n)
          check(claimedSoFar.get(key)!)
        })
        .catch((err: unknown) => log.warn({ err }, 'ledger read failed'))
    },
    sessionEnded(channelId) {
      if (policy.claimOnSessionEnd) settleInBackground(channelId, 'session_end')
    },
    settle,
    async idle() {
      while (inflight.size > 0) await Promise.allSettled([...inflight.values()])
    },
    async stop(graceMs = 0) {
      for (const timer of timers) clearInterval(timer)
      if (graceMs > 0 && inflight.size > 0) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([
          Promise.allSettled([...inflight.values()]),
          new Promise((resolve) => {
            timer = setTimeout(resolve, graceMs)
          }),
        ])
        clearTimeout(timer)
      }
      abort.abort(new TrickleError('CHAIN_UNAVAILABLE', 'the settlement worker stopped'))
      await Promise.allSettled([...inflight.values()])
    },
  }
}
