import { DATA_REGISTRY_ABI } from '@trickle/contracts'
import type { Address, ProductDescriptor } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import { Contract, getBytes, type Provider } from 'ethers'
import { CID } from 'multiformats/cid'
import type { DescriptorFetcher } from './fetchDescriptor.ts'

/** Product kinds as numbered in `DataRegistry`. */
export const PRODUCT_KINDS = ['stream', 'dataset', 'compute', 'app'] as const

/** A product in the catalog: its registry record joined with its descriptor. */
export interface CatalogProduct {
  productId: bigint
  owner: Address
  kind: (typeof PRODUCT_KINDS)[number]
  active: boolean
  /** descriptor CID, string form (base32 CIDv1) */
  cid: string
  /** the validated descriptor, or undefined when it could not be fetched or was invalid */
  descriptor: ProductDescriptor | undefined
  /** why `descriptor` is missing */
  problem?: { code: 'DESCRIPTOR_UNAVAILABLE' | 'DESCRIPTOR_INVALID'; message: string }
  /** `DataRegistry.sellerKey(owner)` at read time */
  sellerKey: Address
}

/** Where the catalog reads from. */
export interface CatalogSource {
  provider: Provider
  /** DataRegistry address */
  registry: Address
  /** block to index events from (the registry's deployment block) */
  fromBlock?: number
  fetcher: DescriptorFetcher
  /** ms per descriptor fetch */
  fetchTimeoutMs?: number
}

/**
 * Lists products by replaying `ProductRegistered`, `ProductUpdated` and `ProductDeactivated` events
 * from `fromBlock`, then fetching each product's descriptor through IPFS. A product whose descriptor
 * is missing or invalid is listed with a `problem` instead of failing the whole catalog.
 *
 * @returns products in registration order
 * @throws TrickleError `CHAIN_UNAVAILABLE` when the RPC cannot be read
 */
export async function listProducts(source: CatalogSource): Promise<CatalogProduct[]> {
  const registry = new Contract(source.registry, DATA_REGISTRY_ABI, source.provider)
  const from = source.fromBlock ?? 0
  type Row = { productId: bigint; owner: Address; kind: number; active: boolean; cid: Uint8Array }
  const rows = new Map<bigint, Row>()
  try {
    const logs = await source.provider.getLogs({
      address: source.registry,
      fromBlock: from,
      toBlock: 'latest',
    })
    for (const log of logs) {
      const ev = registry.interface.parseLog(log)
      if (!ev) continue
      const id = ev.args.getValue('productId') as bigint
      if (ev.name === 'ProductRegistered') {
        rows.set(id, {
          productId: id,
          owner: ev.args.getValue('owner') as Address,
          kind: Number(ev.args.getValue('kind')),
          active: true,
          cid: getBytes(ev.args.getValue('descriptorCid') as string),
        })
      } else if (ev.name === 'ProductUpdated') {
        const row = rows.get(id)
        if (row) row.cid = getBytes(ev.args.getValue('descriptorCid') as string)
      } else if (ev.name === 'ProductDeactivated') {
        const row = rows.get(id)
        if (row) row.active = false
      }
    }
  } catch (cause) {
    throw new TrickleError('CHAIN_UNAVAILABLE', 'could not read registry events', { cause })
  }
  const keys = new Map<string, Promise<Address>>()
  const sellerKey = (owner: Address) => {
    let key = keys.get(owner)
    if (!key) {
      key = registry.getFunction('sellerKey')(owner) as Promise<Address>
      keys.set(owner, key)
    }
    return key
  }
  // Descriptors are fetched concurrently: one slow or dead product does not hold up the others.
  const products = await Promise.all(
    [...rows.values()].map(async (row) => joinDescriptor(row, await sellerKey(row.owner), source)),
  )
  return products
}

/**
 * Joins one registry record with its descriptor fetched through IPFS; a missing or invalid descriptor
 * becomes a `problem` on the product.
 */
export async function joinDescriptor(
  row: { productId: bigint; owner: Address; kind: number; active: boolean; cid: Uint8Array },
  sellerKey: Address,
  source: Pick<CatalogSource, 'fetcher' | 'fetchTimeoutMs'>,
): Promise<CatalogProduct> {
  let cid: string
  try {
    cid = CID.decode(row.cid).toString()
  } catch {
    return {
      ...base(row, sellerKey, '(invalid CID)'),
      descriptor: undefined,
      problem: { code: 'DESCRIPTOR_INVALID', message: 'registered CID does not decode' },
    }
  }
  try {
    const descriptor = await source.fetcher.fetch(row.cid, source.fetchTimeoutMs)
    return { ...base(row, sellerKey, cid), descriptor }
  } catch (err) {
    const code =
      (err as TrickleError).code === 'DESCRIPTOR_INVALID' ? 'DESCRIPTOR_INVALID' : 'DESCRIPTOR_UNAVAILABLE'
    return {
      ...base(row, sellerKey, cid),
      descriptor: undefined,
      problem: { code, message: (err as Error).message },
    }
  }
}

function base(
  row: { productId: bigint; owner: Address; kind: number; active: boolean },
  sellerKey: Address,
  cid: string,
) {
  return {
    productId: row.productId,
    owner: row.owner,
    kind: PRODUCT_KINDS[row.kind] ?? 'stream',
    active: row.active,
    cid,
    sellerKey,
  }
}
