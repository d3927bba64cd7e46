import { ContractsError } from './ContractsError.ts'

/**
 * How a chain prices transactions.
 * - `eip1559`: type-2 transactions with `maxFeePerGas` / `maxPriorityFeePerGas` (EIP-1559), as ethers
 *   fills them by default.
 * - `legacy`: type-0 transactions whose `gasPrice` is exactly the node's `eth_gasPrice`. IOTA EVM sets
 *   fees at the chain level and rejects any other gas price (IOTA docs, "Compatible Tools": "The chain
 *   will reject any requests with a different gas price than specified by the chain").
 */
export type FeeMode = 'eip1559' | 'legacy'

/**
 * A known EVM chain: what a client needs to reach it and to sign for it. Contract addresses are not
 * part of a preset — Trickle is not deployed anywhere by default; they come from configuration.
 */
export interface ChainPreset {
  /** The preset's key in {@link CHAIN_PRESETS}, e.g. `'iota-evm'`. */
  readonly name: ChainPresetName
  /** Human-readable chain name. */
  readonly label: string
  /** EIP-155 chain id. */
  readonly chainId: number
  /** Default public JSON-RPC URL (HTTP). */
  readonly rpcUrl: string
  /** Block explorer base URL, when the chain has one. */
  readonly explorerUrl?: string
  /** The native coin; amounts are in its base unit (10^-decimals), called wei throughout Trickle. */
  readonly nativeCurrency: { readonly name: string; readonly symbol: string; readonly decimals: number }
  /** How transactions on this chain must be priced. */
  readonly fees: FeeMode
  /** Whether the chain's coin has no value (testnets, local dev chains). */
  readonly testnet: boolean
}

/** Names of the built-in presets. */
export const CHAIN_PRESET_NAMES = ['anvil', 'iota-evm', 'iota-evm-testnet'] as const

/** The key of a built-in preset. */
export type ChainPresetName = (typeof CHAIN_PRESET_NAMES)[number]

/**
 * Built-in chain presets.
 * - `anvil`: the local development chain `startLocalChain` and `npm start` run (chain id 31337).
 * - `iota-evm`: IOTA EVM mainnet, chain id 8822 (https://docs.iota.org/iota-evm/getting-started/networks-and-chains).
 * - `iota-evm-testnet`: IOTA EVM testnet, chain id 1076; reset from time to time, coin without value.
 */
export const CHAIN_PRESETS: { readonly [N in ChainPresetName]: ChainPreset & { readonly name: N } } = {
  anvil: {
    name: 'anvil',
    label: 'Anvil (local)',
    chainId: 31337,
    rpcUrl: 'http://127.0.0.1:8545',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    fees: 'eip1559',
    testnet: true,
  },
  'iota-evm': {
    name: 'iota-evm',
    label: 'IOTA EVM',
    chainId: 8822,
    rpcUrl: 'https://json-rpc.evm.iotaledger.net',
    explorerUrl: 'https://explorer.evm.iota.org',
    nativeCurrency: { name: 'IOTA', symbol: 'IOTA', decimals: 18 },
    fees: 'legacy',
    testnet: false,
  },
  'iota-evm-testnet': {
    name: 'iota-evm-testnet',
    label: 'IOTA EVM Testnet',
    chainId: 1076,
    rpcUrl: 'https://json-rpc.evm.testnet.iota.cafe',
    explorerUrl: 'https://explorer.evm.testnet.iota.cafe',
    nativeCurrency: { name: 'IOTA', symbol: 'IOTA', decimals: 18 },
    fees: 'legacy',
    testnet: true,
  },
}

/** Whether `name` is the key of a built-in preset. */
export function isChainPresetName(name: unknown): name is ChainPresetName {
  return typeof name === 'string' && (CHAIN_PRESET_NAMES as readonly string[]).includes(name)
}

/**
 * Looks up a built-in chain preset by name.
 *
 * @param name - one of {@link CHAIN_PRESET_NAMES}
 * @returns the preset
 * @throws ContractsError `INVALID_ARGUMENT` for an unknown name (the message lists the known ones)
 */
export function chainPreset(name: string): ChainPreset {
  if (!isChainPresetName(name)) {
    throw new ContractsError(
      'INVALID_ARGUMENT',
      `unknown chain preset "${name}"; known: ${CHAIN_PRESET_NAMES.join(', ')}`,
    )
  }
  return CHAIN_PRESETS[name]
}
