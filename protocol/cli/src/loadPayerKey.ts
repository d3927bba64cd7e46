import type { Address } from '@trickle/protocol'
import { CommanderError } from 'commander'
import { getAddress, Wallet } from 'ethers'
import type { CliConfig } from './resolveConfig.ts'

/**
 * The payer's private key from the resolved config: the configured key (direct or from a key file),
 * or the key decrypted from the encrypted JSON keystore (Web3 Secret Storage, scrypt; decrypted with
 * ethers' `Wallet.fromEncryptedJson`, which takes about a second at the usual scrypt cost).
 *
 * @param config - the resolved CLI config
 * @returns the key as 0x hex, or undefined when no key source is configured
 * @throws CommanderError (exit code 2) when the keystore does not open with the password
 */
export async function loadPayerKey(
  config: Pick<CliConfig, 'privateKey' | 'keystore'>,
): Promise<string | undefined> {
  if (config.privateKey !== undefined) return config.privateKey
  const keystore = config.keystore
  if (keystore === undefined) return undefined
  try {
    return (await Wallet.fromEncryptedJson(keystore.json, keystore.password)).privateKey
  } catch (cause) {
    const reason = (cause as { shortMessage?: string }).shortMessage ?? (cause as Error).message
    throw new CommanderError(2, 'trickle.config', `keystore ${keystore.path} could not be opened: ${reason}`)
  }
}

/**
 * The payer's address without decrypting a keystore when it can be avoided: keystores record their
 * address in the clear (`address`), which is enough for read-only commands such as `trickle channels`.
 *
 * @returns the address, or undefined when no key source is configured
 * @throws CommanderError (exit code 2) when a keystore without an address does not open
 */
export async function payerAddress(
  config: Pick<CliConfig, 'privateKey' | 'keystore'>,
): Promise<Address | undefined> {
  if (config.privateKey === undefined && config.keystore !== undefined) {
    try {
      const recorded = (JSON.parse(config.keystore.json) as { address?: unknown }).address
      if (typeof recorded === 'string') {
        return getAddress(recorded.startsWith('0x') ? recorded : `0x${recorded}`) as Address
      }
    } catch {
      // no usable address: decrypt below
    }
  }
  const key = await loadPayerKey(config)
  return key === undefined ? undefined : (new Wallet(key).address as Address)
}
