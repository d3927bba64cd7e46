import type { Hex } from '@trickle/protocol'
import type { ClaimRecord } from '../receiptStore.ts'
import type { ClaimOutcome } from './controlSocket.ts'
import { reasonOf } from './reasonOf.ts'

/**
 * Claims each channel now, one after the other, and reports every outcome — a failed claim does not
 * stop the others. Used by `trickle-seller claim` with and without a running service.
 * @param settle - the settlement worker's `settle(channelId, 'manual')`: the claim mined, or
 *   `undefined` when there was nothing to claim
 * @returns one outcome per channel, in order: what the claim paid, or `error <CODE>: message`
 */
export async function claimChannels(
  ids: readonly Hex[],
  settle: (channelId: Hex) => Promise<ClaimRecord | undefined>,
): Promise<ClaimOutcome[]> {
  const out: ClaimOutcome[] = []
  for (const channelId of ids) {
    try {
      const claim = await settle(channelId)
      out.push(
        claim
          ? {
              channelId,
              paid: claim.paid.toString(),
              cumulativeAmount: claim.cumulativeAmount.toString(),
              txHash: claim.txHash,
            }
          : { channelId },
      )
    } catch (err) {
      out.push({
        channelId,
        error: `error ${(err as { code?: string }).code ?? 'INTERNAL'}: ${reasonOf(err)}`,
      })
    }
  }
  return out
}
