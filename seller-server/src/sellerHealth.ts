import type { ErrorCode } from '@trickle/protocol'
import { SELLER_FAILURE_MESSAGES } from './peerError.ts'

/**
 * What the seller knows of the parts it needs to take receipts. Each is failed from the failure it
 * saw until a later success: a receipt write (or a probe write while failed) for the store, a chain
 * read (a block-number probe or a channel read) for the chain.
 */
export interface HealthState {
  /** ms since the epoch of the receipt-store failure not yet followed by a success, if any */
  storeFailedAt: number | undefined
  /** ms since the epoch of the chain failure not yet followed by a success, if any */
  chainFailedAt: number | undefined
}

/** The seller's health as `/health` reports it. */
export interface SellerHealth {
  /** whether the seller can take receipts (and so serve new sessions) */
  ok: boolean
  /** why not, one short sentence per failed part (none when `ok`) */
  reasons: string[]
}

/** Why a `hello` is refused while the seller is unhealthy: the code and a message for the buyer. */
export interface Admission {
  code: Extract<ErrorCode, 'STORE_FAILED' | 'CHAIN_UNAVAILABLE'>
  message: string
}

/** A state with every part healthy. */
export function healthyState(): HealthState {
  return { storeFailedAt: undefined, chainFailedAt: undefined }
}

/**
 * The seller's health: it cannot take receipts when its store fails (receipts could not be kept) or
 * its chain is unreachable (channels cannot be read, claims cannot be sent).
 */
export function evaluateHealth(state: HealthState): SellerHealth {
  const reasons: string[] = []
  if (state.storeFailedAt !== undefined) reasons.push('receipt store: writes are failing')
  if (state.chainFailedAt !== undefined) reasons.push('chain: the RPC endpoint is unreachable')
  return { ok: reasons.length === 0, reasons }
}

/**
 * Whether a new session may start now; the store comes first (credit without durable receipts is
 * credit given away). The messages are fixed: internal errors are never forwarded to a peer.
 *
 * @returns undefined when the seller can take receipts, else the refusal (`STORE_FAILED`,
 *   `CHAIN_UNAVAILABLE`)
 */
export function admissionOf(state: HealthState): Admission | undefined {
  if (state.storeFailedAt !== undefined) {
    return { code: 'STORE_FAILED', message: SELLER_FAILURE_MESSAGES.STORE_UNAVAILABLE }
  }
  if (state.chainFailedAt !== undefined) {
    return { code: 'CHAIN_UNAVAILABLE', message: SELLER_FAILURE_MESSAGES.CHAIN_UNAVAILABLE }
  }
  return undefined
}
