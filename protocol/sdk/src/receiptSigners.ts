import type { ChannelView } from '@trickle/contracts'
import type { Address } from '@trickle/protocol'
import { ZeroAddress } from 'ethers'

/**
 * The addresses whose receipts StreamChannels accepts on a channel at chain time `now`: its payer, its
 * current signer, and its previous signer while `now < previousSignerValidUntil` (SPEC.md §Receipts,
 * `setSigner`). A buyer accepts a resume base signed by any of them (Terms check 11). Pure.
 *
 * @param view - `getChannel(channelId)` (payer, signer, previousSigner, previousSignerValidUntil)
 * @param now - the chain's time, unix seconds (the timestamp of the block `view` was read at)
 * @returns the allowed signers, without duplicates (compared case-insensitively)
 */
export function receiptSigners(
  view: Pick<ChannelView, 'payer' | 'signer' | 'previousSigner' | 'previousSignerValidUntil'>,
  now: bigint,
): Address[] {
  const out: Address[] = []
  const add = (a: string) => {
    if (a !== ZeroAddress && !out.some((b) => b.toLowerCase() === a.toLowerCase())) out.push(a as Address)
  }
  add(view.payer)
  add(view.signer)
  if (now < view.previousSignerValidUntil) add(view.previousSigner)
  return out
}
