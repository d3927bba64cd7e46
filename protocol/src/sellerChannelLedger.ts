import { sendableChunks } from './creditWindow.ts'
import type { ResumeBase } from './frames.ts'

/** A channel's debt as the seller records it when the channel's last live session ends. */
export interface ChannelDebt {
  /** the cumulative amount every chunk delivered on the channel comes to, wei */
  owed: bigint
}

/**
 * One seller session's share of a channel: what it sent and what receipts covered, in chunks of its
 * own product at its own price. Created by {@link SellerChannelLedger.join}.
 */
export interface SellerLane {
  /** wei per chunk of this session's product */
  readonly pricePerChunk: bigint
  /** chunks sent by this session */
  sentChunks: number
  /** chunks covered by this session's latest accepted receipt (signature may still be checked) */
  acceptedChunks: number
  /** chunks covered by this session's latest durable receipt */
  durableChunks: number
  /** this session's credit window, chunks */
  window: number
}

/**
 * The seller's accounting of one payment channel across all its live sessions (SPEC.md §Concurrent
 * sessions). A channel has one cumulative amount, so the sessions on it share one ledger:
 *
 * - every chunk gets a channel-wide `seq` label from {@link assignSeq}, so receipt `seq`s never collide
 *   across sessions;
 * - the value committed (`origin` + everything sent since) never passes the deposit;
 * - the value sent but not covered by the highest durable cumulative amount (the channel's debt,
 *   which outlives the sessions that ran it up) never passes the largest of the live sessions'
 *   windows × their prices, so neither more sessions nor reconnects buy more unpaid data.
 *
 * Pure: no I/O, no clock. With one session and no earlier debt it reduces to the single-session
 * rules exactly.
 */
export class SellerChannelLedger {
  /** the channel's cumulative amount when the ledger started (its durable base then), wei */
  private origin = 0n
  /** wei sent on the channel since `origin` (restored: the recorded debt above the base) */
  private sentValue = 0n
  /** wei the accepted receipts of ended sessions covered */
  private endedValue = 0n
  /** the next channel-wide chunk label */
  private nextSeq = 0
  /** highest cumulative amount accepted (signature may still be checked), wei */
  private maxAccepted = 0n
  /** highest cumulative amount stored durably, wei */
  private maxDurable = 0n
  /** the durable receipt with the highest cumulative amount: the base of sessions that join */
  private latest: ResumeBase | undefined
  private depositWei = 0n
  private readonly lanes = new Set<SellerLane>()

  /**
   * A ledger for a channel that has no live session in this process, seeded from the seller's store:
   * its last durable receipt and the debt recorded when its last session ended (SPEC.md §Channel
   * debt), so that chunks delivered and never receipted keep counting after a reconnect or a restart.
   *
   * @param base - the store's last durable receipt of the channel (highest cumulative amount)
   * @param debt - the recorded debt: `owed`, the cumulative amount every chunk delivered on the
   *   channel comes to (wei)
   */
  static restore(base: ResumeBase, debt: ChannelDebt | undefined): SellerChannelLedger {
    const ledger = new SellerChannelLedger()
    ledger.origin = base.amount
    ledger.maxAccepted = base.amount
    ledger.maxDurable = base.amount
    ledger.latest = base
    ledger.nextSeq = base.seq
    if (debt && debt.owed > base.amount) ledger.sentValue = debt.owed - base.amount
    return ledger
  }

  /**
   * Adds a session to the channel. The first session sets the ledger's origin from its base; later
   * ones resume from the freshest durable receipt the ledger knows.
   *
   * @param base - the store's last durable receipt of the channel (highest cumulative amount)
   * @param nextSeq - the first free chunk label: above every stored receipt's `seq`, chunks
   * @param deposit - the channel's deposit as read on-chain, wei (the highest reading counts)
   * @param pricePerChunk - wei per chunk of the session's product
   * @param window - the session's initial credit window, chunks
   * @returns the session's lane and the resume base to put in its terms
   */
  join(
    base: ResumeBase,
    nextSeq: number,
    deposit: bigint,
    pricePerChunk: bigint,
    window: number,
  ): { lane: SellerLane; base: ResumeBase } {
    if (!this.latest) {
      this.origin = base.amount
      this.maxAccepted = base.amount
      this.maxDurable = base.amount
      this.latest = base
    } else if (base.amount > this.maxDurable) {
      this.maxDurable = base.amount
      this.latest = base
    }
    if (base.amount > this.maxAccepted) this.maxAccepted = base.amount
    this.nextSeq = Math.max(this.nextSeq, nextSeq, base.seq)
    if (deposit > this.depositWei) this.depositWei = deposit
    const lane: SellerLane = { pricePerChunk, sentChunks: 0, acceptedChunks: 0, durableChunks: 0, window }
    this.lanes.add(lane)
    return { lane, base: this.latest! }
  }

  /**
   * A session ended and its receipts are stored. What it sent beyond its last durable receipt stays
   * owed: it is the channel's debt (SPEC.md §Channel debt), which keeps counting against the credit
   * of the channel's later sessions until a receipt pays it.
   */
  leave(lane: SellerLane): void {
    if (!this.lanes.delete(lane)) return
    this.endedValue += BigInt(lane.acceptedChunks) * lane.pricePerChunk
    // Labels of chunks no receipt covers are free again once no session is live: the next session
    // starts above the highest stored receipt's `seq` (its `join` says which), as after a restart.
    if (this.lanes.size === 0) this.nextSeq = 0
  }

  /**
   * Wei delivered on the channel that no durable receipt covers: the sessions' unpaid chunks,
   * including those of sessions that ended without paying them.
   */
  get debt(): bigint {
    const committed = this.origin + this.sentValue
    return committed > this.maxDurable ? committed - this.maxDurable : 0n
  }

  /**
   * Wei of the channel's debt that no live session's own unpaid chunks account for: what earlier
   * sessions delivered and left unpaid. A session with nothing unpaid of its own asks for it with
   * `payment_required` (the buyer pays it with a receipt at the session's current point).
   */
  get inheritedDebt(): bigint {
    let live = 0n
    for (const l of this.lanes) live += BigInt(l.sentChunks - l.durableChunks) * l.pricePerChunk
    const debt = this.debt
    return debt > live ? debt - live : 0n
  }

  /**
   * The resume base a new session on this channel gets in its terms: the freshest durable receipt,
   * the ledger's or the store's, whichever has the higher amount.
   * @param stored - the store's last durable receipt (or the zero base)
   */
  baseFor(stored: ResumeBase): ResumeBase {
    return this.latest && this.latest.amount >= stored.amount ? this.latest : stored
  }

  /** Live sessions on the channel. */
  get sessions(): number {
    return this.lanes.size
  }

  /** The channel's deposit, wei. */
  get deposit(): bigint {
    return this.depositWei
  }

  /** What the buyer owes for every chunk sent so far, wei (`payment_required.owed`). */
  get owed(): bigint {
    const committed = this.origin + this.sentValue
    return committed > this.maxDurable ? committed : this.maxDurable
  }

  /**
   * How many more chunks a session may send now: its own window, the deposit, and the channel's
   * shared credit (SPEC.md §Concurrent sessions).
   * @returns chunks, ≥ 0
   */
  sendable(lane: SellerLane): number {
    const unpaid = lane.sentChunks - lane.durableChunks
    if (unpaid >= lane.window) return 0 // the window alone says no: skip the value sums
    const headroom = this.depositWei - this.owed
    // The channel's credit is the largest window of its live sessions, not their sum: otherwise a
    // buyer that never pays would take one window per session it opens (SPEC.md §Channel debt).
    let largest = 0n
    for (const l of this.lanes) {
      const value = BigInt(l.window) * l.pricePerChunk
      if (value > largest) largest = value
    }
    const credit = largest - (this.origin + this.sentValue - this.maxDurable)
    return sendableChunks(lane.window, unpaid, headroom < credit ? headroom : credit, 0n, lane.pricePerChunk)
  }

  /** Whether the deposit leaves no room for one more chunk at `price` wei. */
  exhausted(price: bigint): boolean {
    return price > 0n && this.depositWei - this.owed < price
  }

  /**
   * Labels a chunk the session is about to send and commits its value.
   * @returns the chunk's channel-wide `seq`
   */
  assignSeq(lane: SellerLane): number {
    lane.sentChunks++
    this.sentValue += lane.pricePerChunk
    return this.nextSeq++
  }

  /**
   * The least cumulative amount that pays for every chunk the sessions' accepted receipts cover, if
   * `lane`'s receipt covered `chunks` of its chunks. Each receipt is signed after the ones before it
   * on any session, so the highest amount accepted must reach this (else `RECEIPT_UNDERPAID`).
   * @returns wei
   */
  required(lane: SellerLane, chunks: number): bigint {
    let owed = this.origin + this.endedValue
    for (const l of this.lanes) owed += BigInt(l === lane ? chunks : l.acceptedChunks) * l.pricePerChunk
    return owed
  }

  /** The highest cumulative amount accepted so far, wei. */
  get highestAccepted(): bigint {
    return this.maxAccepted
  }

  /** A receipt passed the checks: it covers `chunks` of the session's chunks. */
  accepted(lane: SellerLane, chunks: number, amount: bigint): void {
    lane.acceptedChunks = chunks
    if (amount > this.maxAccepted) this.maxAccepted = amount
  }

  /** A receipt is durable: credit extends by what it pays. */
  persisted(lane: SellerLane, chunks: number, receipt: ResumeBase): void {
    if (chunks > lane.durableChunks) lane.durableChunks = chunks
    if (receipt.amount > this.maxDurable) {
      this.maxDurable = receipt.amount
      this.latest = receipt
    }
  }
}
