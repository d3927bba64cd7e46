import { createHash } from 'node:crypto'
import { type DecodedRevert, decodeRevert } from '@trickle/contracts'
import { type Deployment, deployContracts, type LocalChain, startLocalChain } from '@trickle/devnet'
import { type ContractTransactionResponse, JsonRpcProvider, type TransactionReceipt, Wallet } from 'ethers'
import { expect } from 'vitest'

/** A started chain with deployed contracts and one wallet per dev key. */
export interface TestChain {
  /** The chain; its `provider` is the unbatched one below, `stop()` also destroys it. */
  chain: LocalChain
  /** The three contracts, as {@link deployContracts} returns them (`attestations` included). */
  deployment: Required<Deployment>
  /** Dev-key wallets connected to `chain.provider`. */
  wallets: Wallet[]
}

/**
 * Starts anvil and deploys the contracts with the given challenge period (seconds). Wallets and
 * `chain.provider` use {@link unbatchedProvider}: a transaction round trip drops from ~65 ms to ~15 ms.
 */
export async function setupChain(challengePeriodSeconds = 3600n): Promise<TestChain> {
  const started = await startLocalChain()
  const provider = unbatchedProvider(started)
  const chain: LocalChain = {
    ...started,
    provider,
    stop: async () => {
      provider.destroy()
      await started.stop()
    },
  }
  const wallets = chain.privateKeys.map((key) => new Wallet(key, provider))
  const deployment = await deployContracts(wallets[0]!, { challengePeriodSeconds })
  return { chain, deployment, wallets }
}

/**
 * A provider for `chain` that sends every request at once. ethers batches requests made within 10 ms
 * by default, which costs ~10 ms per call against a local anvil; caching stays off for fresh nonces.
 */
export function unbatchedProvider(chain: Pick<LocalChain, 'rpcUrl' | 'chainId'>): JsonRpcProvider {
  return new JsonRpcProvider(chain.rpcUrl, chain.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
    batchMaxCount: 1,
    pollingInterval: 20,
  })
}

/** Makes anvil mine the next block at exactly `timestamp` (unix seconds; equal to the last is allowed). */
export async function setNextBlockTimestamp(provider: JsonRpcProvider, timestamp: bigint): Promise<void> {
  await provider.send('evm_setNextBlockTimestamp', [Number(timestamp)])
}

/** Waits for a sent transaction and returns its (non-null, successful) receipt. */
export async function mined(sent: Promise<ContractTransactionResponse>): Promise<TransactionReceipt> {
  const tx = await sent
  let receipt: TransactionReceipt | null
  try {
    // ethers' wait() follows new blocks through its poller, which has been seen to stall (ethers
    // #4224); on automine the receipt exists at once, so a stalled wait falls back to asking for it.
    receipt = await tx.wait(1, 10_000)
  } catch (err) {
    if ((err as { code?: string }).code !== 'TIMEOUT') throw err
    receipt = await tx.provider.getTransactionReceipt(tx.hash)
  }
  expect(receipt?.status).toBe(1)
  return receipt!
}

/** Awaits `action` and returns the name of the custom error it reverted with. */
export async function revertName(action: Promise<unknown>): Promise<string> {
  return (await revertOf(action)).name
}

/** Awaits `action` and returns the custom error (name and arguments) it reverted with. */
export async function revertOf(action: Promise<unknown>): Promise<DecodedRevert> {
  try {
    await action
  } catch (error) {
    const decoded = decodeRevert(error)
    if (decoded !== undefined) return decoded
    throw error
  }
  throw new Error('expected a revert, but the call succeeded')
}

/** A binary CIDv1 (dag-json 0x0129, sha2-256) of `text`: 37 bytes. */
export function dagJsonCid(text: string): Uint8Array {
  const digest = createHash('sha256').update(text).digest()
  return Uint8Array.from([0x01, 0xa9, 0x02, 0x12, 0x20, ...digest])
}

/** A binary CIDv1 (dag-cbor 0x71, sha2-256) of `text`: 36 bytes. */
export function dagCborCid(text: string): Uint8Array {
  const digest = createHash('sha256').update(text).digest()
  return Uint8Array.from([0x01, 0x71, 0x12, 0x20, ...digest])
}

/** Gas figures gathered by the suites, printed once at the end. */
export function reportGas(label: string, receipt: TransactionReceipt): bigint {
  console.log(`gas ${label}: ${receipt.gasUsed}`)
  return receipt.gasUsed
}
