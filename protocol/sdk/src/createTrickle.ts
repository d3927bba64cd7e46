import { TrickleError } from '@trickle/protocol'
import { JsonRpcProvider, type Provider } from 'ethers'
import { BuyerClient, type BuyerClientOptions } from './buyerClient.ts'

/** Options of {@link createTrickle}: a marketplace, a way to reach its chain, and a payer. */
export type TrickleOptions = Omit<BuyerClientOptions, 'provider' | 'wallet'> &
  ({ rpcUrl: string; provider?: undefined } | { provider: Provider; rpcUrl?: string })

/**
 * The shortest way to a {@link BuyerClient}: builds the JSON-RPC provider from `rpcUrl` (static
 * network, no response cache, so reads see this client's own transactions), connects the signer to
 * it, and checks the chain id.
 *
 * @example
 * ```ts
 * import { createTrickle } from '@trickle/sdk'
 * import { Wallet } from 'ethers'
 *
 * const trickle = await createTrickle({
 *   rpcUrl: 'http://127.0.0.1:8545',
 *   chainId: 31337,
 *   registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
 *   channels: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
 *   gateways: ['http://127.0.0.1:8080'], // IPFS trustless gateways serving the descriptors
 *   signer: new Wallet(process.env.TRICKLE_PRIVATE_KEY ?? ''),
 * })
 * for await (const reading of trickle.subscribe(2n, { budget: '0.0001 ETH' })) {
 *   console.log(new TextDecoder().decode(reading.data))
 * }
 * await trickle.close()
 * ```
 *
 * @param options - the marketplace (`chainId`, `registry`, `channels`, `gateways`, `deployBlock`),
 *   `rpcUrl` or `provider`, and `signer` (an ethers `Signer` or an EIP-1193 provider); the rest as
 *   {@link BuyerClient.create}
 * @throws TrickleError `INVALID_ARGUMENT` (neither `rpcUrl` nor `provider`), and what
 *   {@link BuyerClient.create} throws: `CHAIN_UNAVAILABLE`, `CHAIN_MISMATCH`, `ABORTED`
 */
export async function createTrickle(options: TrickleOptions): Promise<BuyerClient> {
  const provider =
    options.provider ??
    (options.rpcUrl
      ? new JsonRpcProvider(options.rpcUrl, options.chainId, { staticNetwork: true, cacheTimeout: -1 })
      : undefined)
  if (!provider) throw new TrickleError('INVALID_ARGUMENT', 'createTrickle needs rpcUrl or provider')
  return BuyerClient.create({ ...options, provider })
}
