import type { LocalMarketplace } from '@trickle/devnet'
import type { Page } from 'playwright-core'

/** What `scratch/page.js` puts on `window` (values cross as JSON: bigints as strings, bytes as hex). */
export interface TricklePage {
  trickle: {
    core(input: unknown): unknown
    listProducts(market: PageMarket): Promise<{ name?: string; problem?: string }[]>
    subscribeWithWallet(market: PageMarket, productId: string, budget: string): Promise<PageSubscription>
  }
}

/** The marketplace as the page gets it: where the chain and contracts are, and the buyer's key. */
export interface PageMarket {
  rpcUrl: string
  config: LocalMarketplace['config']
  buyerKey: string
}

/** What {@link subscribeInPage} reports. */
export interface PageSubscription {
  /** chunk numbers received */
  received: number[]
  /** the wallet's account, which paid the deposit */
  payer: string
  /** the channel `subscribe` opened */
  channelId: string
  /** the channel's on-chain receipt signer: the session key kept in IndexedDB */
  channelSigner: string
  /** wei, decimal */
  deposit: string
}

/** The page's view of a marketplace, with the buyer key at `keyIndex` of its funded accounts. */
export function pageMarket(market: LocalMarketplace, keyIndex: number): PageMarket {
  return { rpcUrl: market.rpcUrl, config: market.config, buyerKey: market.buyerKeys[keyIndex]! }
}

/**
 * In the page, as a storefront would: `createTrickle` with an EIP-1193 wallet (anvil's unlocked
 * account behind `fetch`) and `indexedDbKeyStore()`, then `subscribe(productId, { budget })`.
 * @param budget - wei
 */
export function subscribeInPage(
  page: Page,
  market: PageMarket,
  productId: bigint,
  budget: bigint,
): Promise<PageSubscription> {
  return page.evaluate(
    ([m, id, b]) => (globalThis as unknown as TricklePage).trickle.subscribeWithWallet(m, id, b),
    [market, productId.toString(), budget.toString()] as const,
  )
}
