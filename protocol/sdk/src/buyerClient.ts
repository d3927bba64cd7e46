import { channelsAt, decodeRevert, type FeeMode, registryAt } from '@trickle/contracts'
import type {
  Address,
  Hex,
  HistoryRange,
  JobAttestation,
  RangeEcho,
  ResumeBase,
  SignedJobQuote,
} from '@trickle/protocol'
import {
  type BufferLimits,
  BuyerChannelAccount,
  BuyerSession,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  JOB_CANCEL_TYPES,
  JobResultOpener,
  jobArgsHash,
  jobDomain,
  receiptDomainSeparator,
  recoverJobQuoteSigner,
  sealTo,
  sha256Hex,
  signAccept,
  signJobCancel,
  signReceipt,
  TrickleError,
  toHex,
} from '@trickle/protocol'
import {
  computeAddress,
  getBytes,
  JsonRpcSigner,
  type Provider,
  type Signer,
  SigningKey,
  Wallet,
  ZeroAddress,
} from 'ethers'
import { abortable } from './abortable.ts'
import { Budget } from './budget/budget.ts'
import { parseAmount } from './budget/parseAmount.ts'
import { type CatalogProduct, joinDescriptor, listProducts } from './catalog.ts'
import { assertChainId } from './chain/assertChainId.ts'
import { FreshNonceSigner } from './chain/freshNonceSigner.ts'
import { type Eip1193Provider, resolveSigner } from './chain/resolveSigner.ts'
import type { ChannelDetails } from './channels/describeChannel.ts'
import { type FinalizeResult, finalizeChannel } from './channels/finalizeChannel.ts'
import { type ListChannelsOptions, type ListedChannel, listChannels } from './channels/listChannels.ts'
import { type OpenChannelResult, openChannel } from './channels/openChannel.ts'
import { readChannel } from './channels/readChannel.ts'
import { type RequestCloseResult, requestChannelClose } from './channels/requestChannelClose.ts'
import { toChainError } from './channels/toChainError.ts'
import { type TopUpResult, topUpChannel } from './channels/topUpChannel.ts'
import type { ChannelWriter } from './channels/types.ts'
import { TypedEmitter } from './events/typedEmitter.ts'
import { createDescriptorFetcher, type DescriptorFetcher } from './fetchDescriptor.ts'
import {
  fetchJobSealingKey,
  type JobQuoteDecline,
  type JobQuoteRequest,
  requestJobCancel,
  requestJobQuote,
  uploadJobModule,
} from './jobs/jobHttp.ts'
import { type PaidJob, paidJobOf } from './jobs/paidJob.ts'
import { type JobVerification, verifyJobOnChain } from './jobs/verifyJob.ts'
import { channelKeyOf, type SessionKeyStore } from './keys/sessionKeyStore.ts'
import { type ProductQuoteRequest, type Quote, quoteProduct } from './quote.ts'
import { receiptSigners } from './receiptSigners.ts'
import { fetchHistory } from './stream/fetchHistory.ts'
import { historyRangeOf, type StreamRange } from './stream/historyRange.ts'
import { ResumingStream } from './stream/resumingStream.ts'
import { connectSocket, SessionSocket } from './stream/sessionSocket.ts'
import {
  type BuyerEvents,
  type Chunk,
  DEFAULT_RECONNECT,
  type PaidStream,
  type ReconnectPolicy,
  type StreamOptions,
} from './types.ts'

/** Where the marketplace lives: one chain, one registry, one channel contract. */
export interface MarketplaceConfig {
  chainId: number
  /** DataRegistry address */
  registry: Address
  /** StreamChannels address */
  channels: Address
  /**
   * JobAttestations address, where providers anchor job attestations (`attestationsAt` of
   * `@trickle/contracts`); absent in configs of deployments made before it existed
   */
  attestations?: Address
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
  /**
   * the payer: opens, funds and closes channels. An ethers `Signer` (a `Wallet`, a `JsonRpcSigner`…)
   * connected to a provider, or an EIP-1193 provider (a browser wallet), wrapped with ethers'
   * `BrowserProvider`. One of `signer` and `wallet` is required
   */
  signer?: Signer | Eip1193Provider
  /** @deprecated the payer as an ethers `Signer`; use {@link signer} */
  wallet?: Signer
  /** reads the chain; default the signer's provider */
  provider?: Provider
  /**
   * the key that signs receipts on every channel this client opens and streams; when absent, each
   * channel opened gets a fresh key kept in {@link keyStore}, or — without a key store — one random
   * key for the client's life
   */
  sessionKey?: SigningKey
  /**
   * keeps one session key per channel (created at `openChannel`, authorized on-chain as the channel's
   * signer), so a new client with the same store resumes the channel: `memoryKeyStore()`,
   * `indexedDbKeyStore()`, or `fileKeyStore(dir)` from `@trickle/sdk/node`
   */
  keyStore?: SessionKeyStore
  /**
   * wei all streams of this client together may sign, at most: a `bigint` or a string with its unit
   * (`'0.001 ETH'`); unlimited when absent (each stream then needs its `maxSpend`)
   */
  budget?: bigint | string
  /** aborts creating the client (`ABORTED`) */
  signal?: AbortSignal
}

/** The `signal` option of a call that takes no other options. */
export interface CallOptions {
  /** rejects the call with `ABORTED`; a transaction already sent may still be mined */
  signal?: AbortSignal
}

/**
 * The programmatic buyer: finds products in the catalog (registry + IPFS), opens and funds payment
 * channels, and streams verified chunks while paying with signed cumulative receipts. Every async
 * method takes a `signal` (`AbortSignal`; abort → `TrickleError('ABORTED')`), and the client emits
 * typed events ({@link on}).
 */
export class BuyerClient {
  readonly config: MarketplaceConfig
  /** sends the payer's transactions */
  readonly signer: Signer
  /**
   * the client-wide receipt key: signs on channels opened without a {@link BuyerClientOptions.keyStore}
   * (or on every channel when given as `sessionKey`)
   */
  readonly sessionKey: SigningKey
  readonly provider: Provider
  /** what this client's streams may still sign, across all of them */
  readonly budget: Budget
  private readonly payer: Address
  private readonly explicitKey: boolean
  /** the client's last transaction, mined or failed: the next one waits for it */
  private sending: Promise<unknown> = Promise.resolve()
  private readonly keyStore: SessionKeyStore | undefined
  private readonly events = new TypedEmitter<BuyerEvents>()
  private readonly fetcher: DescriptorFetcher
  private readonly domainSeparator: Hex
  /** last receipt signed per channel, so a later session resumes where this one stopped */
  private readonly bases = new Map<string, ResumeBase>()
  /** running totals per channel, shared by the sessions streaming on a channel at once */
  private readonly accounts = new Map<string, BuyerChannelAccount>()
  /** the highest block a transaction of this client was mined in: reads happen at it or later */
  private seenBlock = 0

  private constructor(options: BuyerClientOptions, signer: Signer, payer: Address, provider: Provider) {
    this.config = options
    this.signer = signer
    this.payer = payer
    this.provider = provider
    this.fetcher = createDescriptorFetcher(options.gateways)
    this.explicitKey = options.sessionKey !== undefined
    this.sessionKey = options.sessionKey ?? Wallet.createRandom().signingKey
    this.keyStore = options.keyStore
    this.budget = new Budget(options.budget === undefined ? undefined : parseAmount(options.budget))
    this.domainSeparator = receiptDomainSeparator({ chainId: options.chainId, channels: options.channels })
  }

  /**
   * Creates a client after checking that the RPC serves the configured chain (`eth_chainId`), so it can
   * never sign for another chain. Descriptors are fetched from the `gateways` at each catalog read.
   * @throws TrickleError `INVALID_ARGUMENT` (no signer, a bad budget); `CHAIN_UNAVAILABLE` when there is
   *   no provider or the RPC does not answer; `CHAIN_MISMATCH` when the RPC serves another chain id
   *   than `chainId`; `ABORTED`
   */
  static create(options: BuyerClientOptions): Promise<BuyerClient> {
    return abortable(options.signal, 'creating the client', async () => {
      const given = options.signer ?? options.wallet
      if (!given) throw new TrickleError('INVALID_ARGUMENT', 'a signer is needed (signer or wallet)')
      let signer = await resolveSigner(given)
      if (!signer.provider && options.provider) signer = signer.connect(options.provider)
      // A local key asks the node for each nonce past the provider's response cache (ethers caches
      // identical calls for 250 ms), or two transactions in a row would share one. A browser wallet
      // (JsonRpcSigner) counts its own.
      if (!(signer instanceof JsonRpcSigner) && !(signer instanceof FreshNonceSigner)) {
        signer = new FreshNonceSigner(signer)
      }
      const provider = options.provider ?? signer.provider
      if (!provider) throw new TrickleError('CHAIN_UNAVAILABLE', 'the signer has no provider')
      await assertChainId(provider, options.chainId)
      const payer = (await signer.getAddress()) as Address
      return new BuyerClient(options, signer, payer, provider)
    })
  }

  /**
   * Calls `listener` with every `event` until the returned function is called: `receipt` (each receipt
   * signed), `paymentRequired` (the seller asked to be paid), `reconnecting` (a stream starts a new
   * session), `closed` (a stream ended). Payloads: {@link BuyerEvents}.
   * @returns removes the listener
   */
  on<K extends keyof BuyerEvents>(event: K, listener: (payload: BuyerEvents[K]) => void): () => void {
    return this.events.on(event, listener)
  }

  /** The payer's address (opens, funds and closes channels). */
  get payerAddress(): Address {
    return this.payer
  }

  /** The address of the client-wide receipt key ({@link sessionKey}). */
  get signerAddress(): Address {
    return computeAddress(this.sessionKey.publicKey) as Address
  }

  /**
   * Every product in the registry, with its descriptor.
   * @throws TrickleError `CHAIN_UNAVAILABLE`, `DESCRIPTOR_UNAVAILABLE`, `ABORTED`
   */
  products(options: CallOptions = {}): Promise<CatalogProduct[]> {
    return abortable(options.signal, 'listing products', async () =>
      listProducts({
        provider: this.provider,
        registry: this.config.registry,
        fetcher: this.fetcher,
        ...(this.config.deployBlock !== undefined ? { fromBlock: this.config.deployBlock } : {}),
      }),
    )
  }

  /**
   * One product, active and with a valid descriptor.
   * @throws TrickleError `PRODUCT_NOT_FOUND` (the registry does not list it, or it is inactive),
   *   `CHAIN_UNAVAILABLE` (the RPC failed: nothing is known about the product), `DESCRIPTOR_INVALID`,
   *   `DESCRIPTOR_UNAVAILABLE`, `ABORTED`
   */
  product(productId: bigint, options: CallOptions = {}): Promise<CatalogProduct> {
    return abortable(options.signal, `reading product ${productId}`, async () => {
      const registry = registryAt(this.config.registry, this.provider)
      // Only the registry's own answer means "not listed": an RPC that fails is CHAIN_UNAVAILABLE.
      const view = await registry.getProduct(productId).catch((err: unknown) => {
        if (decodeRevert(err)?.name === 'UnknownProduct') return undefined
        throw toChainError(err, `read product ${productId}`)
      })
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
        (await registry.sellerKey(view.owner).catch((err: unknown) => {
          throw toChainError(err, `read the terms key of ${view.owner}`)
        })) as Address,
        { fetcher: this.fetcher },
      )
      if (!found.descriptor) throw new TrickleError(found.problem!.code, found.problem!.message)
      return found
    })
  }

  /**
   * Prices a number of chunks, or a duration, at the product's descriptor price before any money moves
   * ({@link quoteProduct}). A duration is priced at `chunksPerSecond` when given, else at the rate the
   * descriptor states: `quote(id, { durationMs: 3_600_000 })` prices an hour of the stream. (The
   * seller's signed terms may ask less per chunk, never more: the stream refuses more.)
   * @param productId - the product
   * @param request - `{ chunks }` (an integer ≥ 0), or `{ durationMs, chunksPerSecond? }` (milliseconds
   *   and chunks/s, finite, ≥ 0)
   * @returns wei per chunk, chunks, their price in wei, and for a duration the rate used
   * @throws TrickleError `INVALID_ARGUMENT` (a bad count, or a duration without `chunksPerSecond` for a
   *   product whose descriptor states no rate), `PRODUCT_NOT_FOUND`, `CHAIN_UNAVAILABLE`,
   *   `DESCRIPTOR_INVALID`, `DESCRIPTOR_UNAVAILABLE`, `ABORTED`
   */
  async quote(productId: bigint, request: ProductQuoteRequest, options: CallOptions = {}): Promise<Quote> {
    const product = await this.product(productId, options)
    return quoteProduct(product.descriptor!, request)
  }

  /**
   * Opens a channel to `payee` and authorizes a session key as its receipt signer: a fresh key stored in
   * the client's key store when it has one (before the channel can be used), else the client-wide
   * {@link sessionKey}. Native coin unless `options.token` names an ERC-20 (approved first when the
   * allowance is short).
   * @param payee - the seller's address
   * @param deposit - wei (token base units for an ERC-20), above zero
   * @param options - `token`: ERC-20 address to pay in; `signal`
   * @returns the channel id, the credited deposit and the transaction
   * @throws TrickleError `INVALID_ARGUMENT`, `INSUFFICIENT_FUNDS`, `CHAIN_UNAVAILABLE`,
   *   `TRANSACTION_REVERTED`, `ABORTED` (the transaction may still be mined), `INTERNAL` (the key store
   *   failed; the channel is open and its payer can `setSigner`)
   */
  openChannel(
    payee: Address,
    deposit: bigint,
    options: { token?: Address } & CallOptions = {},
  ): Promise<OpenChannelResult> {
    return abortable(options.signal, `opening a channel to ${payee}`, async () => {
      const key = this.keyStore && !this.explicitKey ? Wallet.createRandom().signingKey : this.sessionKey
      const opened = this.seen(
        await this.oneAtATime(() =>
          openChannel(this.writer(), {
            payee,
            deposit,
            signer: computeAddress(key.publicKey) as Address,
            ...(options.token !== undefined ? { token: options.token } : {}),
          }),
        ),
      )
      await this.keyStore?.set(this.channelKey(opened.channelId), key.privateKey as Hex)
      return opened
    })
  }

  /**
   * A channel's on-chain state at the latest block — never before the block of this client's last
   * transaction, so a provider that still reports an older block cannot hide a channel just opened —
   * deposit, claimed, remaining, status, deadline and whether it can be finalized now.
   * @throws TrickleError `UNKNOWN_CHANNEL`, `CHAIN_UNAVAILABLE`, `ABORTED`
   */
  channel(channelId: Hex, options: CallOptions = {}): Promise<ChannelDetails> {
    return abortable(options.signal, `reading channel ${channelId}`, () =>
      readChannel(this.writer(), channelId),
    )
  }

  /**
   * The channels this client's payer opened, from `ChannelOpened` logs (filtered by the indexed payer,
   * read in pages of `pageBlocks` blocks from the deployment block) joined with their current state.
   * @param options - `payer` (default: this client's payer), `fromBlock` (default: `deployBlock`, else
   *   0), `pageBlocks` (default 10,000), `signal`
   * @throws TrickleError `CHAIN_UNAVAILABLE` (lower `pageBlocks` when the RPC caps log ranges), `ABORTED`
   */
  channels(options: Partial<ListChannelsOptions> & CallOptions = {}): Promise<ListedChannel[]> {
    const fromBlock = options.fromBlock ?? this.config.deployBlock
    return abortable(options.signal, 'listing channels', () =>
      listChannels(this.writer(), {
        payer: options.payer ?? this.payerAddress,
        ...(fromBlock !== undefined ? { fromBlock } : {}),
        ...(options.pageBlocks !== undefined ? { pageBlocks: options.pageBlocks } : {}),
      }),
    )
  }

  /**
   * Adds `amount` to an open channel's deposit; for an ERC-20 channel, approves the contract first
   * when the allowance is short.
   * @param amount - wei (token base units for an ERC-20), above zero
   * @returns the credited amount, the new deposit and the transaction
   * @throws TrickleError `INVALID_ARGUMENT`, `UNKNOWN_CHANNEL`, `CHANNEL_NOT_OPEN`, `INSUFFICIENT_FUNDS`,
   *   `CHAIN_UNAVAILABLE`, `TRANSACTION_REVERTED`, `ABORTED`
   */
  topUp(channelId: Hex, amount: bigint, options: CallOptions = {}): Promise<TopUpResult> {
    return abortable(options.signal, `topping up channel ${channelId}`, async () =>
      this.seen(await this.oneAtATime(() => topUpChannel(this.writer(), channelId, amount))),
    )
  }

  /**
   * Starts the challenge period of a channel (payer only); the seller can still claim until the
   * deadline, then {@link finalize} refunds the rest.
   * @returns the close deadline (unix seconds) and the transaction
   * @throws TrickleError `UNKNOWN_CHANNEL`, `NOT_PAYER`, `CHANNEL_NOT_OPEN`, `INSUFFICIENT_FUNDS`,
   *   `CHAIN_UNAVAILABLE`, `ABORTED`
   */
  requestClose(channelId: Hex, options: CallOptions = {}): Promise<RequestCloseResult> {
    return abortable(options.signal, `requesting the close of ${channelId}`, async () =>
      this.seen(await this.oneAtATime(() => requestChannelClose(this.writer(), channelId))),
    )
  }

  /**
   * Refunds the unclaimed deposit (deposit − claimed) to the payer after the challenge period and
   * closes the channel.
   * @returns the refund and the payee's total, in wei, and the transaction
   * @throws TrickleError `UNKNOWN_CHANNEL`, `CLOSE_NOT_REQUESTED`, `CHALLENGE_PERIOD_NOT_OVER`,
   *   `CHANNEL_NOT_OPEN` (already closed), `INSUFFICIENT_FUNDS`, `CHAIN_UNAVAILABLE`, `ABORTED`
   */
  finalize(channelId: Hex, options: CallOptions = {}): Promise<FinalizeResult> {
    return abortable(options.signal, `finalizing ${channelId}`, async () =>
      this.seen(await this.oneAtATime(() => finalizeChannel(this.writer(), channelId))),
    )
  }

  /**
   * The key that signs receipts on a channel: the one the key store keeps for it, else the client-wide
   * {@link sessionKey}.
   * @throws TrickleError `INTERNAL` when the key store fails
   */
  async sessionKeyFor(channelId: Hex): Promise<SigningKey> {
    const stored = this.explicitKey ? undefined : await this.keyStore?.get(this.channelKey(channelId))
    return stored !== undefined ? new SigningKey(stored) : this.sessionKey
  }

  private channelKey(channelId: Hex): string {
    return channelKeyOf(this.config.chainId, this.config.channels, channelId)
  }

  /** Records the block of a transaction this client sent: later reads happen at it or after. */
  private seen<T extends { blockNumber: number }>(outcome: T): T {
    if (outcome.blockNumber > this.seenBlock) this.seenBlock = outcome.blockNumber
    return outcome
  }

  /**
   * Runs a client's transactions one at a time, each once the previous one was mined (or failed):
   * calls started together would otherwise take the same nonce from the node, and all but one fail.
   */
  private oneAtATime<T>(send: () => Promise<T>): Promise<T> {
    const turn = this.sending.then(send)
    this.sending = turn.catch(() => undefined)
    return turn
  }

  private writer(): ChannelWriter {
    return {
      provider: this.provider,
      minBlock: this.seenBlock,
      signer: this.signer,
      channels: this.config.channels,
      fees: this.config.fees ?? 'eip1559',
    }
  }

  /**
   * Asks the provider of a `compute` or `app` product for a quote to run a job (SPEC.md §Jobs,
   * "Quotes"), uploading a `compute` module first, and checks the answer: signed by the provider's
   * registered key, for this product, module and arguments, at most the descriptor's unit price, not
   * expired. By default the module and arguments travel sealed to the provider's registered key
   * (SPEC.md §Jobs, "Sealed jobs"): a relay, a log or the provider's copy at rest reveals nothing.
   * @param request - `module` (compute: the WebAssembly bytes; app: absent), `args` (WASI argv, the
   *   program name first), `input` (a dataset of the offer), `limits` (caps below the offer's), `seal`
   *   (default true; false sends module and arguments in the clear)
   * @returns the checked quote, or the provider's decline (`at_capacity`…)
   * @throws TrickleError `INVALID_ARGUMENT` (not a job product; a module for an app or none for a
   *   compute product), `JOB_MODULE_INVALID` (above the provider's cap), `JOB_REJECTED` (the answer is
   *   not a valid quote for the request; sealing asked and the provider names no key, or not its
   *   registered one), `CONNECTION_FAILED`, `CHAIN_UNAVAILABLE`, `ABORTED`
   */
  async quoteJob(
    product: CatalogProduct,
    request: {
      module?: Uint8Array
      args: string[]
      input?: string
      limits?: JobQuoteRequest['limits']
      seal?: boolean
    },
    options: CallOptions = {},
  ): Promise<SignedJobQuote | { decline: JobQuoteDecline }> {
    const descriptor = product.descriptor
    if (!descriptor?.job || (descriptor.kind !== 'compute' && descriptor.kind !== 'app')) {
      throw new TrickleError('INVALID_ARGUMENT', `product ${product.productId} runs no jobs`)
    }
    if ((descriptor.kind === 'compute') !== (request.module !== undefined)) {
      throw new TrickleError(
        'INVALID_ARGUMENT',
        descriptor.kind === 'compute' ? 'a compute job needs a module' : 'an app runs its own module',
      )
    }
    const signal = options.signal ? { signal: options.signal } : {}
    const sellerKey = await this.sellerKeyOf(descriptor.seller as Address)
    const sealingKey =
      request.seal === false ? undefined : await fetchJobSealingKey(descriptor.endpoint, sellerKey, signal)
    const moduleHash = request.module ? await sha256Hex(request.module) : (descriptor.job.app?.module as Hex)
    if (request.module) {
      await uploadJobModule(descriptor.endpoint, moduleHash, request.module, {
        ...signal,
        ...(sealingKey ? { sealTo: sealingKey } : {}),
      })
    }
    const answer = await requestJobQuote(
      descriptor.endpoint,
      product.productId,
      {
        ...(request.module ? { module: moduleHash } : {}),
        ...(sealingKey
          ? { sealedArgs: toHex(sealedArgsOf(sealingKey, request.args)) }
          : { args: request.args }),
        ...(request.input !== undefined ? { input: request.input } : {}),
        ...(request.limits ? { limits: request.limits } : {}),
      },
      signal,
    )
    if ('decline' in answer) return answer
    const q = answer.quote
    const refuse = (why: string) => {
      throw new TrickleError('JOB_REJECTED', `the provider's quote ${why}`)
    }
    let signer: string | undefined
    try {
      signer = recoverJobQuoteSigner(this.config.chainId, this.config.channels, answer)
    } catch {
      signer = undefined
    }
    if (!signer || signer.toLowerCase() !== sellerKey.toLowerCase())
      refuse('is not signed by its registered key')
    if (q.provider.toLowerCase() !== descriptor.seller.toLowerCase()) refuse('names another provider')
    if (q.productId !== product.productId) refuse('is for another product')
    if (q.moduleHash.toLowerCase() !== moduleHash.toLowerCase()) refuse('is for another module')
    if (q.argsHash !== (await jobArgsHash(request.args))) refuse('is for other arguments')
    if (q.input !== (request.input ?? '')) refuse('is for another input')
    if (q.unitPrice > BigInt(descriptor.pricePerChunk)) refuse('asks more per unit than the descriptor')
    if (q.expiresAt <= Date.now()) refuse('has expired')
    return answer
  }

  /**
   * Runs a job under a checked quote (from {@link quoteJob}) on a channel to its provider: the module
   * runs in the provider's sandbox, its records stream back paid unit by unit (start, CPU time as it
   * accrues, output), then its signed attestation, checked against the records received. Leaving the
   * loop early, or aborting `signal` mid-job, closes the session with a final receipt for the records
   * received and the provider kills the job; the rest of `maxSpend` stays in the channel. From another
   * process, {@link cancelJob} stops it (the loop then ends with `end` `JOB_CANCELLED` and the
   * attestation). By default the arguments travel sealed to the provider and the output comes back
   * sealed to this channel's session key, opened here (SPEC.md §Jobs, "Sealed jobs"); the records the
   * iterator yields are opened, `payloads` keeps them as received (what the attestation covers).
   * @param options - `channelId`, `args` (as quoted), `maxSpend` (default the quote's most:
   *   `maxUnits × unitPrice`), `seal` (default true), `signal`
   * @throws TrickleError as {@link stream}, and `JOB_REJECTED` (sealing asked and the provider names
   *   no key, or not its registered one); from the iterator: `JOB_REJECTED` (the provider refused the
   *   quote), `JOB_RECORD_INVALID` (also: output in the clear of a sealed job, or a sealed record that
   *   does not open), `JOB_ATTESTATION_INVALID`, `ABORTED` (`signal` aborted: the session was closed
   *   and paid for what arrived, see `PaidJob.finished`)
   */
  async runJob(
    product: CatalogProduct,
    signed: SignedJobQuote,
    options: { channelId: Hex; args: string[]; maxSpend?: bigint; seal?: boolean } & CallOptions,
  ): Promise<PaidJob> {
    const q = signed.quote
    const most = BigInt(q.maxUnits) * q.unitPrice
    const descriptor = product.descriptor!
    const sellerKey = await this.sellerKeyOf(descriptor.seller as Address)
    const call = options.signal ? { signal: options.signal } : {}
    const sealingKey =
      options.seal === false ? undefined : await fetchJobSealingKey(descriptor.endpoint, sellerKey, call)
    const stream = await this.stream(product, {
      channelId: options.channelId,
      maxSpend: options.maxSpend !== undefined && options.maxSpend < most ? options.maxSpend : most,
      maxPricePerChunk: q.unitPrice,
      job: {
        quote: q,
        signature: signed.signature,
        ...(sealingKey
          ? { sealedArgs: sealedArgsOf(sealingKey, options.args), sealResults: true }
          : { args: options.args }),
      },
      ...call,
    })
    // The session signed its accept with this channel's key: the results are sealed to it.
    const opener = sealingKey
      ? new JobResultOpener((await this.sessionKeyFor(options.channelId)).privateKey as Hex)
      : undefined
    return paidJobOf(stream, q, {
      channelId: options.channelId,
      chainId: this.config.chainId,
      channels: this.config.channels,
      sellerKey,
      ...(opener ? { opener } : {}),
    })
  }

  /**
   * Cancels a running job from anywhere — another process, another machine (SPEC.md §Jobs,
   * "Cancel"): signs `JobCancel { jobId, channelId }` (EIP-712) with this client's receipt key of the
   * channel when it holds one (its key store's, or its `sessionKey`), else with the payer's key, and
   * sends it to the product's provider. The provider kills the module; the job ends with its `end`
   * record (error `JOB_CANCELLED`) and signed attestation, so the session running it (`runJob`,
   * wherever it runs) pays for the records it received and no more. The deposit's unspent rest comes
   * back to the payer with {@link requestClose}, then {@link finalize} after the challenge period.
   * Idempotent: a job already cancelled is answered `cancelled` again.
   * @param product - the job's product
   * @param job - `jobId` (the quote id) and `channelId` (the channel that pays for it)
   * @returns the job's state: `cancelled`
   * @throws TrickleError `INVALID_ARGUMENT` (not a job product; the provider knows no running job of
   *   that id: unknown, or it ended on its own), `AUTH_FAILED` (the provider does not take the signer
   *   as a key of the job's channel: another channel, or a key it does not name), `USER_REJECTED` (a
   *   wallet refused to sign), `RATE_LIMITED`, `CONNECTION_FAILED`, `INTERNAL` (the key store failed),
   *   `ABORTED`
   */
  cancelJob(
    product: CatalogProduct,
    job: { jobId: Hex; channelId: Hex },
    options: CallOptions = {},
  ): Promise<{ state: 'cancelled' }> {
    return abortable(options.signal, `cancelling job ${job.jobId}`, async () => {
      const descriptor = product.descriptor
      if (!descriptor?.job || (descriptor.kind !== 'compute' && descriptor.kind !== 'app')) {
        throw new TrickleError('INVALID_ARGUMENT', `product ${product.productId} runs no jobs`)
      }
      const { chainId, channels } = this.config
      const cancel = { jobId: job.jobId, channelId: job.channelId }
      const stored = this.explicitKey
        ? this.sessionKey.privateKey
        : await this.keyStore?.get(this.channelKey(job.channelId))
      let signature: Hex
      if (stored !== undefined) signature = signJobCancel(new SigningKey(stored), chainId, channels, cancel)
      else {
        try {
          signature = (await this.signer.signTypedData(
            jobDomain(chainId, channels),
            JOB_CANCEL_TYPES,
            cancel,
          )) as Hex
        } catch (err) {
          throw toChainError(err, `sign the cancel of job ${job.jobId}`)
        }
      }
      return requestJobCancel(descriptor.endpoint, job.jobId, signature, {
        ...(options.signal ? { signal: options.signal } : {}),
      })
    })
  }

  /**
   * Checks a job's attestation against the chain (and the records received, when given) with this
   * client's marketplace: {@link verifyJobOnChain} on its provider, chain id, DataRegistry,
   * StreamChannels, JobAttestations (`config.attestations`) and `deployBlock`.
   * @param attestation - as received (`JobOutcome.attestation`)
   * @param signature - its 65-byte signature
   * @param records - the payloads of the job's records as received, in order (optional)
   * @returns the signer, the anchor (or undefined), whether the claims cover it, whether the records match
   * @throws TrickleError `INVALID_ARGUMENT` (the config has no `attestations` address),
   *   `JOB_ATTESTATION_INVALID`, `JOB_RECORD_INVALID`, `CHAIN_UNAVAILABLE`, `ABORTED`
   */
  verifyJob(
    attestation: JobAttestation,
    signature: Hex,
    records?: readonly Uint8Array[],
    options: CallOptions = {},
  ): Promise<JobVerification> {
    return abortable(options.signal, 'verifying the job', async () => {
      const { attestations } = this.config
      if (!attestations) {
        throw new TrickleError(
          'INVALID_ARGUMENT',
          'this marketplace config has no JobAttestations address (attestations): anchors cannot be checked',
        )
      }
      return verifyJobOnChain(
        {
          provider: this.provider,
          chainId: this.config.chainId,
          registry: this.config.registry,
          channels: this.config.channels,
          attestations,
          ...(this.config.deployBlock !== undefined ? { deployBlock: this.config.deployBlock } : {}),
        },
        attestation,
        signature,
        records,
      )
    })
  }

  /** `DataRegistry.sellerKey(payee)`: the key a seller signs terms, quotes and attestations with. */
  private async sellerKeyOf(payee: Address): Promise<Address> {
    try {
      return (await registryAt(this.config.registry, this.provider).sellerKey(payee)) as Address
    } catch (err) {
      throw toChainError(err, `read the seller key of ${payee}`)
    }
  }

  /**
   * What the product's seller holds of a history range now (SPEC.md §History), to price the range
   * before opening a channel or paying: the `count` readings a session of that range would send,
   * recorded from `from` to `to` (ms since the epoch). Buy it with `stream(product, { range })`.
   *
   * @throws TrickleError `INVALID_ARGUMENT` (an invalid range), `DESCRIPTOR_INVALID`,
   *   `RANGE_UNAVAILABLE` (no reading held in the range, or no history sold), `CONNECTION_FAILED`,
   *   `ABORTED`
   */
  history(product: CatalogProduct, range: StreamRange, options: CallOptions = {}): Promise<RangeEcho> {
    const descriptor = product.descriptor
    if (!descriptor) {
      return Promise.reject(new TrickleError('DESCRIPTOR_INVALID', 'product has no valid descriptor'))
    }
    return fetchHistory(descriptor.endpoint, product.productId, historyRangeOf(range), {
      ...(options.signal ? { signal: options.signal } : {}),
    })
  }

  /**
   * Connects to the product's seller and streams it on a channel, paying per the signed terms; with
   * `reconnect`, resumes on a new session when the connection drops (no chunk handed over or paid
   * twice). What the stream may sign is `maxSpend`, within the client's budget (reserved when the
   * stream starts, the unspent rest given back when it ends).
   *
   * The terms must price chunks at most at the descriptor's `pricePerChunk` (or `maxPricePerChunk`);
   * a resume base may be signed by the channel's payer, signer or still-valid previous signer.
   *
   * @param product - from {@link products} / {@link product}
   * @returns a {@link PaidStream}
   * @throws TrickleError `INVALID_ARGUMENT` (a buffer limit below 1; no `maxSpend` and no budget; an
   *   invalid `range`),
   *   `SPENDING_CAP_REACHED` (the budget is spent), `DESCRIPTOR_INVALID`, `CHANNEL_NOT_OPEN`,
   *   `WRONG_PAYEE`, `CHAIN_UNAVAILABLE`, `CONNECTION_FAILED`, `ABORTED`; session errors (e.g.
   *   `TERMS_SIGNER_MISMATCH`, `TERMS_INVALID`) surface from the iterator
   */
  async stream(product: CatalogProduct, options: StreamOptions): Promise<PaidStream> {
    const limits: BufferLimits = {
      maxChunks: atLeastOne('maxBufferedChunks', options.maxBufferedChunks ?? DEFAULT_MAX_BUFFERED_CHUNKS),
      maxBytes: atLeastOne('maxBufferedBytes', options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES),
    }
    const reserved = this.budget.reserve(options.maxSpend)
    const policy: Required<ReconnectPolicy> =
      options.reconnect === true
        ? DEFAULT_RECONNECT
        : options.reconnect
          ? { ...DEFAULT_RECONNECT, ...options.reconnect }
          : { ...DEFAULT_RECONNECT, attempts: 0 }
    const channelId = options.channelId
    const range = options.range && historyRangeOf(options.range)
    let first: SessionSocket
    try {
      first = await abortable(options.signal, `streaming ${channelId}`, () =>
        this.session(product, { ...options, maxSpend: reserved }, limits, range),
      )
    } catch (err) {
      this.budget.settle(reserved, 0n)
      throw err
    }
    return new ResumingStream(
      first,
      {
        connect: (left) =>
          this.session(
            product,
            {
              ...options,
              maxSpend: left.maxSpend,
              ...(left.maxChunks !== undefined ? { maxChunks: left.maxChunks } : {}),
            },
            limits,
            range && resumedRange(range, left.range),
          ),
        reconnecting: (attempt, delayMs, error) =>
          this.events.emit('reconnecting', { channelId, attempt, delayMs, error }),
        closed: (summary) => {
          this.budget.settle(reserved, summary.paid)
          this.events.emit('closed', { channelId, summary })
        },
      },
      policy,
      { maxSpend: reserved, maxChunks: options.maxChunks },
      options.signal,
    )
  }

  /**
   * The common buy in one call: yields the product's chunks until `budget` is spent (or `maxChunks`
   * arrived, or the loop breaks), on a channel of this client to the product's seller that still has
   * funds and whose receipt key this client holds — or on a new channel funded with `budget` when there
   * is none. Breaking out of the loop closes the session and pays for what arrived.
   *
   * @param productId - the registry's product id
   * @param options - `budget`: wei this subscription may sign (a `bigint`, or a string with its unit,
   *   `'0.001 ETH'`; also the deposit of a new channel); `maxChunks`; `range`, a span of recorded
   *   history instead of live readings (see `StreamOptions.range`); `signal`
   * @returns the chunks, in order, each paid for
   * @throws TrickleError `INVALID_ARGUMENT` (a bad budget), `PRODUCT_NOT_FOUND`, `INSUFFICIENT_FUNDS`,
   *   `SPENDING_CAP_REACHED` (the client's budget is spent), `CHAIN_UNAVAILABLE`, `CONNECTION_FAILED`,
   *   `ABORTED`, and session errors from the iterator
   */
  async *subscribe(
    productId: bigint | number,
    options: { budget: bigint | string; maxChunks?: number; range?: StreamRange } & CallOptions,
  ): AsyncGenerator<Chunk, void, undefined> {
    const budget = parseAmount(options.budget)
    if (budget <= 0n) throw new TrickleError('INVALID_ARGUMENT', 'the budget must be above zero')
    const call = options.signal ? { signal: options.signal } : {}
    const product = await this.product(BigInt(productId), call)
    const seller = product.descriptor?.seller
    if (!seller) throw new TrickleError('DESCRIPTOR_INVALID', `product ${productId} has no valid descriptor`)
    const price = BigInt(product.descriptor!.pricePerChunk)
    const reusable = await this.reusableChannel(seller as Address, price, call)
    const channelId =
      reusable?.channelId ?? (await this.openChannel(seller as Address, budget, call)).channelId
    const maxSpend = reusable && reusable.spendable < budget ? reusable.spendable : budget
    const stream = await this.stream(product, {
      channelId,
      maxSpend,
      ...(options.maxChunks !== undefined ? { maxChunks: options.maxChunks } : {}),
      ...(options.range !== undefined ? { range: options.range } : {}),
      ...call,
    })
    yield* stream
  }

  /**
   * Wei of a channel's deposit not yet signed away: the deposit less the most of the amount claimed
   * on-chain, the last receipt this client signed on it, and `signedAmount`. Pure apart from this
   * client's memory of its receipts.
   * @param channel - the channel's state (`channel()`, `channels()`)
   * @param signedAmount - wei the caller knows it signed (e.g. remembered across a page reload)
   */
  spendable(
    channel: Pick<ChannelDetails, 'channelId' | 'deposit' | 'claimed'>,
    signedAmount?: bigint,
  ): bigint {
    const signed = [
      channel.claimed,
      this.bases.get(channel.channelId.toLowerCase())?.amount ?? 0n,
      signedAmount ?? 0n,
    ].reduce((a, b) => (a > b ? a : b))
    return channel.deposit > signed ? channel.deposit - signed : 0n
  }

  /**
   * The channel {@link subscribe} would stream on: an open native-coin channel of this payer to `payee`
   * whose receipt key this client holds (from its key store, so a reloaded page finds the channel it
   * opened) and whose deposit still covers `price` beyond what is signed away, the one with the most
   * spendable — or `undefined`, when a new channel is needed. What is signed away is the most of the
   * amount claimed on-chain, the last receipt this client signed on the channel, and `signedAmount`.
   * @param payee - the seller's address
   * @param price - wei: the least a usable channel must still hold (one chunk's price)
   * @param options - `signedAmount`: wei the caller knows it signed on a channel (e.g. remembered across
   *   a page reload, where this client's own memory of its receipts is gone); `signal`
   * @returns the channel, with `spendable`: wei of its deposit not yet signed away
   * @throws TrickleError `CHAIN_UNAVAILABLE`, `INTERNAL` (the key store failed), `ABORTED`
   */
  async reusableChannel(
    payee: Address,
    price: bigint,
    options: { signedAmount?: (channelId: Hex) => bigint | undefined } & CallOptions = {},
  ): Promise<(ListedChannel & { spendable: bigint }) | undefined> {
    const call = options.signal ? { signal: options.signal } : {}
    const candidates = (await this.channels(call))
      .filter((c) => c.status === 'open' && c.payee.toLowerCase() === payee.toLowerCase())
      .filter((c) => c.token === ZeroAddress)
      .map((c) => ({ ...c, spendable: this.spendable(c, options.signedAmount?.(c.channelId)) }))
      .filter((c) => c.spendable >= price)
      .sort((a, b) => (a.spendable > b.spendable ? -1 : a.spendable < b.spendable ? 1 : 0))
    for (const channel of candidates) {
      const key = await this.sessionKeyFor(channel.channelId)
      if (computeAddress(key.publicKey).toLowerCase() === channel.signer.toLowerCase()) return channel
    }
    return undefined
  }

  /** Starts one session on the channel: checks it on-chain, connects, and drives it. */
  private async session(
    product: CatalogProduct,
    options: StreamOptions & { maxSpend: bigint },
    limits: BufferLimits,
    range: HistoryRange | undefined,
  ): Promise<SessionSocket> {
    const descriptor = product.descriptor
    if (!descriptor) throw new TrickleError('DESCRIPTOR_INVALID', 'product has no valid descriptor')
    const channelId = options.channelId
    const view = await this.channel(channelId)
    if (view.status !== 'open') {
      throw new TrickleError('CHANNEL_NOT_OPEN', `channel ${channelId} is ${view.status}`)
    }
    if (view.payee.toLowerCase() !== descriptor.seller.toLowerCase()) {
      throw new TrickleError(
        'WRONG_PAYEE',
        `channel pays ${view.payee}, the product is sold by ${descriptor.seller}`,
      )
    }
    // The signer fields ChannelDetails leaves out, read at the same block.
    const signers = await channelsAt(this.config.channels, this.provider)
      .getChannel(channelId, { blockTag: view.blockNumber })
      .then((raw) => receiptSigners(raw, view.blockTimestamp))
      .catch((err: unknown) => {
        throw toChainError(err, `read channel ${channelId}`)
      })
    const sessionKey = await this.sessionKeyFor(channelId)
    const key = channelId.toLowerCase()
    const knownBase = this.bases.get(key)
    let account = this.accounts.get(key)
    if (!account) {
      account = new BuyerChannelAccount()
      this.accounts.set(key, account)
    }
    const session = new BuyerSession({
      productId: product.productId,
      channelId,
      chainId: this.config.chainId,
      channels: this.config.channels,
      payee: view.payee,
      sellerKey: (await registryAt(this.config.registry, this.provider).sellerKey(view.payee)) as Address,
      signer: computeAddress(sessionKey.publicKey) as Address,
      maxSpend: options.maxSpend,
      domainSeparator: this.domainSeparator,
      signReceipt: (r) => signReceipt(sessionKey, this.domainSeparator, r),
      signAccept: (a) => signAccept(sessionKey, this.domainSeparator, a),
      ...(options.maxChunks !== undefined ? { maxChunks: options.maxChunks } : {}),
      ...(range !== undefined ? { range } : {}),
      ...(options.job !== undefined ? { job: options.job } : {}),
      ...(options.maxPricePerChunk !== undefined ? { maxPricePerChunk: options.maxPricePerChunk } : {}),
      ...(options.maxDebt !== undefined ? { maxDebt: options.maxDebt } : {}),
      expectedPricePerChunk: BigInt(descriptor.pricePerChunk),
      baseSigners: signers,
      ...(knownBase ? { knownBase } : {}),
      account,
    })
    const ws = await connectSocket(descriptor.endpoint, options.connectTimeoutMs ?? 10_000, options.signal)
    return new SessionSocket(
      ws,
      session,
      limits,
      {
        receipt: (base) => {
          // Receipts of concurrent sessions may be remembered out of order: keep the highest amount.
          const known = this.bases.get(key)
          if (!known || base.amount >= known.amount) this.bases.set(key, base)
          this.events.emit('receipt', {
            channelId,
            seq: base.seq,
            amount: base.amount,
            signature: base.signature,
          })
        },
        paymentRequired: (owed) => this.events.emit('paymentRequired', { channelId, owed }),
      },
      descriptor.devices?.map((d) => d.address),
    )
  }

  /**
   * Ends the client. It holds nothing between calls today (descriptors are fetched per call, the
   * provider is the caller's), so this resolves at once; open streams are not affected.
   */
  async close(): Promise<void> {}
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

/**
 * The `hello` range of a session that resumes a stream of a history range: the range the first
 * session confirmed (its readings' first and last recording times), after the channel's last paid
 * reading (`resume`); the range as asked while none was confirmed yet.
 */
function resumedRange(asked: HistoryRange, confirmed: RangeEcho | undefined): HistoryRange {
  if (!confirmed || confirmed.count === 0) return { ...asked, resume: true }
  return confirmed.live
    ? { start: confirmed.start, live: true, resume: true }
    : { start: confirmed.start, end: confirmed.end, resume: true }
}

/** A job's arguments sealed to its provider: their JSON array text (what `argsHash` hashes), sealed. */
function sealedArgsOf(sealingKey: Hex, args: readonly string[]): Uint8Array {
  return sealTo(sealingKey, new TextEncoder().encode(JSON.stringify(args)))
}
