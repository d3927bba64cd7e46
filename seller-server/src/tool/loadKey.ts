import { readFileSync, statSync } from 'node:fs'
import type { Address } from '@trickle/protocol'
import { getAddress, Wallet } from 'ethers'
import type { ParsedSellerConfig } from './parseSellerConfig.ts'
import { SellerToolError } from './SellerToolError.ts'
import type { KeySource } from './sellerConfig.ts'

/** Which key of the config: the payee's or the terms key. */
export type KeyRole = 'payee' | 'termsKey'

/**
 * The private key a key source of the config names: read from a key file that only its owner can
 * read, or decrypted from an encrypted JSON keystore (Web3 Secret Storage, scrypt; ethers'
 * `Wallet.fromEncryptedJson`, about a second) with the password in the environment variable the
 * config names.
 *
 * @param parsed - the config (for paths and positions)
 * @param role - `payee` or `termsKey` (the payee's when the config has no terms key)
 * @param env - the environment holding the keystore password
 * @returns the key, 0x hex
 * @throws SellerToolError `KEY_UNSAFE` (a key file group or others may read), `KEY_UNAVAILABLE` (a
 *   missing or unreadable file, not a key, a missing password variable, a wrong password)
 */
export async function loadKey(
  parsed: ParsedSellerConfig,
  role: KeyRole,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const source = role === 'termsKey' ? (parsed.config.termsKey ?? parsed.config.payee) : parsed.config.payee
  const field = role === 'termsKey' && parsed.config.termsKey ? 'termsKey' : 'payee'
  if ('keyFile' in source) return readKeyFile(parsed, field, source.keyFile)
  const path = parsed.resolvePath(source.keystore)
  const json = readText(parsed, [field, 'keystore'], path)
  const password = env[source.passwordEnv]
  if (password === undefined) {
    throw new SellerToolError(
      'KEY_UNAVAILABLE',
      `${parsed.where([field, 'passwordEnv'])} ${field}.passwordEnv: the variable ${source.passwordEnv} is not set; ` +
        `export ${source.passwordEnv}=… with the password of ${source.keystore}`,
    )
  }
  try {
    return (await Wallet.fromEncryptedJson(json, password)).privateKey
  } catch (cause) {
    const reason = (cause as { shortMessage?: string }).shortMessage ?? (cause as Error).message
    throw new SellerToolError(
      'KEY_UNAVAILABLE',
      `${parsed.where([field, 'keystore'])} ${field}.keystore: ${source.keystore} does not open with ` +
        `${source.passwordEnv}: ${reason}`,
      { cause },
    )
  }
}

/**
 * The address of a key source without decrypting a keystore (keystores record it in the clear), so
 * that read-only commands need no password.
 * @throws SellerToolError as {@link loadKey}
 */
export async function keyAddress(
  parsed: ParsedSellerConfig,
  role: KeyRole,
  env: NodeJS.ProcessEnv,
): Promise<Address> {
  const source: KeySource =
    role === 'termsKey' ? (parsed.config.termsKey ?? parsed.config.payee) : parsed.config.payee
  if ('keystore' in source) {
    const field = role === 'termsKey' && parsed.config.termsKey ? 'termsKey' : 'payee'
    const json = readText(parsed, [field, 'keystore'], parsed.resolvePath(source.keystore))
    try {
      const recorded = (JSON.parse(json) as { address?: unknown }).address
      if (typeof recorded === 'string') {
        return getAddress(recorded.startsWith('0x') ? recorded : `0x${recorded}`) as Address
      }
    } catch {
      // no address recorded: decrypt
    }
  }
  return new Wallet(await loadKey(parsed, role, env)).address as Address
}

function readKeyFile(parsed: ParsedSellerConfig, field: string, file: string): string {
  const path = parsed.resolvePath(file)
  const where = `${parsed.where([field, 'keyFile'])} ${field}.keyFile`
  let mode: number
  try {
    mode = statSync(path).mode
  } catch (cause) {
    throw new SellerToolError('KEY_UNAVAILABLE', `${where}: cannot read ${path}`, { cause })
  }
  if ((mode & 0o077) !== 0) {
    throw new SellerToolError(
      'KEY_UNSAFE',
      `${where}: ${file} may be read by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); ` +
        `a key file must be private: chmod 600 ${file}`,
    )
  }
  const text = readText(parsed, [field, 'keyFile'], path).trim()
  const key = text.startsWith('0x') ? text : `0x${text}`
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) {
    throw new SellerToolError(
      'KEY_UNAVAILABLE',
      `${where}: ${file} does not hold a 0x private key (64 hex digits)`,
    )
  }
  return key
}

function readText(parsed: ParsedSellerConfig, fieldPath: string[], path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (cause) {
    throw new SellerToolError(
      'KEY_UNAVAILABLE',
      `${parsed.where(fieldPath)} ${fieldPath.join('.')}: cannot read ${path}`,
      { cause },
    )
  }
}
