import { type ErrorDescription, Interface, isCallException, Result } from 'ethers'
import { DATA_REGISTRY_ABI } from './generated/dataRegistryAbi.ts'
import { JOB_ATTESTATIONS_ABI } from './generated/jobAttestationsAbi.ts'
import { STREAM_CHANNELS_ABI } from './generated/streamChannelsAbi.ts'

/**
 * The custom errors of the three contracts, each name once: JobAttestations declares `UnknownChannel`
 * and `NotPayee` with StreamChannels' signatures, so they are the same errors.
 */
const errorsInterface = new Interface([
  ...new Map(
    [...DATA_REGISTRY_ABI, ...STREAM_CHANNELS_ABI, ...JOB_ATTESTATIONS_ABI]
      .filter((item) => item.type === 'error')
      .map((item) => [item.name, item] as const),
  ).values(),
])

/** A decoded custom error of DataRegistry, StreamChannels or JobAttestations. */
export interface DecodedRevert {
  /** Error name, e.g. `'StaleReceipt'`. */
  name: string
  /** Error arguments by position and name (uint values as bigint). */
  args: ErrorDescription['args']
}

/**
 * Names the custom error an ethers call or transaction reverted with. ethers decodes custom errors only
 * for `staticCall`s; a reverted send (caught at gas estimation) carries just the raw revert data, which
 * this decodes against the three contracts' errors.
 *
 * @param error - anything caught from an ethers contract call or transaction
 * @returns the decoded error, or undefined when `error` is not a revert with a known custom error
 */
export function decodeRevert(error: unknown): DecodedRevert | undefined {
  if (!isCallException(error)) return undefined
  if (error.data != null && error.data !== '0x') {
    try {
      const parsed = errorsInterface.parseError(error.data)
      if (parsed !== null) return { name: parsed.name, args: parsed.args }
    } catch {
      // malformed revert data: fall through
    }
  }
  if (error.revert !== null) return { name: error.revert.name, args: Result.fromItems(error.revert.args) }
  return undefined
}
