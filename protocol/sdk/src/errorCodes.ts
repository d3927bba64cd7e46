/**
 * The codes each SDK call documents, as unions to branch on (`switch (err.code)`), after viem's
 * per-action error types. Every call may also throw `ABORTED` when its `signal` aborts.
 * @module
 */
import { type ErrorCode, errorCode } from '@trickle/protocol'

/** {@link BuyerClient.create} and `createTrickle`. */
export type CreateClientErrorCode = 'INVALID_ARGUMENT' | 'CHAIN_UNAVAILABLE' | 'CHAIN_MISMATCH' | 'ABORTED'

/** `products()` and `product(id)`. */
export type CatalogErrorCode =
  | 'PRODUCT_NOT_FOUND'
  | 'DESCRIPTOR_INVALID'
  | 'DESCRIPTOR_UNAVAILABLE'
  | 'CHAIN_UNAVAILABLE'
  | 'ABORTED'

/** `openChannel(payee, deposit)`. */
export type OpenChannelErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INSUFFICIENT_FUNDS'
  | 'USER_REJECTED'
  | 'CHAIN_UNAVAILABLE'
  | 'TRANSACTION_REVERTED'
  | 'INTERNAL'
  | 'ABORTED'

/** `topUp`, `requestClose` and `finalize`. */
export type ChannelActionErrorCode =
  | 'INVALID_ARGUMENT'
  | 'UNKNOWN_CHANNEL'
  | 'NOT_PAYER'
  | 'CHANNEL_NOT_OPEN'
  | 'CLOSE_NOT_REQUESTED'
  | 'CHALLENGE_PERIOD_NOT_OVER'
  | 'INSUFFICIENT_FUNDS'
  | 'USER_REJECTED'
  | 'CHAIN_UNAVAILABLE'
  | 'TRANSACTION_REVERTED'
  | 'ABORTED'

/**
 * `stream()` and `subscribe()`: the setup codes, then whatever ends a session early — the seller's
 * `error` frame (any wire code, e.g. `PAYMENT_TIMEOUT`, `CHANNEL_BUSY`) or the buyer's own check
 * (`TERMS_SIGNER_MISMATCH`, `DEBT_DISPUTED`, `CHUNK_OUT_OF_ORDER` …).
 */
export type StreamErrorCode = ErrorCode

/**
 * Whether `err` is a Trickle error with one of `codes` — narrows `err.code` to that union.
 *
 * @example
 * ```ts
 * import { isErrorOf, type OpenChannelErrorCode } from '@trickle/sdk'
 *
 * try {
 *   // … await client.openChannel(payee, deposit)
 * } catch (err) {
 *   if (isErrorOf<OpenChannelErrorCode>(err, ['INSUFFICIENT_FUNDS'])) console.log('top up the payer first')
 *   else throw err
 * }
 * ```
 * @param err - anything caught
 * @param codes - the codes to match
 */
export function isErrorOf<C extends ErrorCode>(
  err: unknown,
  codes: readonly C[],
): err is Error & { code: C; shortMessage: string } {
  const code = errorCode(err)
  return code !== undefined && (codes as readonly string[]).includes(code)
}
