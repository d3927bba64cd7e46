import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { registryAt } from '@trickle/contracts'
import { type Deployment, deployContracts, type LocalChain, startLocalChain } from '@trickle/devnet'
import {
  type Address,
  decodeFrame,
  encodeFrame,
  type Frame,
  type HelloFrame,
  type Hex,
  PROTOCOL_VERSION,
  type ReceiptFrame,
  type ResumeBase,
  signTerms,
  type Terms,
  type TermsFrame,
  toHex,
  ZERO_HASH,
} from '@trickle/protocol'
import { BuyerClient, type CatalogProduct } from '@trickle/sdk'
import { SigningKey, Wallet } from 'ethers'
import { type WebSocket, WebSocketServer } from 'ws'

/** Challenge period of the test deployment, s (also how long a replaced signer stays valid). */
export const CHALLENGE_PERIOD = 600n

/**
 * A local chain with the contracts deployed, a seller (payee) whose terms key is registered in
 * DataRegistry, and a buyer client whose session key the test knows. Nothing else of the seller is
 * real: its endpoint is whatever hostile server a test starts.
 */
export interface HostileMarket {
  chain: LocalChain
  deployment: Deployment
  /** the payee of every channel */
  seller: Wallet
  /** the key `DataRegistry.sellerKey(seller)` records */
  termsKey: SigningKey
  /** the buyer's payer wallet */
  payer: Wallet
  /** the buyer's receipt signer */
  sessionKey: SigningKey
  buyer: BuyerClient
  /** A buyer client of the same payer with another session key. */
  client(sessionKey: SigningKey): Promise<BuyerClient>
  /** Opens a native channel from the buyer's payer to the seller, signed for by `sessionKey`. */
  openChannel(deposit: bigint): Promise<Hex>
  /** A catalog product sold by the seller at `pricePerChunk` wei, served at `endpoint`. */
  product(endpoint: string, pricePerChunk: bigint): CatalogProduct
  stop(): Promise<void>
}

/** Starts anvil, deploys the contracts and registers the seller's terms key. */
export async function startHostileMarket(): Promise<HostileMarket> {
  const chain = await startLocalChain()
  const wallets = chain.privateKeys.map((key) => new Wallet(key, chain.provider))
  const deployment = await deployContracts(wallets[0]!, { challengePeriodSeconds: CHALLENGE_PERIOD })
  const seller = wallets[1]!
  const payer = wallets[2]!
  const termsKey = new SigningKey(`0x${'00'.repeat(31)}53`)
  await (await registryAt(deployment.registry, seller).setSellerKey(new Wallet(termsKey).address)).wait()
  const sessionKey = new SigningKey(`0x${'00'.repeat(31)}b1`)
  const client = (key: SigningKey) =>
    BuyerClient.create({
      wallet: payer,
      sessionKey: key,
      chainId: chain.chainId,
      registry: deployment.registry as Address,
      channels: deployment.channels as Address,
      deployBlock: deployment.deployBlock,
      gateways: [],
    })
  const buyer = await client(sessionKey)
  return {
    chain,
    deployment,
    seller,
    termsKey,
    payer,
    sessionKey,
    buyer,
    client,
    async openChannel(deposit) {
      return (await buyer.openChannel(seller.address as Address, deposit)).channelId
    },
    product(endpoint, pricePerChunk) {
      return {
        productId: 1n,
        owner: seller.address as Address,
        kind: 'stream',
        active: true,
        cid: 'bafy-hostile',
        sellerKey: new Wallet(termsKey).address as Address,
        descriptor: {
          schema: 'trickle.descriptor/1',
          name: 'hostile',
          description: 'a seller scripted by a test',
          kind: 'stream',
          seller: seller.address as Hex,
          endpoint,
          pricePerChunk: pricePerChunk.toString(),
          chunk: { encoding: 'application/octet-stream', maxBytes: 256 * 1024, unit: 'bytes' },
          topics: [],
          fields: [],
          tags: [],
          source: { title: '', licence: '', attribution: '' },
          createdAt: '2025-01-01T00:00:00.000Z',
        },
      }
    },
    async stop() {
      await buyer.close()
      await chain.stop()
    },
  }
}

/** One buyer connection as the hostile seller sees it. */
export interface HostileConnection {
  readonly ws: WebSocket
  /** the buyer's `hello` */
  readonly hello: HelloFrame
  /** every frame the buyer sent, decoded, in order */
  readonly frames: Frame[]
  /** The buyer's `receipt` frames so far. */
  receipts(): ReceiptFrame[]
  /** Terms for this connection at `pricePerChunk`, with `overrides`, signed by `key` (default the registered one). */
  terms(pricePerChunk: bigint, overrides?: Partial<Terms>, key?: SigningKey): TermsFrame
  /** Sends one frame; resolves once it was written to the socket (so a flood respects TCP back-pressure). */
  send(frame: Frame): Promise<void>
  /** Resolves with the first frame (from the start) of type `t`; rejects when the connection closes first. */
  next<T extends Frame['t']>(t: T, after?: number): Promise<Extract<Frame, { t: T }>>
  /** resolves when the socket closed */
  readonly closed: Promise<void>
  readonly isClosed: boolean
}

/** A WebSocket server on 127.0.0.1 that runs `script` for every buyer that says `hello`. */
export interface HostileSeller {
  /** `ws://127.0.0.1:<port>/` */
  url: string
  connections: HostileConnection[]
  /** errors the scripts threw (a test asserts there are none) */
  errors: unknown[]
  close(): Promise<void>
}

/**
 * Starts a hostile seller: a bare `ws` server that speaks the protocol's codec and does whatever
 * `script` says, ignoring every rule a real seller follows (credit window, queue, receipts).
 */
export async function startHostileSeller(
  market: Pick<HostileMarket, 'chain' | 'deployment' | 'seller' | 'termsKey'>,
  script: (conn: HostileConnection) => Promise<void>,
): Promise<HostileSeller> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024 })
  const connections: HostileConnection[] = []
  const errors: unknown[] = []
  wss.on('connection', (ws) => {
    const frames: Frame[] = []
    const listeners = new Set<() => void>()
    let isClosed = false
    const closed = new Promise<void>((resolve) => {
      ws.once('close', () => {
        isClosed = true
        resolve()
        for (const l of listeners) l()
      })
    })
    ws.on('error', () => undefined)
    ws.on('message', (data: Buffer) => {
      try {
        const frame = decodeFrame(data)
        frames.push(frame)
        // Like a real seller: the buyer's `close` is answered by closing the socket.
        if (frame.t === 'close') ws.close()
      } catch (err) {
        errors.push(err)
      }
      for (const l of listeners) l()
    })
    const next = <T extends Frame['t']>(t: T, after = 0): Promise<Extract<Frame, { t: T }>> =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = frames.slice(after).find((f) => f.t === t)
          if (found) {
            listeners.delete(check)
            resolve(found as Extract<Frame, { t: T }>)
          } else if (isClosed) {
            listeners.delete(check)
            reject(new Error(`connection closed before a ${t} frame`))
          }
        }
        listeners.add(check)
        check()
      })
    void next('hello')
      .then(
        (hello) => {
          const conn: HostileConnection = {
            ws,
            hello,
            frames,
            receipts: () => frames.filter((f): f is ReceiptFrame => f.t === 'receipt'),
            terms: (pricePerChunk, overrides = {}, key = market.termsKey) => {
              const base: ResumeBase = { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' }
              const terms: Terms = {
                v: PROTOCOL_VERSION,
                productId: hello.productId,
                channelId: hello.channelId,
                payee: market.seller.address as Address,
                pricePerChunk,
                maxChunkBytes: 256 * 1024,
                window: { initial: 1 << 20, step: 0, max: 1 << 20 },
                receiptEvery: 4,
                paymentTimeoutMs: 5_000,
                heartbeatMs: 10_000,
                idleTimeoutMs: 30_000,
                maxQueuedChunks: 64,
                overflow: 'drop_oldest',
                chainId: market.chain.chainId,
                channels: market.deployment.channels as Address,
                expiresAt: Date.now() + 60_000,
                base,
                ...overrides,
              }
              return { t: 'terms', ...terms, signature: signTerms(key, terms), nonce: toHex(randomBytes(32)) }
            },
            send: (frame) =>
              new Promise<void>((resolve) => {
                if (ws.readyState !== ws.OPEN) return resolve()
                ws.send(encodeFrame(frame), () => resolve())
              }),
            next,
            closed,
            get isClosed() {
              return isClosed
            },
          }
          connections.push(conn)
          return script(conn)
        },
        () => undefined,
      )
      .catch((err: unknown) => {
        errors.push(err)
      })
  })
  await new Promise((resolve) => wss.once('listening', resolve))
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`,
    connections,
    errors,
    async close() {
      for (const client of wss.clients) client.terminate()
      await new Promise((resolve) => wss.close(resolve))
    },
  }
}

/** The highest cumulative amount among `receipts`, wei (0 when none). */
export function highestAmount(receipts: readonly ReceiptFrame[]): bigint {
  return receipts.reduce((max, r) => (r.amount > max ? r.amount : max), 0n)
}
