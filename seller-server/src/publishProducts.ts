import { type DataRegistryContract, decodeRevert, ProductKind, type ProductView } from '@trickle/contracts'
import { type Hex, type ProductDescriptor, TrickleError, toHex } from '@trickle/protocol'
import type { FeeOverrides } from '@trickle/sdk'
import { type JsonRpcProvider, Transaction, type Wallet } from 'ethers'
import type { CID } from 'multiformats/cid'
import { followTransaction, type RecordedTransaction } from './followTransaction.ts'
import type { IpfsNode } from './ipfsNode.ts'
import type { ProductRecord, ReceiptStore } from './receiptStore.ts'

/** A product as listed: its local key, on-chain id and descriptor CID. */
export interface PublishedProduct {
  key: string
  productId: bigint
  cid: string
  descriptor: ProductDescriptor
}

/** What publishing needs, injected: the IPFS node, the chain, the seller's account, the store. */
export interface ProductPublisher {
  ipfs: IpfsNode
  /** DataRegistry (its runner is replaced by `wallet`) */
  registry: DataRegistryContract
  provider: JsonRpcProvider
  /** the seller's account, connected to `provider`: it owns the products and signs their transactions */
  wallet: Wallet
  /** where published products and registrations in flight are recorded */
  store: ReceiptStore
  /** fee fields of each transaction (legacy pricing on IOTA EVM); none by default */
  fees?: () => Promise<FeeOverrides>
  /** ms between receipt polls of a registration (default 250) */
  pollMs?: number
}

/** Registrations signed per product when other transactions keep taking their nonce. */
const MAX_REGISTRATIONS = 3

/**
 * Publishes each descriptor to the IPFS node and indexes its CID in `DataRegistry`, so that a product
 * is registered on the chain once however often the seller starts:
 * - a product the store records (per registry and key) is looked up on the chain and kept if this
 *   seller still owns it and it is active; it is updated when its descriptor changed. A descriptor
 *   that differs from the published one only in `createdAt` counts as unchanged (it keeps the old
 *   `createdAt`), so a restart costs no transaction;
 * - a new product's registration is signed and recorded in the store before it is broadcast; a
 *   registration recorded by an earlier start is followed (rebroadcast unchanged if the node does not
 *   know it) instead of signed again, and registered anew only if it can never be mined (another
 *   transaction took its nonce) or reverted.
 *
 * An RPC failure stops the publication with `CHAIN_UNAVAILABLE`; what was recorded lets the next call
 * go on where this one stopped.
 *
 * @param descriptors - product key → descriptor
 * @returns the products in the order given
 * @throws TrickleError `CHAIN_UNAVAILABLE` (the RPC failed: try again later), `STORE_FAILED`,
 *   `TRANSACTION_REVERTED` (the registry refuses a registration or an update), `DESCRIPTOR_INVALID`
 *   (a descriptor the schema refuses), `INTERNAL` (the IPFS node could not add a descriptor)
 */
export async function publishProducts(
  publisher: ProductPublisher,
  descriptors: ReadonlyMap<string, ProductDescriptor>,
): Promise<PublishedProduct[]> {
  const registry = publisher.registry.connect(publisher.wallet)
  const registryAddress = (await registry.getAddress()).toLowerCase()
  const recorded = new Map((await publisher.store.products(registryAddress)).map((p) => [p.key, p]))
  const out: PublishedProduct[] = []
  for (const [key, fresh] of descriptors) {
    let record = recorded.get(key)
    if (record !== undefined && record.productId === undefined) {
      record = await finishRegistration(publisher, registry, record)
    }
    const productId = record?.productId
    const kept =
      record === undefined || productId === undefined
        ? undefined
        : await keep(publisher, registry, record, productId, fresh)
    out.push(kept ?? (await register(publisher, registry, registryAddress, key, fresh)))
  }
  return out
}

/**
 * Follows the registration an earlier start recorded.
 * @returns the record with its product id, or undefined when it can never be mined or reverted
 */
async function finishRegistration(
  publisher: ProductPublisher,
  registry: DataRegistryContract,
  record: ProductRecord,
): Promise<ProductRecord | undefined> {
  if (record.txHash === undefined || record.rawTx === undefined) return undefined
  const tx = { txHash: record.txHash, rawTx: record.rawTx }
  const mined = await followTransaction(publisher.provider, tx, publisher.pollMs ?? 250)
  if (mined === 'dropped' || mined.status !== 1) return undefined
  const { rawTx: _, ...done } = { ...record, productId: registeredId(registry, mined.logs, record.key) }
  await publisher.store.recordProduct(done)
  return done
}

/**
 * A recorded product this seller still owns, active: updated to the fresh descriptor if it changed.
 * @returns the product, or undefined when the chain has no such product of this seller (register anew)
 */
async function keep(
  publisher: ProductPublisher,
  registry: DataRegistryContract,
  record: ProductRecord,
  productId: bigint,
  fresh: ProductDescriptor,
): Promise<PublishedProduct | undefined> {
  const { key } = record
  let view: ProductView
  try {
    view = await registry.getProduct(productId)
  } catch (cause) {
    // An id this registry never issued (reverts UnknownProduct) is not this seller's product; any
    // other failure says nothing about the product, and registering it again would duplicate it.
    if (decodeRevert(cause)?.name === 'UnknownProduct') return undefined
    throw new TrickleError('CHAIN_UNAVAILABLE', `could not look up product ${productId} (${key})`, { cause })
  }
  if (!view.active || view.owner.toLowerCase() !== publisher.wallet.address.toLowerCase()) return undefined
  const onChain = view.descriptorCid.toLowerCase()
  let descriptor = fresh
  let cid = await addDescriptor(publisher.ipfs, key, descriptor)
  if (record.createdAt !== undefined && toHex(cid.bytes) !== onChain) {
    const kept = { ...fresh, createdAt: record.createdAt }
    const keptCid = await addDescriptor(publisher.ipfs, key, kept)
    if (toHex(keptCid.bytes) === onChain) {
      descriptor = kept
      cid = keptCid
    }
  }
  // Recorded first: should the update's outcome not be seen, the next start finds the CID it sent.
  await publisher.store.recordProduct({ ...record, cid: cid.toString(), createdAt: descriptor.createdAt })
  if (toHex(cid.bytes) !== onChain) {
    try {
      const fees = (await publisher.fees?.()) ?? {}
      await (await registry.update(productId, cid.bytes, fees)).wait()
    } catch (cause) {
      throw chainError(cause, `update product ${productId} (${key})`)
    }
  }
  return { key, productId, cid: cid.toString(), descriptor }
}

/** Registers a product: records the signed registration, then broadcasts it and waits for its id. */
async function register(
  publisher: ProductPublisher,
  registry: DataRegistryContract,
  registryAddress: string,
  key: string,
  descriptor: ProductDescriptor,
): Promise<PublishedProduct> {
  const cid = await addDescriptor(publisher.ipfs, key, descriptor)
  const base = { registry: registryAddress, key, cid: cid.toString(), createdAt: descriptor.createdAt }
  for (let attempt = 1; ; attempt++) {
    const tx = await signRegistration(publisher, registry, key, cid, ProductKind[descriptor.kind])
    await publisher.store.recordProduct({ ...base, ...tx })
    const mined = await followTransaction(publisher.provider, tx, publisher.pollMs ?? 250)
    if (mined === 'dropped') {
      if (attempt < MAX_REGISTRATIONS) continue
      throw new TrickleError('CHAIN_UNAVAILABLE', `the registration of ${key} keeps losing its nonce`)
    }
    if (mined.status !== 1) {
      throw new TrickleError('TRANSACTION_REVERTED', `the registration of ${key} reverted`, {
        details: tx.txHash,
      })
    }
    const productId = registeredId(registry, mined.logs, key)
    await publisher.store.recordProduct({ ...base, productId, txHash: tx.txHash })
    return { key, productId, cid: cid.toString(), descriptor }
  }
}

/** Signs `register(cid, kind)` from the seller's account, with the next nonce and fees. */
async function signRegistration(
  publisher: ProductPublisher,
  registry: DataRegistryContract,
  key: string,
  cid: CID,
  kind: number,
): Promise<RecordedTransaction> {
  let rawTx: string
  try {
    const call = await registry.register.populateTransaction(
      cid.bytes,
      kind,
      (await publisher.fees?.()) ?? {},
    )
    rawTx = await publisher.wallet.signTransaction(await publisher.wallet.populateTransaction(call))
  } catch (cause) {
    throw chainError(cause, `register ${key}`)
  }
  return { txHash: Transaction.from(rawTx).hash as Hex, rawTx: rawTx as Hex }
}

/** The id of the `ProductRegistered` event among a registration's logs. */
function registeredId(
  registry: DataRegistryContract,
  logs: readonly { topics: readonly string[]; data: string }[],
  key: string,
): bigint {
  for (const log of logs) {
    const event = registry.interface.parseLog(log)
    if (event?.name === 'ProductRegistered') return event.args.getValue('productId') as bigint
  }
  throw new TrickleError('INTERNAL', `registering ${key} emitted no ProductRegistered event`)
}

/** A registry transaction's failure: the registry's refusal, or the chain's. */
function chainError(cause: unknown, action: string): TrickleError {
  if (cause instanceof TrickleError) return cause
  const revert = decodeRevert(cause)
  if (revert) {
    return new TrickleError('TRANSACTION_REVERTED', `the registry refuses to ${action}`, {
      cause,
      details: revert.name,
    })
  }
  return new TrickleError('CHAIN_UNAVAILABLE', `could not ${action}`, { cause })
}

/**
 * Adds a descriptor to the IPFS node.
 * @throws TrickleError `DESCRIPTOR_INVALID`, `INTERNAL` (the node's error its cause)
 */
async function addDescriptor(ipfs: IpfsNode, key: string, descriptor: ProductDescriptor): Promise<CID> {
  try {
    return await ipfs.publish(descriptor)
  } catch (cause) {
    if (cause instanceof TrickleError) throw cause
    throw new TrickleError('INTERNAL', `could not add the descriptor of ${key} to the IPFS node`, { cause })
  }
}
