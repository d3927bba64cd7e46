import type { CatalogProduct, ProductDescriptor } from '@trickle/sdk'
import { describe, expect, it } from 'vitest'
import { EMPTY_QUERY, facetsOf, listingsOf, queryCatalog } from '../src/lib/catalogQuery.ts'

const SELLER_A = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
const SELLER_B = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'

function product(
  id: number,
  over: Partial<ProductDescriptor> & { price: string },
  valid = true,
): CatalogProduct {
  const descriptor: ProductDescriptor = {
    schema: 'trickle.descriptor/1',
    name: `Product ${id}`,
    description: '',
    kind: 'stream',
    seller: SELLER_A,
    endpoint: 'ws://127.0.0.1:1/',
    pricePerChunk: over.price,
    chunk: { encoding: 'application/json', maxBytes: 4096, unit: 'one reading' },
    topics: [],
    fields: [],
    tags: [],
    source: { title: '', licence: 'CC BY 4.0', attribution: '' },
    createdAt: `2026-01-0${id}T00:00:00Z`,
    ...over,
  }
  return {
    productId: BigInt(id),
    owner: descriptor.seller,
    kind: descriptor.kind,
    active: true,
    cid: `cid${id}`,
    descriptor: valid ? descriptor : undefined,
    ...(valid ? {} : { problem: { code: 'DESCRIPTOR_INVALID', message: 'bad' } }),
    sellerKey: descriptor.seller,
  }
}

const catalog = listingsOf([
  product(1, {
    price: '1000',
    name: 'Carbon monoxide',
    tags: ['air-quality', 'co'],
    fields: [{ name: 'CO(GT)', unit: 'mg/m³' }],
  }),
  product(2, {
    price: '500',
    name: 'Nitrogen oxides',
    description: 'NOx and NO2 from the analyser',
    tags: ['air-quality', 'nox'],
  }),
  product(3, { price: '2000', name: 'Office CO2', kind: 'dataset', seller: SELLER_B, tags: ['office'] }),
  product(4, { price: '1' }, false),
])

describe('listingsOf', () => {
  it('lists products with a valid descriptor and counts the others', () => {
    expect(catalog.listings.map((l) => l.productId)).toEqual([1n, 2n, 3n])
    expect(catalog.invalid).toBe(1)
    expect(catalog.listings[0]?.pricePerChunk).toBe(1000n)
  })
})

describe('queryCatalog', () => {
  const ids = (q: Partial<typeof EMPTY_QUERY>) =>
    queryCatalog(catalog.listings, { ...EMPTY_QUERY, ...q }).map((l) => Number(l.productId))

  it('searches name, description, tags and field names, every word, ignoring case', () => {
    expect(ids({ text: 'no2' })).toEqual([2])
    expect(ids({ text: 'co(gt)' })).toEqual([1])
    expect(ids({ text: 'AIR quality' })).toEqual([2, 1])
    expect(ids({ text: 'quality office' })).toEqual([])
    expect(ids({ text: 'air-quality analyser' })).toEqual([2])
  })

  it('filters by kind, price range (wei, inclusive), seller and tags', () => {
    expect(ids({ kind: 'dataset' })).toEqual([3])
    expect(ids({ minPrice: 500n, maxPrice: 1000n, sort: 'price-asc' })).toEqual([2, 1])
    expect(ids({ seller: SELLER_B.toLowerCase() })).toEqual([3])
    expect(ids({ tags: ['air-quality'], sort: 'name' })).toEqual([1, 2])
  })

  it('sorts by price both ways and newest first by default', () => {
    expect(ids({ sort: 'price-asc' })).toEqual([2, 1, 3])
    expect(ids({ sort: 'price-desc' })).toEqual([3, 1, 2])
    expect(ids({})).toEqual([3, 2, 1])
  })
})

describe('facetsOf', () => {
  it('collects every tag and seller once, sorted', () => {
    const f = facetsOf(catalog.listings)
    expect(f.tags).toEqual(['air-quality', 'co', 'nox', 'office'])
    expect(f.sellers).toEqual([SELLER_B, SELLER_A].sort())
  })
})
