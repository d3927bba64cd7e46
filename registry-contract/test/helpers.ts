import { createHash } from 'node:crypto'
import { type ContractTransactionResponse, type TransactionReceipt, Wallet } from 'ethers'
import { expect } from 'vitest'
import {
  type Deployment,
  decodeRevert,
  deployContracts,
  type LocalChain,
  startLocalChain,
} from '../src/index.ts'

/** A started chain with deployed contracts and one wallet per dev key. */
export interface TestChain {
  chain: LocalChain
  deployment: Deployment
  wallets: Wallet[]
}

/** Starts anvil and deploys both contracts with the given challenge period (seconds). */
export async function setupChain(challengePeriodSeconds = 3600n): Promise<TestChain> {
  const chain = await startLocalChain()
  const wallets = chain.privateKeys.map((key) => new Wallet(key, chain.provider))
  const deployment = await deployContracts(wallets[0]!, { challengePeriodSeconds })
  return { chain, deployment, wallets }
}

/** Waits for a sent transaction and returns its (non-null, successful) receipt. */
export async function mined(sent: Promise<ContractTransactionResponse>): Promise<TransactionReceipt> {
  const receipt = await (await sent).wait()
  expect(receipt?.status).toBe(1)
  return receipt!
}

/** Awaits `action` and returns the name of the custom error it reverted with. */
export async function revertName(action: Promise<unknown>): Promise<string> {
  try {
    await action
  } catch (error) {
    const decoded = decodeRevert(error)
    if (decoded !== undefined) return decoded.name
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
