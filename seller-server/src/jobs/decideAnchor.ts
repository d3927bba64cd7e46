/** Whether to anchor a job's attestation when its session ended, and with which amount. */
export type AnchorDecision =
  | {
      anchor: true
      /** the channel's latest durable cumulative receipt amount, wei: the anchor's `cumulativeAmount` */
      cumulativeAmount: bigint
    }
  | {
      anchor: false
      /**
       * `unpaid`: the session ended with records no durable receipt covers, so no receipt amount pays
       * for the whole job; `no_receipt`: the channel has no durable receipt (nothing pays for it)
       */
      reason: 'unpaid' | 'no_receipt'
    }

/**
 * Decides the anchor of a job whose attestation record was sent, once its session ended (SPEC.md
 * §Jobs, "Anchoring"): `JobAttestations.attest` states that the job's charges end at or below the
 * channel's `cumulativeAmount`, so it is anchored only when every record the session sent is paid by
 * a durable receipt, with the channel's latest durable receipt amount (which covers the job's
 * records, and may cover other sessions' chunks of the same channel too: the anchor bounds the job's
 * charges from above, it does not price it).
 * @param end - `unpaidChunks`: records the session sent that no durable receipt covers
 * @param latest - the channel's latest durable receipt (`ReceiptStore.latest`), amount in wei
 */
export function decideAnchor(
  end: { unpaidChunks: number },
  latest: { amount: bigint } | undefined,
): AnchorDecision {
  if (latest === undefined || latest.amount <= 0n) return { anchor: false, reason: 'no_receipt' }
  if (end.unpaidChunks > 0) return { anchor: false, reason: 'unpaid' }
  return { anchor: true, cumulativeAmount: latest.amount }
}
