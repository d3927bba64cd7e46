/**
 * `@trickle/web/server` (Node only): builds the Svelte storefront with Vite and serves it with the
 * `/config.json` the app reads at load — what `npm start` and the storefront's browser tests run.
 *
 * @example
 * ```ts
 * import { buildStorefront, serveStorefront, storefrontConfigOf } from '@trickle/web/server'
 *
 * const dir = await buildStorefront()
 * const config = storefrontConfigOf({
 *   rpcUrl: 'http://127.0.0.1:8545',
 *   chainId: 31337,
 *   registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
 *   channels: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
 *   gateways: ['http://127.0.0.1:8080'],
 * })
 * const storefront = await serveStorefront({ config, dir })
 * console.log(`open ${storefront.url}`)
 * await storefront.close()
 * ```
 *
 * @packageDocumentation
 */

export { type BuildStorefrontOptions, buildStorefront } from './buildStorefront.ts'
export { type ServeStorefrontOptions, type StorefrontServer, serveStorefront } from './serveStorefront.ts'
export { type StorefrontConfig, storefrontConfigOf } from './storefrontConfig.ts'
