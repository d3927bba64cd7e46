/**
 * Product kinds as stored by `DataRegistry.register(descriptorCid, kind)`: `stream` (live sensor data),
 * `dataset` (a finite recorded series), `compute` (the buyer's WASI job on the seller's data), `app`
 * (a seller-provided program run with the buyer's parameters). The contract rejects kinds above 3.
 */
export const ProductKind = { stream: 0, dataset: 1, compute: 2, app: 3 } as const

/** A valid product kind number, 0..3. */
export type ProductKind = (typeof ProductKind)[keyof typeof ProductKind]

/** The name of a product kind: `'stream' | 'dataset' | 'compute' | 'app'`. */
export type ProductKindName = keyof typeof ProductKind
