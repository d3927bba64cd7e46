/**
 * The buyer side of the protocol benchmark: one WebSocket session driven by the real `BuyerSession`
 * (terms checked, ack hash kept, cumulative receipts signed with {@link BUYER_KEY}), or, for the
 * unpaid baseline, a client that sends the same `hello` and only decodes and counts chunk frames.
 */
import { randomBytes } from 'node:crypto'
import {
  type BuyerEffect,
  BuyerSession,
  decodeFrame,
  encodeFrame,
  type Frame,
  type Hex,
  PROTOCOL_VERSION,
  signAccept,
  signReceipt,
} from '@trickle/protocol'
import WebSocket from 'ws'
import {
  BUYER_ADDRESS,
  BUYER_KEY,
  CHAIN_ID,
  CHANNELS,
  DEPOSIT,
  DOMAIN_SEPARATOR,
  offeredAt,
  PAYEE,
  SELLER_ADDRESS,
} from './protocolFixture.ts'

/** How one buyer session went. Times are `performance.now()` ms. */
export interface BuyerOutcome {
  received: number
  /** when `hello` was sent */
  helloAt: number
  /** when the first and the last chunk arrived (NaN if none did) */
  firstAt: number
  lastAt: number
  /** receipts signed */
  receipts: number
  /** close reason, or `disconnected` */
  reason: string
}

/** Options of {@link startBuyer}. */
export interface BuyerOptions {
  /** `true`: a real `BuyerSession`; `false`: count chunk frames only */
  paid: boolean
  /** chunks after which the buyer ends the session (`done`); unbounded if absent */
  chunks?: number
  /** called with each chunk's offer-to-delivery latency, ms */
  onLatency?: (ms: number) => void
}

/** A running buyer session. */
export interface BuyerHandle {
  /** resolves once the socket has closed */
  readonly done: Promise<BuyerOutcome>
  /** whether `terms` were accepted (paid) or the first chunk arrived (unpaid) */
  readonly streaming: boolean
  /** ends the session now: final receipt and `close` (paid), or a plain socket close */
  stop(): void
}

/**
 * Connects to `url` and runs one session on a fresh random channel id.
 * @param url - `ws://127.0.0.1:<port>`
 */
export function startBuyer(url: string, options: BuyerOptions): BuyerHandle {
  const channelId = `0x${randomBytes(32).toString('hex')}` as Hex
  const ws = new WebSocket(url, { perMessageDeflate: false })
  const outcome: BuyerOutcome = {
    received: 0,
    helloAt: Number.NaN,
    firstAt: Number.NaN,
    lastAt: Number.NaN,
    receipts: 0,
    reason: 'disconnected',
  }
  let streaming = false
  const deliver = (data: Uint8Array) => {
    const now = performance.now()
    if (outcome.received === 0) outcome.firstAt = now
    outcome.lastAt = now
    outcome.received++
    options.onLatency?.(Number(process.hrtime.bigint() - offeredAt(data)) / 1e6)
  }
  const send = (frame: Frame) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(encodeFrame(frame))
  }

  let stop: () => void
  if (options.paid) {
    const buyer = new BuyerSession({
      productId: 1n,
      channelId,
      chainId: CHAIN_ID,
      channels: CHANNELS,
      payee: PAYEE,
      sellerKey: SELLER_ADDRESS,
      signer: BUYER_ADDRESS,
      maxSpend: DEPOSIT,
      ...(options.chunks === undefined ? {} : { maxChunks: options.chunks }),
      domainSeparator: DOMAIN_SEPARATOR,
      signReceipt: (receipt) => signReceipt(BUYER_KEY, DOMAIN_SEPARATOR, receipt),
      signAccept: (accept) => signAccept(BUYER_KEY, DOMAIN_SEPARATOR, accept),
    })
    const apply = (effects: BuyerEffect[]) => {
      for (const effect of effects) {
        switch (effect.type) {
          case 'send':
            if (effect.frame.t === 'accept') streaming = true
            send(effect.frame)
            break
          case 'deliver':
            deliver(effect.data)
            break
          case 'receipt':
            outcome.receipts++
            break
          case 'close':
            outcome.reason = effect.reason
            ws.close()
            break
        }
      }
    }
    ws.on('open', () => {
      outcome.helloAt = performance.now()
      apply(buyer.start())
    })
    ws.on('message', (data: Buffer) => apply(buyer.receive(decodeFrame(data), Date.now())))
    stop = () => apply(buyer.close())
  } else {
    ws.on('open', () => {
      outcome.helloAt = performance.now()
      send({ t: 'hello', v: PROTOCOL_VERSION, productId: 1n, channelId })
    })
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data)
      if (frame.t !== 'chunk') return
      streaming = true
      deliver(frame.data)
      if (options.chunks !== undefined && outcome.received >= options.chunks) stop()
    })
    stop = () => {
      outcome.reason = 'done'
      ws.close()
    }
  }
  const done = new Promise<BuyerOutcome>((resolve) => {
    ws.on('close', () => resolve(outcome))
    ws.on('error', () => {})
  })
  return {
    done,
    get streaming() {
      return streaming
    },
    stop: () => {
      if (ws.readyState === WebSocket.OPEN) stop()
    },
  }
}
