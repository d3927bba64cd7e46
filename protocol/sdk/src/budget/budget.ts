import { TrickleError } from '@trickle/protocol'

/**
 * What a client may still sign across all its streams, in wei: a total, less what finished sessions
 * spent, less what running streams reserved. A stream reserves its `maxSpend` (or what is left) when it
 * starts and gives back what it did not spend when it ends, so concurrent streams can never together
 * sign more than the total. Pure; no limit when the total is undefined.
 */
export class Budget {
  private readonly total: bigint | undefined
  private spentWei = 0n
  private reservedWei = 0n

  /** @param total - wei all streams together may sign, at most; unlimited when undefined */
  constructor(total: bigint | undefined) {
    this.total = total
  }

  /** Wei neither spent nor reserved; undefined without a limit. */
  get remaining(): bigint | undefined {
    return this.total === undefined ? undefined : this.total - this.spentWei - this.reservedWei
  }

  /** Wei signed by streams that ended (and given back by {@link settle}). */
  get spent(): bigint {
    return this.spentWei
  }

  /**
   * Reserves up to `want` wei for one stream.
   * @param want - wei the stream would like to spend at most; all that is left when undefined
   * @returns the wei reserved (≤ `want`)
   * @throws TrickleError `SPENDING_CAP_REACHED` when nothing is left; `INVALID_ARGUMENT` when neither a
   *   total nor `want` bounds the stream
   */
  reserve(want: bigint | undefined): bigint {
    const left = this.remaining
    if (want === undefined && left === undefined) {
      throw new TrickleError('INVALID_ARGUMENT', 'a stream needs maxSpend when the client has no budget')
    }
    const granted = left === undefined ? want! : want === undefined || want > left ? left : want
    if (granted <= 0n) throw new TrickleError('SPENDING_CAP_REACHED', "the client's budget is spent")
    this.reservedWei += granted
    return granted
  }

  /**
   * A stream that reserved `reserved` wei ended having spent `spent`; the rest is free again.
   * @param reserved - what {@link reserve} returned, wei
   * @param spent - wei the stream's sessions signed (≤ `reserved`)
   */
  settle(reserved: bigint, spent: bigint): void {
    this.reservedWei -= reserved
    this.spentWei += spent
  }
}
