import { channelsAt, type FeeMode, registryAt } from '@trickle/contracts'
import type { Address, CloseReason, Hex, ResumeBase } from '@trickle/protocol'
import {
  type BufferLimits,
  BuyerChannelAccount,
  type BuyerEffect,
  BuyerSession,
  bufferFull,
  closeError,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  type ErrorCode,
  encodeFrame,
  receiptDomainSeparator,
  signAccept,
  signReceipt,
  TrickleError,
  timerDelay,
} from '@trickle/protocol'
import { computeAddress, getBytes, type Provider, type SigningKey, Wallet, ZeroAddress } from 'ethers'
import WebSocket from 'ws'
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
  /**
   * chunks the session received before its close and paid for: handed to the loop, or still queued
   * for it when the loop left early (at most `maxBufferedChunks` of those)
   */
  chunks: number
  /**
   * chunks the seller had sent before it saw this buyer's `close`: received after it, not delivered,
   * and paid by the session's last receipt (SPEC.md §Channel debt), so `paid` is
   * `(chunks + afterClose) × price` for a session that did not start in debt
   */
  afterClose: number
  /** wei signed for in this session */
  paid: bigint
  /** the channel's cumulative amount after this session, wei */
  cumulativeAmount: bigint
  reason: CloseReason | undefined
  error?: { code: ErrorCode; message: string }
}

/**
 * A paid stream: iterate it for chunks; it pays as they arrive. Leaving the loop early (`break`,
 * `return`, a throw in its body) closes the session like {@link close} and waits for it to end.
 */
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
  /**
   * wei per chunk accepted at most; default the descriptor's `pricePerChunk` (terms above it are
   * refused with `TERMS_INVALID`). Set it to pay more than the descriptor states.
   */
  maxPricePerChunk?: bigint
  /**
   * wei of the channel's debt (chunks a seller delivered on earlier sessions and no receipt covers)
   * this session pays beyond the chunks this client knows it received and never signed for; default
   * 0: a larger debt ends the session with `DEBT_DISPUTED` (SPEC.md §Channel debt). It counts against
   * `maxSpend`.
   */
  maxDebt?: bigint
  /** ms to wait for the connection (default 10,000; at most 2^31 − 1) */
  connectTimeoutMs?: number
  /**
   * chunks received but not yet taken by the loop (queued, plus the one its body is handling), at
   * most; when reached, the stream stops reading from the socket (TCP back-pressure), so the session
   * never receives — nor signs receipts for — more than this many chunks beyond those the application
   * took. Default {@link DEFAULT_MAX_BUFFERED_CHUNKS} (64); 1 pays only for chunks the loop asked for.
   */
  maxBufferedChunks?: number
  /**
   * bytes of chunk payload held for the loop, at most (plus one chunk); reading pauses like for
   * {@link maxBufferedChunks}. Default {@link DEFAULT_MAX_BUFFERED_BYTES} (4 MiB).
   */
  maxBufferedBytes?: number
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
    // Above the frame limit, so an oversized frame is answered with FRAME_TOO_LARGE, not cut by ws.
    const ws = new WebSocket(descriptor.endpoint, { maxPayload: 2 * DEFAULT_MAX_FRAME_BYTES })
    ws.binaryType = 'nodebuffer'
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          ws.terminate()
          reject(new TrickleError('CONNECTION_FAILED', `no connection to ${descriptor.endpoint}`))
        },
        timerDelay(options.connectTimeoutMs ?? 10_000),
      )
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
    return new SocketStream(ws, session, limits, (base) => {
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

/** Close reasons that end the iteration normally, without throwing the session's error. */
const CLEAN_ENDS: readonly (CloseReason | undefined)[] = ['done', 'spending_cap', 'buyer_closed']

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

/** A WebSocket message read from the socket but not yet handed to the session. */
interface HeldMessage {
  data: Buffer
  isBinary: boolean
}

/**
 * Drives a {@link BuyerSession} over a WebSocket and exposes it as an async iterator.
 *
 * - **Idle timer**: re-armed for the session's `deadline` after every event, clamped to what a timer
 *   holds ({@link timerDelay}); a seller silent for the terms' `idleTimeoutMs` ends the stream with
 *   `IDLE_TIMEOUT`.
 * - **Back-pressure**: it holds at most `limits` for the application ({@link bufferFull}). When full,
 *   it pauses the socket and keeps the messages already read (at most what one socket read brought)
 *   without giving them to the session, so the session neither receives nor pays for chunks beyond the
 *   limit until the loop takes some. While reading is paused the seller cannot be heard, so no idle
 *   timeout runs; after a resume the seller has a full idle timeout to be heard again.
 * - **Containment**: nothing the seller sends can throw out of a socket or timer callback; an
 *   unexpected exception ends the session with `INTERNAL` (sent to the seller without details).
 * - **Early exit**: leaving the loop (`break`, `return`, a throw) closes the session with a final
 *   receipt and waits for it to end.
 */
class SocketStream implements PaidStream {
  readonly finished: Promise<SessionSummary>
  private readonly ws: WebSocket
  private readonly session: BuyerSession
  private readonly limits: BufferLimits
  /** records every receipt signed (including the final one from `close`) for later resumes */
  private readonly remember: (base: ResumeBase) => void
  private readonly queue: Chunk[] = []
  /** payload bytes in `queue` */
  private queuedBytes = 0
  /** the chunk the loop body is handling: yielded, and the loop has not asked for the next one yet */
  private inHand: Chunk | undefined
  /** messages read while the buffer was full, in order, not yet given to the session */
  private readonly held: HeldMessage[] = []
  private paused = false
  /** when reading last resumed after a pause, ms since the epoch */
  private resumedAt: number | undefined
  private socketClosed = false
  /** handling threw: the session is ended by this driver whatever its state says */
  private broken = false
  /** `release` is running (it hands held messages to the session, which re-enters `apply`) */
  private releasing = false
  private waiter: (() => void) | undefined
  private done = false
  private failure: TrickleError | undefined
  private resolveFinished!: (s: SessionSummary) => void
  private timer: NodeJS.Timeout | undefined
  private closeTimer: NodeJS.Timeout | undefined

  constructor(
    ws: WebSocket,
    session: BuyerSession,
    limits: BufferLimits,
    remember: (base: ResumeBase) => void,
  ) {
    this.ws = ws
    this.session = session
    this.limits = limits
    this.remember = remember
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve
    })
    ws.on('message', (data: Buffer, isBinary: boolean) => this.guard(() => this.onMessage(data, isBinary)))
    ws.on('close', () =>
      this.guard(() => {
        this.socketClosed = true
        this.drain()
      }),
    )
    ws.on('error', () => {
      /* followed by close */
    })
    this.guard(() => this.apply(session.start(Date.now())))
  }

  /** Whether the session is over for this driver (closed, or abandoned after an internal failure). */
  private get ended(): boolean {
    return this.broken || this.session.closed
  }

  /** Whether the application's buffer is full: the queue plus the chunk the loop body holds. */
  private full(): boolean {
    const hand = this.inHand
    return bufferFull(
      {
        chunks: this.queue.length + (hand ? 1 : 0),
        bytes: this.queuedBytes + (hand ? hand.data.byteLength : 0),
      },
      this.limits,
    )
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (!this.ended && (this.held.length > 0 || this.full())) {
      // Read before the pause took effect: kept for the session until the loop makes room.
      this.held.push({ data, isBinary })
      this.pause()
      return
    }
    this.handle(data, isBinary)
  }

  /** Gives one message to the session; pauses reading when the buffer is then full. */
  private handle(data: Buffer, isBinary: boolean): void {
    let frame: ReturnType<typeof decodeFrame>
    try {
      if (!isBinary) throw new TrickleError('FRAME_MALFORMED', 'text frames are not part of the protocol')
      frame = decodeFrame(data)
    } catch (err) {
      const e = err instanceof TrickleError ? err : new TrickleError('FRAME_MALFORMED', 'malformed frame')
      this.apply(this.session.malformed(e))
      return
    }
    this.apply(this.session.receive(frame, Date.now()))
    if (this.full()) this.pause()
  }

  /**
   * Gives held messages to the session while the buffer has room; once none are left, resumes reading,
   * or, if the socket has closed meanwhile, ends the session.
   */
  private drain(): void {
    while (this.held.length > 0 && !this.full() && !this.ended) {
      const message = this.held.shift()!
      this.handle(message.data, message.isBinary)
    }
    if (this.ended) {
      this.release()
    } else if (this.held.length === 0) {
      if (this.socketClosed) {
        this.apply(this.session.disconnected())
        this.finish()
      } else if (this.paused && !this.full()) {
        this.resume()
      }
    }
  }

  /**
   * The session is over: hands it the messages held back (a closed session only counts chunks still
   * in flight, see `BuyerSession.receive`; after an internal failure they are dropped) and reads on,
   * to see the socket close.
   */
  private release(): void {
    if (this.releasing) return
    this.releasing = true
    try {
      while (this.held.length > 0) {
        const message = this.held.shift()!
        if (!this.broken) this.handle(message.data, message.isBinary)
      }
    } finally {
      this.releasing = false
    }
    if (this.socketClosed) this.finish()
    else if (this.paused) this.resume()
  }

  private pause(): void {
    if (this.paused || this.socketClosed || this.ended) return
    this.paused = true
    this.ws.pause()
    this.schedule()
  }

  private resume(): void {
    this.paused = false
    this.resumedAt = Date.now()
    this.ws.resume()
    this.schedule()
  }

  private apply(effects: BuyerEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeFrame(e.frame))
          break
        case 'deliver':
          this.queue.push({ seq: e.seq, data: e.data })
          this.queuedBytes += e.data.byteLength
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
    if (this.ended) this.release()
    this.schedule()
    this.wake()
  }

  /**
   * Runs a socket or timer callback. An exception (a bug, or a value the session failed to refuse)
   * ends the session with `INTERNAL` instead of escaping to the event loop and killing the process.
   */
  private guard(run: () => void): void {
    try {
      run()
    } catch (cause) {
      const err = new TrickleError('INTERNAL', 'the buyer failed to handle the session', { cause })
      this.failure ??= err
      this.broken = true
      try {
        this.apply(this.session.malformed(err))
      } catch {
        // Not even the error could be sent: drop the connection (its close ends the stream).
        this.ws.terminate()
        if (this.socketClosed) this.finish()
        this.wake()
      }
    }
  }

  /** When the idle timer must fire, ms since the epoch: none while reading is paused. */
  private idleDeadline(): number | undefined {
    if (this.done || this.ended || this.paused) return undefined
    const at = this.session.deadline
    if (at === undefined) return undefined
    const idle = this.session.acceptedTerms?.idleTimeoutMs
    return this.resumedAt !== undefined && idle !== undefined ? Math.max(at, this.resumedAt + idle) : at
  }

  /** Arms the timer for the next deadline (the idle timeout), within what a timer can hold. */
  private schedule(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const at = this.idleDeadline()
    if (at === undefined) return
    this.timer = setTimeout(() => this.guard(() => this.onTimer()), timerDelay(at - Date.now()))
  }

  private onTimer(): void {
    const at = this.idleDeadline()
    if (at === undefined) return
    // A clamped timer fires before its deadline: arm it again.
    if (Date.now() < at) this.schedule()
    else this.apply(this.session.tick(Date.now()))
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
      afterClose: s.chunksAfterClose,
      paid: s.spent,
      cumulativeAmount: s.cumulativeAmount,
      reason: s.closeReason,
      ...(s.error ? { error: s.error } : {}),
    }
  }

  async close(): Promise<SessionSummary> {
    if (!this.done) this.guard(() => this.apply(this.session.close('buyer_closed')))
    return this.finished
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Chunk, void, undefined> {
    try {
      while (true) {
        // The loop asked for another chunk: it is done with the last one, which makes room.
        this.inHand = undefined
        if (this.paused || this.held.length > 0) this.guard(() => this.drain())
        const next = this.queue.shift()
        if (next) {
          this.queuedBytes -= next.data.byteLength
          this.inHand = next
          yield next
          continue
        }
        if (this.done || this.ended) break
        await new Promise<void>((resolve) => {
          this.waiter = resolve
        })
      }
    } finally {
      this.inHand = undefined
      // Left early (break, return, a throw in the loop body): a final receipt for every chunk
      // received, then wait for the session to end, so nothing is paid after the loop.
      if (!this.ended && !this.done) await this.close()
    }
    const err = this.failure
    if (err && (this.broken || !CLEAN_ENDS.includes(this.session.closeReason))) throw err
  }
}
