import { readFileSync, writeFileSync } from 'node:fs'
import { type DataRegistryContract, ProductKind } from '@trickle/contracts'
import type { ProductDescriptor } from '@trickle/protocol'
import type { FeeOverrides } from '@trickle/sdk'
import type { IpfsNode } from './ipfsNode.ts'

/** A product as listed: its local key, on-chain id and descriptor CID. */
export interface PublishedProduct {
  key: string
  productId: bigint
  cid: string
  descriptor: ProductDescriptor
}

/** What `products.json` remembers of a product, per registry address and product key. */
interface RememberedProduct {
  productId: string
  /** `createdAt` of the descriptor as last published */
  createdAt?: string
}

/**
 * Publishes each descriptor to the IPFS node and indexes its CID in `DataRegistry`: a product this
 * seller registered before (remembered per registry in `<dataDir>/products.json`) is updated when its
 * descriptor changed and left alone otherwise; a new one is registered. A descriptor that differs
 * from the published one only in `createdAt` counts as unchanged (it keeps the old `createdAt`), so a
 * restart costs no transaction.
 *
 * @param seller - the registering account (a remembered product is reused only if it still owns it)
 * @param descriptors - product key → descriptor
 * @param statePath - the JSON file remembering product ids
 * @param fees - fee fields for each transaction (legacy pricing on IOTA EVM)
 * @returns the products in the order given
 */
export async function publishProducts(
  ipfs: IpfsNode,
  registry: DataRegistryContract,
  seller: string,
  descriptors: ReadonlyMap<string, ProductDescriptor>,
  statePath: string,
  fees: () => Promise<FeeOverrides> = async () => ({}),
): Promise<PublishedProduct[]> {
  const registryAddress = (await registry.getAddress()).toLowerCase()
  let state: Record<string, Record<string, RememberedProduct | string>> = {}
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8'))
  } catch {
    state = {}
  }
  const known = state[registryAddress] ?? {}
  const out: PublishedProduct[] = []
  const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString('hex')}`
  for (const [key, fresh] of descriptors) {
    const remembered = known[key]
    const previous: RememberedProduct | undefined =
      typeof remembered === 'string' ? { productId: remembered } : remembered
    let descriptor = fresh
    let cid = await ipfs.publish(descriptor)
    let productId: bigint | undefined
    if (previous !== undefined) {
      const view = await registry.getProduct(BigInt(previous.productId)).catch(() => undefined)
      if (view?.active && view.owner.toLowerCase() === seller.toLowerCase()) {
        productId = BigInt(previous.productId)
        const onChain = view.descriptorCid.toLowerCase()
        if (previous.createdAt !== undefined && hex(cid.bytes) !== onChain) {
          const kept = { ...fresh, createdAt: previous.createdAt }
          const keptCid = await ipfs.publish(kept)
          if (hex(keptCid.bytes) === onChain) {
            descriptor = kept
            cid = keptCid
          }
        }
        if (hex(cid.bytes) !== onChain)
          await (await registry.update(productId, cid.bytes, await fees())).wait()
      }
    }
    if (productId === undefined) {
      const receipt = await (
        await registry.register(cid.bytes, ProductKind[descriptor.kind], await fees())
      ).wait()
      for (const log of receipt?.logs ?? []) {
        const ev = registry.interface.parseLog(log)
        if (ev?.name === 'ProductRegistered') productId = ev.args.getValue('productId') as bigint
      }
      if (productId === undefined) throw new Error(`registering ${key} emitted no ProductRegistered event`)
    }
    known[key] = { productId: productId.toString(), createdAt: descriptor.createdAt }
    out.push({ key, productId, cid: cid.toString(), descriptor })
  }
  state[registryAddress] = known
  writeFileSync(statePath, `${JSON.stringify(state, null, 2)}\n`)
  return out
}
