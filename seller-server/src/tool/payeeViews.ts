import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { channelsAt, ProductKind, registryAt } from '@trickle/contracts'
import {
  type Address,
  decodeDescriptor,
  fromHex,
  type Hex,
  type ProductDescriptor,
  TrickleError,
} from '@trickle/protocol'
import { assertChainId, type ChannelDetails, DEFAULT_LOG_PAGE_BLOCKS, describeChannel } from '@trickle/sdk'
import { FsBlockstore } from 'blockstore-fs'
import { JsonRpcProvider, zeroPadValue } from 'ethers'
import { CID } from 'multiformats/cid'
import { receiptStorePath } from '../chainScope.ts'
import { openReceiptStore, type ProductRecord } from '../receiptStore.ts'
import type { ParsedSellerConfig } from './parseSellerConfig.ts'

/** Concurrent chain reads at most (public RPCs rate-limit). */
const READ_CONCURRENCY = 8

/**
 * A provider for the config's chain, checked to serve that chain id: a fixed network, no response
 * cache (fresh nonces for back-to-back transactions), 250 ms polling.
 * @throws TrickleError `CHAIN_MISMATCH`, `CHAIN_UNAVAILABLE` (naming the RPC URL)
 */
export async function connectChain(parsed: ParsedSellerConfig): Promise<JsonRpcProvider> {
  const { rpcUrl, chainId } = parsed.chain
  const provider = new JsonRpcProvider(rpcUrl, chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
    pollingInterval: 250,
  })
  try {
    await assertChainId(provider, chainId)
    return provider
  } catch (err) {
    provider.destroy()
    if ((err as { code?: unknown }).code !== 'CHAIN_UNAVAILABLE') throw err
    throw new TrickleError('CHAIN_UNAVAILABLE', `${(err as Error).message} (RPC ${rpcUrl})`, { cause: err })
  }
}

/**
 * Where this chain's receipt store lives in the config's data directory (it depends on the genesis
 * block, read from the chain).
 * @throws TrickleError `CHAIN_UNAVAILABLE`
 */
export async function ledgerPathOf(parsed: ParsedSellerConfig, provider: JsonRpcProvider): Promise<string> {
  let genesis: Awaited<ReturnType<JsonRpcProvider['getBlock']>>
  try {
    genesis = await provider.getBlock(0)
  } catch (cause) {
    throw new TrickleError('CHAIN_UNAVAILABLE', 'could not read the genesis block', { cause })
  }
  return receiptStorePath(
    parsed.dataDir,
    parsed.chain.chainId,
    genesis?.hash ?? undefined,
    parsed.chain.channels,
  )
}

/** The products this data directory published on the config's registry (none before a first start). */
export async function recordedProducts(
  parsed: ParsedSellerConfig,
  ledgerPath: string,
): Promise<ProductRecord[]> {
  if (!existsSync(ledgerPath)) return []
  const store = openReceiptStore(ledgerPath, { writerThread: false })
  try {
    return await store.products(parsed.chain.registry)
  } finally {
    await store.close()
  }
}

/** A product of the payee on the registry, with what the seller knows of it locally. */
export interface PayeeProduct {
  productId: bigint
  /** the key it was published under from this data directory, if it was */
  key?: string
  active: boolean
  kind: string
  /** the descriptor, when the data directory's IPFS blocks hold it */
  descriptor?: ProductDescriptor
  /** the registered descriptor CID */
  cid: string
}

/**
 * Every product the payee registered on the config's DataRegistry (`ProductRegistered` events with
 * the payee as indexed owner, read in pages of 10,000 blocks from `deployBlock`), with its state now
 * and, where the data directory has them, its key and descriptor.
 * @throws TrickleError `CHAIN_UNAVAILABLE`
 */
export async function payeeProducts(
  parsed: ParsedSellerConfig,
  provider: JsonRpcProvider,
  payee: Address,
  records: readonly ProductRecord[],
): Promise<PayeeProduct[]> {
  const registry = registryAt(parsed.chain.registry, provider)
  const topics = [registry.interface.getEvent('ProductRegistered')!.topicHash, null, zeroPadValue(payee, 32)]
  const logs = await pagedLogs(provider, parsed.chain.registry, topics, parsed.chain.deployBlock)
  const ids = logs.map((log) => BigInt(log.topics[1]!))
  const keys = new Map(records.filter((r) => r.productId !== undefined).map((r) => [r.productId!, r.key]))
  const out: PayeeProduct[] = []
  for (let i = 0; i < ids.length; i += READ_CONCURRENCY) {
    const batch = ids.slice(i, i + READ_CONCURRENCY)
    const views = await Promise.all(
      batch.map((id) =>
        registry.getProduct(id).catch((cause: unknown) => {
          throw new TrickleError('CHAIN_UNAVAILABLE', `could not read product ${id}`, { cause })
        }),
      ),
    )
    for (const [k, productId] of batch.entries()) {
      const view = views[k]!
      let cid = view.descriptorCid as string
      let descriptor: ProductDescriptor | undefined
      try {
        const parsedCid = CID.decode(fromHex(view.descriptorCid as Hex))
        cid = parsedCid.toString()
        descriptor = await readDescriptor(parsed.dataDir, parsedCid)
      } catch {
        // a CID this seller did not write: listed without its descriptor
      }
      const key = keys.get(productId)
      out.push({
        productId,
        ...(key === undefined ? {} : { key }),
        active: view.active,
        kind: Object.entries(ProductKind).find(([, n]) => n === view.kind)?.[0] ?? String(view.kind),
        ...(descriptor === undefined ? {} : { descriptor }),
        cid,
      })
    }
  }
  return out
}

/**
 * A descriptor from the data directory's IPFS blockstore (`blockstore-fs`, read while a running
 * seller may write it: blocks are immutable files), or undefined when it is not there.
 */
async function readDescriptor(dataDir: string, cid: CID): Promise<ProductDescriptor | undefined> {
  const path = join(dataDir, 'blocks')
  if (!existsSync(path)) return undefined
  try {
    const blocks = new FsBlockstore(path, { createIfMissing: false })
    await blocks.open()
    if (!(await blocks.has(cid))) return undefined
    const parts: Uint8Array[] = []
    for await (const part of blocks.get(cid)) parts.push(part)
    return decodeDescriptor(Buffer.concat(parts))
  } catch {
    return undefined
  }
}

/**
 * Every channel paying the payee (`ChannelOpened` events with the payee as indexed topic, in pages
 * from `deployBlock`), read at one block.
 * @throws TrickleError `CHAIN_UNAVAILABLE`
 */
export async function payeeChannels(
  parsed: ParsedSellerConfig,
  provider: JsonRpcProvider,
  payee: Address,
): Promise<ChannelDetails[]> {
  const channels = channelsAt(parsed.chain.channels, provider)
  const topics = [
    channels.interface.getEvent('ChannelOpened')!.topicHash,
    null,
    null,
    zeroPadValue(payee, 32),
  ]
  const logs = await pagedLogs(provider, parsed.chain.channels, topics, parsed.chain.deployBlock)
  let block: { number: number; timestamp: bigint }
  try {
    const latest = await provider.getBlock('latest')
    if (latest === null) throw new Error('no latest block')
    block = { number: latest.number, timestamp: BigInt(latest.timestamp) }
  } catch (cause) {
    throw new TrickleError('CHAIN_UNAVAILABLE', 'could not read the latest block', { cause })
  }
  const ids = logs.map((log) => log.topics[1] as Hex)
  const out: ChannelDetails[] = []
  for (let i = 0; i < ids.length; i += READ_CONCURRENCY) {
    const batch = ids.slice(i, i + READ_CONCURRENCY)
    const views = await Promise.all(
      batch.map((id) =>
        channels.getChannel(id, { blockTag: block.number }).catch((cause: unknown) => {
          throw new TrickleError('CHAIN_UNAVAILABLE', `could not read channel ${id}`, { cause })
        }),
      ),
    )
    batch.forEach((id, k) => {
      out.push(describeChannel(id, views[k]!, block))
    })
  }
  return out
}

/** Logs of one contract with `topics`, from `fromBlock` to the latest block, in pages. */
async function pagedLogs(
  provider: JsonRpcProvider,
  address: string,
  topics: (string | null)[],
  fromBlock: number,
): Promise<Awaited<ReturnType<JsonRpcProvider['getLogs']>>> {
  const out: Awaited<ReturnType<JsonRpcProvider['getLogs']>> = []
  try {
    const latest = await provider.getBlockNumber()
    for (let start = fromBlock; start <= latest; start += DEFAULT_LOG_PAGE_BLOCKS) {
      const toBlock = Math.min(start + DEFAULT_LOG_PAGE_BLOCKS - 1, latest)
      out.push(...(await provider.getLogs({ address, topics, fromBlock: start, toBlock })))
    }
  } catch (cause) {
    throw new TrickleError('CHAIN_UNAVAILABLE', 'could not read the contract events', { cause })
  }
  return out
}
