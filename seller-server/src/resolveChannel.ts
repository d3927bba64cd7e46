import { ChannelStatus, type ChannelView, type StreamChannelsContract } from '@trickle/contracts'
import { type Address, type ChannelInfo, type Hex, TrickleError, ZERO_HASH } from '@trickle/protocol'
import { ZeroAddress } from 'ethers'
import type { Logger } from 'pino'
import type { ReceiptStore, StoredReceipt } from './receiptStore.ts'

/**
 * Whether a stored receipt can belong to the channel the chain now holds under its id: it is signed by
 * the channel's payer, signer or previous signer, or it is already paid out. Channel ids are
 * `keccak256(chainid, contract, payer, nonce)`, so a fresh chain with the same chain id, genesis and
 * contract address (a restarted anvil) gives its channels the ids of the old chain's; the old receipts
 * are signed by keys the new channel never named.
 */
export function receiptFitsChannel(receipt: StoredReceipt, view: ChannelView): boolean {
  const signer = receipt.signer.toLowerCase()
  const keys = [view.payer, view.signer, view.previousSigner].map((a) => a.toLowerCase())
  return keys.includes(signer) || view.claimed >= receipt.amount
}

/**
 * Moves the stored receipts (and claims) of a channel that {@link receiptFitsChannel} rejected out of
 * the live tables: they belong to another chain's channel and can never pay here.
 *
 * @param receipt - the channel's latest stored receipt, the one that did not fit
 * @throws TrickleError `STORE_FAILED`
 */
export async function retireForeignReceipts(
  store: ReceiptStore,
  receipt: StoredReceipt,
  log: Logger | undefined,
): Promise<void> {
  const moved = await store.retireChannel(
    receipt.channelId,
    `signer ${receipt.signer} is not a key of the channel`,
  )
  log?.warn(
    { channelId: receipt.channelId, receipts: moved },
    'stored receipts belong to another chain: retired',
  )
}

/**
 * Reads a channel on-chain and the store's last receipt for it, and checks the seller can serve it:
 * the channel exists, is open, pays this seller, and is in the native token.
 *
 * Stored receipts that cannot belong to this channel (see {@link receiptFitsChannel}) are retired
 * from the store (with the channel's recorded debt) and the session starts from zero. The channel's
 * recorded debt (SPEC.md §Channel debt) comes back in `debt`.
 *
 * @param now - ms since the epoch (decides whether a previous signer is still valid)
 * @returns the {@link ChannelInfo} the seller session needs
 * @throws TrickleError `UNKNOWN_CHANNEL`, `CHANNEL_NOT_OPEN`, `WRONG_PAYEE`, `CHAIN_UNAVAILABLE`,
 *   `RESUME_MISMATCH` (receipts retired, yet the chain shows claims on the channel: the seller has no
 *   receipt to resume from), `STORE_FAILED`
 */
export async function resolveChannel(
  channels: Pick<StreamChannelsContract, 'getChannel'> & {
    getFreshChannel?: (channelId: string) => Promise<ChannelView>
  },
  store: ReceiptStore,
  request: { productId: bigint; channelId: Hex; chainId: number; channels: Address; payee: Address },
  now: number,
  log?: Logger,
): Promise<ChannelInfo> {
  const read = async (fresh: boolean): Promise<ChannelView> => {
    try {
      return await (fresh && channels.getFreshChannel
        ? channels.getFreshChannel(request.channelId)
        : channels.getChannel(request.channelId))
    } catch (cause) {
      throw new TrickleError('CHAIN_UNAVAILABLE', 'could not read the channel', { cause })
    }
  }
  let view = await read(false)
  // A cached view whose deposit the stored receipts already use up may predate a top-up: the buyer
  // topping up and reconnecting at once would be told `deposit_exhausted`. Read it again.
  const stored = await store.latest(request.channelId)
  if (stored && stored.amount >= view.deposit && channels.getFreshChannel) view = await read(true)
  if (view.status === ChannelStatus.none) throw new TrickleError('UNKNOWN_CHANNEL', 'no such channel')
  if (view.status !== ChannelStatus.open)
    throw new TrickleError('CHANNEL_NOT_OPEN', 'the channel is closing or closed')
  if (view.payee.toLowerCase() !== request.payee.toLowerCase()) {
    throw new TrickleError('WRONG_PAYEE', `the channel pays ${view.payee}, not this seller`)
  }
  if (view.token !== ZeroAddress)
    throw new TrickleError('CHANNEL_NOT_OPEN', 'only native-token channels are served')
  const channelId = request.channelId
  const signers: Address[] = [view.payer as Address]
  if (view.signer !== ZeroAddress) signers.push(view.signer as Address)
  if (view.previousSigner !== ZeroAddress && view.previousSignerValidUntil * 1000n > BigInt(now)) {
    signers.push(view.previousSigner as Address)
  }
  let last = stored
  let debt = await store.channelDebt(channelId)
  if (last && !receiptFitsChannel(last, view)) {
    await retireForeignReceipts(store, last, log)
    last = undefined
    if (debt) await store.setChannelDebt(channelId, undefined)
    debt = undefined
    if (view.claimed > 0n) {
      throw new TrickleError('RESUME_MISMATCH', 'the channel has claims this seller holds no receipts for')
    }
  }
  return {
    productId: request.productId,
    channelId: request.channelId,
    chainId: request.chainId,
    channels: request.channels,
    payee: request.payee,
    deposit: view.deposit,
    payer: view.payer as Address,
    signers,
    ...(debt ? { debt } : {}),
    base: last
      ? { seq: last.seq, amount: last.amount, ackHash: last.ackHash, signature: last.signature }
      : { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' },
    nextSeq: last ? await store.highestSeq(channelId) : 0,
  }
}
