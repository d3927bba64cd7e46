import { attestationsAt, channelsAt, registryAt } from '@trickle/contracts'
import {
  type Address,
  decodeJobRecord,
  type Hex,
  type JobAttestation,
  JobOutputChain,
  jobAttestationDigest,
  recoverJobAttestationSigner,
  TrickleError,
} from '@trickle/protocol'
import type { Provider } from 'ethers'
import { toChainError } from '../channels/toChainError.ts'

/** Where to check a job attestation: the chain and the marketplace's contracts. */
export interface JobChainContext {
  /** reads the chain */
  provider: Provider
  chainId: number
  /** DataRegistry address (the provider's registered terms key) */
  registry: Address
  /** StreamChannels address (the channel, its payee and what was claimed) */
  channels: Address
  /** JobAttestations address (the anchors) */
  attestations: Address
  /** first block to search for the anchor: the deployment's `deployBlock` (default 0) */
  deployBlock?: number
}

/** What {@link verifyJobOnChain} found. */
export interface JobVerification {
  /** the key that signed the attestation: the payee's registered terms key */
  signer: Address
  /** the channel's payee: the provider */
  payee: Address
  /** the attestation's EIP-712 digest: the hash anchored on-chain */
  digest: Hex
  /**
   * the payee's anchor of the digest for the attestation's channel (`JobAttestations.Attested`), or
   * undefined when there is none (yet): not anchored, or by someone else for another channel
   */
  anchored: { txHash: Hex; blockNumber: number; cumulativeAmount: bigint } | undefined
  /** what the channel paid its payee so far (`StreamChannels.getChannel(channelId).claimed`), wei */
  claimed: bigint
  /**
   * whether the claims reach the anchored cumulative amount: the claim that paid for the job is on
   * chain. False while anchored but not claimed yet (or not anchored)
   */
  claimedCovers: boolean
  /**
   * whether the records given hash to the attestation's `outputHash` over its `records` (always true
   * when given: a mismatch throws); undefined when no records were given
   */
  outputMatches: boolean | undefined
}

/**
 * Checks a job's attestation against the chain and, when given, the records received (SPEC.md §Jobs,
 * "Attestation" and "Anchoring"):
 * 1. its EIP-712 signature recovers to `DataRegistry.sellerKey(payee)`, the payee read from
 *    `StreamChannels.getChannel(attestation.channelId)` (the key registered now: a provider that
 *    rotated its key since fails this check);
 * 2. the records' payloads (`start` to `end`; a trailing `attestation` record is left out) hash to
 *    `outputHash` with {@link JobOutputChain}, and there are `records` of them;
 * 3. an `Attested` event of `jobAttestationDigest(chainId, channels, attestation)` exists for that
 *    channel, anchored by its payee (from `deployBlock` on);
 * 4. the channel's `claimed` reaches the anchor's `cumulativeAmount`.
 * 3 and 4 are reported, not thrown: an anchor may lag the job, a claim the anchor.
 *
 * @param context - provider, chain id, DataRegistry, StreamChannels and JobAttestations addresses
 * @param attestation - as received in the job's `attestation` record
 * @param signature - its 65-byte signature (0x hex)
 * @param records - the payloads of the job's records as received, in order (optional)
 * @returns what was found (see {@link JobVerification})
 * @throws TrickleError `JOB_ATTESTATION_INVALID` (a signature that does not recover to the payee's
 *   registered key, a channel that does not exist, records that do not hash to the attestation's
 *   output), `JOB_RECORD_INVALID` (the last record given is not a job record), `CHAIN_UNAVAILABLE`
 */
export async function verifyJobOnChain(
  context: JobChainContext,
  attestation: JobAttestation,
  signature: Hex,
  records?: readonly Uint8Array[],
): Promise<JobVerification> {
  const { provider, chainId } = context
  const invalid = (why: string, cause?: unknown): never => {
    throw new TrickleError('JOB_ATTESTATION_INVALID', `the attestation ${why}`, cause ? { cause } : {})
  }
  let signer: Address | undefined
  try {
    signer = recoverJobAttestationSigner(chainId, context.channels, attestation, signature)
  } catch (cause) {
    invalid('signature does not recover', cause)
  }
  const channel = await chainRead(`read channel ${attestation.channelId}`, () =>
    channelsAt(context.channels, provider).getChannel(attestation.channelId),
  )
  if (Number(channel.status) === 0) invalid(`names channel ${attestation.channelId}, which does not exist`)
  const payee = channel.payee as Address
  const sellerKey = await chainRead(`read the seller key of ${payee}`, () =>
    registryAt(context.registry, provider).sellerKey(payee),
  )
  if (signer!.toLowerCase() !== sellerKey.toLowerCase())
    invalid(`is signed by ${signer}, not by the payee's registered key ${sellerKey}`)

  let outputMatches: boolean | undefined
  if (records !== undefined) {
    const last = records.at(-1)
    const covered =
      last !== undefined && decodeJobRecord(last).k === 'attestation' ? records.slice(0, -1) : records
    const chain = new JobOutputChain()
    for (const payload of covered) chain.add(payload)
    if (
      chain.records !== attestation.records ||
      chain.value.toLowerCase() !== attestation.outputHash.toLowerCase()
    )
      invalid(`does not cover the records given (${chain.records} records, ${attestation.records} attested)`)
    outputMatches = true
  }

  const digest = jobAttestationDigest(chainId, context.channels, attestation)
  const found = await chainRead('find the attestation anchor', () =>
    attestationsAt(context.attestations, provider).findAttestation(digest, {
      channelId: attestation.channelId,
      fromBlock: context.deployBlock ?? 0,
    }),
  )
  // Only the channel's payee can anchor for it (JobAttestations checks): an anchor by anyone else is
  // not this provider's word.
  const anchored =
    found && found.payee.toLowerCase() === payee.toLowerCase()
      ? {
          txHash: found.txHash as Hex,
          blockNumber: found.blockNumber,
          cumulativeAmount: found.cumulativeAmount,
        }
      : undefined
  const claimed = channel.claimed
  return {
    signer: signer!,
    payee,
    digest,
    anchored,
    claimed,
    claimedCovers: anchored !== undefined && claimed >= anchored.cumulativeAmount,
    outputMatches,
  }
}

async function chainRead<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (err) {
    throw toChainError(err, what)
  }
}
