import { EventEmitter } from 'node:events'
import { ChannelStatus, type ChannelView } from '@trickle/contracts'
import { type AcceptedReceipt, type Hex, TrickleError } from '@trickle/protocol'
import pRetry, { AbortError } from 'p-retry'
import type { Logger } from 'pino'
import { type ClaimSender, sendClaim, trackClaim } from './claimTransaction.ts'
import type { ClaimRecord } from './receiptStore.ts'
import { receiptFitsChannel, retireForeignReceipts } from './resolveChannel.ts'

/** When the seller claims. Amounts in wei, times in ms unless named otherwise. */
export interface SettlementPolicy {
  /**
   * wei: claim a channel as soon as its stored receipts are worth this much more than what was
   * already claimed. One claim costs about 51k gas whatever it covers, so this amortizes gas.
   */
  claimThreshold: bigint
  /** also claim a channel's latest receipt when a session on it ends */
  claimOnSessionEnd: boolean
  /** ms between reads of new `CloseRequested`/`SignerChanged` events, and between receipt polls */
  pollIntervalMs: number
  /** ms between full sweeps of every channel with unclaimed receipts (and once at start) */
  sweepIntervalMs: number
  /** blocks per `eth_getLogs` call (public RPCs cap the range) */
  logsPageBlocks: number
  /** backoff of a failed claim: first delay and cap, ms (exponential, factor 2, randomized) */
  retry: { minTimeoutMs: number; maxTimeoutMs: number }
}

/** Default {@link SettlementPolicy}: 0.01 ETH threshold, claim on session end, 1 s event polls. */
export const DEFAULT_SETTLEMENT_POLICY: SettlementPolicy = {
  claimThreshold: 10n ** 16n,
  claimOnSessionEnd: true,
  pollIntervalMs: 1_000,
  sweepIntervalMs: 60_000,
  logsPageBlocks: 2_000,
  retry: { minTimeoutMs: 500, maxTimeoutMs: 30_000 },
}

/** Why a claim was started. */
export type ClaimTrigger =
  | 'threshold'
  | 'session_end'
  | 'close_requested'
  | 'signer_changed'
  | 'sweep'
  | 'pending'
  | 'manual'

/**
 * Which trigger a coalesced follow-up pass keeps: a deadline (close, signer change) over the rest,
 * and anything over `threshold`, whose pass skips amounts under the threshold.
 */
const TRIGGER_URGENCY: Record<ClaimTrigger, number> = {
  threshold: 0,
  sweep: 1,
  pending: 1,
  session_end: 2,
  manual: 2,
  signer_changed: 3,
  close_requested: 4,
}

/** Events of the settlement worker. */
export interface SettlementEvents {
  /** a claim transaction was recorded and broadcast */
  claimSent: [ClaimRecord & { trigger: ClaimTrigger }]
  /** a claim was mined and paid `paid` wei */
  claimed: [ClaimRecord]
  /** a claim attempt failed; `willRetry` says whether the worker tries again on its own */
  claimFailed: [{ channelId: Hex; error: TrickleError; willRetry: boolean }]
  /** a payer asked to close a channel of this StreamChannels deployment (any payee) */
  closeRequested: [{ channelId: Hex; closeDeadline: bigint }]
}

/** The seller's settlement worker: turns stored receipts into on-chain claims. */
export interface SettlementWorker {
  readonly events: EventEmitter<SettlementEvents>
  /** Tells the worker a receipt was stored; claims once the channel's unclaimed value passes the threshold. */
  receiptStored(receipt: AcceptedReceipt): void
  /** Tells the worker a session ended on `channelId` (claims if the policy says so). */
  sessionEnded(channelId: Hex): void
  /**
   * Claims the channel's latest stored receipt now if it pays anything, retrying transient RPC
   * failures with backoff until it is mined or can no longer be (challenge period over).
   * Concurrent calls for one channel share one attempt, so one claim is never sent twice.
   * @returns the mined claim, or undefined when there was nothing to claim
   * @throws TrickleError `CLAIM_REJECTED` (the contract refuses: stale, wrong signer…),
   *   `CLAIM_MISSED` (the challenge period ended first), `CHAIN_UNAVAILABLE` after the worker stopped
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

/**
 * Starts the settlement worker of one payee on one StreamChannels deployment. It claims
 * - when a channel's unclaimed receipts pass {@link SettlementPolicy.claimThreshold},
 * - when a session ends (if {@link SettlementPolicy.claimOnSessionEnd}),
 * - at once when it sees `CloseRequested` for a channel it holds receipts for, so the claim lands
 *   inside the challenge period, and when it sees `SignerChanged` (receipts of the replaced signer
 *   only stay valid for one challenge period),
 * - on a sweep every {@link SettlementPolicy.sweepIntervalMs} and at start, which also catches events
 *   missed while the seller was down (the log cursor is persisted too).
 *
 * Every claim is written to the ledger, signed, before it is broadcast; a restart rebroadcasts the
 * same transaction instead of signing a new one, and a channel never has two claims in flight.
 *
 * @param sender - payee wallet, provider, contract, ledger and fee mode
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
  /** one attempt per channel at a time; a request during an attempt runs one more after it */
  const inflight = new Map<string, Promise<ClaimRecord | undefined>>()
  const again = new Map<string, ClaimTrigger>()
  /**
   * channels whose payer requested close: every receipt stored on them is claimed at once, whatever
   * the threshold, since they pay only until the deadline (lowercase ids)
   */
  const closing = new Set<string>()
  /** highest cumulative amount mined per channel, as this worker saw it (wei) */
  const claimedSoFar = new Map<string, bigint>()
  /** claims are signed one at a time so nonces never collide */
  let sendQueue: Promise<unknown> = Promise.resolve()
  const timers: NodeJS.Timeout[] = []

  const chainNow = async () => BigInt((await provider.getBlock('latest'))!.timestamp)

  /** One pass: finish pending claims of the channel, then claim its latest receipt if it pays. */
  async function attempt(channelId: Hex, trigger: ClaimTrigger): Promise<ClaimRecord | undefined> {
    let last: ClaimRecord | undefined
    for (const pending of await store.pendingClaims(channelId)) {
      const outcome = await trackClaim(sender, pending, policy.pollIntervalMs, abort.signal)
      last = report(outcome)
    }
    const receipt = await store.latest(channelId)
    if (!receipt) return last
    let view: ChannelView
    try {
      view = await channels.getChannel(channelId)
    } catch (cause) {
      throw new TrickleError('CHAIN_UNAVAILABLE', 'could not read the channel', { cause })
    }
    if (view.payee.toLowerCase() !== payee) return last
    if (!receiptFitsChannel(receipt, view)) {
      await retireForeignReceipts(store, receipt, log)
      return last
    }
    if (view.status === ChannelStatus.closed || view.status === ChannelStatus.none) {
      closing.delete(channelId.toLowerCase())
      return last
    }
    if (view.status === ChannelStatus.closing) closing.add(channelId.toLowerCase())
    if (view.status === ChannelStatus.closing && (await chainNow()) >= view.closeDeadline) {
      throw new AbortError(
        new TrickleError('CLAIM_MISSED', `the challenge period of ${channelId} ended before the claim`, {
          details: `latest receipt ${receipt.amount} wei, claimed ${view.claimed} wei`,
        }),
      )
    }
    const covered = receipt.amount < view.deposit ? receipt.amount : view.deposit
    noteClaimed(channelId, view.claimed)
    if (covered <= view.claimed) return last
    if (trigger === 'threshold' && covered - view.claimed < policy.claimThreshold) return last
    const queued = sendQueue.then(() => sendClaim(sender, receipt))
    sendQueue = queued.catch(() => undefined)
    let sent: ClaimRecord
    try {
      sent = await queued
    } catch (err) {
      if (err instanceof TrickleError && err.code === 'CLAIM_REJECTED') throw new AbortError(err)
      throw err
    }
    events.emit('claimSent', { ...sent, trigger })
    log.info({ channelId, amount: receipt.amount.toString(), tx: sent.txHash, trigger }, 'claim sent')
    return report(await trackClaim(sender, sent, policy.pollIntervalMs, abort.signal))
  }

  function noteClaimed(channelId: Hex, amount: bigint) {
    const key = channelId.toLowerCase()
    const known = claimedSoFar.get(key)
    if (known === undefined || amount > known) claimedSoFar.set(key, amount)
  }

  function report(claim: ClaimRecord): ClaimRecord | undefined {
    if (claim.status === 'mined') {
      noteClaimed(claim.channelId, claim.cumulativeAmount)
      log.info({ channelId: claim.channelId, paid: claim.paid.toString(), tx: claim.txHash }, 'claimed')
      events.emit('claimed', claim)
      return claim
    }
    log.warn({ channelId: claim.channelId, tx: claim.txHash, status: claim.status }, 'claim not mined')
    return undefined
  }

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
    const run = pRetry(() => attempt(key as Hex, trigger), {
      retries: Number.POSITIVE_INFINITY,
      factor: 2,
      minTimeout: policy.retry.minTimeoutMs,
      maxTimeout: policy.retry.maxTimeoutMs,
      randomize: true,
      signal: abort.signal,
      onFailedAttempt: ({ error, retryDelay }) => {
        if (abort.signal.aborted) return
        const e =
          error instanceof TrickleError
            ? error
            : new TrickleError('CHAIN_UNAVAILABLE', error.message, { cause: error })
        log.warn({ channelId: key, code: e.code, err: e.message, retryDelay }, 'claim attempt failed')
        events.emit('claimFailed', { channelId: key as Hex, error: e, willRetry: true })
      },
    })
      .catch((error: unknown) => {
        const e =
          error instanceof TrickleError
            ? error
            : new TrickleError('CHAIN_UNAVAILABLE', 'settlement stopped', { cause: error })
        if (!abort.signal.aborted) {
          log.error({ channelId: key, code: e.code, err: e.message }, 'claim abandoned')
          events.emit('claimFailed', { channelId: key as Hex, error: e, willRetry: false })
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
    const head = await provider.getBlockNumber()
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
      const logs = await provider.getLogs({
        address: channels.target as string,
        topics: [[closeTopic, signerTopic]],
        fromBlock: from,
        toBlock: to,
      })
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

  /** Claims every channel whose unclaimed receipts need it: closing, over the threshold, or signed by a replaced signer. */
  async function sweep(): Promise<void> {
    for (const pending of await store.pendingClaims()) settleInBackground(pending.channelId, 'pending')
    for (const channelId of await store.unsettledChannels()) {
      if (abort.signal.aborted) return
      const receipt = await store.latest(channelId)
      if (!receipt) continue
      const view = await channels.getChannel(channelId)
      if (!receiptFitsChannel(receipt, view)) {
        await retireForeignReceipts(store, receipt, log)
        continue
      }
      noteClaimed(channelId, view.claimed)
      const unclaimed = (receipt.amount < view.deposit ? receipt.amount : view.deposit) - view.claimed
      if (unclaimed <= 0n) continue
      const signer = receipt.signer.toLowerCase()
      const replaced = signer !== view.signer.toLowerCase() && signer !== view.payer.toLowerCase()
      if (view.status === ChannelStatus.closing) settleInBackground(channelId, 'close_requested')
      else if (view.status !== ChannelStatus.open) continue
      else if (unclaimed >= policy.claimThreshold) settleInBackground(channelId, 'threshold')
      else if (replaced) settleInBackground(channelId, 'signer_changed')
    }
  }

  function every(ms: number, task: () => Promise<void>, what: string) {
    let running = false
    const run = () => {
      if (running || abort.signal.aborted) return
      running = true
      task()
        .catch((err: Error) => log.warn({ err: err.message }, `${what} failed`))
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
    receiptStored(receipt) {
      const key = receipt.channelId.toLowerCase()
      // A session may store receipts after the close request's claim read the store.
      if (closing.has(key)) return settleInBackground(key as Hex, 'close_requested')
      const check = (claimed: bigint) => {
        if (receipt.amount - claimed >= policy.claimThreshold) settleInBackground(key as Hex, 'threshold')
      }
      const known = claimedSoFar.get(key)
      if (known !== undefined) return check(known)
      // First receipt of this channel since the start: what earlier runs claimed is in the ledger.
      store
        .lastClaim(key as Hex)
        .then((claim) => {
          claimedSoFar.set(key, claim?.cumulativeAmount ?? 0n)
          check(claimedSoFar.get(key)!)
        })
        .catch((err: Error) => log.warn({ err: err.message }, 'ledger read failed'))
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
