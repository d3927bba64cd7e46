import { airQualityProducts, type LocalMarketplace } from '@trickle/devnet'
import type { Hex } from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { JsonRpcProvider, type SigningKey, Wallet } from 'ethers'
import type { Logger } from 'pino'
import { type SellerServer, type SessionPolicy, startSellerServer } from '../../src/index.ts'

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

/**
 * A new seller process's server on a local marketplace's chain, broker and data directory, as after
 * a restart (the marketplace's own seller closed first), selling the same products (the same rate in
 * their descriptors). Close it after use.
 */
export function restartSeller(
  market: LocalMarketplace,
  dataDir: string,
  options: { pricePerChunk: bigint; logger: Logger; policy?: Partial<SessionPolicy> },
): Promise<SellerServer> {
  return startSellerServer({
    rpcUrl: market.rpcUrl,
    chainId: market.chainId,
    registry: market.deployment.registry as Hex,
    channels: market.deployment.channels as Hex,
    sellerKey: market.chain!.privateKeys[1]!,
    brokerUrl: market.brokerUrl,
    dataDir,
    products: airQualityProducts(
      options.pricePerChunk,
      market.rowsPerSecond > 0 ? { rowsPerSecond: market.rowsPerSecond } : {},
    ),
    ...(options.policy ? { policy: options.policy } : {}),
    logger: options.logger,
  })
}
