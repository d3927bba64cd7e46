import type { Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import type { ContractTransactionResponse, Interface, LogDescription } from 'ethers'
import { toChainError } from './toChainError.ts'
import type { TransactionOutcome } from './types.ts'

/**
 * Sends a transaction, waits until it is mined and returns its outcome; every failure — at gas
 * estimation, on sending, or a revert once mined — becomes a {@link TrickleError} via
 * {@link toChainError}.
 *
 * @param action - what the transaction does, for error messages (e.g. `finalize channel 0x…`)
 * @param send - sends the transaction
 * @throws TrickleError as mapped by {@link toChainError}
 */
export async function submitTransaction(
  action: string,
  send: () => Promise<ContractTransactionResponse>,
): Promise<TransactionOutcome> {
  try {
    const tx = await send()
    const receipt = await tx.wait()
    if (receipt === null) throw new TrickleError('CHAIN_UNAVAILABLE', `could not ${action}: no receipt`)
    return { txHash: receipt.hash as Hex, blockNumber: receipt.blockNumber, fee: receipt.fee, receipt }
  } catch (err) {
    throw toChainError(err, action)
  }
}

/**
 * The first log of `outcome` that `contract` parses as event `name`.
 * @throws TrickleError `INTERNAL` when the transaction emitted no such event (a contract mismatch)
 */
export function findEvent(outcome: TransactionOutcome, contract: Interface, name: string): LogDescription {
  for (const log of outcome.receipt.logs) {
    const parsed = contract.parseLog(log)
    if (parsed?.name === name) return parsed
  }
  throw new TrickleError('INTERNAL', `transaction ${outcome.txHash} emitted no ${name} event`)
}
