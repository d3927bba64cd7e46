import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import { Wallet } from 'ethers'
import type { SessionKeyStore } from '../keys/sessionKeyStore.ts'

/** Options of {@link fileKeyStore}. */
export interface FileKeyStoreOptions {
  /**
   * when given, each key is an encrypted JSON keystore (Web3 Secret Storage v3, scrypt; ethers'
   * `Wallet.encrypt`), so a copied file is useless without the password; slow to write and read
   * (about a second each). Without it the file holds the plain key, readable by the owner only (0600)
   */
  password?: string
}

/**
 * A {@link SessionKeyStore} in a directory (Node only: `@trickle/sdk/node`), so a restarted program
 * resumes its own channels. One file per channel, `<chainId>_<channels>_<channelId>.json`, mode 0600 in a
 * directory made 0700; written to a temporary file and renamed, so a crash never leaves half a key.
 * The file is `{ "address": "0x…", "privateKey": "0x…" }`, or an encrypted JSON keystore when
 * `options.password` is set.
 *
 * @param dir - directory for the key files (created when missing)
 * @param options - `password` to encrypt the files
 * @throws TrickleError `INTERNAL` on use when a file cannot be read, written or decrypted
 */
export function fileKeyStore(dir: string, options: FileKeyStoreOptions = {}): SessionKeyStore {
  const path = (channelKey: string) => join(dir, `${channelKey.replaceAll(':', '_')}.json`)
  return {
    async get(channelKey) {
      let text: string
      try {
        text = await readFile(path(channelKey), 'utf8')
      } catch (cause) {
        if ((cause as { code?: unknown }).code === 'ENOENT') return undefined
        throw new TrickleError('INTERNAL', `cannot read the session key of ${channelKey}`, { cause })
      }
      try {
        if (options.password !== undefined) {
          return (await Wallet.fromEncryptedJson(text, options.password)).privateKey as Hex
        }
        return (JSON.parse(text) as { privateKey: Hex }).privateKey
      } catch (cause) {
        throw new TrickleError('INTERNAL', `cannot decode the session key of ${channelKey}`, { cause })
      }
    },
    async set(channelKey, privateKey) {
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 })
        const wallet = new Wallet(privateKey)
        const text =
          options.password !== undefined
            ? await wallet.encrypt(options.password)
            : JSON.stringify({ address: wallet.address, privateKey })
        const file = path(channelKey)
        const tmp = `${file}.${Date.now()}.tmp`
        await writeFile(tmp, text, { mode: 0o600, flag: 'wx' })
        await chmod(tmp, 0o600)
        await rename(tmp, file)
      } catch (cause) {
        throw new TrickleError('INTERNAL', `cannot write the session key of ${channelKey}`, { cause })
      }
    },
  }
}
