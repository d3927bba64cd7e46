import type { JsonRpcProvider } from 'ethers'

/**
 * Moves a development chain's clock forward and mines a block (`evm_increaseTime` + `evm_mine`, as
 * supported by anvil and hardhat). For tests of challenge periods and signer rotation.
 *
 * @param provider - provider of an anvil chain
 * @param seconds - how far to move the clock, in seconds (non-negative integer)
 * @returns the timestamp of the mined block, in seconds
 * @throws the provider's error when the node lacks these methods
 */
export async function increaseTime(provider: JsonRpcProvider, seconds: number): Promise<number> {
  await provider.send('evm_increaseTime', [seconds])
  await provider.send('evm_mine', [])
  const block = await provider.getBlock('latest')
  return block?.timestamp ?? 0
}
