import type { ResumeBase } from './frames.ts'

/**
 * The buyer's running total on one payment channel, shared by every session it streams on that
 * channel at the same time (SPEC.md §Concurrent sessions). A channel has one cumulative amount, so a
 * receipt signed on any session pays for the chunks received on all of them:
 * `owed = base.amount + Σ price × chunks received` since the first of the live sessions started.
 *
 * Also decides what a chunk costs the buyer: nothing while `owed` stays at or below the highest amount
 * it signed before those sessions (a seller that lost receipts re-sends from an earlier base), its
 * price above that.
 */
export class BuyerChannelAccount {
  private live = 0
  private owedWei = 0n
  /** the highest cumulative amount signed before the live sessions started, wei */
  private floor = 0n
  private signedWei = 0n
  /**
   * wei of chunks the previous sessions received and never signed for (the connection dropped before
   * a receipt covered them), carried into the live sessions' amount (SPEC.md §Channel debt)
   */
  private carriedWei = 0n
  private last: ResumeBase | undefined

  /**
   * A session's terms were accepted.
   * @param base - the seller's resume base from the terms
   * @param known - the last receipt the buyer signed on the channel, if it keeps one
   */
  open(base: ResumeBase, known: ResumeBase | undefined): void {
    if (this.live === 0) {
      // What the previous sessions received beyond their last receipt is still owed: the next receipt
      // pays it (the seller counts it as the channel's debt). Only when the seller resumes from that
      // very receipt: below it, the seller lost receipts and re-sends those chunks (paid in turn);
      // above it, another holder of the key signed more, which may already cover them.
      const unsigned = this.owedWei - this.signedWei
      this.carriedWei = unsigned > 0n && base.amount === this.signedWei ? unsigned : 0n
      this.owedWei = base.amount + this.carriedWei
      const before = known && known.amount > base.amount ? known.amount : base.amount
      this.floor = before > this.signedWei ? before : this.signedWei
    } else if (base.amount > this.owedWei) {
      this.owedWei = base.amount
    }
    this.live++
  }

  /** A session ended. */
  close(): void {
    if (this.live > 0) this.live--
  }

  /** Sessions streaming on the channel now. */
  get sessions(): number {
    return this.live
  }

  /** What the buyer owes for every chunk received, wei: the amount the next receipt signs. */
  get owed(): bigint {
    return this.owedWei
  }

  /**
   * What taking one more chunk would add to the channel's cumulative amount beyond what was already
   * signed, wei (0 while the seller re-sends chunks the buyer had paid for).
   */
  costOf(price: bigint): bigint {
    const after = this.owedWei + price
    const from = this.owedWei > this.floor ? this.owedWei : this.floor
    return after > from ? after - from : 0n
  }

  /**
   * The most a debt payment may bring the channel's cumulative amount to, wei: what the buyer owes
   * now (what it received on earlier sessions and never signed for included), plus `allowance`.
   * @param allowance - wei the caller pays for chunks it cannot vouch for
   */
  debtCeiling(allowance: bigint): bigint {
    const from = this.owedWei > this.floor ? this.owedWei : this.floor
    return from + allowance
  }

  /**
   * wei of unsigned chunks of earlier sessions that the live sessions' amount took over when they
   * started (0 while the seller re-sends from below what was signed)
   */
  get carried(): bigint {
    return this.carriedWei
  }

  /** What signing `amount` as a debt payment adds beyond what was already signed or owed, wei. */
  debtCost(amount: bigint): bigint {
    const from = this.owedWei > this.floor ? this.owedWei : this.floor
    return amount > from ? amount - from : 0n
  }

  /** A receipt for `amount` wei pays the channel's debt beyond what the buyer knew it owed. */
  payDebt(amount: bigint): void {
    if (amount > this.owedWei) this.owedWei = amount
  }

  /** A chunk was received at `price` wei. */
  take(price: bigint): void {
    this.owedWei += price
  }

  /** A receipt was signed on one of the channel's sessions. */
  signed(receipt: ResumeBase): void {
    if (this.last && receipt.amount < this.last.amount) return
    this.last = receipt
    if (receipt.amount > this.signedWei) this.signedWei = receipt.amount
  }

  /** The receipt with the highest cumulative amount signed through this account, if any. */
  get latest(): ResumeBase | undefined {
    return this.last
  }
}
