/**
 * What the protocol benchmark's two processes share: the keys, the channel parameters, the seller's
 * policy for a receipt cadence, the chunk payload (stamped with the offer time) and the messages the
 * parent sends the seller process over IPC.
 */
import { randomBytes } from 'node:crypto'
import { type Hex, receiptDomainSeparator, type SellerPolicy } from '@trickle/protocol'
import { SigningKey, Wallet } from 'ethers'

/** Signs terms in the seller process (never a real key). */
export const SELLER_TERMS_KEY = new SigningKey(`0x${'00'.repeat(31)}03`)
/** Signs receipts in the buyer process (never a real key). */
export const BUYER_KEY = new SigningKey(`0x${'00'.repeat(31)}01`)
export const SELLER_ADDRESS = new Wallet(SELLER_TERMS_KEY).address as Hex
export const BUYER_ADDRESS = new Wallet(BUYER_KEY).address as Hex
export const CHAIN_ID = 31337
/** StreamChannels address receipts are signed for. */
export const CHANNELS: Hex = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
export const PAYEE: Hex = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
/** wei per chunk */
export const PRICE = 1_000_000_000n
/** wei: enough for any run (10^12 chunks) */
export const DEPOSIT = 10n ** 21n
/** Receipt domain separator of (CHAIN_ID, CHANNELS), computed once as the seller server does. */
export const DOMAIN_SEPARATOR = receiptDomainSeparator({ chainId: CHAIN_ID, channels: CHANNELS })

/** Chunk payload size, bytes. */
export const CHUNK_BYTES = 1024

/**
 * The seller's policy for one receipt cadence: the window opens at `receiptEvery` (the buyer requires
 * `receiptEvery ≤ window.initial`) and grows by `receiptEvery` per receipt up to `4 × receiptEvery`
 * (at least 64) chunks. (A window of 16 intervals was tried: at 1 MiB it measured 0.56 against
 * 0.75 with 4, in one run each on this noisy 2-core machine, so it is not the bound.)
 *
 * @param receiptEvery - chunks between receipts
 */
export function policyFor(receiptEvery: number): SellerPolicy {
  const max = Math.max(64, 4 * receiptEvery)
  return {
    pricePerChunk: PRICE,
    maxChunkBytes: CHUNK_BYTES,
    window: { initial: receiptEvery, step: receiptEvery, max },
    receiptEvery,
    paymentTimeoutMs: 30_000,
    termsTtlMs: 120_000,
    maxQueuedChunks: max + 1,
  }
}

const filler = randomBytes(CHUNK_BYTES)

/**
 * A fresh 1 KiB chunk whose first 8 bytes are the monotonic clock (ns, `process.hrtime.bigint()`),
 * shared by all processes on one Linux host, so the buyer can compute the offer-to-delivery latency.
 */
export function stampedChunk(): Uint8Array {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES)
  filler.copy(chunk)
  chunk.writeBigUInt64BE(process.hrtime.bigint(), 0)
  return chunk
}

/** The offer time a chunk carries, ns on the monotonic clock. */
export function offeredAt(chunk: Uint8Array): bigint {
  return Buffer.from(chunk.buffer, chunk.byteOffset, 8).readBigUInt64BE(0)
}

/** Which receipt store the seller persists to. `disk`: WAL + `synchronous = FULL` (one fsync per receipt); `memory`: `:memory:` (no fsync). */
export type StoreKind = 'disk' | 'memory'

/** How the seller's source produces chunks for a session. */
export type SourceSpec =
  /** as fast as the socket drains (send buffer under 1 MiB) and credit allows, `chunks` in all */
  | { kind: 'flood'; chunks: number }
  /** `chunksPerSecond` per session, offers spread over 10 ms ticks */
  | { kind: 'paced'; chunksPerSecond: number }

/** What the seller process does with the next connections. */
export interface SellerRunConfig {
  /** `paid`: `driveSession` with a `SellerSession`; `unpaid`: the same chunk frames sent without a session */
  mode: 'paid' | 'unpaid'
  receiptEvery: number
  store: StoreKind
  source: SourceSpec
}

/** Parent → seller process. */
export type ToSeller = { type: 'configure'; config: SellerRunConfig } | { type: 'stats' } | { type: 'exit' }

/** What the seller process reports about itself. */
export interface SellerStats {
  /** resident set size, bytes */
  rss: number
  /** peak RSS sampled every 250 ms since the last `configure`, bytes */
  peakRss: number
  /** receipt store saves since the last `configure` */
  saves: number
  /** median and p99 time from `save()` to its promise resolving, ms (committed by the store's writer thread) */
  saveP50Ms: number
  saveP99Ms: number
  /** event loop delay p50/p99 since the last `configure`, ms */
  loopDelayP50Ms: number
  loopDelayP99Ms: number
  /** seller process CPU time (user + system) since the last `configure`, ms */
  cpuMs: number
  sessions: number
}

/** Seller process → parent. */
export type FromSeller =
  | { type: 'ready'; port: number }
  | { type: 'configured' }
  | { type: 'stats'; stats: SellerStats }

/** The value at quantile `q` (0..1) of `values`, nearest rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** The median of `values`. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5)
}
