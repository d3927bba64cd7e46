import type { FeeMode } from '@trickle/contracts'
import { ContractsError } from '@trickle/contracts'
import { ContractFactory, NonceManager, type Signer } from 'ethers'
import { loadArtifacts } from './loadArtifacts.ts'

/** Where the Trickle contracts live on one chain. */
export interface Deployment {
  chainId: number
  /** DataRegistry address (checksummed). */
  registry: string
  /** StreamChannels address (checksummed). */
  channels: string
  /**
   * JobAttestations address (checksummed), bound to `channels`. Absent in deployments recorded before
   * the contract existed, so their configs still load; {@link deployContracts} always sets it.
   */
  attestations?: string
  /** Block of the first deployment transaction; catalogs index registry events from here. */
  deployBlock: number
}

/** Options of {@link deployContracts}. */
export interface DeployOptions {
  /** StreamChannels challenge period in seconds (also how long a replaced signer stays valid). */
  challengePeriodSeconds: bigint
  /** `legacy`: type-0 transactions at the node's gas price (IOTA EVM); default `eip1559` */
  fees?: FeeMode
}

/** Bounds StreamChannels enforces on its challenge period, s (`MIN_`/`MAX_CHALLENGE_PERIOD`). */
const MIN_CHALLENGE_PERIOD = 60n
const MAX_CHALLENGE_PERIOD = 365n * 24n * 3600n

/**
 * Deploys DataRegistry, StreamChannels, then JobAttestations (bound to that StreamChannels) from
 * `deployer`, waiting for each receipt. Nonces come from an ethers `NonceManager` wrapped around the
 * signer (unless it already is one), so the three transactions never collide under anvil's automine or
 * on a public chain.
 *
 * @param deployer - a signer connected to a provider, with gas money
 * @param options - `challengePeriodSeconds` in seconds (60 s to 365 days)
 * @returns chain id, the three addresses and the block of the first deployment
 * @throws ContractsError `INVALID_ARGUMENT` for a challenge period outside 60 s – 365 days or a signer without
 *   provider; `DEPLOY_FAILED` when a deployment transaction fails or has no receipt;
 *   `COMPILE_FAILED` from {@link loadArtifacts}
 */
export async function deployContracts(
  deployer: Signer,
  options: DeployOptions,
): Promise<Required<Deployment>> {
  const { challengePeriodSeconds } = options
  if (
    typeof challengePeriodSeconds !== 'bigint' ||
    challengePeriodSeconds < MIN_CHALLENGE_PERIOD ||
    challengePeriodSeconds > MAX_CHALLENGE_PERIOD
  ) {
    throw new ContractsError(
      'INVALID_ARGUMENT',
      'challengePeriodSeconds must be a bigint from 60 s to 365 days (StreamChannels enforces it too)',
    )
  }
  const provider = deployer.provider
  if (provider === null) throw new ContractsError('INVALID_ARGUMENT', 'deployer has no provider')
  const artifacts = await loadArtifacts()
  const signer = deployer instanceof NonceManager ? deployer : new NonceManager(deployer)
  const chainId = Number((await provider.getNetwork()).chainId)
  const overrides = async () =>
    options.fees === 'legacy' ? { type: 0, gasPrice: (await provider.getFeeData()).gasPrice } : {}
  try {
    const registryFactory = new ContractFactory(
      artifacts.DataRegistry.abi,
      artifacts.DataRegistry.bytecode,
      signer,
    )
    const registry = await registryFactory.deploy(await overrides())
    const registryReceipt = await registry.deploymentTransaction()?.wait()
    const channelsFactory = new ContractFactory(
      artifacts.StreamChannels.abi,
      artifacts.StreamChannels.bytecode,
      signer,
    )
    const channels = await channelsFactory.deploy(challengePeriodSeconds, await overrides())
    const channelsReceipt = await channels.deploymentTransaction()?.wait()
    const attestationsFactory = new ContractFactory(
      artifacts.JobAttestations.abi,
      artifacts.JobAttestations.bytecode,
      signer,
    )
    const attestations = await attestationsFactory.deploy(await channels.getAddress(), await overrides())
    const attestationsReceipt = await attestations.deploymentTransaction()?.wait()
    if (registryReceipt == null || channelsReceipt == null || attestationsReceipt == null) {
      throw new ContractsError('DEPLOY_FAILED', 'a deployment transaction has no receipt')
    }
    return {
      chainId,
      registry: await registry.getAddress(),
      channels: await channels.getAddress(),
      attestations: await attestations.getAddress(),
      deployBlock: registryReceipt.blockNumber,
    }
  } catch (error) {
    if (error instanceof ContractsError) throw error
    throw new ContractsError('DEPLOY_FAILED', `deployment failed: ${(error as Error).message}`, {
      cause: error,
    })
  }
}
