import { channelsAt, type FeeMode, registryAt } from '@trickle/contracts'
import type { Address, Hex, ResumeBase } from '@trickle/protocol'
import {
  type BufferLimits,
  BuyerChannelAccount,
  BuyerSession,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  receiptDomainSeparator,
  signAccept,
  signReceipt,
  TrickleError,
} from '@trickle/protocol'
import { computeAddress, getBytes, type Provider, type SigningKey, Wallet, ZeroAddress } from 'ethers'
import { type CatalogProduct, joinDescriptor, listProducts } from './catalog.ts'
import { assertChainId } from './chain/assertChainId.ts'
import type { ChannelDetails } from './channels/describeChannel.ts'
import { type FinalizeResult, finalizeChannel } from './channels/finalizeChannel.ts'
import { type ListChannelsOptions, type ListedChannel, listChannels } from './channels/listChannels.ts'
import { type OpenChannelResult, openChannel } from './channels/openChannel.ts'
import { readChannel } from './channels/readChannel.ts'
import { type RequestCloseResult, requestChannelClose } from './channels/requestChannelClose.ts'
import { toChainError } from './channels/toChainError.ts'
import { type TopUpResult, topUpChannel } from './channels/topUpChannel.ts'
import type { ChannelWriter } from './channels/types.ts'
import { createDescriptorFetcher, type DescriptorFetcher } from './fetchDescriptor.ts'
import { receiptSigners } from './receiptSigners.ts'
import { connectSocket, SessionSocket } from './stream/sessionSocket.ts'
import type { PaidStream, StreamOptions } from './types.ts'

/** Where the marketplace lives: one chain, one registry, one channel contract. */
export interface MarketplaceConfig {
  chainId: number
  /** DataRegistry address */
  registry: Address
  /** StreamChannels address */
  channels: Address
  /** block the registry was deployed at (catalog and channel-list indexing start there) */
  deployBlock?: number
  /** IPFS trustless gateway URLs that serve descriptors */
  gateways: readonly string[]
  /**
   * how the chain prices transactions (see `ChainPreset.fees` of `@trickle/contracts`): `legacy`
   * sends type-0 transactions at the node's `eth_gasPrice` (IOTA EVM); `eip1559` when absent
   */
  fees?: FeeMode
}

/** Options of {@link BuyerClient.create}. */
export interface BuyerClientOptions extends MarketplaceConfig {
  /** the payer: opens and funds channels (must be connected to a provider) */
  wallet: Wallet
  /** signs receipts; a fresh random session key when absent (the channel authorizes it at open) */
  sessionKey?: SigningKey
}

/**
 * The programmatic buyer: finds products in the catalog (registry + IPFS), opens and funds payment
 * channels, and streams verified chunks while paying with signed cumulative receipts.
 */
export class BuyerClient {
  readonly config: MarketplaceConfig
  readonly wallet: Wallet
  readonly sessionKey: SigningKey
  readonly provider: Provider
  private readonly gateways: readonly string[]
  private fetcher: Promise<DescriptorFetcher> | undefined
  private readonly domainSeparator: Hex
  /** last receipt signed per channel, so a later session resumes where this one stopped */
  private readonly bases = new Map<string, ResumeBase>()
  /** running totals per channel, shared by the sessions streaming on a channel at once */
  private readonly accounts = new Map<string, BuyerChannelAccount>()
  /** the highest block a transaction of this client was mined in: reads happen at it or later */
  private seenBlock = 0

  private constructor(options: BuyerClientOptions, provider: Provider) {
    this.config = options
    this.wallet = options.wallet
    this.provider = provider
    this.gateways = options.gateways
    this.sessionKey = options.sessionKey ?? Wallet.createRandom().signingKey
    this.domainSeparator = receiptDomainSeparator({ chainId: options.chainId, channels: options.channels })
  }

  /**
   * Creates a client after checking that the wallet's RPC serves the configured chain (`eth_chainId`),
   * so it can never sign for another chain. The IPFS fetcher starts on the first catalog read.
   * @throws TrickleError `CHAIN_UNAVAILABLE` when the wallet has no provider or the RPC does not answer;
   *   `CHAIN_MISMATCH` when the RPC serves another chain id than `chainId`
   */
  static async create(options: BuyerClientOptions): Promise<BuyerClient> {
    const provider = options.wallet.provider
    if (!provider) throw new TrickleError('CHAIN_UNAVAILABLE', 'the wallet has no provider')
    await assertChainId(provider, options.chainId)
    return new BuyerClient(options, provider)
  }

  /** The payer's address (opens, funds and closes channels). */
  get payerAddress(): Address {
    return this.wallet.address as Address
  }

  /** The address receipts are signed by. */
  get signerAddress(): Address {
    return computeAddress(this.sessionKey.publicKey) as Address
  }

  /** Every product in the registry, with its descriptor. */
  async products(): Promise<CatalogProduct[]> {
    return listProducts({
      provider: this.provider,
      registry: this.config.registry,
      fetcher: await this.descriptorFetcher(),
      ...(this.config.deployBlock !== undefined ? { fromBlock: this.config.deployBlock } : {}),
    })
  }

  /**
   * One product, active and with a valid descriptor.
   * @throws TrickleError `PRODUCT_NOT_FOUND`, or the descriptor's problem code
   */
  async product(productId: bigint): Promise<CatalogProduct> {
    const registry = registryAt(this.config.registry, this.provider)
    const view = await registry.getProduct(productId).catch(() => undefined)
    if (!view?.active || view.owner === ZeroAddress) {
      throw new TrickleError('PRODUCT_NOT_FOUND', `product ${productId} is not listed`)
    }
    const found = await joinDescriptor(
      {
        productId,
        owner: view.owner as Address,
        kind: view.kind,
        active: view.active,
        cid: getBytes(view.descriptorCid),
      },
      (await registry.sellerKey(view.owner)) as Address,
      { fetcher: await this.descriptorFetcher() },
    )
    if (!found.descriptor) throw new TrickleError(found.problem!.code, found.problem!.message)
    return found
  }

  /**
   * Opens a channel to `payee`, authorizing this client's session key as signer. Native coin unless
   * `options.token` names an ERC-20 (approved first when the allowance is short).
   * @param payee - the seller's address
   * @param deposit - wei (token base units for an ERC-20), above zero
   * @param options - `token`: ERC-20 address to pay in
   * @returns the channel id, the credited deposit and the transaction
   * @throws TrickleError `INVALID_ARGUMENT`, `INSUFFICIENT_FUNDS`, `CHAIN_UNAVAILABLE`,
   *   `TRANSACTION_REVERTED`
   */
  openChannel(
    payee: Address,
    deposit: bigint,
    options: { token?: Address } = {},
  ): Promise<OpenChannelResult> {
    return openChannel(this.writer(), {
      payee,
      deposit,
      signer: this.signerAddress,
      ...(options.token !== undefined ? { token: options.token } : {}),
    }).then((r) => this.seen(r))
  }

  /**
   * A channel's on-chain state at the latest block — never before the block of this client's last
   * transaction, so a provider that still reports an older block cannot hide a channel just opened —
   * deposit, claimed, remaining, status, deadline and whether it can be finalized now.
   * @throws TrickleError `UNKNOWN_CHANNEL`, `CHAIN_UNAVAILABLE`
   */
  channel(channelId: Hex): Promise<ChannelDetails> {
    return readChannel(this.writer(), channelId)
  }

  /**
   * The channels this client's payer opened, from `ChannelOpened` logs (filtered by the indexed payer,
   * read in pages of `pageBlocks` blocks from the deployment block) joined with their current state.
   * @param options - `payer` (default: this client's payer), `fromBlock` (default: `deployBlock`, else
   *   0), `pageBlocks` (default 10,000)
   * @throws TrickleError `CHAIN_UNAVAILABLE` (lower `pageBlocks` when the RPC caps log ranges)
   */
  channels(options: Partial<ListChannelsOptions> = {}): Promise<ListedChannel[]> {
    const fromBlock = options.fromBlock ?? this.config.deployBlock
    return listChannels(this.writer(), {
      payer: options.payer ?? this.payerAddress,
      ...(fromBlock !== undefined ? { fromBlock } : {}),
      ...(options.pageBlocks !== undefined ? { pageBlocks: options.pageBlocks } : {}),
    })
  }

  /**
   * Adds `amount` to an open channel's deposit; for an ERC-20 channel, approves the contract first
   * when the allowance is short.
   * @param amount - wei (token base units for an ERC-20), above zero
   * @returns the credited amount, the new deposit and the transaction
   * @throws TrickleError `INVALID_ARGUMENT`, `UNKNOWN_CHANNEL`, `CHANNEL_NOT_OPEN`, `INSUFFICIENT_FUNDS`,
   *   `CHAIN_UNAVAILABLE`, `TRANSACTION_REVERTED`
   */
  topUp(channelId: Hex, amount: bigint): Promise<TopUpResult> {
    return topUpChannel(this.writer(), channelId, amount).then((r) => this.seen(r))
  }

  /**
   * Starts the challenge period of a channel (payer only); the seller can still claim until the
   * deadline, then {@link finalize} refunds the rest.
   * @returns the close deadline (unix seconds) and the transaction
   * @throws TrickleError `UNKNOWN_CHANNEL`, `NOT_PAYER`, `CHANNEL_NOT_OPEN`, `INSUFFICIENT_FUNDS`,
   *   `CHAIN_UNAVAILABLE`
   */
  requestClose(channelId: Hex): Promise<RequestCloseResult> {
    return requestChannelClose(this.writer(), channelId).then((r) => this.seen(r))
  }

  /**
   * Refunds the unclaimed deposit (deposit − claimed) to the payer after the challenge period and
   * closes the channel.
   * @returns the refund and the payee's total, in wei, and the transaction
   * @throws TrickleError `UNKNOWN_CHANNEL`, `CLOSE_NOT_REQUESTED`, `CHALLENGE_PERIOD_NOT_OVER`,
   *   `CHANNEL_NOT_OPEN` (already closed), `INSUFFICIENT_FUNDS`, `CHAIN_UNAVAILABLE`
   */
  finalize(channelId: Hex): Promise<FinalizeResult> {
    return finalizeChannel(this.writer(), channelId).then((r) => this.seen(r))
  }

  /** Records the block of a transaction this client sent: later reads happen at it or after. */
  private seen<T extends { blockNumber: number }>(outcome: T): T {
    if (outcome.blockNumber > this.seenBlock) this.seenBlock = outcome.blockNumber
    return outcome
  }

  private writer(): ChannelWriter {
    return {
      provider: this.provider,
      minBlock: this.seenBlock,
      signer: this.wallet,
      channels: this.config.channels,
      fees: this.config.fees ?? 'eip1559',
    }
  }

  private descriptorFetcher(): Promise<DescriptorFetcher> {
    this.fetcher ??= createDescriptorFetcher(this.gateways).catch((err: unknown) => {
      this.fetcher = undefined
      throw err
    })
    return this.fetcher
  }

  /**
   * Connects to the product's seller and streams it, paying per the signed terms.
   *
   * The terms must price chunks at most at the descriptor's `pricePerChunk` (or `maxPricePerChunk`);
   * a resume base may be signed by the channel's payer, signer or still-valid previous signer.
   *
   * @param product - from {@link products} / {@link product}
   * @returns a {@link PaidStream}
   * @throws TrickleError `INVALID_ARGUMENT` (a buffer limit below 1), `DESCRIPTOR_INVALID`,
   *   `CHANNEL_NOT_OPEN`, `WRONG_PAYEE`, `CHAIN_UNAVAILABLE`, `CONNECTION_FAILED`; session errors (e.g.
   *   `TERMS_SIGNER_MISMATCH`, `TERMS_INVALID`) surface from the iterator
   */
  async stream(product: CatalogProduct, options: StreamOptions): Promise<PaidStream> {
    const descriptor = product.descriptor
    if (!descriptor) throw new TrickleError('DESCRIPTOR_INVALID', 'product has no valid descriptor')
    const limits: BufferLimits = {
      maxChunks: atLeastOne('maxBufferedChunks', options.maxBufferedChunks ?? DEFAULT_MAX_BUFFERED_CHUNKS),
      maxBytes: atLeastOne('maxBufferedBytes', options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES),
    }
    const view = await this.channel(options.channelId)
    if (view.status !== 'open') {
      throw new TrickleError('CHANNEL_NOT_OPEN', `channel ${options.channelId} is ${view.status}`)
    }
    if (view.payee.toLowerCase() !== descriptor.seller.toLowerCase()) {
      throw new TrickleError(
        'WRONG_PAYEE',
        `channel pays ${view.payee}, the product is sold by ${descriptor.seller}`,
      )
    }
    // The signer fields ChannelDetails leaves out, read at the same block.
    const signers = await channelsAt(this.config.channels, this.provider)
      .getChannel(options.channelId, { blockTag: view.blockNumber })
      .then((raw) => receiptSigners(raw, view.blockTimestamp))
      .catch((err: unknown) => {
        throw toChainError(err, `read channel ${options.channelId}`)
      })
    const key = options.channelId.toLowerCase()
    const knownBase = this.bases.get(key)
    let account = this.accounts.get(key)
    if (!account) {
      account = new BuyerChannelAccount()
      this.accounts.set(key, account)
    }
    const session = new BuyerSession({
      productId: product.productId,
      channelId: options.channelId,
      chainId: this.config.chainId,
      channels: this.config.channels,
      payee: view.payee,
      sellerKey: (await registryAt(this.config.registry, this.provider).sellerKey(view.payee)) as Address,
      signer: this.signerAddress,
      maxSpend: options.maxSpend,
      domainSeparator: this.domainSeparator,
      signReceipt: (r) => signReceipt(this.sessionKey, this.domainSeparator, r),
      signAccept: (a) => signAccept(this.sessionKey, this.domainSeparator, a),
      ...(options.maxChunks !== undefined ? { maxChunks: options.maxChunks } : {}),
      ...(options.maxPricePerChunk !== undefined ? { maxPricePerChunk: options.maxPricePerChunk } : {}),
      ...(options.maxDebt !== undefined ? { maxDebt: options.maxDebt } : {}),
      expectedPricePerChunk: BigInt(descriptor.pricePerChunk),
      baseSigners: signers,
      ...(knownBase ? { knownBase } : {}),
      account,
    })
    const ws = await connectSocket(descriptor.endpoint, options.connectTimeoutMs ?? 10_000)
    // Receipts of concurrent sessions may be remembered out of order: keep the highest amount.
    return new SessionSocket(ws, session, limits, {
      receipt: (base) => {
        const known = this.bases.get(key)
        if (!known || base.amount >= known.amount) this.bases.set(key, base)
      },
    })
  }

  /** Stops the IPFS fetcher, if it was started. Open streams are not affected. */
  async close(): Promise<void> {
    const fetcher = this.fetcher
    this.fetcher = undefined
    if (fetcher) await (await fetcher.catch(() => undefined))?.stop()
  }
}

/**
 * A buffer limit of {@link StreamOptions}, checked.
 * @returns `value`, an integer ≥ 1
 * @throws TrickleError `INVALID_ARGUMENT` for anything else
 */
function atLeastOne(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TrickleError('INVALID_ARGUMENT', `${name} must be an integer of at least 1, not ${value}`)
  }
  return value
}
