import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ContractArtifact } from '@trickle/devnet'

/** The malicious contracts of `contracts/test/` used by the attack tests. */
export interface AttackArtifacts {
  /** `constructor(address target)`: an ERC-20 that calls `target` during a transfer once armed. */
  ReentrantToken: ContractArtifact
  /** `constructor(address target) payable`: an account that calls `target` when paid once armed. */
  ReentrantAccount: ContractArtifact
}

const require = createRequire(import.meta.url)
const testContractsDir = fileURLToPath(new URL('../contracts/test/', import.meta.url))
const names = ['ReentrantToken', 'ReentrantAccount'] as const

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[]
  contracts: Record<
    string,
    Record<string, { abi: ContractArtifact['abi']; evm: { bytecode: { object: string } } }>
  >
}

/**
 * Compiles the attack contracts with solc-js (the package's own compiler, same optimizer and EVM
 * version as `loadArtifacts`). `loadArtifacts` exposes only the production contracts and `TestToken`,
 * so the attack tests compile these two themselves; it takes a few seconds and is not cached.
 *
 * @returns ABI and creation bytecode of ReentrantToken and ReentrantAccount
 * @throws Error with solc's messages when compilation fails
 */
export async function compileAttackContracts(): Promise<AttackArtifacts> {
  const sources: Record<string, { content: string }> = {}
  for (const name of names) {
    sources[`test/${name}.sol`] = { content: await readFile(join(testContractsDir, `${name}.sol`), 'utf8') }
  }
  const ozRoot = dirname(require.resolve('@openzeppelin/contracts/package.json'))
  const solc = (await import('solc')).default as {
    compile(
      input: string,
      callbacks: { import: (path: string) => { contents: string } | { error: string } },
    ): string
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  }
  const resolveImport = (path: string): { contents: string } | { error: string } => {
    const prefix = '@openzeppelin/contracts/'
    if (!path.startsWith(prefix)) return { error: `import not allowed: ${path}` }
    return { contents: readFileSync(join(ozRoot, path.slice(prefix.length)), 'utf8') }
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: resolveImport })) as SolcOutput
  const errors = (output.errors ?? []).filter((entry) => entry.severity === 'error')
  if (errors.length > 0) throw new Error(errors.map((entry) => entry.formattedMessage).join('\n'))
  const artifact = (name: (typeof names)[number]): ContractArtifact => {
    const compiled = output.contracts[`test/${name}.sol`]?.[name]
    if (compiled === undefined) throw new Error(`solc output lacks ${name}`)
    return { abi: compiled.abi, bytecode: `0x${compiled.evm.bytecode.object}` }
  }
  return { ReentrantToken: artifact('ReentrantToken'), ReentrantAccount: artifact('ReentrantAccount') }
}
