import { BaseError, type BaseErrorOptions, hasCode as baseHasCode } from '@trickle/errors'

/**
 * Codes that may cross the wire in an `error` frame (SPEC.md §Error codes). The codec refuses any
 * other code from a peer (`FRAME_MALFORMED`), so a peer can never make a local code appear.
 */
export const WIRE_ERROR_CODES = [
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
  'RANGE_UNAVAILABLE',
  // Jobs (SPEC.md §Jobs): the provider refuses the hello's quote
  'JOB_REJECTED',
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
  'PAYMENT_TIMEOUT',
  'IDLE_TIMEOUT',
  // Infrastructure
  'STORE_FAILED',
  'CHAIN_UNAVAILABLE',
  'INTERNAL',
] as const

/**
 * Codes raised locally by the SDK, the CLI and the seller's settlement, never sent in an `error` frame
 * (SPEC.md §Error codes).
 */
export const LOCAL_ERROR_CODES = [
  'SPENDING_CAP_REACHED',
  'CLAIM_REJECTED',
  'CLAIM_MISSED',
  'DESCRIPTOR_INVALID',
  'DESCRIPTOR_UNAVAILABLE',
  'JOB_RECORD_INVALID',
  'JOB_ATTESTATION_INVALID',
  'PRODUCT_NOT_FOUND',
  'CONNECTION_FAILED',
  'SESSION_CLOSED',
  'NOT_PAYER',
  'CLOSE_NOT_REQUESTED',
  'CHALLENGE_PERIOD_NOT_OVER',
  'INVALID_ARGUMENT',
  'INSUFFICIENT_FUNDS',
  'TRANSACTION_REVERTED',
  'CHAIN_MISMATCH',
  'ABORTED',
  'USER_REJECTED',
  // Jobs (compute and app products): the sandbox that runs one WASI module (seller-server/src/jobs)
  'JOB_MODULE_INVALID',
  'JOB_MEMORY_LIMIT',
  'JOB_CPU_LIMIT',
  'JOB_WALL_LIMIT',
  'JOB_OUTPUT_LIMIT',
  'JOB_FAILED',
  'JOB_SANDBOX_UNAVAILABLE',
  'JOB_CANCELLED',
] as const

/**
 * Every stable code of the protocol, SDK and seller: {@link WIRE_ERROR_CODES} then
 * {@link LOCAL_ERROR_CODES}. Errors that cross the wire are `{ code, message }` with a wire code;
 * callers match on `code`, never on `instanceof`.
 */
export const ERROR_CODES = [...WIRE_ERROR_CODES, ...LOCAL_ERROR_CODES] as const

/** A code that may appear in an `error` frame. */
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number]
/** A code raised locally, never sent. */
export type LocalErrorCode = (typeof LOCAL_ERROR_CODES)[number]

/** A stable, machine-readable error code. */
export type ErrorCode = (typeof ERROR_CODES)[number]

const ERROR_CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES)

/** Whether `value` is one of the {@link ERROR_CODES}. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && ERROR_CODE_SET.has(value)
}

const WIRE_ERROR_CODE_SET: ReadonlySet<string> = new Set(WIRE_ERROR_CODES)

/** Whether `value` is one of the {@link WIRE_ERROR_CODES}: the only codes an `error` frame may carry. */
export function isWireErrorCode(value: unknown): value is WireErrorCode {
  return typeof value === 'string' && WIRE_ERROR_CODE_SET.has(value)
}

/**
 * The code to put in an `error` frame for `code`: itself when it is a wire code, else `INTERNAL`.
 *
 * @param code - any code
 */
export function wireCodeOf(code: ErrorCode): WireErrorCode {
  return isWireErrorCode(code) ? code : 'INTERNAL'
}

/**
 * The error class of the protocol core, the SDK, the CLI and the seller: `@trickle/errors`'
 * {@link BaseError} with the code narrowed to {@link ErrorCode} (a stable `code`, `shortMessage`,
 * `details`, `cause` and `walk()`).
 */
export class TrickleError extends BaseError<ErrorCode> {
  /**
   * @param code - stable error code
   * @param shortMessage - one sentence for humans
   * @param options - `details` (extra context) and `cause` (the underlying error)
   */
  constructor(code: ErrorCode, shortMessage: string, options: BaseErrorOptions = {}) {
    super(code, shortMessage, options)
  }
}

/**
 * Whether `err` is an error-shaped value with the given code (works across realms): `@trickle/errors`'
 * `hasCode`, narrowed to {@link ErrorCode}.
 */
export const hasCode: (err: unknown, code: ErrorCode) => err is { code: ErrorCode } = baseHasCode
