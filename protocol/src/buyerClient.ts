import { type FeeMode, registryAt } from '@trickle/contracts'
import { computeAddress, getBytes, type Provider, type SigningKey, Wallet, ZeroAddress } from 'ethers'
import WebSocket from 'ws'
import { signAccept } from './accept.ts'
import { BuyerChannelAccount } from './buyerChannelAccount.ts'
import { BuyerSession, closeError } from './buyerSession.ts'
import { type CatalogProduct, joinDescriptor, listProducts } from './catalog.ts'
import { assertChainId } from './chain/assertChainId.ts'
import type { ChannelDetails } from './channels/describeChannel.ts'
import { type FinalizeResult, finalizeChannel } from './channels/finalizeChannel.ts'
import { type ListChannelsOptions, type ListedChannel, listChannels } from './channels/listChannels.ts'
import { type OpenChannelResult, openChannel } from './channels/openChannel.ts'
import { readChannel } from './channels/readChannel.ts'
import { type RequestCloseResult, requestChannelClose } from './channels/requestChannelClose.ts'
import { type TopUpResult, topUpChannel } from './channels/topUpChannel.ts'
import type { ChannelWriter } from './channels/types.ts'
import { DEFAULT_MAX_FRAME_BYTES, decodeFrame, encodeFrame } from './codec.ts'
import { type ErrorCode, TrickleError } from './errors.ts'
import { createDescriptorFetcher, type DescriptorFetcher } from './fetchDescriptor.ts'
import type { CloseReason, ResumeBase } from './frames.ts'
import type { Address, Hex } from './hex.ts'
import { receiptDomainSeparator, signReceipt } from './receipt.ts'

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

/** One verified chunk: in sequence, within the terms' size limit, from the authenticated seller. */
export interface Chunk {
  /** chunk number on the channel */
  seq: number
  data: Uint8Array
}

/** What a finished session did. */
export interface SessionSummary {
  chunks: number
  /** wei signed for in this session */
  paid: bigint
  /** the channel's cumulative amount after this session, wei */
  cumulativeAmount: bigint
  reason: CloseReason | undefined
  error?: { code: ErrorCode; message: string }
}

/** A paid stream: iterate it for chunks; it pays as they arrive. */
export interface PaidStream extends AsyncIterable<Chunk> {
  /** ends the session with a final receipt for every chunk received */
  close(): Promise<SessionSummary>
  /** resolves when the session has ended, for whatever reason */
  readonly finished: Promise<SessionSummary>
}

/** Options of {@link BuyerClient.stream}. */
export interface StreamOptions {
  channelId: Hex
  /** wei this session may spend at most */
  maxSpend: bigint
  /** chunks to receive before closing (unbounded when absent) */
  maxChunks?: number
  /** wei per chunk accepted at most */
  maxPricePerChunk?: bigint
  /** ms to wait for the connection */
  connectTimeoutMs?: number
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
    })
  }

  /**
   * A channel's on-chain state at the latest block: deposit, claimed, remaining, status, deadline and
   * whether it can be finalized now.
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
    return topUpChannel(this.writer(), channelId, amount)
  }

  /**
   * Starts the challenge period of a channel (payer only); the seller can still claim until the
   * deadline, then {@link finalize} refunds the rest.
   * @returns the close deadline (unix seconds) and the transaction
   * @throws TrickleError `UNKNOWN_CHANNEL`, `NOT_PAYER`, `CHANNEL_NOT_OPEN`, `INSUFFICIENT_FUNDS`,
   *   `CHAIN_UNAVAILABLE`
   */
  requestClose(channelId: Hex): Promise<RequestCloseResult> {
    return requestChannelClose(this.writer(), channelId)
  }

  /**
   * Refunds the unclaimed deposit (deposit − claimed) to the payer after the challenge period and
   * closes the channel.
   * @returns the refund and the payee's total, in wei, and the transaction
   * @throws TrickleError `UNKNOWN_CHANNEL`, `CLOSE_NOT_REQUESTED`, `CHALLENGE_PERIOD_NOT_OVER`,
   *   `CHANNEL_NOT_OPEN` (already closed), `INSUFFICIENT_FUNDS`, `CHAIN_UNAVAILABLE`
   */
  finalize(channelId: Hex): Promise<FinalizeResult> {
    return finalizeChannel(this.writer(), channelId)
  }

  private writer(): ChannelWriter {
    return {
      provider: this.provider,
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
   * @param product - from {@link products} / {@link product}
   * @returns a {@link PaidStream}
   * @throws TrickleError `CONNECTION_FAILED`; session errors (e.g. `TERMS_SIGNER_MISMATCH`) surface
   *   from the iterator
   */
  async stream(product: CatalogProduct, options: StreamOptions): Promise<PaidStream> {
    const descriptor = product.descriptor
    if (!descriptor) throw new TrickleError('DESCRIPTOR_INVALID', 'product has no valid descriptor')
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
      ...(knownBase ? { knownBase } : {}),
      account,
    })
    // Above the frame limit, so an oversized frame is answered with FRAME_TOO_LARGE, not cut by ws.
    const ws = new WebSocket(descriptor.endpoint, { maxPayload: 2 * DEFAULT_MAX_FRAME_BYTES })
    ws.binaryType = 'nodebuffer'
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate()
        reject(new TrickleError('CONNECTION_FAILED', `no connection to ${descriptor.endpoint}`))
      }, options.connectTimeoutMs ?? 10_000)
      ws.once('open', () => {
        clearTimeout(timer)
        resolve()
      })
      ws.once('error', (cause) => {
        clearTimeout(timer)
        reject(new TrickleError('CONNECTION_FAILED', `cannot connect to ${descriptor.endpoint}`, { cause }))
      })
    })
    // Receipts of concurrent sessions may be remembered out of order: keep the highest amount.
    return new SocketStream(ws, session, (base) => {
      const known = this.bases.get(key)
      if (!known || base.amount >= known.amount) this.bases.set(key, base)
    })
  }

  /** Stops the IPFS fetcher, if it was started. Open streams are not affected. */
  async close(): Promise<void> {
    const fetcher = this.fetcher
    this.fetcher = undefined
    if (fetcher) await (await fetcher.catch(() => undefined))?.stop()
  }
}

/** ms a closing socket may take to finish the WebSocket close handshake before it is destroyed. */
const CLOSE_GRACE_MS = 2_000

/**
 * Drives a {@link BuyerSession} over a WebSocket and exposes it as an async iterator. Owns the idle
 * timer: the session's `deadline` is re-armed after every event, and a seller silent for the terms'
 * `idleTimeoutMs` ends the stream with `IDLE_TIMEOUT`.
 */
class SocketStream implements PaidStream {
  readonly finished: Promise<SessionSummary>
  private readonly ws: WebSocket
  private readonly session: BuyerSession
  private readonly queue: Chunk[] = []
  private waiter: (() => void) | undefined
  private done = false
  private failure: TrickleError | undefined
  private resolveFinished!: (s: SessionSummary) => void
  /** records every receipt signed (including the final one from `close`) for later resumes */
  private readonly remember: (base: ResumeBase) => void
  private timer: NodeJS.Timeout | undefined
  private closeTimer: NodeJS.Timeout | undefined

  constructor(ws: WebSocket, session: BuyerSession, remember: (base: ResumeBase) => void) {
    this.ws = ws
    this.session = session
    this.remember = remember
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve
    })
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      let frame: ReturnType<typeof decodeFrame>
      try {
        if (!isBinary) throw new TrickleError('FRAME_MALFORMED', 'text frames are not part of the protocol')
        frame = decodeFrame(data)
      } catch (err) {
        const e = err instanceof TrickleError ? err : new TrickleError('FRAME_MALFORMED', String(err))
        this.apply(session.malformed(e))
        return
      }
      this.apply(session.receive(frame, Date.now()))
    })
    ws.on('close', () => {
      this.apply(session.disconnected())
      this.finish()
    })
    ws.on('error', () => {
      /* followed by close */
    })
    this.apply(session.start(Date.now()))
  }

  private apply(effects: ReturnType<BuyerSession['receive']>): void {
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeFrame(e.frame))
          break
        case 'deliver':
          this.queue.push({ seq: e.seq, data: e.data })
          break
        case 'receipt':
          this.remember({ ...e.receipt, signature: e.signature })
          break
        case 'close': {
          const err = closeError(e)
          if (err && !this.failure) this.failure = err
          // The seller closes the socket once the receipts it received are stored, so `finished`
          // resolves after the final receipt is durable. A dead or stalled seller never does: give
          // it CLOSE_GRACE_MS, then drop the connection.
          this.closeTimer ??= setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref()
          break
        }
      }
    }
    this.schedule()
    this.wake()
  }

  /** Arms the timer for the session's next deadline (the idle timeout). */
  private schedule(): void {
    clearTimeout(this.timer)
    const at = this.session.deadline
    if (at === undefined || this.done) return
    this.timer = setTimeout(() => this.apply(this.session.tick(Date.now())), Math.max(0, at - Date.now()))
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  private finish(): void {
    if (this.done) return
    this.done = true
    clearTimeout(this.timer)
    clearTimeout(this.closeTimer)
    this.wake()
    this.resolveFinished(this.summary())
  }

  private summary(): SessionSummary {
    const s = this.session
    return {
      chunks: s.chunksReceived,
      paid: s.spent,
      cumulativeAmount: s.cumulativeAmount,
      reason: s.closeReason,
      ...(s.error ? { error: s.error } : {}),
    }
  }

  async close(): Promise<SessionSummary> {
    if (!this.done) {
      this.apply(this.session.close('buyer_closed'))
    }
    return this.finished
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Chunk> {
    while (true) {
      const next = this.queue.shift()
      if (next) {
        yield next
        continue
      }
      if (this.done || this.session.closed) {
        if (this.queue.length === 0) break
        continue
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve
      })
    }
    const err = this.failure
    if (err && !['done', 'spending_cap', 'buyer_closed'].includes(this.session.closeReason ?? '')) throw err
  }
}
