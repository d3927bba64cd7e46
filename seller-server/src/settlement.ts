import type { StreamChannelsContract } from '@trickle/contracts'
import { type Hex, TrickleError } from '@trickle/protocol'
import type { ClaimRecord, ReceiptStore } from './receiptStore.ts'

/** Claims receipts on-chain for the seller. */
export interface Settlement {
  /**
   * Claims the latest stored receipt of a channel if it is worth more than what was already claimed
   * on-chain. Claims of one channel run one at a time, so the same claim is never sent twice.
   * @returns the claim, or undefined when there was nothing to claim
   * @throws TrickleError `CHAIN_UNAVAILABLE` when the transaction fails
   */
  claimLatest(channelId: Hex): Promise<ClaimRecord | undefined>
}

/**
 * @param channels - StreamChannels bound to the payee's wallet (the transaction sender)
 * @param store - where receipts come from and claims are recorded
 */
export function createSettlement(channels: StreamChannelsContract, store: ReceiptStore): Settlement {
  const queues = new Map<string, Promise<unknown>>()
  async function claimNow(channelId: Hex): Promise<ClaimRecord | undefined> {
    const receipt = await store.latest(channelId)
    if (!receipt) return undefined
    const view = await channels.getChannel(channelId)
    const covered = receipt.amount < view.deposit ? receipt.amount : view.deposit // bigint min
    const payable = covered - view.claimed
    if (payable <= 0n) return undefined
    try {
      const tx = await channels.claim(
        channelId,
        receipt.amount,
        receipt.seq,
        receipt.ackHash,
        receipt.signature,
      )
      const mined = await tx.wait()
      if (mined?.status !== 1) throw new Error('claim transaction reverted')
      let paid = payable
      for (const log of mined!.logs) {
        const ev = channels.interface.parseLog(log)
        if (ev?.name === 'Claimed') paid = ev.args.getValue('paid') as bigint
      }
      const record: ClaimRecord = {
        channelId,
        cumulativeAmount: receipt.amount,
        paid,
        txHash: mined.hash as Hex,
        claimedAt: Date.now(),
      }
      await store.recordClaim(record)
      return record
    } catch (cause) {
      throw new TrickleError('CHAIN_UNAVAILABLE', `claim on channel ${channelId} failed`, { cause })
    }
  }
  return {
    claimLatest(channelId) {
      const key = channelId.toLowerCase()
      const previous = queues.get(key) ?? Promise.resolve()
      const next = previous.catch(() => undefined).then(() => claimNow(channelId))
      queues.set(key, next)
      return next
    },
  }
}
