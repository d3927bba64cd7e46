/**
 * Stable error codes. Errors that cross the wire are `{ code, message }` with `code` from
 * {@link ErrorCode}; callers match on `code`, never on `instanceof`.
 */
export const ERROR_CODES = [
  // Wire and framing
  'FRAME_TOO_LARGE',
  'FRAME_MALFORMED',
  'UNEXPECTED_FRAME',
  'UNSUPPORTED_VERSION',
  // Session setup
  'UNKNOWN_PRODUCT',
  'UNKNOWN_CHANNEL',
  'CHANNEL_NOT_OPEN',
  'CHANNEL_BUSY',
  'WRONG_PAYEE',
  'TERMS_INVALID',
  'TERMS_EXPIRED',
  'TERMS_SIGNER_MISMATCH',
  'RESUME_MISMATCH',
  // Session authentication and cross-session debt (SPEC.md §Authentication, §Channel debt)
  'AUTH_FAILED',
  'DEBT_OUTSTANDING',
  'DEBT_DISPUTED',
  // Resource limits of a connection, an IP or the process (SPEC.md §Resource limits)
  'RATE_LIMITED',
  'SEND_BUFFER_FULL',
  'HELLO_TIMEOUT',
  // Receipts
  'RECEIPT_BAD_SIGNATURE',
  'RECEIPT_WRONG_SIGNER',
  'RECEIPT_STALE',
  'RECEIPT_UNDERPAID',
  'RECEIPT_ACK_MISMATCH',
  'RECEIPT_ABOVE_DEPOSIT',
  // Streaming
  'CHUNK_OUT_OF_ORDER',
  'CHUNK_TOO_LARGE',
  'SPENDING_CAP_REACHED',
  'PAYMENT_TIMEOUT',
  'IDLE_TIMEOUT',
  // Infrastructure
  'STORE_FAILED',
  'CHAIN_UNAVAILABLE',
  // Settlement
  'CLAIM_REJECTED',
  'CLAIM_MISSED',
  'DESCRIPTOR_INVALID',
  'DESCRIPTOR_UNAVAILABLE',
  'PRODUCT_NOT_FOUND',
  'CONNECTION_FAILED',
  'SESSION_CLOSED',
  // Channel management by the buyer SDK and CLI (local: raised by the SDK, never sent on the wire)
  'NOT_PAYER',
  'CLOSE_NOT_REQUESTED',
  'CHALLENGE_PERIOD_NOT_OVER',
  'INVALID_ARGUMENT',
  'INSUFFICIENT_FUNDS',
  'TRANSACTION_REVERTED',
  'CHAIN_MISMATCH',
  'INTERNAL',
] as const

/** A stable, machine-readable error code. */
export type ErrorCode = (typeof ERROR_CODES)[number]

const ERROR_CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES)

/** Whether `value` is one of the {@link ERROR_CODES}. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && ERROR_CODE_SET.has(value)
}

/**
 * The one error class of the protocol package, after viem's `BaseError`: a stable `code`, a short
 * human message, optional details and the underlying cause.
 */
export class TrickleError extends Error {
  override readonly name = 'TrickleError'
  readonly code: ErrorCode
  readonly shortMessage: string
  readonly details: string | undefined

  /**
   * @param code - stable error code
   * @param shortMessage - one sentence for humans
   * @param options - `details` (extra context) and `cause` (the underlying error)
   */
  constructor(code: ErrorCode, shortMessage: string, options: { details?: string; cause?: unknown } = {}) {
    super(options.details ? `${shortMessage} (${options.details})` : shortMessage, { cause: options.cause })
    this.code = code
    this.shortMessage = shortMessage
    this.details = options.details
  }
}

/** Whether `err` is a {@link TrickleError}-shaped error with the given code (works across realms). */
export function hasCode(err: unknown, code: ErrorCode): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}
