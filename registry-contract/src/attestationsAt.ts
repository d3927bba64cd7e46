import type { ExtractAbiEventNames } from 'abitype'
import { type BaseContract, Contract, type ContractRunner, type EventLog, type Provider } from 'ethers'
import { ContractsError } from './ContractsError.ts'
import type { AbiEventArgs, ContractMethods } from './contractTypes.ts'
import { JOB_ATTESTATIONS_ABI } from './generated/jobAttestationsAbi.ts'

type JobAttestationsAbi = typeof JOB_ATTESTATIONS_ABI

/** Names of JobAttestations' events (`Attested`). */
export type JobAttestationsEventName = ExtractAbiEventNames<JobAttestationsAbi>

/** Decoded arguments of a JobAttestations event, derived from the ABI; amounts are bigint base units. */
export type JobAttestationsEventArgs<N extends JobAttestationsEventName> = AbiEventArgs<JobAttestationsAbi, N>

/** Where an attestation hash was anchored: one `Attested` event. */
export interface AttestationAnchor {
  /** The StreamChannels channel that paid for the job, 0x hex (32 bytes). */
  channelId: string
  /** The channel's payee, who anchored it (checksummed). */
  payee: string
  /** The channel's cumulative receipt amount that pays for the job, base units of its token. */
  cumulativeAmount: bigint
  /** Block of the anchoring transaction. */
  blockNumber: number
  /** The anchoring transaction; for `claimAndAttest` it also holds the channel's `Claimed` event. */
  txHash: string
}

/** Options of {@link JobAttestationsContract.findAttestation}. */
export interface FindAttestationOptions {
  /** Only anchors for this channel (the one the attestation names). Default: any channel. */
  channelId?: string
  /** First block to search, inclusive: the deployment's `deployBlock`. Default 0. */
  fromBlock?: number
  /** Last block to search, inclusive. Default: the latest block. */
  toBlock?: number
  /** Blocks per `eth_getLogs` request, for RPCs that cap the range. Default: the whole range at once. */
  pageBlocks?: number
}

/**
 * JobAttestations bound to an address. Methods typed from the generated ABI
 * ({@link JOB_ATTESTATIONS_ABI}): `attest(channelId, attestationHash, cumulativeAmount)`,
 * `claimAndAttest(channelId, attestationHash, cumulativeAmount, seq, ackHash, signature)` (`staticCall`
 * returns the amount paid) and the view `channels` (the StreamChannels address); plus
 * {@link JobAttestationsContract.findAttestation}.
 */
export interface JobAttestationsContract
  extends BaseContract,
    Omit<ContractMethods<JobAttestationsAbi>, 'connect'> {
  /**
   * Finds the earliest anchor of `attestationHash`: `eth_getLogs` for `Attested` filtered by the indexed
   * hash (and channel id, when given), from `fromBlock` on, in pages of `pageBlocks`. The contract lets
   * only a channel's payee anchor for it, but anyone may anchor a hash it has seen for its own channel,
   * so a verifier passes the channel id its attestation names.
   *
   * @param attestationHash - 32-byte hash, 0x hex
   * @param options - channel id, block range (from the deployment's `deployBlock`), page size in blocks
   * @returns the anchor, or undefined when the range holds none
   * @throws ContractsError `INVALID_ARGUMENT` for a bad block range or page size, or a runner without
   *   provider; errors of the provider's `eth_getLogs` otherwise
   */
  findAttestation(
    attestationHash: string,
    options?: FindAttestationOptions,
  ): Promise<AttestationAnchor | undefined>
  /** The same contract with another runner. */
  connect(runner: ContractRunner | null): JobAttestationsContract
}

/**
 * Binds JobAttestations at `address`, no compilation needed: an ethers `Contract` with the generated JSON
 * ABI and {@link JobAttestationsContract.findAttestation}.
 *
 * @param address - JobAttestations address (`Deployment.attestations`)
 * @param runner - a signer (to send) or a provider (to read and find anchors)
 * @returns the typed contract
 */
export function attestationsAt(address: string, runner: ContractRunner | null): JobAttestationsContract {
  const contract = new Contract(address, JOB_ATTESTATIONS_ABI, runner)
  Object.defineProperties(contract, {
    findAttestation: {
      value: (attestationHash: string, options: FindAttestationOptions = {}) =>
        findAttestation(contract, runner, attestationHash, options),
    },
    connect: { value: (next: ContractRunner | null) => attestationsAt(address, next) },
  })
  return contract as unknown as JobAttestationsContract
}

async function findAttestation(
  contract: Contract,
  runner: ContractRunner | null,
  attestationHash: string,
  options: FindAttestationOptions,
): Promise<AttestationAnchor | undefined> {
  const provider: Provider | null | undefined = runner?.provider
  if (provider == null)
    throw new ContractsError('INVALID_ARGUMENT', 'findAttestation needs a runner with a provider')
  const from = options.fromBlock ?? 0
  const to = options.toBlock ?? (await provider.getBlockNumber())
  const page = options.pageBlocks ?? Math.max(to - from + 1, 1)
  for (const [name, value] of [
    ['fromBlock', from],
    ['toBlock', to],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ContractsError('INVALID_ARGUMENT', `${name} must be a non-negative integer, got ${value}`)
    }
  }
  if (!Number.isSafeInteger(page) || page < 1) {
    throw new ContractsError('INVALID_ARGUMENT', `pageBlocks must be a positive integer, got ${page}`)
  }
  const filter = contract.getEvent('Attested')(options.channelId ?? null, attestationHash)
  for (let start = from; start <= to; start += page) {
    const logs = await contract.queryFilter(filter, start, Math.min(start + page - 1, to))
    const log = logs[0] as EventLog | undefined
    if (log !== undefined) {
      const args = log.args as unknown as JobAttestationsEventArgs<'Attested'>
      return {
        channelId: args.channelId,
        payee: args.payee,
        cumulativeAmount: args.cumulativeAmount,
        blockNumber: log.blockNumber,
        txHash: log.transactionHash,
      }
    }
  }
  return undefined
}
