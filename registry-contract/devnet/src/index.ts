/**
 * `@trickle/devnet` (dev-only, never published): everything that makes a chain and a marketplace on
 * this machine — anvil from `@foundry-rs/anvil`, the contracts compiled with solc-js, the deployer,
 * and {@link startLocalMarketplace}, which `npm start` and the integration tests run (chain,
 * contracts, embedded MQTT broker, air-quality replayers, seller server with products registered).
 *
 * @example
 * ```ts
 * import { startLocalMarketplace } from '@trickle/devnet'
 *
 * const market = await startLocalMarketplace()
 * console.log(market.config) // what a buyer needs: rpcUrl, chainId, registry, channels, seller url
 * await market.stop()
 * ```
 *
 * @packageDocumentation
 */

export { type AirQualityProductsOptions, airQualityProducts } from './airQualityProducts.ts'
export { type Deployment, type DeployOptions, deployContracts } from './deployContracts.ts'
export { findAnvil } from './findAnvil.ts'
export {
  BINDINGS_SOURCE_DIR,
  GENERATE_COMMAND,
  type GeneratedFile,
  generateBindings,
} from './generateBindings.ts'
export { increaseTime } from './increaseTime.ts'
export {
  type Artifacts,
  type ContractArtifact,
  type LoadArtifactsOptions,
  loadArtifacts,
} from './loadArtifacts.ts'
export {
  ANVIL_MNEMONIC,
  type LocalChain,
  type LocalChainOptions,
  startLocalChain,
} from './startLocalChain.ts'
export {
  DEMO_DEVICE_KEY,
  type LocalConfig,
  type LocalMarketplace,
  type LocalMarketplaceOptions,
  localConfig,
  startLocalMarketplace,
} from './startLocalMarketplace.ts'
export {
  freePort,
  MOSQUITTO_BIN,
  type Mosquitto,
  type MosquittoOptions,
  startMosquitto,
} from './startMosquitto.ts'
export { type SellerConfigSpec, writeSellerConfig } from './writeSellerConfig.ts'
