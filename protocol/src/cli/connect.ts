import { JsonRpcProvider, Wallet } from 'ethers'
import { BuyerClient } from '../buyerClient.ts'
import type { CliConfig } from './resolveConfig.ts'

/** A connected buyer; `close` releases the IPFS fetcher and the RPC provider. */
export interface Connection {
  client: BuyerClient
  provider: JsonRpcProvider
  close(): Promise<void>
}

/**
 * Makes the RPC provider the CLI uses: a fixed network and no response cache (`cacheTimeout: -1`),
 * without which ethers can hand out a stale nonce for back-to-back transactions.
 */
export function createProvider(config: Pick<CliConfig, 'rpcUrl' | 'chainId'>): JsonRpcProvider {
  return new JsonRpcProvider(config.rpcUrl, config.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
    pollingInterval: 250,
  })
}

/**
 * Connects a {@link BuyerClient} for the CLI. The payer key signs receipts too (it is the session
 * key), so a later `trickle buy --channel` from the same key can resume the channel: the payer is
 * always an authorized signer on-chain, and the seller's resume base must carry our signature.
 *
 * @param config - the resolved marketplace config
 * @param privateKey - the payer's key; a throwaway random key when absent (enough for reading)
 */
export async function connect(config: CliConfig, privateKey?: string): Promise<Connection> {
  const provider = createProvider(config)
  const wallet = new Wallet(privateKey ?? Wallet.createRandom().privateKey, provider)
  try {
    const client = await BuyerClient.create({
      wallet,
      sessionKey: wallet.signingKey,
      chainId: config.chainId,
      registry: config.registry,
      channels: config.channels,
      gateways: config.gateways,
      ...(config.deployBlock !== undefined ? { deployBlock: config.deployBlock } : {}),
    })
    return {
      client,
      provider,
      async close() {
        await client.close()
        provider.destroy()
      },
    }
  } catch (err) {
    provider.destroy()
    throw err
  }
}
