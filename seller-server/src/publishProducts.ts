import { readFileSync, writeFileSync } from 'node:fs'
import { type DataRegistryContract, ProductKind } from '@trickle/contracts'
import type { ProductDescriptor } from '@trickle/protocol'
import type { IpfsNode } from './ipfsNode.ts'

/** A product as listed: its local key, on-chain id and descriptor CID. */
export interface PublishedProduct {
  key: string
  productId: bigint
  cid: string
  descriptor: ProductDescriptor
}

/**
 * Publishes each descriptor to the IPFS node and indexes its CID in `DataRegistry`: a product this
 * seller registered before (remembered per registry in `<dataDir>/products.json`) is updated when its
 * descriptor changed and left alone otherwise; a new one is registered.
 *
 * @param seller - the registering account (a remembered product is reused only if it still owns it)
 * @param descriptors - product key → descriptor
 * @param statePath - the JSON file remembering product ids
 * @returns the products in the order given
 */
export async function publishProducts(
  ipfs: IpfsNode,
  registry: DataRegistryContract,
  seller: string,
  descriptors: ReadonlyMap<string, ProductDescriptor>,
  statePath: string,
): Promise<PublishedProduct[]> {
  const registryAddress = (await registry.getAddress()).toLowerCase()
  let state: Record<string, Record<string, string>> = {}
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8'))
  } catch {
    state = {}
  }
  const known = state[registryAddress] ?? {}
  const out: PublishedProduct[] = []
  for (const [key, descriptor] of descriptors) {
    const cid = await ipfs.publish(descriptor)
    const previous = known[key]
    let productId: bigint | undefined
    if (previous !== undefined) {
      const view = await registry.getProduct(BigInt(previous)).catch(() => undefined)
      if (view?.active && view.owner.toLowerCase() === seller.toLowerCase()) {
        productId = BigInt(previous)
        if (view.descriptorCid.toLowerCase() !== `0x${Buffer.from(cid.bytes).toString('hex')}`) {
          await (await registry.update(productId, cid.bytes)).wait()
        }
      }
    }
    if (productId === undefined) {
      const receipt = await (await registry.register(cid.bytes, ProductKind[descriptor.kind])).wait()
      for (const log of receipt?.logs ?? []) {
        const ev = registry.interface.parseLog(log)
        if (ev?.name === 'ProductRegistered') productId = ev.args.getValue('productId') as bigint
      }
      if (productId === undefined) throw new Error(`registering ${key} emitted no ProductRegistered event`)
    }
    known[key] = productId.toString()
    out.push({ key, productId, cid: cid.toString(), descriptor })
  }
  state[registryAddress] = known
  writeFileSync(statePath, `${JSON.stringify(state, null, 2)}\n`)
  return out
}
