import type { BuyerClient } from '@trickle/sdk'

/** A product as a channel listing names it. */
export interface ProductName {
  /** decimal product id */
  productId: string
  name: string
}

/**
 * The catalog's products grouped by seller (lower-case address), to name what a channel pays for: a
 * channel pays a seller, not a product, so every product of its payee can be streamed on it. Products
 * without a valid descriptor are left out.
 * @returns the map, empty when the catalog cannot be read (no gateway configured, or it is down): the listing
 *   then names the seller only
 */
export async function productsBySeller(client: BuyerClient): Promise<Map<string, ProductName[]>> {
  const bySeller = new Map<string, ProductName[]>()
  if (client.config.gateways.length === 0) return bySeller
  try {
    for (const p of await client.products()) {
      if (!p.descriptor || !p.active) continue
      const seller = p.descriptor.seller.toLowerCase()
      const list = bySeller.get(seller) ?? []
      list.push({ productId: p.productId.toString(), name: p.descriptor.name })
      bySeller.set(seller, list)
    }
  } catch {
    // the catalog is a nicety here: the channels are listed without product names
  }
  return bySeller
}
