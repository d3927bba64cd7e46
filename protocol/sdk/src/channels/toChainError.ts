import { decodeRevert } from '@trickle/contracts'
import { type ErrorCode, isErrorCode, TrickleError } from '@trickle/protocol'
import { isCallException, isError } from 'ethers'

/** StreamChannels custom errors a buyer's transaction can revert with, and the code each maps to. */
const REVERT_CODES: Readonly<Record<string, ErrorCode>> = {
  UnknownChannel: 'UNKNOWN_CHANNEL',
  NotPayer: 'NOT_PAYER',
  ChannelNotOpen: 'CHANNEL_NOT_OPEN',
  ChallengePeriodNotOver: 'CHALLENGE_PERIOD_NOT_OVER',
  ZeroAmount: 'INVALID_ARGUMENT',
  WrongValue: 'INVALID_ARGUMENT',
  DepositTooLarge: 'INVALID_ARGUMENT',
  InvalidPayee: 'INVALID_ARGUMENT',
}

const STATUS_NAMES = ['none', 'open', 'closing', 'closed']

/**
 * Turns whatever an ethers call or transaction threw into a {@link TrickleError}. StreamChannels
 * reverts are decoded with `decodeRevert` (ethers leaves a reverted send's custom error undecoded) and
 * mapped: `UnknownChannel` → `UNKNOWN_CHANNEL`, `NotPayer` → `NOT_PAYER`, `ChannelNotOpen` →
 * `CHANNEL_NOT_OPEN` (`CLOSE_NOT_REQUESTED` when the channel is still open, which only `finalize`
 * reverts on), `ChallengePeriodNotOver` → `CHALLENGE_PERIOD_NOT_OVER`, `ZeroAmount` / `WrongValue` /
 * `DepositTooLarge` / `InvalidPayee` → `INVALID_ARGUMENT`; any other revert is `TRANSACTION_REVERTED`.
 * a wallet's refusal (EIP-1193 code 4001, ethers' `ACTION_REJECTED`) is
 * `USER_REJECTED`; ethers' `INSUFFICIENT_FUNDS` and `INVALID_ARGUMENT` (e.g. a malformed address) keep their codes;
 * everything else (RPC down, timeouts, refused by the node) is `CHAIN_UNAVAILABLE`. A Trickle-coded
 * error passes through unchanged.
 *
 * @param err - anything caught around an ethers call
 * @param action - what was attempted, for the message, e.g. `top up channel 0x…`
 * @returns the error to throw
 */
export function toChainError(err: unknown, action: string): TrickleError {
  if (err instanceof TrickleError) return err
  const coded = err as { name?: unknown; code?: unknown; message?: unknown }
  if (coded?.name === 'TrickleError' && isErrorCode(coded.code)) {
    return new TrickleError(coded.code, String(coded.message), { cause: err })
  }
  const revert = decodeRevert(err)
  if (revert !== undefined) {
    // finalize is the one buyer call that reverts ChannelNotOpen on an open channel: no close requested
    const closeNotRequested = revert.name === 'ChannelNotOpen' && Number(revert.args[1]) === 1
    const code = closeNotRequested
      ? 'CLOSE_NOT_REQUESTED'
      : (REVERT_CODES[revert.name] ?? 'TRANSACTION_REVERTED')
    return new TrickleError(code, `could not ${action}: ${describeRevert(revert.name, revert.args)}`, {
      cause: err,
    })
  }
  // A wallet's refusal (EIP-1193 error 4001, which ethers reports as ACTION_REJECTED) is the person's
  // answer, not a chain failure.
  if (isError(err, 'ACTION_REJECTED')) {
    return new TrickleError('USER_REJECTED', `could not ${action}: the wallet rejected the request`, {
      cause: err,
    })
  }
  if (isError(err, 'INSUFFICIENT_FUNDS')) {
    return new TrickleError('INSUFFICIENT_FUNDS', `could not ${action}: the account cannot pay for it`, {
      cause: err,
    })
  }
  const reason = (err as { shortMessage?: string }).shortMessage ?? (err as Error)?.message ?? String(err)
  if (isError(err, 'INVALID_ARGUMENT')) {
    return new TrickleError('INVALID_ARGUMENT', `could not ${action}: ${reason}`, { cause: err })
  }
  if (isCallException(err)) {
    return new TrickleError('TRANSACTION_REVERTED', `could not ${action}: ${reason}`, { cause: err })
  }
  return new TrickleError('CHAIN_UNAVAILABLE', `could not ${action}: ${reason}`, { cause: err })
}

function describeRevert(name: string, args: ReadonlyArray<unknown>): string {
  switch (name) {
    case 'UnknownChannel':
      return 'no such channel'
    case 'NotPayer':
      return `only the channel's payer may do this, not ${String(args[1])}`
    case 'ChannelNotOpen':
      return Number(args[1]) === 1
        ? 'the channel is open; request its close first'
        : `the channel is ${STATUS_NAMES[Number(args[1])] ?? String(args[1])}`
    case 'ChallengePeriodNotOver':
      return `the challenge period ends at unix ${String(args[1])} (${new Date(Number(args[1]) * 1000).toISOString().replace('.000Z', 'Z')})`
    case 'ZeroAmount':
      return 'the amount must be above zero'
    default:
      return `reverted with ${name}(${args.map(String).join(', ')})`
  }
}
