import { ChannelStatus, type StreamChannelsContract } from '@trickle/contracts'
import { type Address, type ChannelInfo, type Hex, TrickleError, ZERO_HASH } from '@trickle/protocol'
import { ZeroAddress } from 'ethers'
import type { ReceiptStore } from './receiptStore.ts'

/**
 * Reads a channel on-chain and the store's last receipt for it, and checks the seller can serve it:
 * the channel exists, is open, pays this seller, and is in the native token.
 *
 * @param now - ms since the epoch (decides whether a previous signer is still valid)
 * @returns the {@link ChannelInfo} the seller session needs
 * @throws TrickleError `UNKNOWN_CHANNEL`, `CHANNEL_NOT_OPEN`, `WRONG_PAYEE`, `CHAIN_UNAVAILABLE`
 */
export async function resolveChannel(
  channels: StreamChannelsContract,
  store: ReceiptStore,
  request: { productId: bigint; channelId: Hex; chainId: number; channels: Address; payee: Address },
  now: number,
): Promise<ChannelInfo> {
  let view: Awaited<ReturnType<StreamChannelsContract['getChannel']>>
  try {
    view = await channels.getChannel(request.channelId)
  } catch (cause) {
    throw new TrickleError('CHAIN_UNAVAILABLE', 'could not read the channel', { cause })
  }
  if (view.status === ChannelStatus.none) throw new TrickleError('UNKNOWN_CHANNEL', 'no such channel')
  if (view.status !== ChannelStatus.open)
    throw new TrickleError('CHANNEL_NOT_OPEN', 'the channel is closing or closed')
  if (view.payee.toLowerCase() !== request.payee.toLowerCase()) {
    throw new TrickleError('WRONG_PAYEE', `the channel pays ${view.payee}, not this seller`)
  }
  if (view.token !== ZeroAddress)
    throw new TrickleError('CHANNEL_NOT_OPEN', 'only native-token channels are served')
  const signers: Address[] = [view.payer as Address]
  if (view.signer !== ZeroAddress) signers.push(view.signer as Address)
  if (view.previousSigner !== ZeroAddress && view.previousSignerValidUntil * 1000n > BigInt(now)) {
    signers.push(view.previousSigner as Address)
  }
  const last = await store.latest(request.channelId)
  return {
    productId: request.productId,
    channelId: request.channelId,
    chainId: request.chainId,
    channels: request.channels,
    payee: request.payee,
    deposit: view.deposit,
    signers,
    base: last
      ? { seq: last.seq, amount: last.amount, ackHash: last.ackHash, signature: last.signature }
      : { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' },
  }
}
