import { decodeRevert, type FeeMode, type StreamChannelsContract } from '@trickle/contracts'
import { feeOverrides, type Hex, TrickleError } from '@trickle/protocol'
import { type JsonRpcProvider, Transaction, type TransactionRequest, type Wallet } from 'ethers'
import type { ClaimRecord, ReceiptStore, StoredReceipt } from './receiptStore.ts'

/** What claim transactions need: the payee's wallet (connected), the contract, the ledger. */
export interface ClaimSender {
  provider: JsonRpcProvider
  /** the payee, connected to `provider`; the only sender of claims for its address */
  wallet: Wallet
  channels: StreamChannelsContract
  store: ReceiptStore
  /** `legacy`: type-0 transactions at exactly `eth_gasPrice` (IOTA EVM); `eip1559`: ethers' defaults */
  fees: FeeMode
}

/**
 * Signs a claim of `receipt`, records it in the ledger (status `pending`) and only then broadcasts
 * it. The nonce is the larger of the node's pending count and one past the highest nonce this ledger
 * has pending, so concurrent channels never reuse a nonce. Callers must serialize calls per sender.
 *
 * A broadcast that fails is not an error here: the transaction is in the ledger, and
 * {@link trackClaim} rebroadcasts the same bytes until it is mined or its nonce is taken.
 *
 * @returns the pending claim record
 * @throws TrickleError `CLAIM_REJECTED` when the contract would revert (gas estimation fails with a
 *   decoded StreamChannels error: stale, over, wrong signer…), `CHAIN_UNAVAILABLE` when the RPC fails
 *   before the claim is recorded, `STORE_FAILED`
 */
export async function sendClaim(sender: ClaimSender, receipt: StoredReceipt): Promise<ClaimRecord> {
  const { provider, wallet, channels, store } = sender
  let signed: string
  let nonce: number
  try {
    const call = await channels.claim.populateTransaction(
      receipt.channelId,
      receipt.amount,
      receipt.seq,
      receipt.ackHash,
      receipt.signature,
    )
    const pending = await store.pendingClaims()
    const nodeNonce = await provider.getTransactionCount(wallet.address, 'pending')
    nonce = Math.max(nodeNonce, ...pending.map((c) => c.nonce + 1))
    const request: TransactionRequest = { ...call, nonce, ...(await feeOverrides(provider, sender.fees)) }
    signed = await wallet.signTransaction(await wallet.populateTransaction(request))
  } catch (cause) {
    const revert = decodeRevert(cause)
    if (revert) {
      throw new TrickleError('CLAIM_REJECTED', `the contract refuses the claim: ${revert.name}`, {
        cause,
        details: revert.name,
      })
    }
    throw new TrickleError('CHAIN_UNAVAILABLE', 'could not prepare the claim transaction', { cause })
  }
  const record: ClaimRecord = {
    channelId: receipt.channelId,
    cumulativeAmount: receipt.amount,
    seq: receipt.seq,
    txHash: Transaction.from(signed).hash as Hex,
    nonce,
    rawTx: signed as Hex,
    status: 'pending',
    paid: 0n,
    sentAt: Date.now(),
  }
  await store.recordClaim(record)
  await provider.broadcastTransaction(signed).catch(() => undefined)
  return record
}

/**
 * Follows a pending claim until it leaves `pending`: returns once it is mined (status and the paid
 * amount from its `Claimed` event written to the ledger), reverted, or dropped (its nonce was used by
 * another transaction, so it can never be mined). A transaction the node does not know is rebroadcast
 * unchanged, so a restart or a node that lost its mempool never leads to a second, different claim.
 *
 * @param pollMs - ms between receipt polls
 * @param signal - aborts the wait (the claim stays `pending` in the ledger)
 * @returns the updated record
 * @throws TrickleError `CHAIN_UNAVAILABLE` when the RPC fails (retry later: nothing is lost), or the
 *   signal's reason when aborted
 */
export async function trackClaim(
  sender: ClaimSender,
  claim: ClaimRecord,
  pollMs: number,
  signal: AbortSignal,
): Promise<ClaimRecord> {
  const { provider, channels, store } = sender
  try {
    while (true) {
      signal.throwIfAborted()
      const mined = await provider.getTransactionReceipt(claim.txHash)
      if (mined) {
        let paid = 0n
        for (const log of mined.logs) {
          if (log.address.toLowerCase() !== (channels.target as string).toLowerCase()) continue
          const event = channels.interface.parseLog(log)
          if (event?.name === 'Claimed') paid = event.args.getValue('paid') as bigint
        }
        const status = mined.status === 1 ? 'mined' : 'reverted'
        await store.settleClaim(claim.txHash, { status, paid, blockNumber: mined.blockNumber })
        return { ...claim, status, paid, blockNumber: mined.blockNumber, settledAt: Date.now() }
      }
      if ((await provider.getTransaction(claim.txHash)) === null) {
        try {
          await provider.broadcastTransaction(claim.rawTx)
        } catch (err) {
          if ((err as { code?: string }).code === 'NONCE_EXPIRED') {
            // The nonce is used. If not by this transaction, it can never be mined.
            if ((await provider.getTransactionReceipt(claim.txHash)) === null) {
              await store.settleClaim(claim.txHash, { status: 'dropped' })
              return { ...claim, status: 'dropped', settledAt: Date.now() }
            }
            continue
          }
          throw err
        }
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs))
    }
  } catch (cause) {
    if (signal.aborted) throw signal.reason
    if (cause instanceof TrickleError) throw cause
    throw new TrickleError('CHAIN_UNAVAILABLE', `could not follow claim ${claim.txHash}`, { cause })
  }
}
