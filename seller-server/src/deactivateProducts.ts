import { type DataRegistryContract, decodeRevert } from '@trickle/contracts'
import { TrickleError } from '@trickle/protocol'
import type { FeeOverrides } from '@trickle/sdk'
import type { Wallet } from 'ethers'
import type { ReceiptStore } from './receiptStore.ts'

/** What deactivating needs: the registry, the owner's account, the store of published products. */
export interface ProductDeactivator {
  /** DataRegistry (its runner is replaced by `wallet`) */
  registry: DataRegistryContract
  /** the products' owner, connected to a provider */
  wallet: Wallet
  /** where the seller recorded its published products */
  store: ReceiptStore
  /** fee fields of each transaction (legacy pricing on IOTA EVM); none by default */
  fees?: () => Promise<FeeOverrides>
}

/** A product taken off the catalog. */
export interface DeactivatedProduct {
  key: string
  productId: bigint
  /** the `deactivate` transaction */
  txHash: string
}

/**
 * Deactivates on `DataRegistry` every product this seller published (as its store records them) whose
 * key is not in `keep`, and that is still active and owned by the wallet: a product dropped from the
 * seller's configuration leaves the catalog. Deactivation is final on the registry; a key added back
 * later is registered as a new product.
 *
 * @param keep - the keys still sold
 * @returns the products deactivated now, in key order
 * @throws TrickleError `CHAIN_UNAVAILABLE`, `TRANSACTION_REVERTED`, `STORE_FAILED`
 */
export async function deactivateDroppedProducts(
  deactivator: ProductDeactivator,
  keep: ReadonlySet<string>,
): Promise<DeactivatedProduct[]> {
  const registryAddress = await deactivator.registry.getAddress()
  const records = await deactivator.store.products(registryAddress)
  const out: DeactivatedProduct[] = []
  for (const record of records) {
    if (keep.has(record.key) || record.productId === undefined) continue
    const done = await deactivateProduct(deactivator, record.productId, record.key)
    if (done) out.push(done)
  }
  return out
}

/**
 * Deactivates one product if it is active and the wallet owns it.
 * @param key - the product's key, for messages
 * @returns the deactivation, or undefined when the product was inactive already
 * @throws TrickleError `TRANSACTION_REVERTED` (not the owner, unknown id), `CHAIN_UNAVAILABLE`
 */
export async function deactivateProduct(
  deactivator: Omit<ProductDeactivator, 'store'>,
  productId: bigint,
  key: string,
): Promise<DeactivatedProduct | undefined> {
  const registry = deactivator.registry.connect(deactivator.wallet)
  try {
    const view = await registry.getProduct(productId)
    if (!view.active) return undefined
    if (view.owner.toLowerCase() !== deactivator.wallet.address.toLowerCase()) {
      throw new TrickleError(
        'TRANSACTION_REVERTED',
        `product ${productId} (${key}) belongs to ${view.owner}, not to ${deactivator.wallet.address}`,
      )
    }
    const tx = await registry.deactivate(productId, (await deactivator.fees?.()) ?? {})
    await tx.wait()
    return { key, productId, txHash: tx.hash }
  } catch (cause) {
    if (cause instanceof TrickleError) throw cause
    const revert = decodeRevert(cause)
    if (revert) {
      throw new TrickleError('TRANSACTION_REVERTED', `the registry refuses to deactivate ${key}`, {
        cause,
        details: revert.name,
      })
    }
    throw new TrickleError('CHAIN_UNAVAILABLE', `could not deactivate product ${productId} (${key})`, {
      cause,
    })
  }
}
