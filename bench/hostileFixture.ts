/**
 * What the hostile-client benchmark's processes tell each other over IPC: the parent measures, one
 * child runs the sellers (so their RSS is their own), another runs the attacker (so its CPU is not
 * the prober's).
 */
import type { Address } from '@trickle/protocol'
import type { MarketplaceConfig } from '@trickle/sdk'

/** Parent → seller process: memory now, or after a full GC (`gc`), or exit. */
export type ToSellers = { type: 'rss' } | { type: 'gc' } | { type: 'exit' }

/** Seller process → parent. */
export type FromSellers =
  | {
      type: 'ready'
      /** the marketplace's seller, with the default connection limits */
      guarded: { url: string; httpUrl: string; address: Address; productId: bigint }
      /** a seller with every frame and byte rate lifted: only the send-buffer bound holds a flood */
      unthrottled: { url: string; httpUrl: string }
      config: MarketplaceConfig
      rpcUrl: string
      buyerKey: string
    }
  | { type: 'rss'; rss: number; heapUsed: number; external: number }

/** What the attacker process does until `seconds` have passed, reconnecting whenever it is closed. */
export interface AttackPlan {
  url: string
  /**
   * `never_read`: pings as fast as the socket takes them and never reads (its pongs pile up);
   * `frame_flood`: pings as fast as the socket takes them and reads the answers
   */
  mode: 'never_read' | 'frame_flood'
  seconds: number
  /** source address (127.0.0.N), so that the seller counts the attacker apart from the prober */
  localAddress: string
}

/** Parent → attacker process. */
export type ToAttacker = { type: 'attack'; plan: AttackPlan }

/** Attacker process → parent. */
export type FromAttacker =
  | { type: 'ready' }
  | {
      type: 'done'
      /** pings sent */
      pings: number
      /** WebSocket connections opened (1 + reconnects) */
      connections: number
      /** upgrade attempts the seller refused (HTTP 429/503) */
      refused: number
      /** `error` codes the seller sent, with counts */
      errors: Record<string, number>
    }

/** The `q` quantile of `values` (nearest rank), 0 for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}
