import type { FeeMode } from '@trickle/contracts'
import { TrickleError } from '@trickle/protocol'
import type { Provider } from 'ethers'
import { rpcSend } from './rpcSend.ts'

/** Transaction fields that price a transaction; spread into an ethers contract call's overrides. */
export interface FeeOverrides {
  /** 0 for a legacy transaction; absent to let ethers choose (EIP-1559 where the chain supports it) */
  type?: 0
  /** wei per gas, for legacy transactions */
  gasPrice?: bigint
}

/**
 * The fee fields for the next transaction on a chain with the given {@link FeeMode}.
 * - `eip1559`: none; ethers fills `maxFeePerGas` / `maxPriorityFeePerGas`.
 * - `legacy`: `{ type: 0, gasPrice }` with the node's own `eth_gasPrice`, which chains such as IOTA
 *   EVM require exactly (they reject any other gas price).
 *
 * @param provider - the chain's provider
 * @param fees - the chain's fee mode
 * @returns overrides to spread into the transaction
 * @throws TrickleError `CHAIN_UNAVAILABLE` when the gas price cannot be read
 */
export async function feeOverrides(provider: Provider, fees: FeeMode): Promise<FeeOverrides> {
  if (fees === 'eip1559') return {}
  let gasPrice: bigint | null
  try {
    const send = rpcSend(provider)
    gasPrice =
      send !== undefined
        ? BigInt(String(await send('eth_gasPrice', [])))
        : (await provider.getFeeData()).gasPrice
  } catch (cause) {
    throw new TrickleError('CHAIN_UNAVAILABLE', 'could not read the gas price (eth_gasPrice)', { cause })
  }
  if (gasPrice === null) throw new TrickleError('CHAIN_UNAVAILABLE', 'the node reports no gas price')
  return { type: 0, gasPrice }
}
