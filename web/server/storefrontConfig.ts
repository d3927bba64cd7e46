/**
 * What the storefront reads from `/config.json`: the marketplace's chain and contracts, where to read
 * the chain, and the IPFS gateways. Never a private key.
 */
export interface StorefrontConfig {
  /** JSON-RPC URL the browser reads the chain from (CORS must allow the storefront's origin) */
  rpcUrl: string
  chainId: number
  /** a name for the chain, shown to the buyer and given to `wallet_addEthereumChain` */
  chainName: string
  /** DataRegistry address */
  registry: string
  /** StreamChannels address */
  channels: string
  /** block the registry was deployed at */
  deployBlock: number
  /** IPFS trustless gateway URLs */
  gateways: string[]
  /** `legacy` or `eip1559` (see `@trickle/contracts` chain presets) */
  fees?: 'legacy' | 'eip1559'
  /**
   * chain id 31337 only: the storefront offers a local dev wallet funded through `anvil_setBalance`
   */
  devWallet: boolean
}

/**
 * Picks the browser-safe part of a marketplace config (such as `.trickle/local.json` or
 * `localConfig(market)`), dropping keys such as the demo buyer's.
 * @throws Error when a field the storefront needs is missing
 */
export function storefrontConfigOf(raw: Record<string, unknown>): StorefrontConfig {
  const need = <T>(name: string, ok: (v: unknown) => boolean): T => {
    if (!ok(raw[name])) throw new Error(`marketplace config: field ${name} is missing or invalid`)
    return raw[name] as T
  }
  const chainId = need<number>('chainId', (v) => Number.isSafeInteger(v))
  const fees: { fees?: 'legacy' | 'eip1559' } =
    raw.fees === 'legacy' || raw.fees === 'eip1559' ? { fees: raw.fees } : {}
  return {
    rpcUrl: need<string>('rpcUrl', (v) => typeof v === 'string'),
    chainId,
    chainName:
      typeof raw.chainName === 'string'
        ? raw.chainName
        : chainId === 31337
          ? 'Local anvil'
          : `Chain ${chainId}`,
    registry: need<string>('registry', (v) => typeof v === 'string'),
    channels: need<string>('channels', (v) => typeof v === 'string'),
    deployBlock: typeof raw.deployBlock === 'number' ? raw.deployBlock : 0,
    gateways: need<string[]>('gateways', (v) => Array.isArray(v) && v.every((g) => typeof g === 'string')),
    ...fees,
    devWallet: chainId === 31337,
  }
}
