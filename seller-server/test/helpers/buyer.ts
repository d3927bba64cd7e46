import { BuyerClient } from '@trickle/protocol'
import { JsonRpcProvider, type SigningKey, Wallet } from 'ethers'
import type { LocalMarketplace } from '../../src/index.ts'

/** A buyer client of a local marketplace with its own provider (destroy it after `buyer.close()`). */
export async function buyerFor(
  market: LocalMarketplace,
  options: { gateway?: string; sessionKey?: SigningKey; keyIndex?: number } = {},
) {
  const provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
    pollingInterval: 100,
  })
  const wallet = new Wallet(market.buyerKeys[options.keyIndex ?? 0]!, provider)
  const buyer = await BuyerClient.create({
    wallet,
    ...market.config,
    gateways: [options.gateway ?? market.seller.httpUrl],
    ...(options.sessionKey ? { sessionKey: options.sessionKey } : {}),
  })
  return { buyer, provider, wallet }
}
