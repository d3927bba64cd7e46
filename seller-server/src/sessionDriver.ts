import {
  type AcceptedReceipt,
  type Address,
  type ChannelAccess,
  type ChannelInfo,
  decodeFrame,
  type ErrorCode,
  encodeFrame,
  type Hex,
  type HistoryRange,
  type JobRequest,
  SellerChannelLedger,
  type SellerEffect,
  type SellerPolicy,
  SellerSession,
  type Terms,
  TrickleError,
} from '@trickle/protocol'
import { SigningKey } from 'ethers'
import type { Logger } from 'pino'
import WebSocket from 'ws'
import type { ChannelLedgers, ChannelMembership } from './channelLedgers.ts'
import { type ConnectionGate, DEFAULT_CONNECTION_LIMITS, type LimitRefusal } from './connectionLimits.ts'
import type { RangePlan } from './feedPlan.ts'
import type { JobTicket } from './jobs/jobProvider.ts'
import type { Feed, FeedSpan } from './mqttSource.ts'
import { SELLER_FAILURE_MESSAGES, toPeerError } from './peerError.ts'
import type { ResumePoints } from './readingStore.ts'
import type { ReceiptStore } from './receiptStore.ts'
import type { ReceiptVerifier } from './receiptVerifier.ts'

/** What a session driver needs from the server, injected. */
export interface SessionContext {
  /** the policy of the product named in `hello`, or undefined if this server does not sell it */
  policyFor(
    productId: bigint,
  ): { key: string; policy: SellerPolicy; kind?: 'stream' | 'dataset' | 'compute' | 'app' } | undefined
  /**
   * admits the job of a `hello` (SPEC.md §Jobs; what it throws reaches the buyer): a ticket that
   * reserves its quote, whose `start` after `accept` takes a job slot (a `JOB_REJECTED` from it ends
   * the session before any record); without it a job is refused with `JOB_REJECTED`
   */
  admitJob?(productId: bigint, job: JobRequest, now: number): Promise<JobTicket>
  /**
   * reads the channel and the store's last receipt for it (`resolveChannel`); what it throws reaches
   * the buyer through {@link toPeerError}
   */
  resolve(productId: bigint, channelId: Hex, now: number): Promise<ChannelInfo>
  signTerms(terms: Terms): Hex
  domainSeparator(info: ChannelInfo): Hex
  /** subscribes to a product's live readings (see `MqttSource.listen`) */
  listen(productKey: string, onChunk: (data: Uint8Array, position: number) => void): () => void
  /**
   * opens a paced feed of a product's recorded readings, then, for a live span, its live ones (see
   * `MqttSource.feed`); the session pulls what it can send
   */
  feed?(productKey: string, onChunk: (data: Uint8Array, position: number) => void, span: FeedSpan): Feed
  /**
   * plans a history range of a product (see `planRange`; what it throws reaches the buyer); without
   * it (no reading store) a range is refused with `RANGE_UNAVAILABLE`
   * @param resumeAfter - with `range.resume`: the feed position of the channel's last paid reading
   */
  planRange?(
    productKey: string,
    range: HistoryRange | undefined,
    resumeAfter: number | undefined,
    now: number,
  ): RangePlan
  /**
   * the span replayed to a session that resumes a live product alone from feed position `after`; no
   * replay when absent
   */
  replaySpan?(productKey: string, after: number): FeedSpan
  /**
   * where each channel's last paid reading of each product sits in the product's feed, shared by the
   * sessions of a server so that a resumed session replays what its buyer missed (durable in the
   * `ReadingStore`, so a restarted seller replays too); no replay when absent. A point is noted
   * before its receipt is stored
   */
  resumePoints?: ResumePoints
  store: ReceiptStore
  /**
   * called once per receipt after it is durably stored (settlement checks its threshold)
   * @param storeMs - ms the store took to make it durable
   */
  onReceiptStored(receipt: AcceptedReceipt, storeMs: number): void
  /**
   * called once when the buyer proved it holds the channel's key and the session joined the channel:
   * from here on it is served (chunks, credit)
   */
  onSessionStart?(start: SessionStart): void
  /** called once when the session has ended and its receipt writes have landed */
  onSessionEnd(end: SessionEnd): void
  /**
   * the running totals of a product's chunks sent, shared by the server's sessions (metrics read
   * them); nothing is counted when absent
   */
  tallyOf?(productKey: string): ProductTally
  /**
   * the shared ledgers of channels with live sessions or debt (concurrent sessions share one per
   * channel; a channel's debt outlives its sessions)
   */
  ledgers: ChannelLedgers
  /** ms a connection has to send `hello` (default `DEFAULT_HELLO_TIMEOUT_MS`, 5 000) */
  helloTimeoutMs?: number
  /**
   * asked before a `hello` is served: why the seller cannot take receipts now (store failed, chain
   * unreachable), or undefined when it can; the session is then refused with that code
   */
  admit?: () =>
    | { code: Extract<ErrorCode, 'STORE_FAILED' | 'CHAIN_UNAVAILABLE'>; message: string }
    | undefined
  maxFrameBytes: number
  /**
   * admission of inbound frames and `hello`s by rate (per connection, client address and server; see
   * `ConnectionGuard`): a refusal ends the session with `error RATE_LIMITED` and `close
   * resource_limit`. No rate limit when absent
   */
  gate?: ConnectionGate
  /**
   * bytes that frames other than chunks (pongs, pings, errors) may add to the send buffer above the
   * highest point chunks took it to (chunks are held back at the product's `maxBufferedBytes`); past
   * it the session ends with `error SEND_BUFFER_FULL` and `close resource_limit` (default
   * `DEFAULT_CONNECTION_LIMITS.sendBufferAllowanceBytes`, 64 KiB)
   */
  sendBufferAllowanceBytes?: number
  /** recovers receipt signers off the event loop; inline in the session when absent */
  verifier?: ReceiptVerifier
  /**
   * heartbeat and idle timeout (ms) of a connection before its `hello` names a product (the
   * product's policy applies after); the protocol defaults when absent
   */
  liveness?: Pick<SellerPolicy, 'heartbeatMs' | 'idleTimeoutMs'>
  log: Logger
}

/**
 * Default high-water mark of a session's WebSocket send buffer (`ws.bufferedAmount`), bytes: above it
 * the driver stops sending chunks until the buffer has drained (1 MiB).
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024

/** ms a closing socket may take to finish the WebSocket close handshake before it is destroyed. */
const CLOSE_GRACE_MS = 2_000

/**
 * What the sessions of one server sent of one product since the server started (plain counters the
 * driver adds to per chunk, so counting costs next to nothing).
 */
export interface ProductTally {
  /** chunks handed to the WebSocket */
  chunksSent: number
  /** bytes of those chunks' data (the readings, without the frame around them) */
  bytesSent: number
}

/** A session that started to be served: the buyer proved it holds the channel's key. */
export interface SessionStart {
  channelId: Hex
  productId: bigint
  /** the product's key on this server */
  productKey: string
  /** the channel's payer, when the chain named one */
  payer: Address | undefined
  /** the cumulative amount of the terms' resume base: what the channel had paid before, wei */
  baseAmount: bigint
}

/** How a session ended. */
export interface SessionEnd {
  channelId: Hex | undefined
  productId: bigint | undefined
  /** the product's key on this server, once `hello` named a product it sells */
  productKey: string | undefined
  /** the channel's payer, once the channel was read */
  payer: Address | undefined
  /** whether the session started to be served (see {@link SessionContext.onSessionStart}) */
  started: boolean
  /** the close reason (`SPEC.md` §Close), or `disconnected` when the socket closed without one */
  reason: string
  code: string | undefined
  /** ms from the connection's opening to the session's end */
  durationMs: number
  /** wei that durable receipts paid for this session's chunks (chunks paid × the product's price) */
  paid: bigint
  /** chunks this session sent that no durable receipt covers */
  unpaidChunks: number
  chunksSent: number
  /** chunks never sent (oversized, or dropped by the queue's overflow policy) */
  chunksDropped: number
  receiptsAccepted: number
  pingsSent: number
  /** most chunks queued at once (≤ `maxQueuedChunks`) */
  peakQueuedChunks: number
  /** largest `ws.bufferedAmount` seen right after a send, bytes */
  peakBufferedBytes: number
  /** the job the session ran (its quote id), when it was admitted one (SPEC.md §Jobs) */
  jobId?: Hex
}

/** Control of a running session, for the server. */
export interface SessionHandle {
  /** the channel the session streams on, once `hello` named it */
  readonly channelId: Hex | undefined
  /** Ends the session with `close server_shutdown` once pending receipts are stored. */
  shutdown(): void
  /** Ends the session with `error {code}` and `close channel_unusable` (e.g. the payer requested close). */
  reject(code: ErrorCode, message: string): void
}

/**
 * Runs one seller session over one WebSocket: decodes frames (a malformed frame gets an `error` frame
 * and a clean close), applies the pure {@link SellerSession}'s effects, stores each accepted receipt
 * durably before the session extends credit, and times the session's deadlines (`payment_required`,
 * terms expiry, heartbeat `ping`s, idle timeout).
 *
 * Error frames carry a stable code and a message meant for the buyer: a failure of the seller's own
 * parts (the store, the chain, anything unexpected) is told with a fixed sentence
 * ({@link SELLER_FAILURE_MESSAGES}), and the error itself, with its cause, goes to `ctx.log`.
 *
 * Back-pressure: once `ws.bufferedAmount` reaches the product policy's `maxBufferedBytes` (default
 * {@link DEFAULT_MAX_BUFFERED_BYTES}) the session is told the transport is full and queues (and, past
 * `maxQueuedChunks`, drops) chunks instead of sending them; it resumes when the `ws.send` callback
 * reports the buffer at or below half the mark (the ws maintainers' advice: there is no `drain` event
 * on a ws WebSocket, websockets/ws#1255). Chunks of one batch already handed out are still sent, so
 * `bufferedAmount` stays below `maxBufferedBytes + maxQueuedChunks × (maxChunkBytes + 32)` plus a few
 * small control frames.
 */
export function driveSession(ws: WebSocket, ctx: SessionContext): SessionHandle {
  const session = new SellerSession(
    ctx.signTerms,
    ctx.domainSeparator,
    {
      now: Date.now(),
      ...(ctx.liveness?.heartbeatMs !== undefined ? { heartbeatMs: ctx.liveness.heartbeatMs } : {}),
      ...(ctx.liveness?.idleTimeoutMs !== undefined ? { idleTimeoutMs: ctx.liveness.idleTimeoutMs } : {}),
      ...(ctx.helloTimeoutMs !== undefined ? { helloTimeoutMs: ctx.helloTimeoutMs } : {}),
    },
    ctx.verifier ? 'deferred' : 'inline',
  )
  const openedAt = performance.now()
  let productKey: string | undefined
  let channelId: Hex | undefined
  let productId: bigint | undefined
  let payer: Address | undefined
  let pricePerChunk = 0n
  let started = false
  let tally: ProductTally | undefined
  let unlisten: (() => void) | undefined
  /** the paced feed of recorded readings (a history range, or a resumed live product's replay) */
  let feed: Feed | undefined
  /** whether the feed ends the session once delivered (a finite range) */
  let finiteFeed = false
  let plan: RangePlan | undefined
  /** the job this session runs (SPEC.md §Jobs), once admitted */
  let ticket: JobTicket | undefined
  /** the keys whose receipts count on the channel: who may cancel the session's job */
  let signers: readonly Address[] = []
  let refilling = false
  let timer: NodeJS.Timeout | undefined
  let closeTimer: NodeJS.Timeout | undefined
  let maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES
  let transportFull = false
  let peakBufferedBytes = 0
  let ended = false
  let membership: ChannelMembership | undefined
  /** whether this session resumes the channel alone, so that it replays what the buyer missed */
  let resumesAlone = false
  let closeReason = 'disconnected'
  let closeCode: string | undefined
  // Receipts are persisted in arrival order, one write at a time.
  let persisting: Promise<void> = Promise.resolve()
  /** feed position of each offered reading, and of each chunk sent and not yet durably paid (by seq) */
  const positions = new WeakMap<Uint8Array, number>()
  const sentPositions = new Map<number, number>()
  const resumeKey = () => `${channelId!.toLowerCase()}:${productKey}`
  /**
   * Notes where a receipt up to `seq` (one past the label of the last chunk it pays) sits in the feed,
   * before the receipt is stored: whichever receipt turns out the last durable one, a resumed session
   * on this channel and product finds its point and replays from the reading after.
   */
  const noteResumePoint = (receipt: AcceptedReceipt) => {
    const points = ctx.resumePoints
    if (!points || !channelId || !productKey) return
    const position = sentPositions.get(receipt.seq - 1)
    if (position === undefined) return
    try {
      points.set(resumeKey(), { amount: receipt.amount, position })
    } catch (err) {
      // A resumed session then replays from an older point, or goes live.
      ctx.log.error({ err, channelId }, 'could not record the resume point')
    }
  }
  /** Forgets the positions of chunks a stored receipt paid (sent in seq order: from the front). */
  const forgetPaid = (receipt: AcceptedReceipt) => {
    for (const sent of sentPositions.keys()) {
      if (sent >= receipt.seq) break
      sentPositions.delete(sent)
    }
  }
  /** Resolves once every receipt step queued so far, and any step those queue, has finished. */
  const drained = async () => {
    for (;;) {
      const tail = persisting
      await tail
      if (tail === persisting) return
    }
  }

  /** ws calls this once the frame is written to the socket: resume below half the high-water mark. */
  const onWritten = () => {
    if (!transportFull || ended || ws.bufferedAmount > maxBufferedBytes / 2) return
    transportFull = false
    apply(session.transportDrained(Date.now()))
  }

  const sendBufferAllowance =
    ctx.sendBufferAllowanceBytes ?? DEFAULT_CONNECTION_LIMITS.sendBufferAllowanceBytes
  /** the highest `ws.bufferedAmount` right after a chunk was sent (the session's back-pressure bounds it) */
  let chunkMark = 0
  let refused = false
  /**
   * Ends the session for a resource limit: sends `error {code}` and `close resource_limit` best effort
   * and destroys the socket, at once when its send buffer is the problem, else once the buyer
   * completes the close handshake or after the close grace. A flooding buyer is not read any more
   * (`stopReading`): its close handshake cannot complete, it waits for the grace.
   */
  const refuse = (refusal: LimitRefusal, stopReading: boolean) => {
    if (refused || ended || session.closed) return
    refused = true
    closeReason = 'resource_limit'
    closeCode = refusal.code
    ctx.log.debug({ code: refusal.code, channelId }, 'session ended for a resource limit')
    if (stopReading) ws.pause()
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(encodeFrame({ t: 'error', code: refusal.code, message: refusal.message }))
      ws.send(encodeFrame({ t: 'close', reason: 'resource_limit', message: refusal.message }))
      // 1008 (policy violation), as SPEC.md §Transport says for rate and send-buffer limits.
      ws.close(1008, 'resource_limit')
    }
    if (refusal.code === 'SEND_BUFFER_FULL') ws.terminate()
    else closeTimer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref()
  }

  const sendFrame = (frame: Parameters<typeof encodeFrame>[0]) => {
    if (ws.readyState !== WebSocket.OPEN) return
    const bytes = encodeFrame(frame)
    // Chunks stop at the high-water mark (back-pressure); nothing else may pile up beyond the
    // allowance, e.g. pongs to a buyer that pings and never reads.
    if (
      frame.t !== 'chunk' &&
      ws.bufferedAmount + bytes.byteLength > Math.max(maxBufferedBytes, chunkMark) + sendBufferAllowance
    ) {
      return refuse(
        { code: 'SEND_BUFFER_FULL', message: 'the buyer does not read what the seller sends' },
        true,
      )
    }
    // Only a write that may take the buffer past half the mark needs to report its completion: the
    // last of those resumes a full transport. Skipping the callback elsewhere saves a tick per chunk.
    ws.send(bytes, ws.bufferedAmount + bytes.byteLength > maxBufferedBytes / 2 ? onWritten : undefined)
    if (frame.t === 'chunk' && tally) {
      tally.chunksSent++
      tally.bytesSent += frame.data.byteLength
    }
    const buffered = ws.bufferedAmount
    if (buffered > peakBufferedBytes) peakBufferedBytes = buffered
    if (frame.t === 'chunk' && buffered > chunkMark) chunkMark = buffered
    if (!transportFull && buffered >= maxBufferedBytes) {
      transportFull = true
      session.transportFull()
    }
  }

  const finish = () => {
    if (ended) return
    ended = true
    clearTimeout(timer)
    clearTimeout(closeTimer)
    unlisten?.()
    feed?.close()
    ticket?.cancel()
    // Settlement reads the store: let receipt checks and writes still queued land first.
    void drained().then(() => {
      session.leaveChannel()
      membership?.leave()
      const unpaidChunks = session.unpaidChunks
      ctx.onSessionEnd({
        channelId,
        productId,
        productKey,
        payer,
        started,
        reason: closeReason,
        code: closeCode,
        durationMs: Math.round(performance.now() - openedAt),
        paid: BigInt(session.stats.chunksSent - unpaidChunks) * pricePerChunk,
        unpaidChunks,
        chunksSent: session.stats.chunksSent,
        chunksDropped: session.stats.chunksDropped,
        receiptsAccepted: session.stats.receiptsAccepted,
        pingsSent: session.stats.pingsSent,
        peakQueuedChunks: session.stats.peakQueuedChunks,
        peakBufferedBytes,
        ...(ticket ? { jobId: ticket.job.quote.quoteId } : {}),
      })
    })
  }

  /** the deadline the timer is armed for: most events leave it unchanged, so it is re-armed rarely */
  let armedFor: number | undefined
  const schedule = () => {
    const deadline = ended ? undefined : session.deadline
    if (deadline === armedFor) return
    clearTimeout(timer)
    armedFor = deadline
    if (deadline === undefined) return
    timer = setTimeout(
      () => {
        armedFor = undefined
        apply(session.tick(Date.now()))
      },
      Math.max(0, deadline - Date.now()),
    )
  }

  /** Recorded readings kept queued ahead of what the session can send. */
  const FEED_AHEAD = 32
  /**
   * Pulls recorded readings into the session while it has room (at most {@link FEED_AHEAD} queued),
   * so a paced feed costs the seller a few chunks of memory whatever the range; a finite feed
   * delivered in full ends the source.
   */
  const refill = () => {
    if (!feed || refilling || ended) return
    refilling = true
    try {
      while (!feed.caughtUp && !session.closed) {
        const room = Math.min(session.roomForChunks, FEED_AHEAD - session.queuedChunks)
        if (room <= 0 || feed.pull(room) === 0) break
      }
    } catch (err) {
      ctx.log.error({ err, channelId }, 'could not read the recorded readings')
      apply(session.persistFailed(SELLER_FAILURE_MESSAGES.STORE_FAILED))
    } finally {
      refilling = false
    }
    if (feed.caughtUp && finiteFeed && !session.closed) {
      finiteFeed = false
      apply(session.sourceEnded(Date.now()))
    }
  }

  const apply = (effects: SellerEffect[]): void => {
    for (const effect of effects) {
      switch (effect.type) {
        case 'send':
          if (effect.frame.t === 'chunk' && ctx.resumePoints) {
            const position = positions.get(effect.frame.data)
            if (position !== undefined) sentPositions.set(effect.frame.seq, position)
          }
          sendFrame(effect.frame)
          break
        case 'resolve':
          productId = effect.productId
          channelId = effect.channelId
          void resolve(effect.productId, effect.channelId, effect.range, effect.job)
          break
        case 'subscribe': {
          const onChunk = (data: Uint8Array, position: number) => {
            // A job's records are no feed: nothing to resume from, no resume point to write per receipt.
            if (ctx.resumePoints && !ticket) positions.set(data, position)
            apply(session.offer(data, Date.now()))
          }
          const base = session.base
          const point =
            !plan && resumesAlone && base ? ctx.resumePoints?.get(resumeKey(), base.amount) : undefined
          try {
            const { feed: openFeed, replaySpan } = ctx
            if (ticket) {
              finiteFeed = true
              // A sealed job's results go to the key that signed this accept (SPEC.md §Jobs).
              const { digest, signature } = effect.accept
              const acceptKey = ticket.job.sealResults
                ? (SigningKey.recoverPublicKey(digest, signature) as Hex)
                : undefined
              feed = ticket.start(channelId!, onChunk, () => refill(), signers, acceptKey)
            } else if (plan && openFeed) {
              finiteFeed = !plan.span.live
              feed = openFeed(productKey!, onChunk, plan.span)
            } else if (point && openFeed && replaySpan) {
              feed = openFeed(productKey!, onChunk, replaySpan(productKey!, point.position))
            } else unlisten = ctx.listen(productKey!, onChunk)
          } catch (err) {
            const told = toPeerError(err)
            // No free job slot at `accept`: ended before any record, nothing owed.
            if (ticket && told.code === 'JOB_REJECTED') {
              apply(session.rejected(told.code, told.message))
              break
            }
            ctx.log.error({ err, channelId }, 'could not open the product feed')
            apply(session.persistFailed(SELLER_FAILURE_MESSAGES.STORE_FAILED))
          }
          break
        }
        case 'verify': {
          // Recoveries run in parallel in the pool; their results apply in receipt order.
          const recovered = ctx.verifier!.recover(effect.digest, effect.signature).catch(badSignature)
          persisting = persisting.then(async () => apply(session.verified(effect.seq, await recovered)))
          break
        }
        case 'persist': {
          const receipt = effect.receipt
          persisting = persisting.then(async () => {
            noteResumePoint(receipt)
            const storing = performance.now()
            try {
              await ctx.store.save(receipt)
            } catch (err) {
              // The buyer learns the receipt was not recorded, not why: that is for the log.
              ctx.log.error({ err, channelId: receipt.channelId }, 'receipt store failed')
              apply(session.persistFailed(SELLER_FAILURE_MESSAGES.STORE_FAILED))
              return
            }
            ctx.onReceiptStored(receipt, performance.now() - storing)
            forgetPaid(receipt)
            apply(session.persisted(receipt, Date.now()))
            membership?.creditChanged()
          })
          break
        }
        case 'close':
          closeReason = effect.reason
          closeCode = effect.code
          // Let queued receipt writes land before the socket (and settlement) finish.
          void drained().then(() => {
            ws.close(1000, effect.reason)
            // A buyer that stopped reading never completes the close handshake: do not wait ws's 30 s.
            if (!ended) closeTimer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref()
          })
          break
      }
    }
    schedule()
    refill()
  }

  /**
   * A failed signer recovery as the session reports it (`RECEIPT_BAD_SIGNATURE` with the error's short
   * message): the verifier's own errors are about the signature; anything else is logged and told
   * to the buyer in a fixed sentence.
   */
  const badSignature = (err: unknown): Error => {
    // `SellerSession.verified` sends a TrickleError's short message, any other error's full one.
    if (err instanceof TrickleError && err.code === 'RECEIPT_BAD_SIGNATURE') return err
    ctx.log.error({ err, channelId }, 'receipt signer recovery failed')
    return new TrickleError('RECEIPT_BAD_SIGNATURE', 'the receipt signature could not be checked', {
      cause: err,
    })
  }

  const resolve = async (
    id: bigint,
    channel: Hex,
    range: HistoryRange | undefined,
    job: JobRequest | undefined,
  ) => {
    // A seller that cannot store receipts (or reach its chain) must not hand out credit.
    const refused = ctx.admit?.()
    if (refused) return apply(session.rejected(refused.code, refused.message))
    const product = ctx.policyFor(id)
    if (!product) return apply(session.rejected('UNKNOWN_PRODUCT', `product ${id} is not sold here`))
    productKey = product.key
    pricePerChunk = product.policy.pricePerChunk
    tally = ctx.tallyOf?.(product.key)
    maxBufferedBytes = product.policy.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
    let info: ChannelInfo
    try {
      info = await ctx.resolve(id, channel, Date.now())
    } catch (err) {
      const told = toPeerError(err)
      if (told.code === 'STORE_FAILED' || told.code === 'CHAIN_UNAVAILABLE' || told.code === 'INTERNAL') {
        ctx.log.error({ err, code: told.code, channelId: channel }, 'could not resolve the channel')
      } else ctx.log.debug({ code: told.code, channelId: channel }, 'channel refused')
      return apply(session.rejected(told.code, told.message))
    }
    if (ended) return
    const isJob = product.kind === 'compute' || product.kind === 'app'
    if (isJob !== (job !== undefined)) {
      return apply(
        session.rejected(
          'JOB_REJECTED',
          isJob ? `product ${id} runs jobs: send one in hello` : `product ${id} runs no jobs`,
        ),
      )
    }
    if (job !== undefined) {
      try {
        if (!ctx.admitJob) throw new TrickleError('JOB_REJECTED', 'this seller runs no jobs')
        ticket = await ctx.admitJob(id, job, Date.now())
      } catch (err) {
        const told = toPeerError(err)
        if (told.code !== 'JOB_REJECTED')
          ctx.log.error({ err, channelId: channel }, 'could not admit the job')
        return apply(session.rejected(told.code, told.message))
      }
      // The session ended while the job was admitted: release its quote.
      if (ended) ticket.cancel()
      if (ended) return
    }
    if (range !== undefined || product.kind === 'dataset') {
      const resumeAfter = range?.resume
        ? ctx.resumePoints?.get(`${channel.toLowerCase()}:${product.key}`, info.base.amount)?.position
        : undefined
      try {
        if (!ctx.planRange || !ctx.feed)
          throw new TrickleError('RANGE_UNAVAILABLE', 'this seller does not sell history')
        plan = ctx.planRange(product.key, range, resumeAfter, Date.now())
      } catch (err) {
        const told = toPeerError(err)
        if (told.code !== 'RANGE_UNAVAILABLE')
          ctx.log.error({ err, channelId: channel }, 'could not plan the range')
        return apply(session.rejected(told.code, told.message))
      }
    }
    payer = info.payer
    signers = info.signers
    // The session takes nothing on the channel (a session slot, credit, deposit headroom) before its
    // `accept` proves it holds the channel's key: then `join` runs.
    const access: ChannelAccess = {
      ledger: ctx.ledgers.current(channel),
      join: () => {
        const joined = ctx.ledgers.join(
          channel,
          info.payer,
          () => {
            if (!ended) apply(session.creditChanged(Date.now()))
          },
          () => ({ ledger: SellerChannelLedger.restore(info.base, info.debt), recorded: !!info.debt }),
        )
        if (!('ledger' in joined)) return joined
        membership = joined
        // This session's lane is added right after: no other session means it resumes alone.
        resumesAlone = joined.ledger.sessions === 0
        started = true
        ctx.onSessionStart?.({
          channelId: channel,
          productId: id,
          productKey: product.key,
          payer: info.payer,
          baseAmount: session.base?.amount ?? info.base.amount,
        })
        return joined.ledger
      },
    }
    // The session draws the terms' nonce from WebCrypto.
    apply(session.resolved(info, product.policy, Date.now(), access, undefined, plan?.echo))
  }

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    // A paused socket may still deliver what it had read; a closed session ignores frames anyway.
    if (refused || session.closed) return
    let frame: ReturnType<typeof decodeFrame>
    try {
      if (!isBinary) throw new TrickleError('FRAME_MALFORMED', 'text frames are not part of the protocol')
      // Frames over the size limit end the session below without being decoded; the rest are charged
      // to the rate limits before decoding.
      if (ctx.gate && data.byteLength <= ctx.maxFrameBytes) {
        const limited = ctx.gate.frame(data.byteLength, performance.now())
        if (limited) return refuse(limited, true)
      }
      frame = decodeFrame(data, ctx.maxFrameBytes)
    } catch (err) {
      const e =
        err instanceof TrickleError
          ? err
          : new TrickleError('FRAME_MALFORMED', 'the frame could not be decoded', { cause: err })
      ctx.log.debug({ err, code: e.code }, 'bad frame')
      return apply(session.malformed(e))
    }
    if (frame.t === 'hello' && ctx.gate) {
      const limited = ctx.gate.hello(performance.now())
      if (limited) return refuse(limited, false)
    }
    apply(session.receive(frame, Date.now()))
  })
  ws.on('close', finish)
  ws.on('error', (err) => ctx.log.debug({ err }, 'socket error'))
  // The heartbeat and idle timeout run from the connection's first moment, before any frame.
  schedule()
  return {
    get channelId() {
      return channelId
    },
    shutdown: () => apply(session.shutdown()),
    reject: (code, message) => apply(session.rejected(code, message)),
  }
}
