import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import type { ReceiptStore } from './receiptStore.ts'

/** The meta key that marks `products.json` as imported (its value: the file's path). */
const IMPORTED_KEY = 'products.imported'

/** What an older seller wrote per registry and product key: the id, or the id and `createdAt`. */
type LegacyProduct = string | { productId?: unknown; createdAt?: unknown }

/**
 * Imports the product ids an older seller kept in `<dataDir>/<chain scope>/products.json`
 * (`{ [registry]: { [key]: { productId, createdAt } | productId } }`) into the store, once: products
 * the store already records are kept, the file is left where it is, and later starts do not read it.
 * A file that is missing or not JSON imports nothing (and is tried again at the next start).
 *
 * @param path - the old `products.json`
 * @returns how many products were imported
 * @throws TrickleError `STORE_FAILED`
 */
export async function importProductsFile(store: ReceiptStore, path: string, log: Logger): Promise<number> {
  if ((await store.getMeta(IMPORTED_KEY)) !== undefined) return 0
  let state: Record<string, Record<string, LegacyProduct>>
  try {
    state = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      log.warn({ err, path }, 'products.json not imported')
    return 0
  }
  let imported = 0
  for (const [registry, products] of Object.entries(state ?? {})) {
    const known = new Set((await store.products(registry)).map((p) => p.key))
    for (const [key, entry] of Object.entries(products ?? {})) {
      const productId = typeof entry === 'string' ? entry : entry?.productId
      if (known.has(key) || typeof productId !== 'string' || !/^\d+$/.test(productId)) continue
      const createdAt =
        typeof entry === 'object' && typeof entry?.createdAt === 'string' ? entry.createdAt : undefined
      // The CID is not in the file: the next publication compares the chain's with the descriptor's.
      await store.recordProduct({
        registry,
        key,
        productId: BigInt(productId),
        cid: '',
        ...(createdAt === undefined ? {} : { createdAt }),
      })
      imported++
    }
  }
  await store.setMeta(IMPORTED_KEY, path)
  log.info({ path, imported }, 'products.json imported into the receipt store (the file is left as it was)')
  return imported
}
