import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { StreamProductSpec } from '@trickle/seller'
import { stringify } from 'yaml'

/** What {@link writeSellerConfig} writes a `trickle-seller` config for. */
export interface SellerConfigSpec {
  rpcUrl: string
  chainId: number
  /** DataRegistry and StreamChannels addresses, and the registry's deployment block */
  registry: string
  channels: string
  deployBlock: number
  /** JobAttestations address (where the seller anchors job attestations); left out when absent */
  attestations?: string
  /** the payee's key, 0x hex: written to `payee.key` (mode 0600) beside the config, never into it */
  payeeKey: string
  brokerUrl: string
  /** where the seller listens: host, and port (0 for any free port) */
  host: string
  port: number
  fees?: 'eip1559' | 'legacy'
  products: readonly StreamProductSpec[]
  /**
   * `compute` and `app` products, as the config file writes them (paths relative to `dir` or
   * absolute; seller-server/README.md §Config reference), appended to `products`
   */
  jobProducts?: readonly Record<string, unknown>[]
  /** jobs run at once at most (the config's `jobs.slots`) */
  jobSlots?: number
}

/**
 * Writes a `trickle-seller` config (`trickle-seller.yaml`, seller-server/README.md) and its key file
 * into `dir`, which is also the seller's data directory: the config `npm start` and the tests run the
 * local marketplace's seller from — the same file a seller writes for its own sensors.
 *
 * @param dir - created when missing
 * @returns the config's path
 */
export function writeSellerConfig(dir: string, spec: SellerConfigSpec): string {
  mkdirSync(dir, { recursive: true })
  const keyFile = join(dir, 'payee.key')
  writeFileSync(keyFile, `${spec.payeeKey}\n`, { mode: 0o600 })
  chmodSync(keyFile, 0o600)
  const config = {
    chain: {
      rpcUrl: spec.rpcUrl,
      chainId: spec.chainId,
      registry: spec.registry,
      channels: spec.channels,
      ...(spec.attestations ? { attestations: spec.attestations } : {}),
      deployBlock: spec.deployBlock,
      ...(spec.fees ? { fees: spec.fees } : {}),
    },
    payee: { keyFile: 'payee.key' },
    dataDir: '.',
    listen: { host: spec.host, port: spec.port },
    broker: { url: spec.brokerUrl },
    products: spec.products
      .map((p) => ({
        key: p.key,
        name: p.name,
        description: p.description,
        kind: p.kind ?? 'stream',
        // a dataset reads its source's topics (recordingOf); the config names the source instead
        ...(p.kind === 'dataset' ? { recordingOf: p.recordingOf } : { topics: p.topics }),
        fields: p.fields,
        pricePerChunk: p.pricePerChunk.toString(),
        tags: p.tags,
        ...(p.chunksPerSecond === undefined ? {} : { chunksPerSecond: p.chunksPerSecond }),
        ...(p.devices === undefined ? {} : { devices: p.devices }),
        ...(p.location === undefined ? {} : { location: p.location }),
        source: p.source,
      }))
      .concat((spec.jobProducts ?? []) as never[]),
    ...(spec.jobSlots === undefined ? {} : { jobs: { slots: spec.jobSlots } }),
  }
  const file = join(dir, 'trickle-seller.yaml')
  writeFileSync(
    file,
    `# Written by the local marketplace (npm start): the demo seller's trickle-seller config.\n` +
      `# Copy it to sell your own sensors; the reference is seller-server/README.md.\n${stringify(config, { aliasDuplicateObjects: false })}`,
  )
  return file
}
