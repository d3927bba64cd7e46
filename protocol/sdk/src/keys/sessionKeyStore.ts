import type { Address, Hex } from '@trickle/protocol'

/**
 * Where a client keeps the session keys it creates, one per channel: the key the channel authorizes as
 * its receipt `signer` when it is opened. A program that finds its channel's key in the store after a
 * restart resumes the channel without a new deposit. Implementations: {@link memoryKeyStore},
 * `indexedDbKeyStore` (browsers) and `fileKeyStore` (Node, from `@trickle/sdk/node`).
 *
 * The key signs receipts — whoever holds it can spend the channel's deposit to its payee, and no more:
 * store it like money, at most as much as the channel holds.
 */
export interface SessionKeyStore {
  /**
   * The session key of a channel, if this store has one.
   * @param channelKey - from {@link channelKeyOf}
   * @returns a 32-byte private key as 0x hex, or undefined
   */
  get(channelKey: string): Promise<Hex | undefined>
  /**
   * Keeps the session key of a channel (replacing any earlier one).
   * @param channelKey - from {@link channelKeyOf}
   * @param privateKey - 32-byte private key, 0x hex
   */
  set(channelKey: string, privateKey: Hex): Promise<void>
}

/**
 * The name a channel's session key is stored under: chain id, StreamChannels address and channel id,
 * lower case, joined by `:` (`31337:0x5fbd…:0xbad8…`). Safe as a file name.
 *
 * @param chainId - EIP-155 chain id
 * @param channels - StreamChannels address
 * @param channelId - bytes32 channel id
 */
export function channelKeyOf(chainId: number, channels: Address, channelId: Hex): string {
  return `${chainId}:${channels.toLowerCase()}:${channelId.toLowerCase()}`
}

/**
 * A {@link SessionKeyStore} in memory: keys last as long as the process. Enough for a program that opens
 * and uses its channels in one run.
 */
export function memoryKeyStore(): SessionKeyStore {
  const keys = new Map<string, Hex>()
  return {
    async get(channelKey) {
      return keys.get(channelKey)
    },
    async set(channelKey, privateKey) {
      keys.set(channelKey, privateKey)
    },
  }
}
