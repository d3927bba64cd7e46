import type { CatalogProduct, ProductDescriptor } from '@trickle/sdk'

/** A catalog row the storefront can show: a registered product with a valid descriptor. */
export interface Listing {
  /** what the SDK streams */
  product: CatalogProduct
  productId: bigint
  descriptor: ProductDescriptor
  /** wei per chunk, from the descriptor */
  pricePerChunk: bigint
  /** the registry's owner of the product */
  owner: string
  /** the descriptor's CID (base32 CIDv1), checked against the bytes the gateway served */
  cid: string
  /** the terms key the seller registered (`DataRegistry.sellerKey`) */
  sellerKey: string
}

/** How the catalog is narrowed and ordered. */
export interface CatalogQuery {
  /** words that must all appear in the name, description, tags or field names (case-insensitive) */
  text: string
  /** `''` for every kind */
  kind: '' | ProductDescriptor['kind']
  /** wei per chunk, inclusive; `undefined` for no bound */
  minPrice: bigint | undefined
  maxPrice: bigint | undefined
  /** a seller address (case-insensitive), `''` for all */
  seller: string
  /** tags a product must all carry */
  tags: readonly string[]
  sort: 'newest' | 'price-asc' | 'price-desc' | 'name'
}

export const EMPTY_QUERY: CatalogQuery = {
  text: '',
  kind: '',
  minPrice: undefined,
  maxPrice: undefined,
  seller: '',
  tags: [],
  sort: 'newest',
}

/** The products with a valid descriptor, as {@link Listing}s; the others are counted, not listed. */
export function listingsOf(products: readonly CatalogProduct[]): { listings: Listing[]; invalid: number } {
  const listings: Listing[] = []
  let invalid = 0
  for (const p of products) {
    if (!p.descriptor || !p.active) {
      if (p.active) invalid++
      continue
    }
    listings.push({
      product: p,
      productId: p.productId,
      descriptor: p.descriptor,
      pricePerChunk: BigInt(p.descriptor.pricePerChunk),
      owner: p.owner,
      cid: p.cid,
      sellerKey: p.sellerKey,
    })
  }
  return { listings, invalid }
}

function haystack(d: ProductDescriptor): string {
  return [d.name, d.description, ...d.tags, ...d.fields.map((f) => f.name), ...d.topics]
    .join(' ')
    .toLowerCase()
}

/** The listings matching `query`, in its order. Pure. */
export function queryCatalog(listings: readonly Listing[], query: CatalogQuery): Listing[] {
  const words = query.text.toLowerCase().split(/\s+/).filter(Boolean)
  const seller = query.seller.toLowerCase()
  const matched = listings.filter((l) => {
    const d = l.descriptor
    if (query.kind && d.kind !== query.kind) return false
    if (query.minPrice !== undefined && l.pricePerChunk < query.minPrice) return false
    if (query.maxPrice !== undefined && l.pricePerChunk > query.maxPrice) return false
    if (seller && d.seller.toLowerCase() !== seller) return false
    if (!query.tags.every((t) => d.tags.includes(t))) return false
    if (words.length > 0) {
      const text = haystack(d)
      if (!words.every((w) => text.includes(w))) return false
    }
    return true
  })
  const byId = (a: Listing, b: Listing) =>
    a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0
  const byPrice = (a: Listing, b: Listing) =>
    a.pricePerChunk < b.pricePerChunk ? -1 : a.pricePerChunk > b.pricePerChunk ? 1 : 0
  switch (query.sort) {
    case 'price-asc':
      return matched.sort((a, b) => byPrice(a, b) || byId(a, b))
    case 'price-desc':
      return matched.sort((a, b) => byPrice(b, a) || byId(a, b))
    case 'name':
      return matched.sort((a, b) => a.descriptor.name.localeCompare(b.descriptor.name) || byId(a, b))
    default:
      // newest first: the descriptor's creation time, then the later registration
      return matched.sort(
        (a, b) => b.descriptor.createdAt.localeCompare(a.descriptor.createdAt) || byId(b, a),
      )
  }
}

/** Every tag and seller in the catalog, for the filter menus, sorted. */
export function facetsOf(listings: readonly Listing[]): { tags: string[]; sellers: string[] } {
  const tags = new Set<string>()
  const sellers = new Set<string>()
  for (const l of listings) {
    for (const t of l.descriptor.tags) tags.add(t)
    sellers.add(l.descriptor.seller)
  }
  return { tags: [...tags].sort(), sellers: [...sellers].sort() }
}
