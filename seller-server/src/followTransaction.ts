import { type Hex, TrickleError } from '@trickle/protocol'
import type { Provider, TransactionReceipt } from 'ethers'
import { fromChain } from './fromChain.ts'

/** A transaction the seller signed and recorded before broadcasting it. */
export interface RecordedTransaction {
  txHash: Hex
  /** the signed transaction (RLP, 0x hex), rebroadcast unchanged */
  rawTx: Hex
}

/**
 * Follows a signed transaction until it is included or can no longer be: a transaction the node does
 * not know is rebroadcast unchanged (so a restart, or a node that lost its mempool, never leads to a
 * second, different transaction), and one whose nonce another transaction took is `dropped`.
 *
 * @param pollMs - ms between receipt polls
 * @param signal - aborts the wait (its reason is thrown)
 * @returns the transaction's receipt once included (either status), or `dropped`
 * @throws TrickleError `CHAIN_UNAVAILABLE` when the RPC fails or the node refuses the transaction for
 *   another reason than a used nonce (retry later: the transaction is unchanged), or the signal's
 *   reason when aborted
 */
export async function followTransaction(
  provider: Provider,
  tx: RecordedTransaction,
  pollMs: number,
  signal?: AbortSignal,
): Promise<TransactionReceipt | 'dropped'> {
  const receipt = () =>
    fromChain(`read the receipt of ${tx.txHash}`, () => provider.getTransactionReceipt(tx.txHash))
  while (true) {
    signal?.throwIfAborted()
    const mined = await receipt()
    if (mined) return mined
    const known = await fromChain(`read ${tx.txHash}`, () => provider.getTransaction(tx.txHash))
    if (known === null) {
      try {
        await provider.broadcastTransaction(tx.rawTx)
      } catch (err) {
        if ((err as { code?: string }).code !== 'NONCE_EXPIRED') {
          throw new TrickleError('CHAIN_UNAVAILABLE', `could not broadcast ${tx.txHash}`, { cause: err })
        }
        // The nonce is used. If not by this transaction, it can never be included.
        if ((await receipt()) === null) return 'dropped'
        continue
      }
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
}
