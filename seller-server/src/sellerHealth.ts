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

/**
 * A part a buyer's session needs, as `/health` names it when it fails: `store` (receipt writes fail),
 * `rpc` (the chain's RPC endpoint is unreachable), `broker` (the MQTT broker connection is down, so no
 * readings arrive), `starting` (the products are not published yet: no session is served).
 */
export type HealthPart = 'store' | 'rpc' | 'broker' | 'starting'

/**
 * What the seller sees of its parts right now, apart from the failures kept in {@link HealthState}:
 * read afresh for each evaluation.
 */
export interface LiveParts {
  /** whether the MQTT broker connection is up */
  brokerConnected: boolean
  /** whether the products are published and WebSocket sessions are taken */
  serving: boolean
}

/** The seller's health as `/health` reports it. */
export interface SellerHealth {
  /** whether a buyer can be served now: every part of {@link HealthPart} works */
  ok: boolean
  /** why not, one short sentence per failed part (none when `ok`) */
  reasons: string[]
  /** the failed parts, in the order of `reasons` (none when `ok`) */
  failing: HealthPart[]
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
 * The seller's health: a buyer cannot be served while its store fails (receipts could not be kept),
 * its chain is unreachable (channels cannot be read, claims cannot be sent), its MQTT broker is
 * disconnected (no readings to sell; sessions are still admitted and get readings once it is back),
 * or it is still starting.
 *
 * @param state - the failures the seller recorded
 * @param live - the parts read now (default: broker connected, serving)
 * @returns ok, and each failed part with its reason
 */
export function evaluateHealth(
  state: HealthState,
  live: LiveParts = { brokerConnected: true, serving: true },
): SellerHealth {
  const failed: [HealthPart, string][] = []
  if (!live.serving) failed.push(['starting', 'starting: the products are not published yet'])
  if (state.storeFailedAt !== undefined) failed.push(['store', 'receipt store: writes are failing'])
  if (state.chainFailedAt !== undefined) failed.push(['rpc', 'chain: the RPC endpoint is unreachable'])
  if (!live.brokerConnected) failed.push(['broker', 'MQTT broker: disconnected, no readings arrive'])
  return { ok: failed.length === 0, reasons: failed.map(([, r]) => r), failing: failed.map(([p]) => p) }
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
