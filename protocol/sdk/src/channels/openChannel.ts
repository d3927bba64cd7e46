import { channelsAt } from '@trickle/contracts'
import type { Address, Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import { ZeroAddress } from 'ethers'
import { feeOverrides } from '../chain/feeOverrides.ts'
import { ensureAllowance } from './ensureAllowance.ts'
import { findEvent, submitTransaction } from './submitTransaction.ts'
import type { ChannelWriter, TransactionOutcome } from './types.ts'

/** What {@link openChannel} opens. */
export interface OpenChannelRequest {
  /** who gets paid (the seller's address from the descriptor) */
  payee: Address
  /** initial escrow, in the token's base units (wei for the native coin); above zero */
  deposit: bigint
  /** the receipt signer the channel authorizes (the zero address: the payer signs itself) */
  signer: Address
  /** an ERC-20 to pay in; the native coin when absent or zero */
  token?: Address
}

/** A channel opened by {@link openChannel}. */
export interface OpenChannelResult extends TransactionOutcome {
  channelId: Hex
  /** base units credited (equals the deposit except for fee-on-transfer tokens) */
  deposit: bigint
  /** the ERC-20 approve transaction sent first, if one was needed */
  approveTxHash?: Hex
}

/**
 * Opens a StreamChannels channel from the writer's signer (the payer): `open(payee, token, deposit,
 * signer)` with `value = deposit` for the native coin; for an ERC-20, approves the contract first
 * when the allowance is short. Transactions are priced per the writer's fee mode.
 *
 * @returns the channel id (from `ChannelOpened`), the credited deposit and the transaction
 * @throws TrickleError `INVALID_ARGUMENT` (deposit ≤ 0, or payee zero), `INSUFFICIENT_FUNDS`,
 *   `CHAIN_UNAVAILABLE`, `TRANSACTION_REVERTED`
 */
export async function openChannel(
  writer: ChannelWriter,
  request: OpenChannelRequest,
): Promise<OpenChannelResult> {
  if (request.deposit <= 0n) throw new TrickleError('INVALID_ARGUMENT', 'the deposit must be above zero')
  const token = request.token ?? (ZeroAddress as Address)
  const native = BigInt(token) === 0n
  const approveTxHash = native ? undefined : await ensureAllowance(writer, token, request.deposit)
  const channels = channelsAt(writer.channels, writer.signer)
  const fees = await feeOverrides(writer.provider, writer.fees)
  const outcome = await submitTransaction(`open a channel to ${request.payee}`, () =>
    channels.open(request.payee, token, request.deposit, request.signer, {
      ...fees,
      ...(native ? { value: request.deposit } : {}),
    }),
  )
  const opened = findEvent(outcome, channels.interface, 'ChannelOpened')
  return {
    ...outcome,
    channelId: opened.args.getValue('channelId') as Hex,
    deposit: opened.args.getValue('deposit') as bigint,
    ...(approveTxHash !== undefined ? { approveTxHash } : {}),
  }
}
