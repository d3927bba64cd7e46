import type { RangeEcho } from '@trickle/protocol'
import {
  type BuyerClient,
  type Hex,
  type PaidStream,
  type SessionSummary,
  type StreamRange,
  TrickleError,
} from '@trickle/sdk'
import type { Listing } from './catalogQuery.ts'
import { noteChannel, signedOn } from './channelNotes.ts'
import { checkHealth } from './health.ts'
import { historyStreamOptions } from './historyRange.ts'
import { type Problem, problemOf } from './problems.ts'
import { ReadingLog, readChunk } from './readings.ts'

export type StreamPhase = 'idle' | 'opening' | 'connecting' | 'streaming' | 'stopping' | 'ended'

/**
 * Chunks of debt this page agrees to pay when it resumes a channel: readings an earlier page (closed
 * or reloaded mid-stream) received but could not sign for. The reference seller's credit window is at
 * most 256 chunks, so that is the most such a page can have received unpaid.
 */
export const RESUME_DEBT_CHUNKS = 256n

/** Timestamps for the storefront's figures (`performance.timeOrigin + performance.now()`, ms). */
export interface StreamTimings {
  /** the open transaction was mined (or the existing channel chosen) */
  channelReadyAt?: number
  /** the first reading was drawn */
  firstReadingAt?: number
}

/**
 * A span of a product's recording to buy (SPEC.md §History): the range as the SDK takes it, and what
 * the seller said it holds when the buyer previewed it (`BuyerClient.history`).
 */
export interface HistoryPurchase {
  /** what to send in `hello`: a finite range already fixed to the previewed readings (`frozenRange`) */
  range: StreamRange
  /** `count` readings recorded from `from` to `to` (ms since the epoch); `live`: live ones follow */
  held: RangeEcho
}

/**
 * One paid stream in the page: picks or opens the channel (one wallet prompt when a new one is
 * needed), streams the product through the SDK — its live readings, or a span of its recording —
 * keeps the readings, and tracks what was paid.
 */
export class LiveStream {
  phase = $state<StreamPhase>('idle')
  channelId = $state<Hex | undefined>()
  /** whether the channel was opened for this stream (a wallet prompt) or reused */
  openedNew = $state(false)
  chunks = $state(0)
  /**
   * wei signed in this stream: chunks × price while it runs (every chunk received is signed for within
   * `receiptEvery`), the session's exact `paid` once it ended
   */
  paid = $state(0n)
  /** wei: the channel's cumulative amount, after the latest receipt */
  cumulative = $state(0n)
  /** wei this stream may sign */
  budget = $state(0n)
  /** wei escrowed in the channel */
  deposit = $state(0n)
  /** chunks per second over the last few seconds */
  rate = $state(0)
  /** readings whose device signature holds, and those unsigned or invalid (descriptors listing devices) */
  verified = $state(0)
  unverified = $state(0)
  summary = $state.raw<SessionSummary | undefined>()
  problem = $state.raw<Problem | undefined>()
  readonly log = new ReadingLog()
  readonly timings: StreamTimings = {}
  private stream: PaidStream | undefined
  private arrivals: number[] = []
  private offReceipt: (() => void) | undefined

  readonly client: BuyerClient
  readonly listing: Listing
  /** the recorded span this stream buys; `undefined` for live readings */
  readonly history: HistoryPurchase | undefined

  constructor(client: BuyerClient, listing: Listing, history?: HistoryPurchase) {
    this.client = client
    this.listing = listing
    this.history = history
  }

  /**
   * readings the stream ends after by itself (a finite history range: the previewed `count`), or
   * `undefined` when it runs until stopped or the budget is spent
   */
  get expected(): number | undefined {
    return this.history && !this.history.held.live ? this.history.held.count : undefined
  }

  /** whether a finite range ended with every reading it held received */
  get complete(): boolean {
    const expected = this.expected
    return (
      expected !== undefined &&
      this.phase === 'ended' &&
      this.chunks >= expected &&
      (this.summary?.reason === 'done' || this.summary?.reason === 'product_ended')
    )
  }

  /** wei of the deposit not yet signed away */
  get depositLeft(): bigint {
    const left = this.deposit - this.cumulative
    return left > 0n ? left : 0n
  }

  /**
   * Starts streaming: on `channelId` when given, else on a channel of this account to the seller that
   * still holds a chunk's price — for a finite history range, the whole `budget`, so the range is not
   * cut short — (no prompt), else on a new channel funded with `budget` (one prompt).
   * @param budget - wei this stream may sign (and the deposit of a new channel); for a finite history
   *   range, its `count` × the price per chunk
   */
  async start(budget: bigint, channelId?: Hex): Promise<void> {
    const { listing, client } = this
    this.problem = undefined
    this.summary = undefined
    this.phase = 'opening'
    try {
      const price = listing.pricePerChunk
      // No deposit is locked for a seller that does not answer right now.
      if ((await checkHealth(listing.descriptor.endpoint, 5000, 0)) !== 'up') {
        throw new TrickleError(
          'CONNECTION_FAILED',
          `the seller at ${listing.descriptor.endpoint} does not answer`,
        )
      }
      let id = channelId
      let maxSpend = budget
      if (!id) {
        const least = this.expected !== undefined ? budget : price
        const reusable = await client.reusableChannel(listing.descriptor.seller, least, {
          signedAmount: signedOn,
        })
        if (reusable) {
          id = reusable.channelId
          if (reusable.spendable < maxSpend) maxSpend = reusable.spendable
        } else {
          id = (await client.openChannel(listing.descriptor.seller, budget)).channelId
          this.openedNew = true
        }
      }
      noteChannel(id, { productId: listing.productId.toString(), productName: listing.descriptor.name })
      this.channelId = id
      const view = await client.channel(id)
      const spendable = client.spendable(view, signedOn(id))
      if (spendable < maxSpend) maxSpend = spendable
      this.deposit = view.deposit
      // until the first receipt of this stream: what is claimed or known signed
      this.cumulative = view.deposit - spendable
      if (maxSpend < price) {
        this.problem = problemOf({ code: 'deposit_exhausted' })
        this.phase = 'ended'
        return
      }
      this.budget = maxSpend
      this.timings.channelReadyAt = performance.timeOrigin + performance.now()
      this.phase = 'connecting'
      this.offReceipt = client.on('receipt', (r) => {
        if (r.channelId.toLowerCase() !== id.toLowerCase()) return
        if (r.amount > this.cumulative) this.cumulative = r.amount
      })
      this.stream = await client.stream(listing.product, {
        channelId: id,
        maxSpend,
        maxDebt: RESUME_DEBT_CHUNKS * price,
        // a history range, and at most the readings previewed and priced
        ...(this.history ? historyStreamOptions(this.history) : {}),
      })
      this.phase = 'streaming'
      void this.pump(this.stream)
    } catch (err) {
      this.offReceipt?.()
      this.problem = problemOf(err)
      this.phase = 'ended'
    }
  }

  private async pump(stream: PaidStream): Promise<void> {
    const units = new Map(this.listing.descriptor.fields.map((f) => [f.name, f.unit]))
    try {
      for await (const chunk of stream) {
        const now = Date.now()
        this.log.add(readChunk(chunk.seq, chunk.data, now, units, chunk.provenance))
        if (chunk.provenance?.status === 'verified') this.verified++
        else if (chunk.provenance) this.unverified++
        this.chunks++
        this.paid = BigInt(this.chunks) * this.listing.pricePerChunk
        this.arrivals.push(now)
        while (this.arrivals.length > 0 && now - this.arrivals[0]! > 3000) this.arrivals.shift()
        this.rate = this.arrivals.length / Math.max(1, Math.min(3, (now - this.arrivals[0]!) / 1000))
      }
    } catch (err) {
      this.problem = problemOf(err)
    }
    await this.finish(await stream.finished)
  }

  private async finish(summary: SessionSummary): Promise<void> {
    this.offReceipt?.()
    this.summary = summary
    this.paid = summary.paid
    this.cumulative = summary.cumulativeAmount
    if (summary.error && !this.problem) this.problem = problemOf(summary.error)
    if (!this.problem && summary.reason === 'deposit_exhausted')
      this.problem = problemOf({ code: summary.reason })
    this.rate = 0
    this.phase = 'ended'
  }

  /** Ends the session with a final receipt for every chunk received; resolves with what it did. */
  async stop(): Promise<SessionSummary | undefined> {
    if (!this.stream || this.phase !== 'streaming') return this.summary
    this.phase = 'stopping'
    const summary = await this.stream.close()
    return summary
  }

  /** Best effort on page hide: start the close so the final receipt may still go out. */
  abandon(): void {
    if (this.stream && this.phase === 'streaming') void this.stream.close()
  }
}
