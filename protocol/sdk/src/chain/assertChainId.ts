import { TrickleError } from '@trickle/protocol'
import type { Provider } from 'ethers'
import { rpcSend } from './rpcSend.ts'

/**
 * Asks the node for its chain id (`eth_chainId`, EIP-695) and checks it is the configured one, so a
 * misconfigured RPC URL can never make the client sign for another chain. The node is asked even when
 * the provider was built with a static network (ethers then never asks by itself).
 *
 * @param provider - the provider transactions will be sent through
 * @param expected - the configured EIP-155 chain id
 * @throws TrickleError `CHAIN_MISMATCH` when the node serves another chain; `CHAIN_UNAVAILABLE` when
 *   it cannot be asked
 */
export async function assertChainId(provider: Provider, expected: number): Promise<void> {
  let actual: bigint
  try {
    const send = rpcSend(provider)
    actual =
      send !== undefined
        ? BigInt(String(await send('eth_chainId', [])))
        : (await provider.getNetwork()).chainId
  } catch (cause) {
    const reason = (cause as { shortMessage?: string }).shortMessage ?? (cause as Error).message
    throw new TrickleError('CHAIN_UNAVAILABLE', `could not read the RPC's chain id: ${reason}`, { cause })
  }
  if (actual !== BigInt(expected)) {
    throw new TrickleError(
      'CHAIN_MISMATCH',
      `the RPC serves chain id ${actual}, but chain id ${expected} is configured; refusing to use it`,
    )
  }
}
