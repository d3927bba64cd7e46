import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ContractsError } from '@trickle/contracts'
import type { InterfaceAbi } from 'ethers'

/** ABI and creation bytecode of one compiled contract. */
export interface ContractArtifact {
  /** Solidity JSON ABI as emitted by solc. */
  abi: InterfaceAbi
  /** Creation bytecode, `0x`-prefixed hex. */
  bytecode: string
}

/**
 * The compiled Trickle contracts. `TestToken` is a mintable ERC-20 with an optional transfer fee, for
 * tests only; never deploy it anywhere that matters.
 */
export interface Artifacts {
  /** The product index. */
  DataRegistry: ContractArtifact
  /** The payment-channel escrow; constructor takes the challenge period in seconds (uint64). */
  StreamChannels: ContractArtifact
  /** Job attestation anchors; constructor takes the StreamChannels address. */
  JobAttestations: ContractArtifact
  /** Test-only ERC-20: `constructor(uint16 feeBps)`, `mint(to, amount)`, burns `feeBps` of each transfer. */
  TestToken: ContractArtifact
}

/** Options of {@link loadArtifacts}; the defaults suit everything but the package's own tests. */
export interface LoadArtifactsOptions {
  /** Directory of the cache; default `registry-contract/artifacts/`. */
  cacheDir?: string
  /** Ignore an existing cache entry and compile again (the result is still written). Default false. */
  force?: boolean
}

const require = createRequire(import.meta.url)
/** `registry-contract/`: the Solidity sources and the artifact cache live there, beside the bindings. */
const packageRoot = fileURLToPath(new URL('../..', import.meta.url))
const contractsDir = join(packageRoot, 'contracts')
const defaultCacheDir = join(packageRoot, 'artifacts')

/** Optimizer settings; part of the cache key. viaIR is not needed for these contracts. */
const compilerSettings = {
  optimizer: { enabled: true, runs: 200 },
  // Cancun: PUSH0 and MCOPY, no transient storage used. Supported by anvil, mainnet, the L2s and IOTA EVM.
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
} as const

const contractNames = ['DataRegistry', 'StreamChannels', 'JobAttestations', 'TestToken'] as const

let inFlight: Promise<Artifacts> | undefined

/**
 * Compiles `registry-contract/contracts/**\/*.sol` with solc-js (the npm `solc` package, never a
 * compiler download), optimizer on (200 runs), and caches `{abi, bytecode}` per contract in
 * `registry-contract/artifacts/<hash>.json`, keyed by a SHA-256 of the sources, the OpenZeppelin and
 * solc versions and the settings. A cache hit costs one file read; a compile takes several seconds.
 * Concurrent calls in one process share one compile; concurrent processes write atomically (rename).
 *
 * @param options - cache directory and `force` recompile
 * @returns ABI and creation bytecode of DataRegistry, StreamChannels, JobAttestations and TestToken
 * @throws ContractsError `COMPILE_FAILED` when solc reports an error (details hold its messages);
 *   `ARTIFACT_MISSING` when the output lacks an expected contract
 */
export function loadArtifacts(options: LoadArtifactsOptions = {}): Promise<Artifacts> {
  if (options.cacheDir !== undefined || options.force === true) return load(options)
  inFlight ??= load(options).catch((error: unknown) => {
    inFlight = undefined
    throw error
  })
  return inFlight
}

async function load(options: LoadArtifactsOptions): Promise<Artifacts> {
  const cacheDir = options.cacheDir ?? defaultCacheDir
  const sources = await readSources()
  const solcVersion = (require('solc/package.json') as { version: string }).version
  const ozVersion = (require('@openzeppelin/contracts/package.json') as { version: string }).version
  const key = createHash('sha256')
    .update(JSON.stringify({ sources, solcVersion, ozVersion, compilerSettings }))
    .digest('hex')
    .slice(0, 32)
  const cacheFile = join(cacheDir, `${key}.json`)
  if (options.force !== true) {
    const cached = await readCache(cacheFile)
    if (cached !== undefined) return cached
  }
  const artifacts = compile(await loadSolc(), sources)
  await mkdir(cacheDir, { recursive: true })
  const temporary = `${cacheFile}.${process.pid}.${Date.now()}.tmp`
  await writeFile(temporary, JSON.stringify(artifacts))
  await rename(temporary, cacheFile)
  return artifacts
}

async function readSources(): Promise<Record<string, { content: string }>> {
  const entries = await readdir(contractsDir, { recursive: true, withFileTypes: true })
  const files = entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.sol'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort()
  const sources: Record<string, { content: string }> = {}
  for (const file of files) {
    const name = relative(contractsDir, file).split(sep).join('/')
    sources[name] = { content: await readFile(file, 'utf8') }
  }
  return sources
}

interface Solc {
  version(): string
  compile(
    input: string,
    callbacks: { import: (path: string) => { contents: string } | { error: string } },
  ): string
}

async function loadSolc(): Promise<Solc> {
  const module = (await import('solc')) as unknown as { default: Solc }
  return module.default
}

async function readCache(file: string): Promise<Artifacts | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<Artifacts>
    return contractNames.every((name) => parsed[name] !== undefined) ? (parsed as Artifacts) : undefined
  } catch {
    return undefined
  }
}

function resolveImport(path: string): { contents: string } | { error: string } {
  if (!path.startsWith('@openzeppelin/')) return { error: `import not allowed: ${path}` }
  try {
    const packageJson = require.resolve('@openzeppelin/contracts/package.json')
    const file = join(dirname(packageJson), path.slice('@openzeppelin/contracts/'.length))
    return { contents: readFileSync(file, 'utf8') }
  } catch (error) {
    return { error: `cannot read ${path}: ${String(error)}` }
  }
}

interface SolcOutput {
  errors?: { severity: 'error' | 'warning' | 'info'; formattedMessage: string }[]
  contracts?: Record<string, Record<string, { abi: InterfaceAbi; evm: { bytecode: { object: string } } }>>
}

function compile(solc: Solc, sources: Record<string, { content: string }>): Artifacts {
  const input = { language: 'Solidity', sources, settings: compilerSettings }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: resolveImport })) as SolcOutput
  const errors = (output.errors ?? []).filter((entry) => entry.severity === 'error')
  if (errors.length > 0) {
    throw new ContractsError('COMPILE_FAILED', `solc ${solc.version()} reported ${errors.length} error(s)`, {
      details: errors.map((entry) => entry.formattedMessage).join('\n'),
    })
  }
  const found: Partial<Record<(typeof contractNames)[number], { abi: InterfaceAbi; bytecode: string }>> = {}
  for (const file of Object.values(output.contracts ?? {})) {
    for (const name of contractNames) {
      const contract = file[name]
      if (contract !== undefined)
        found[name] = { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` }
    }
  }
  for (const name of contractNames) {
    if (found[name] === undefined) {
      throw new ContractsError('ARTIFACT_MISSING', `solc output lacks contract ${name}`)
    }
  }
  return found as Artifacts
}
