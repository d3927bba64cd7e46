import type { StorefrontConfig } from '../../server/storefrontConfig.ts'

export type { StorefrontConfig }

/**
 * Reads the marketplace's chain, contracts and gateways from `/config.json`, served by `npm start`
 * (or the Vite dev server): nothing about the marketplace is compiled into the storefront.
 * @throws Error naming what is missing when the file cannot be read or lacks a field
 */
export async function loadConfig(url = './config.json'): Promise<StorefrontConfig> {
  const response = await fetch(url, { cache: 'no-store' })
  if (!response.ok) throw new Error(`could not read the marketplace config (${url}: HTTP ${response.status})`)
  const config = (await response.json()) as Partial<StorefrontConfig>
  for (const field of ['rpcUrl', 'chainId', 'registry', 'channels', 'gateways'] as const) {
    if (config[field] === undefined) throw new Error(`the marketplace config has no ${field}`)
  }
  return config as StorefrontConfig
}
