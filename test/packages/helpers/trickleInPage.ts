import type { LocalMarketplace } from '@trickle/devnet'
import type { Page } from 'playwright-core'

/** What `scratch/page.js` puts on `window` (values cross as JSON: bigints as strings, bytes as hex). */
export interface TricklePage {
  trickle: {
    core(input: unknown): unknown
    listProducts(market: PageMarket): Promise<{ name?: string; problem?: string }[]>
    buyChunks(market: PageMarket, chunks: number): Promise<PageBuy>
  }
}

/** The marketplace as the page gets it: where the chain and contracts are, and the buyer's key. */
export interface PageMarket {
  rpcUrl: string
  config: LocalMarketplace['config']
  buyerKey: string
}

/** What {@link buyChunksInPage} reports. */
export interface PageBuy {
  /** chunk numbers received */
  received: number[]
  /** wei paid in the session, decimal */
  paid: string
  /** wei per chunk, decimal */
  price: string
  reason: string
}

/** The page's view of a marketplace, with the buyer key at `keyIndex` of its funded accounts. */
export function pageMarket(market: LocalMarketplace, keyIndex: number): PageMarket {
  return { rpcUrl: market.rpcUrl, config: market.config, buyerKey: market.buyerKeys[keyIndex]! }
}

/**
 * Buys `chunks` chunks in the page with the installed SDK and a private-key wallet: opens a channel on
 * anvil, streams from the seller over the browser's WebSocket. Ready for the SDK on the WHATWG
 * WebSocket; the SDK that still imports `ws` gets ws's browser stub, which throws on connect.
 */
export function buyChunksInPage(page: Page, market: PageMarket, chunks: number): Promise<PageBuy> {
  return page.evaluate(([m, n]) => (globalThis as unknown as TricklePage).trickle.buyChunks(m, n), [
    market,
    chunks,
  ] as const)
}
