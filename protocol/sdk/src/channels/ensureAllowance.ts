import type { Address, Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import { Contract } from 'ethers'
import { feeOverrides } from '../chain/feeOverrides.ts'
import { submitTransaction } from './submitTransaction.ts'
import { toChainError } from './toChainError.ts'
import type { ChannelWriter } from './types.ts'

const ERC20_ABI = [
  'function balanceOf(address owner) view returns (uint256)',
  'function allowance(address owner, address spender) view returns (uint256)',
  'function approve(address spender, uint256 amount) returns (bool)',
] as const

/**
 * Makes sure StreamChannels may pull `amount` of an ERC-20 from the signer: checks the balance, and
 * when the allowance is short sends `approve(channels, amount)` (EIP-20) priced per the fee mode.
 *
 * @param writer - signer, StreamChannels address (the spender) and fee mode
 * @param token - ERC-20 address
 * @param amount - token base units
 * @returns the approve transaction's hash, or undefined when the allowance already sufficed
 * @throws TrickleError `INSUFFICIENT_FUNDS` (token balance below `amount`), `CHAIN_UNAVAILABLE`,
 *   `TRANSACTION_REVERTED`
 */
export async function ensureAllowance(
  writer: ChannelWriter,
  token: Address,
  amount: bigint,
): Promise<Hex | undefined> {
  const erc20 = new Contract(token, ERC20_ABI, writer.signer)
  const owner = await writer.signer.getAddress()
  let balance: bigint
  let allowance: bigint
  try {
    ;[balance, allowance] = (await Promise.all([
      erc20.getFunction('balanceOf')(owner),
      erc20.getFunction('allowance')(owner, writer.channels),
    ])) as [bigint, bigint]
  } catch (err) {
    throw toChainError(err, `read token ${token}`)
  }
  if (balance < amount) {
    throw new TrickleError(
      'INSUFFICIENT_FUNDS',
      `${owner} holds ${balance} base units of token ${token}, ${amount} are needed`,
    )
  }
  if (allowance >= amount) return undefined
  const fees = await feeOverrides(writer.provider, writer.fees)
  const outcome = await submitTransaction(`approve ${amount} of token ${token}`, () =>
    erc20.getFunction('approve')(writer.channels, amount, fees),
  )
  return outcome.txHash
}
