import { CommanderError } from 'commander'
import { z } from 'zod'
import type { Address } from '../hex.ts'

/** Where `npm start` writes the local marketplace's config, relative to the working directory. */
export const DEFAULT_CONFIG_PATH = '.trickle/local.json'

/** Everything the CLI needs to reach a marketplace, after merging file, environment and flags. */
export interface CliConfig {
  /** EVM JSON-RPC URL */
  rpcUrl: string
  chainId: number
  /** DataRegistry address */
  registry: Address
  /** StreamChannels address */
  channels: Address
  /** block the catalog is indexed from (the registry's deployment block) */
  deployBlock?: number
  /** IPFS trustless gateway URLs that serve descriptors */
  gateways: string[]
  /** the payer's private key (0x hex), when one is configured */
  privateKey?: string
}

/** The global flags of the `trickle` command that override the config file and the environment. */
export interface ConfigFlags {
  /** config file path; {@link DEFAULT_CONFIG_PATH} when absent (and then optional) */
  config?: string
  rpcUrl?: string
  chainId?: number
  registry?: string
  channels?: string
  gateway?: string[]
  fromBlock?: number
}

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 20-byte 0x address')
const privateKey = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 32-byte 0x private key')
const blockNumber = z.number().int().nonnegative()

/** The config file as `npm start` writes it; every field optional so env and flags can fill gaps. */
const configFileSchema = z.object({
  rpcUrl: z.url().optional(),
  chainId: z.number().int().positive().optional(),
  registry: address.optional(),
  channels: address.optional(),
  deployBlock: blockNumber.optional(),
  gateways: z.array(z.url()).optional(),
  buyerKey: privateKey.optional(),
})

const resolvedSchema = z.object({
  rpcUrl: z.url(),
  chainId: z.number().int().positive(),
  registry: address,
  channels: address,
  deployBlock: blockNumber.optional(),
  gateways: z.array(z.url()),
  privateKey: privateKey.optional(),
})

/** Where each field can be set, for error messages. */
const SOURCES: Record<string, string> = {
  rpcUrl: '--rpc-url or TRICKLE_RPC_URL',
  chainId: '--chain-id or TRICKLE_CHAIN_ID',
  registry: '--registry or TRICKLE_REGISTRY',
  channels: '--channels or TRICKLE_CHANNELS',
  deployBlock: '--from-block',
  gateways: '--gateway or TRICKLE_GATEWAYS',
  privateKey: 'TRICKLE_PRIVATE_KEY or the config file’s buyerKey',
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
 * config file. Pure apart from `readFile`.
 *
 * Environment: `TRICKLE_RPC_URL`, `TRICKLE_CHAIN_ID`, `TRICKLE_REGISTRY`, `TRICKLE_CHANNELS`,
 * `TRICKLE_GATEWAYS` (comma-separated), `TRICKLE_PRIVATE_KEY` (the payer; falls back to the file's
 * `buyerKey`). The file is JSON `{ rpcUrl, chainId, registry, channels, deployBlock, gateways, buyerKey? }`.
 *
 * @param flags - the global command-line flags
 * @param env - the process environment
 * @param readFile - reads a file as UTF-8, or returns undefined when it does not exist
 * @returns the validated config
 * @throws CommanderError (exit code 2) naming the missing or invalid field and where to set it, or an
 *   unreadable / invalid config file; a missing default file is not an error
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
  const merged = {
    rpcUrl: flags.rpcUrl ?? envString(env, 'TRICKLE_RPC_URL') ?? file.rpcUrl,
    chainId: flags.chainId ?? envNumber(env, 'TRICKLE_CHAIN_ID') ?? file.chainId,
    registry: flags.registry ?? envString(env, 'TRICKLE_REGISTRY') ?? file.registry,
    channels: flags.channels ?? envString(env, 'TRICKLE_CHANNELS') ?? file.channels,
    deployBlock: flags.fromBlock ?? file.deployBlock,
    gateways: flags.gateway ?? envList(env, 'TRICKLE_GATEWAYS') ?? file.gateways ?? [],
    privateKey: envString(env, 'TRICKLE_PRIVATE_KEY') ?? file.buyerKey,
  }
  const result = resolvedSchema.safeParse(merged)
  if (!result.success) {
    const issue = result.error.issues[0]
    const field = String(issue?.path[0] ?? '')
    const value = (merged as Record<string, unknown>)[field]
    const problem = value === undefined ? 'is not set' : (issue?.message ?? 'is invalid')
    const hint = text === undefined ? ` (no config file at ${path}; run \`npm start\` to write one)` : ''
    throw usageError(`${field} ${problem}: set it with ${SOURCES[field] ?? 'the config file'}${hint}`)
  }
  const r = result.data
  return {
    rpcUrl: r.rpcUrl,
    chainId: r.chainId,
    registry: r.registry as Address,
    channels: r.channels as Address,
    gateways: r.gateways,
    ...(r.deployBlock !== undefined ? { deployBlock: r.deployBlock } : {}),
    ...(r.privateKey !== undefined ? { privateKey: r.privateKey } : {}),
  }
}
