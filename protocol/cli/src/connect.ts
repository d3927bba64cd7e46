import { TrickleError } from '@trickle/protocol'
import { assertChainId, BuyerClient } from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'
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
 * Makes the CLI's provider ({@link createProvider}) and checks that the RPC serves the configured chain.
 * @throws TrickleError `CHAIN_MISMATCH`, `CHAIN_UNAVAILABLE`
 */
export async function connectProvider(
  config: Pick<CliConfig, 'rpcUrl' | 'chainId'>,
): Promise<JsonRpcProvider> {
  const provider = createProvider(config)
  try {
    await assertChainId(provider, config.chainId)
    return provider
  } catch (err) {
    provider.destroy()
    throw naming(err, config.rpcUrl)
  }
}

/**
 * Connects a {@link BuyerClient} for the CLI, after checking that the RPC serves the configured chain
 * (so a wrong `--rpc-url` can never sign for another chain); transactions follow the config's fee
 * mode. The payer key signs receipts too (it is the session key), so a later `trickle buy --channel`
 * from the same key can resume the channel: the payer is always an authorized signer on-chain, and
 * the seller's resume base must carry our signature.
 *
 * @param config - the resolved marketplace config
 * @param privateKey - the payer's key; a throwaway random key when absent (enough for reading)
 * @throws TrickleError `CHAIN_MISMATCH`, `CHAIN_UNAVAILABLE` (naming the RPC URL)
 */
export async function connect(
  config: Omit<CliConfig, 'privateKey' | 'keystore'>,
  privateKey?: string,
): Promise<Connection> {
  const provider = createProvider(config)
  const wallet = new Wallet(privateKey ?? Wallet.createRandom().privateKey, provider)
  try {
    const client = await BuyerClient.create({
      wallet,
      sessionKey: wallet.signingKey,
      chainId: config.chainId,
      fees: config.fees,
      registry: config.registry,
      channels: config.channels,
      ...(config.attestations !== undefined ? { attestations: config.attestations } : {}),
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
    throw naming(err, config.rpcUrl)
  }
}

/** A `CHAIN_UNAVAILABLE` error with the RPC URL it tried in its message (the error is its cause). */
function naming(err: unknown, rpcUrl: string): unknown {
  if ((err as { code?: unknown }).code !== 'CHAIN_UNAVAILABLE') return err
  return new TrickleError('CHAIN_UNAVAILABLE', `${(err as Error).message} (RPC ${rpcUrl})`, { cause: err })
}
