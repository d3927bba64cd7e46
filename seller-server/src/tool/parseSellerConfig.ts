import { dirname, isAbsolute, resolve } from 'node:path'
import { CHAIN_PRESETS, type FeeMode } from '@trickle/contracts'
import type { Address } from '@trickle/protocol'
import { isCollection, isMap, isScalar, LineCounter, parseDocument, visit } from 'yaml'
import type { z } from 'zod'
import { SellerToolError } from './SellerToolError.ts'
import { type SellerConfig, sellerConfigSchema } from './sellerConfig.ts'

/** A config file read and validated, its paths resolved against the file's folder. */
export interface ParsedSellerConfig {
  /** the config file, as given */
  file: string
  /** the validated config; its relative paths are still as written (see {@link resolvePath}) */
  config: SellerConfig
  /** the chain with the preset's defaults filled in */
  chain: {
    rpcUrl: string
    chainId: number
    fees: FeeMode
    registry: Address
    channels: Address
    /** JobAttestations address, when the config names one (configs written before it existed do not) */
    attestations?: Address
    deployBlock: number
    /** the coin's symbol (`ETH`, or `IOTA` on the IOTA presets), for printing amounts */
    symbol: string
  }
  /** the data directory, absolute */
  dataDir: string
  /** a path of the config (key file, keystore, TLS file) made absolute against the file's folder */
  resolvePath(path: string): string
  /**
   * `file:line:column` of a field, e.g. `trickle-seller.yaml:14:5`, for messages about it
   * @param path - e.g. `['products', 1, 'pricePerChunk']`; the nearest field present when it is not
   */
  where(path: readonly PropertyKey[]): string
}

/** `0x` and 32 bytes of hex, standing alone anywhere in the text (comments too): a private key. */
const PLAIN_KEY = /(?<![0-9A-Za-z])0x[0-9a-fA-F]{64}(?![0-9A-Za-z])/g
/** A value that is 32 bytes of hex and nothing else: a private key without its `0x`. */
const BARE_KEY = /^[0-9a-fA-F]{64}$/

/**
 * Reads a `trickle-seller` config from its text: YAML (JSON is YAML too, so a JSON file reads the
 * same), validated against {@link sellerConfigSchema}.
 *
 * @param text - the file's content
 * @param file - its path, for messages and to resolve relative paths
 * @returns the config, with the chain preset applied
 * @throws SellerToolError `CONFIG_INVALID` with every problem found, one per line, each as
 *   `file:line:column field.path: what is wrong` (the first problems only, at most 20); `KEY_UNSAFE`
 *   when a private key is written in the file: `0x` and 64 hex digits anywhere (comments included),
 *   or a value that is 64 hex digits
 */
export function parseSellerConfig(text: string, file: string): ParsedSellerConfig {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset)
    return `${file}:${line}:${col}`
  }
  const syntax = doc.errors[0]
  if (syntax) {
    throw new SellerToolError('CONFIG_INVALID', `${at(syntax.pos[0])} ${firstLine(syntax.message)}`)
  }
  // A topic may hold a 64-hex device id (`sensors/<sha256>/temp`): only a whole value counts bare.
  let keyAt = text.matchAll(PLAIN_KEY).next().value?.index
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === 'string' && BARE_KEY.test(node.value) && node.range) {
        keyAt = Math.min(keyAt ?? node.range[0], node.range[0])
      }
    },
  })
  if (keyAt !== undefined) {
    throw new SellerToolError(
      'KEY_UNSAFE',
      `${at(keyAt)} a private key must never be written in the config: keep it in a key file ` +
        '(payee: { keyFile: payee.key }, mode 0600) or an encrypted keystore ' +
        '(payee: { keystore: payee.json, passwordEnv: TRICKLE_KEYSTORE_PASSWORD })',
    )
  }
  const where = (path: readonly PropertyKey[]): string => {
    // The deepest node on the path that exists: a missing field is reported at its parent.
    let node: unknown = doc.contents
    let offset = (doc.contents as { range?: [number] } | null)?.range?.[0] ?? 0
    for (const key of path) {
      const next: unknown = isCollection(node) ? node.get(key, true) : undefined
      if (next === undefined || next === null) break
      node = next
      offset = (next as { range?: [number] }).range?.[0] ?? offset
    }
    return at(offset)
  }
  /** where an unknown key is written */
  const whereKey = (path: readonly PropertyKey[], key: string): string => {
    const parent = path.length === 0 ? doc.contents : doc.getIn(path as unknown[], true)
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === key)
      const range = (pair?.key as { range?: [number] } | undefined)?.range
      if (range) return at(range[0])
    }
    return where(path)
  }

  const parsed = sellerConfigSchema.safeParse(doc.toJS() ?? {})
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 20)
      .map((issue) => describeIssue(issue, doc, where, whereKey))
    throw new SellerToolError('CONFIG_INVALID', problems.join('\n  '))
  }
  const config = parsed.data
  const preset = config.chain.preset === undefined ? undefined : CHAIN_PRESETS[config.chain.preset]
  if (preset && config.chain.chainId !== undefined && config.chain.chainId !== preset.chainId) {
    throw new SellerToolError(
      'CONFIG_INVALID',
      `${where(['chain', 'chainId'])} chain.chainId: ${config.chain.chainId} contradicts preset ` +
        `${preset.name} (chain id ${preset.chainId}); drop one of them`,
    )
  }
  const base = dirname(resolve(file))
  const resolvePath = (path: string) => (isAbsolute(path) ? path : resolve(base, path))
  return {
    file,
    config,
    chain: {
      rpcUrl: (config.chain.rpcUrl ?? preset?.rpcUrl)!,
      chainId: (config.chain.chainId ?? preset?.chainId)!,
      fees: config.chain.fees ?? preset?.fees ?? 'eip1559',
      registry: config.chain.registry as Address,
      channels: config.chain.channels as Address,
      ...(config.chain.attestations !== undefined
        ? { attestations: config.chain.attestations as Address }
        : {}),
      deployBlock: config.chain.deployBlock,
      symbol: preset?.nativeCurrency.symbol ?? 'ETH',
    },
    dataDir: resolvePath(config.dataDir),
    resolvePath,
    where,
  }
}

/** One zod issue as `file:line:col field.path: message`. */
function describeIssue(
  issue: z.core.$ZodIssue,
  doc: ReturnType<typeof parseDocument>,
  where: (path: readonly PropertyKey[]) => string,
  whereKey: (path: readonly PropertyKey[], key: string) => string,
): string {
  const path = issue.path
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!
    const field = fieldPath([...path, key])
    return `${whereKey(path, key)} ${field}: unknown field (\`trickle-seller init\` writes every field, commented)`
  }
  const present = path.length === 0 || doc.hasIn(path as unknown[])
  // A missing field: zod's own message is about the type; a custom check says why it is needed.
  const message = present
    ? issue.message
    : issue.code === 'custom'
      ? `is required: ${issue.message}`
      : 'is required'
  return `${where(path)} ${fieldPath(path) || '(top level)'}: ${message}`
}

/** `products[1].pricePerChunk` from `['products', 1, 'pricePerChunk']`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else out += out === '' ? String(key) : `.${String(key)}`
  }
  return out
}

function firstLine(message: string): string {
  return message.split('\n')[0]!
}
