import { isErrorCode, type WireErrorCode } from '@trickle/protocol'

/** An error as a buyer reads it in an `error` frame: a stable code and a sentence for humans. */
export interface PeerError {
  /** a wire code: the codec of every peer refuses local ones */
  code: WireErrorCode
  message: string
}

/**
 * The fixed messages of failures inside the seller, by code. A buyer learns that the seller cannot
 * serve now and whether to try again, never the text of the underlying error (SQLite's, the RPC
 * node's, a file path), which is for the seller's log.
 */
export const SELLER_FAILURE_MESSAGES = {
  /** a receipt the buyer sent could not be stored durably: it bought nothing, credit stops */
  STORE_FAILED: 'the seller could not record the receipt',
  /** the seller could not read its receipt store (or it is failing): retry later */
  STORE_UNAVAILABLE: 'the seller cannot store receipts now: try again later',
  CHAIN_UNAVAILABLE: 'the seller cannot reach its chain now: try again later',
  INTERNAL: 'the seller failed to serve the session',
} as const

/**
 * Codes whose short message the seller writes about the buyer's own request (its channel, its
 * frames, its receipts) from facts the buyer can read too: the message may go to the buyer.
 */
const ABOUT_THE_REQUEST: ReadonlySet<string> = new Set<WireErrorCode>([
  'FRAME_TOO_LARGE',
  'FRAME_MALFORMED',
  'UNKNOWN_PRODUCT',
  'UNKNOWN_CHANNEL',
  'CHANNEL_NOT_OPEN',
  'CHANNEL_BUSY',
  'WRONG_PAYEE',
  'RESUME_MISMATCH',
  'RANGE_UNAVAILABLE',
  'JOB_REJECTED',
  'DEBT_OUTSTANDING',
  'RECEIPT_BAD_SIGNATURE',
])

/**
 * What a buyer is told of an error the seller hit while serving its session. A {@link TrickleError}
 * about the buyer's request (unknown channel, wrong payee, malformed frame…) keeps its code and its
 * `shortMessage` (never `message`, which carries `details`); `STORE_FAILED` and `CHAIN_UNAVAILABLE`
 * keep their code, which tells the buyer to retry later, with a fixed message; anything else —
 * another code, or an error that is not a TrickleError — is `INTERNAL` with a fixed message.
 *
 * @param err - anything caught while serving a session
 * @returns the code and message for the `error` frame; log `err` itself
 */
export function toPeerError(err: unknown): PeerError {
  const coded = err as { name?: unknown; code?: unknown; shortMessage?: unknown } | null | undefined
  // By shape, not `instanceof` (SPEC.md: match on codes): ethers and node:sqlite errors carry a
  // `code` too, some of which spell like Trickle's (ethers' INVALID_ARGUMENT).
  if (coded?.name !== 'TrickleError' || !isErrorCode(coded.code)) {
    return { code: 'INTERNAL', message: SELLER_FAILURE_MESSAGES.INTERNAL }
  }
  const code = coded.code
  if (ABOUT_THE_REQUEST.has(code) && typeof coded.shortMessage === 'string') {
    return { code: code as WireErrorCode, message: coded.shortMessage }
  }
  if (code === 'STORE_FAILED') return { code, message: SELLER_FAILURE_MESSAGES.STORE_UNAVAILABLE }
  if (code === 'CHAIN_UNAVAILABLE') return { code, message: SELLER_FAILURE_MESSAGES.CHAIN_UNAVAILABLE }
  return { code: 'INTERNAL', message: SELLER_FAILURE_MESSAGES.INTERNAL }
}
