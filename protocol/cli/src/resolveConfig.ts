import { dirname, resolve } from 'node:path'
import {
  CHAIN_PRESET_NAMES,
  CHAIN_PRESETS,
  type ChainPresetName,
  type FeeMode,
  isChainPresetName,
} from '@trickle/contracts'
import type { Address } from '@trickle/protocol'
import { CommanderError } from 'commander'
import { isKeystoreJson } from 'ethers'
import { z } from 'zod'

/** Where `npm start` writes the local marketplace's config, relative to the working directory. */
export const DEFAULT_CONFIG_PATH = '.trickle/local.json'

/** Everything the CLI needs to reach a marketplace, after merging file, environment and flags. */
export interface CliConfig {
  /** the chain preset the defaults came from, when one was named */
  chain?: ChainPresetName
  /** EVM JSON-RPC URL */
  rpcUrl: string
  chainId: number
  /** how transactions are priced: the preset's mode, `eip1559` without a preset */
  fees: FeeMode
  /** DataRegistry address */
  registry: Address
  /** StreamChannels address */
  channels: Address
  /** JobAttestations address (job attestation anchors); absent in configs written before it existed */
  attestations?: Address
  /** block the catalog is indexed from (the registry's deployment block) */
  deployBlock?: number
  /** IPFS trustless gateway URLs that serve descriptors */
  gateways: string[]
  /** the payer's private key (0x hex), when one is configured directly or through a key file */
  privateKey?: string
  /** an encrypted JSON keystore holding the payer's key, when one is configured instead */
  keystore?: KeystoreSource
}

/** An encrypted JSON keystore (Web3 Secret Storage) and the password to open it. */
export interface KeystoreSource {
  /** where it was read from, for messages */
  path: string
  /** the keystore's JSON text */
  json: string
  /** from `TRICKLE_KEYSTORE_PASSWORD` */
  password: string
}

/** The global flags of the `trickle` command that override the config file and the environment. */
export interface ConfigFlags {
  /** config file path; {@link DEFAULT_CONFIG_PATH} when absent (and then optional) */
  config?: string
  /** chain preset name */
  chain?: string
  rpcUrl?: string
  chainId?: number
  /** transaction fee mode, `eip1559` or `legacy` */
  fees?: string
  registry?: string
  channels?: string
  gateway?: string[]
  fromBlock?: number
  /** file holding the payer's hex private key */
  keyFile?: string
  /** encrypted JSON keystore of the payer (password from `TRICKLE_KEYSTORE_PASSWORD`) */
  keystore?: string
}

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 20-byte 0x address')
const privateKey = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 32-byte 0x private key')
const blockNumber = z.number().int().nonnegative()
const feeMode = z.enum(['eip1559', 'legacy'], { error: 'must be eip1559 or legacy' })
const chainName = z.enum(CHAIN_PRESET_NAMES, {
  error: `must be one of the chain presets: ${CHAIN_PRESET_NAMES.join(', ')}`,
})

/** The config file as `npm start` writes it; every field optional so env and flags can fill gaps. */
const configFileSchema = z.object({
  chain: chainName.optional(),
  rpcUrl: z.url().optional(),
  chainId: z.number().int().positive().optional(),
  fees: feeMode.optional(),
  registry: address.optional(),
  channels: address.optional(),
  attestations: address.optional(),
  deployBlock: blockNumber.optional(),
  gateways: z.array(z.url()).optional(),
  buyerKey: privateKey.optional(),
  /** path of a file holding the payer's hex key, relative to the config file */
  keyFile: z.string().min(1).optional(),
  /** path of the payer's encrypted JSON keystore, relative to the config file */
  keystore: z.string().min(1).optional(),
})

const resolvedSchema = z.object({
  chain: chainName.optional(),
  rpcUrl: z.url(),
  chainId: z.number().int().positive(),
  fees: feeMode,
  registry: address,
  channels: address,
  attestations: address.optional(),
  deployBlock: blockNumber.optional(),
  gateways: z.array(z.url()),
  privateKey: privateKey.optional(),
})

/** Where each field can be set, for error messages. */
const SOURCES: Record<string, string> = {
  chain: '--chain or TRICKLE_CHAIN',
  rpcUrl: '--rpc-url or TRICKLE_RPC_URL (or a --chain preset)',
  chainId: '--chain-id or TRICKLE_CHAIN_ID (or a --chain preset)',
  fees: '--fees or TRICKLE_FEES (or a --chain preset)',
  registry: '--registry or TRICKLE_REGISTRY',
  channels: '--channels or TRICKLE_CHANNELS',
  attestations: 'the config file',
  deployBlock: '--from-block',
  gateways: '--gateway or TRICKLE_GATEWAYS',
  privateKey: 'TRICKLE_PRIVATE_KEY, --key-file / TRICKLE_KEY_FILE, or the config file’s buyerKey',
}

function usageError(message: string): CommanderError {
  return new CommanderError(2, 'trickle.config', message)
}

function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n)) throw usageError(`${name} must be an integer, got "${raw}"`)
  return n
}

function envList(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

function envString(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]
  return raw === undefined || raw === '' ? undefined : raw
}

/**
 * Merges the marketplace config: each flag overrides the environment, the environment overrides the
 * config file, and the file overrides the chain preset (which only supplies `rpcUrl`, `chainId` and
 * the fee mode). Pure apart from `readFile`.
 *
 * Environment: `TRICKLE_CHAIN` (a preset: `anvil`, `iota-evm`, `iota-evm-testnet`), `TRICKLE_RPC_URL`,
 * `TRICKLE_CHAIN_ID`, `TRICKLE_FEES` (`eip1559` | `legacy`), `TRICKLE_REGISTRY`, `TRICKLE_CHANNELS`,
 * `TRICKLE_GATEWAYS` (comma-separated), and one payer key source: `TRICKLE_PRIVATE_KEY`,
 * `TRICKLE_KEY_FILE` (a file holding the hex key) or `TRICKLE_KEYSTORE` (an encrypted JSON keystore,
 * opened with `TRICKLE_KEYSTORE_PASSWORD`). The file is JSON `{ chain?, rpcUrl, chainId, fees?,
 * registry, channels, deployBlock, gateways, buyerKey? | keyFile? | keystore? }`; its key paths are
 * relative to the file.
 *
 * A chain id that contradicts the named preset is refused: the preset's fee rules belong to its chain.
 *
 * @param flags - the global command-line flags
 * @param env - the process environment
 * @param readFile - reads a file as UTF-8, or returns undefined when it does not exist
 * @returns the validated config (a keystore is read but not decrypted: see `loadPayerKey`)
 * @throws CommanderError (exit code 2) naming the missing or invalid field and where to set it, an
 *   unreadable / invalid config or key file, two key sources at the same level, or a chain id that
 *   contradicts the preset; a missing default config file is not an error
 */
export function resolveConfig(
  flags: ConfigFlags,
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string | undefined,
): CliConfig {
  const path = flags.config ?? DEFAULT_CONFIG_PATH
  const text = readFile(path)
  if (text === undefined && flags.config !== undefined) throw usageError(`config file ${path} not found`)
  let file: z.infer<typeof configFileSchema> = {}
  if (text !== undefined) {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw usageError(`config file ${path} is not JSON`)
    }
    const parsed = configFileSchema.safeParse(json)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw usageError(`config file ${path}: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? ''}`)
    }
    file = parsed.data
  }
  const chain = flags.chain ?? envString(env, 'TRICKLE_CHAIN') ?? file.chain
  if (chain !== undefined && !isChainPresetName(chain)) {
    throw usageError(`chain "${chain}" is not a preset; known: ${CHAIN_PRESET_NAMES.join(', ')}`)
  }
  const preset = chain === undefined ? undefined : CHAIN_PRESETS[chain]
  const chainIdSource: [number | undefined, string][] = [
    [flags.chainId, '--chain-id'],
    [envNumber(env, 'TRICKLE_CHAIN_ID'), 'TRICKLE_CHAIN_ID'],
    [file.chainId, `the config file's chainId`],
  ]
  const explicitChainId = chainIdSource.find(([id]) => id !== undefined)
  if (preset && explicitChainId && explicitChainId[0] !== preset.chainId) {
    throw usageError(
      `chain id ${explicitChainId[0]} (from ${explicitChainId[1]}) contradicts chain preset ${preset.name} ` +
        `(chain id ${preset.chainId}); drop one of them`,
    )
  }
  const merged = {
    chain,
    rpcUrl: flags.rpcUrl ?? envString(env, 'TRICKLE_RPC_URL') ?? file.rpcUrl ?? preset?.rpcUrl,
    chainId: explicitChainId?.[0] ?? preset?.chainId,
    fees: flags.fees ?? envString(env, 'TRICKLE_FEES') ?? file.fees ?? preset?.fees ?? 'eip1559',
    registry: flags.registry ?? envString(env, 'TRICKLE_REGISTRY') ?? file.registry,
    channels: flags.channels ?? envString(env, 'TRICKLE_CHANNELS') ?? file.channels,
    attestations: file.attestations,
    deployBlock: flags.fromBlock ?? file.deployBlock,
    gateways: flags.gateway ?? envList(env, 'TRICKLE_GATEWAYS') ?? file.gateways ?? [],
  }
  const key = resolveKey(flags, env, file, path, readFile)
  const result = resolvedSchema.safeParse({ ...merged, privateKey: key.privateKey })
  if (!result.success) {
    const issue = result.error.issues[0]
    const field = String(issue?.path[0] ?? '')
    const value = (merged as Record<string, unknown>)[field]
    const problem =
      value === undefined && field !== 'privateKey' ? 'is not set' : (issue?.message ?? 'is invalid')
    const hint = text === undefined ? ` (no config file at ${path}; run \`npm start\` to write one)` : ''
    throw usageError(`${field} ${problem}: set it with ${SOURCES[field] ?? 'the config file'}${hint}`)
  }
  const r = result.data
  return {
    ...(r.chain !== undefined ? { chain: r.chain } : {}),
    rpcUrl: r.rpcUrl,
    chainId: r.chainId,
    fees: r.fees,
    registry: r.registry as Address,
    channels: r.channels as Address,
    ...(r.attestations !== undefined ? { attestations: r.attestations as Address } : {}),
    gateways: r.gateways,
    ...(r.deployBlock !== undefined ? { deployBlock: r.deployBlock } : {}),
    ...(r.privateKey !== undefined ? { privateKey: r.privateKey } : {}),
    ...(key.keystore !== undefined ? { keystore: key.keystore } : {}),
  }
}

type KeyCandidate =
  | { kind: 'privateKey'; value: string; from: string }
  | { kind: 'keyFile'; path: string; from: string }
  | { kind: 'keystore'; path: string; from: string }

/**
 * Picks the payer's key source: the highest level (flags, then environment, then config file) that
 * names one wins; two sources at the same level are refused rather than guessed between.
 */
function resolveKey(
  flags: ConfigFlags,
  env: NodeJS.ProcessEnv,
  file: z.infer<typeof configFileSchema>,
  configPath: string,
  readFile: (path: string) => string | undefined,
): { privateKey?: string; keystore?: KeystoreSource } {
  const fileDir = dirname(configPath)
  const levels: KeyCandidate[][] = [
    [
      ...(flags.keyFile !== undefined
        ? [{ kind: 'keyFile', path: flags.keyFile, from: '--key-file' } as const]
        : []),
      ...(flags.keystore !== undefined
        ? [{ kind: 'keystore', path: flags.keystore, from: '--keystore' } as const]
        : []),
    ],
    [
      ...optional(envString(env, 'TRICKLE_PRIVATE_KEY'), (value) => ({
        kind: 'privateKey' as const,
        value,
        from: 'TRICKLE_PRIVATE_KEY',
      })),
      ...optional(envString(env, 'TRICKLE_KEY_FILE'), (p) => ({
        kind: 'keyFile' as const,
        path: p,
        from: 'TRICKLE_KEY_FILE',
      })),
      ...optional(envString(env, 'TRICKLE_KEYSTORE'), (p) => ({
        kind: 'keystore' as const,
        path: p,
        from: 'TRICKLE_KEYSTORE',
      })),
    ],
    [
      ...optional(file.buyerKey, (value) => ({ kind: 'privateKey' as const, value, from: 'buyerKey' })),
      ...optional(file.keyFile, (p) => ({
        kind: 'keyFile' as const,
        path: resolve(fileDir, p),
        from: 'keyFile',
      })),
      ...optional(file.keystore, (p) => ({
        kind: 'keystore' as const,
        path: resolve(fileDir, p),
        from: 'keystore',
      })),
    ],
  ]
  const level = levels.find((candidates) => candidates.length > 0)
  if (level === undefined) return {}
  if (level.length > 1) {
    throw usageError(`${level.map((c) => c.from).join(' and ')} both name the payer key; keep one`)
  }
  const source = level[0]!
  if (source.kind === 'privateKey') return { privateKey: source.value }
  const content = readFile(source.path)
  if (content === undefined) throw usageError(`${source.from}: ${source.path} not found`)
  if (source.kind === 'keyFile') {
    const hex = content.trim()
    const normalized = /^[0-9a-fA-F]{64}$/.test(hex) ? `0x${hex}` : hex
    // never echo the file's content: it is a secret
    if (!/^0x[0-9a-fA-F]{64}$/.test(normalized)) {
      throw usageError(`${source.from}: ${source.path} does not hold a 32-byte hex private key`)
    }
    return { privateKey: normalized }
  }
  if (!isKeystoreJson(content)) {
    throw usageError(`${source.from}: ${source.path} is not an encrypted JSON keystore`)
  }
  const password = env['TRICKLE_KEYSTORE_PASSWORD']
  if (password === undefined) {
    throw usageError(`${source.from}: set TRICKLE_KEYSTORE_PASSWORD to open the keystore ${source.path}`)
  }
  return { keystore: { path: source.path, json: content, password } }
}

function optional<T, R>(value: T | undefined, make: (value: T) => R): R[] {
  return value === undefined ? [] : [make(value)]
}
