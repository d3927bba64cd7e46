import { join } from 'node:path'

/**
 * The folder of a data directory that holds one chain's receipts: channel ids are unique only per
 * chain and StreamChannels deployment, and a fresh anvil reuses both the chain id and the contract
 * address, so the genesis block hash is part of it too.
 *
 * @param chainId - EIP-155 chain id
 * @param genesisHash - hash of block 0, 0x hex
 * @param channels - StreamChannels address
 * @returns e.g. `31337-1a2b3c4d5e6f-0xe7f1…0512`
 */
export function chainScope(chainId: number, genesisHash: string | undefined, channels: string): string {
  return `${chainId}-${(genesisHash ?? '0x').slice(2, 14)}-${channels.toLowerCase()}`
}

/** Where the receipt store of a chain lives in a data directory (see {@link chainScope}). */
export function receiptStorePath(
  dataDir: string,
  chainId: number,
  genesisHash: string | undefined,
  channels: string,
): string {
  return join(dataDir, chainScope(chainId, genesisHash, channels), 'receipts.sqlite')
}
