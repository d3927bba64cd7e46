import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import v8 from 'node:v8'
import vm from 'node:vm'
import { channelsAt } from '@trickle/contracts'
import { increaseTime } from '@trickle/devnet'
import {
  type Address,
  type BuyerEffect,
  BuyerSession,
  type BuyerSessionConfig,
  bufferFull,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  type Hex,
  MAX_CUMULATIVE_AMOUNT,
  MAX_IDLE_TIMEOUT_MS,
  MAX_PAYMENT_TIMEOUT_MS,
  MAX_TIMER_DELAY_MS,
  MIN_HEARTBEAT_MS,
  MIN_PAYMENT_TIMEOUT_MS,
  type ResumeBase,
  receiptDomainSeparator,
  signReceipt,
  signTerms,
  TERMS_CLOCK_SKEW_MS,
  type Terms,
  type TermsFrame,
  timerDelay,
  toHex,
  ZERO_HASH,
} from '@trickle/protocol'
import { type Chunk, type PaidStream, receiptSigners } from '@trickle/sdk'
import { SigningKey, Wallet } from 'ethers'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  acceptSigner,
  BUYER,
  buyerKey,
  CHAIN_ID,
  CHANNEL_ID,
  CHANNELS,
  PAYEE,
  PRODUCT_ID,
  SELLER,
  SEPARATOR,
  sellerKey,
} from '../../test/helpers/sessionFixtures.ts'
import {
  CHALLENGE_PERIOD,
  type HostileConnection,
  type HostileMarket,
  highestAmount,
  startHostileMarket,
  startHostileSeller,
} from './helpers/hostileSeller.ts'

const PRICE = 1_000_000_000_000n // wei per chunk
const DEPOSIT = 1_000_000n * PRICE
/** The highest chunk label a number can hold; a receipt after it would need seq 2^53. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER

// Anything a seller sends must end up in the session's own error path, never in the event loop.
const uncaught = vi.fn()
const unhandled = vi.fn()
const overflowWarnings = vi.fn()
const onWarning = (warning: Error) => {
  if (warning.name === 'TimeoutOverflowWarning') overflowWarnings(warning.message)
}

/** How an iteration of a stream ended: the chunks it got and the error code it threw, if any. */
interface Drained {
  seqs: number[]
  code: string | undefined
}

/**
 * Iterates `stream`; `each` returns `true` to leave the loop with `break`.
 * @returns the labels of the chunks handed to the loop and the code of the error it threw
 */
async function drain(
  stream: PaidStream,
  each: (chunk: Chunk, index: number) => boolean | Promise<boolean> = () => false,
): Promise<Drained> {
  const seqs: number[] = []
  try {
    for await (const chunk of stream) {
      seqs.push(chunk.seq)
      if (await each(chunk, seqs.length - 1)) break
    }
  } catch (err) {
    return { seqs, code: String((err as { code?: unknown }).code) }
  }
  return { seqs, code: undefined }
}

/** `global.gc`, exposed at run time (vitest's fork pool does not pass `--expose-gc`). */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed) return exposed
  v8.setFlagsFromString('--expose-gc')
  return vm.runInNewContext('gc') as () => void
}

/** Bytes the process holds after a full collection: JS heap plus array buffers (chunk payloads). */
function retainedBytes(gc: () => void): number {
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** Whether the buyer has sent its `close` frame on `conn`. */
const buyerClosed = (conn: HostileConnection) => conn.frames.some((f) => f.t === 'close')

/** Sends chunks 0, 1, … until `count` are out, the socket closes or the buyer sends `close`. */
async function floodChunks(
  conn: HostileConnection,
  count: number,
  data: (seq: number) => Uint8Array = (seq) => Uint8Array.of(seq & 255),
): Promise<void> {
  for (let seq = 0; seq < count && !conn.isClosed && !buyerClosed(conn); seq++) {
    await conn.send({ t: 'chunk', seq, data: data(seq) })
  }
}

describe('BuyerClient.stream against a hostile seller (anvil)', () => {
  let market: HostileMarket
  let separator: Hex

  beforeAll(async () => {
    process.on('uncaughtException', uncaught)
    process.on('unhandledRejection', unhandled)
    process.on('warning', onWarning)
    market = await startHostileMarket()
    separator = receiptDomainSeparator({
      chainId: market.chain.chainId,
      channels: market.deployment.channels as Address,
    })
  })

  afterEach(() => {
    // Cleared whatever happens, so one test's escape does not fail the next ones.
    const calls = [uncaught, unhandled, overflowWarnings].map((spy) => spy.mock.calls.slice())
    for (const spy of [uncaught, unhandled, overflowWarnings]) spy.mockClear()
    expect(calls).toEqual([[], [], []])
  })

  afterAll(async () => {
    await market?.stop()
    process.off('uncaughtException', uncaught)
    process.off('unhandledRejection', unhandled)
    process.off('warning', onWarning)
  })

  /** A resume base at chunk `seq` worth `amount`, signed by `key`. */
  function baseSignedBy(key: SigningKey, channelId: Hex, seq: number, amount: bigint): ResumeBase {
    const ackHash = toHex(randomBytes(32))
    return {
      seq,
      amount,
      ackHash,
      signature: signReceipt(key, separator, { channelId, amount, seq, ackHash }),
    }
  }

  describe('fields a receipt cannot represent (finding 8)', () => {
    it('takes chunk 2^53 − 2, refuses chunk 2^53 − 1 with CHUNK_OUT_OF_ORDER and stays alive', async () => {
      const data = Uint8Array.of(1, 2, 3)
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(PRICE, { receiptEvery: 1 }))
        await conn.next('accept')
        await conn.send({ t: 'chunk', seq: MAX_SAFE - 1, data })
        await conn.send({ t: 'chunk', seq: MAX_SAFE, data })
      })
      try {
        const channelId = await market.openChannel(DEPOSIT)
        const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: 100n * PRICE,
        })
        expect(await drain(stream)).toEqual({ seqs: [MAX_SAFE - 1], code: 'CHUNK_OUT_OF_ORDER' })
        expect(await stream.finished).toMatchObject({
          chunks: 1,
          paid: PRICE,
          reason: 'protocol_error',
          error: { code: 'CHUNK_OUT_OF_ORDER' },
        })
        const conn = seller.connections[0]!
        await conn.closed
        expect(conn.receipts()).toEqual([expect.objectContaining({ seq: MAX_SAFE, amount: PRICE })])
        expect(conn.frames.find((f) => f.t === 'error')).toMatchObject({ code: 'CHUNK_OUT_OF_ORDER' })
        expect(seller.errors).toEqual([])
      } finally {
        await seller.close()
      }
    })

    it('ends with spending_cap when the next chunk would push the cumulative amount past 2^256 − 1', async () => {
      const channelId = await market.openChannel(DEPOSIT)
      // A receipt the buyer's own key signed at almost the largest amount (a buyer that lost its record).
      const base = baseSignedBy(market.sessionKey, channelId, 5, MAX_CUMULATIVE_AMOUNT - 15n)
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(10n, { receiptEvery: 1, base }))
        await conn.next('accept')
        for (const seq of [5, 6, 7]) await conn.send({ t: 'chunk', seq, data: Uint8Array.of(seq) })
      })
      try {
        const stream = await market.buyer.stream(market.product(seller.url, 10n), {
          channelId,
          maxSpend: 1_000n,
        })
        expect(await drain(stream)).toEqual({ seqs: [5], code: undefined })
        expect(await stream.finished).toMatchObject({ chunks: 1, paid: 10n, reason: 'spending_cap' })
        const conn = seller.connections[0]!
        await conn.closed
        expect(conn.receipts()).toEqual([
          expect.objectContaining({ seq: 6, amount: MAX_CUMULATIVE_AMOUNT - 5n }),
        ])
      } finally {
        await seller.close()
      }
    })

    it('refuses terms whose base leaves no room for one chunk below 2^256 with TERMS_INVALID', async () => {
      const channelId = await market.openChannel(DEPOSIT)
      const base = baseSignedBy(market.sessionKey, channelId, 5, MAX_CUMULATIVE_AMOUNT - 5n)
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(10n, { receiptEvery: 1, base }))
        await conn.next('accept').catch(() => undefined)
        await conn.send({ t: 'chunk', seq: 5, data: Uint8Array.of(5) })
      })
      try {
        const stream = await market.buyer.stream(market.product(seller.url, 10n), {
          channelId,
          maxSpend: 1_000n,
        })
        expect(await drain(stream)).toEqual({ seqs: [], code: 'TERMS_INVALID' })
        await seller.connections[0]!.closed
        expect(seller.connections[0]!.frames.map((f) => f.t)).toEqual(['hello', 'error', 'close'])
      } finally {
        await seller.close()
      }
    })

    it('ends the session with INTERNAL when handling a frame throws unexpectedly, telling the seller no details', async () => {
      const receive = vi.spyOn(BuyerSession.prototype, 'receive').mockImplementationOnce(() => {
        throw new Error('a bug with a secret detail')
      })
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(PRICE))
      })
      try {
        const channelId = await market.openChannel(DEPOSIT)
        const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: 10n * PRICE,
        })
        expect(await drain(stream)).toEqual({ seqs: [], code: 'INTERNAL' })
        expect(await stream.finished).toMatchObject({ chunks: 0, paid: 0n, error: { code: 'INTERNAL' } })
        const conn = seller.connections[0]!
        await conn.closed
        const error = conn.frames.find((f) => f.t === 'error')
        expect(error).toMatchObject({ code: 'INTERNAL' })
        expect(JSON.stringify(error)).not.toContain('secret')
      } finally {
        receive.mockRestore()
        await seller.close()
      }
    })
  })

  describe('a chunk flood at a slow reader (finding 9)', () => {
    it('holds back a flood from its session: received chunks, signed amounts and memory stay within the buffer bounds', async () => {
      const CHUNK_BYTES = 200 * 1024
      const TOTAL = 1_000 // 200 MB if the buyer took them all
      const READ = 20
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(PRICE, { receiptEvery: 4 }))
        await conn.next('accept')
        const data = new Uint8Array(CHUNK_BYTES).fill(7)
        await floodChunks(conn, TOTAL, () => data)
      })
      const gc = collector()
      try {
        const channelId = await market.openChannel(DEPOSIT)
        const baseline = retainedBytes(gc)
        const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: BigInt(TOTAL) * PRICE,
        })
        let peak = 0
        const { seqs } = await drain(stream, async (_chunk, i) => {
          await sleep(25) // a slow application
          peak = Math.max(peak, retainedBytes(gc) - baseline)
          return i + 1 === READ
        })
        expect(seqs).toHaveLength(READ)
        const summary = await stream.close()
        const conn = seller.connections[0]!
        await conn.closed
        // The session received (and paid for) at most the buffer bound beyond what the app took …
        expect(summary.chunks).toBeLessThanOrEqual(READ + DEFAULT_MAX_BUFFERED_CHUNKS)
        expect((summary.chunks - READ) * CHUNK_BYTES).toBeLessThanOrEqual(DEFAULT_MAX_BUFFERED_BYTES)
        // (A seller whose terms allow a 2^20-chunk window passes the bytes a buyer holds back for a
        // full buffer: it is closed with UNEXPECTED_FRAME, and the chunks received since the last
        // receipt stay unpaid.)
        expect(summary.cumulativeAmount).toBeLessThanOrEqual(BigInt(summary.chunks) * PRICE)
        if (summary.error === undefined) expect(summary.cumulativeAmount).toBe(BigInt(summary.chunks) * PRICE)
        else expect(summary.error.code).toBe('UNEXPECTED_FRAME')
        expect(highestAmount(conn.receipts())).toBe(summary.cumulativeAmount)
        expect(highestAmount(conn.receipts())).toBeLessThanOrEqual(
          BigInt(READ + DEFAULT_MAX_BUFFERED_CHUNKS) * PRICE,
        )
        // … and the process never held much more than that buffer (4 MiB) plus socket buffers.
        console.log(
          `flood: ${summary.chunks} chunks received for ${READ} read; peak retained growth ${(peak / 2 ** 20).toFixed(1)} MiB`,
        )
        expect(peak).toBeLessThan(32 * 2 ** 20)
      } finally {
        await seller.close()
      }
    })

    it('with maxBufferedChunks 1 receives a chunk only once the app asked for it', async () => {
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(PRICE, { receiptEvery: 4 }))
        await conn.next('accept')
        await floodChunks(conn, 10_000)
      })
      try {
        const channelId = await market.openChannel(DEPOSIT)
        const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: 10_000n * PRICE,
          maxBufferedChunks: 1,
        })
        const { seqs } = await drain(stream, async (_chunk, i) => {
          await sleep(5)
          return i + 1 === 25
        })
        expect(seqs).toEqual([...Array(25).keys()])
        expect(await stream.finished).toMatchObject({ chunks: 25, paid: 25n * PRICE, reason: 'buyer_closed' })
        const conn = seller.connections[0]!
        await conn.closed
        expect(conn.receipts().at(-1)).toMatchObject({ seq: 25, amount: 25n * PRICE })
      } finally {
        await seller.close()
      }
    })

    it('runs no idle timeout while frames are held back for a slow loop body', async () => {
      const IDLE_MS = 1_000
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(PRICE, { receiptEvery: 4, heartbeatMs: 200, idleTimeoutMs: IDLE_MS }))
        await conn.next('accept')
        await floodChunks(conn, 10_000)
      })
      try {
        const channelId = await market.openChannel(DEPOSIT)
        const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: 10_000n * PRICE,
          maxBufferedChunks: 1,
        })
        // The loop body holds its first chunk for 2.5 idle timeouts: the seller's frames wait unread.
        const { seqs, code } = await drain(stream, async (_chunk, i) => {
          if (i === 0) await sleep(2.5 * IDLE_MS)
          return i + 1 === 6
        })
        expect({ seqs, code }).toEqual({ seqs: [0, 1, 2, 3, 4, 5], code: undefined })
        expect(await stream.finished).toMatchObject({ chunks: 6, paid: 6n * PRICE, reason: 'buyer_closed' })
      } finally {
        await seller.close()
      }
    })

    it('signs nothing beyond the buffer for a slow loop, so a seller that keeps to its window waits and loses nothing', async () => {
      const TOTAL = 120
      const WINDOW = 8
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(
          conn.terms(PRICE, { receiptEvery: 4, window: { initial: WINDOW, step: 0, max: WINDOW } }),
        )
        await conn.next('accept')
        for (let seq = 0; seq < TOTAL && !conn.isClosed && !buyerClosed(conn); seq++) {
          // An honest seller: never more than its window beyond the last receipt.
          while (seq - (conn.receipts().at(-1)?.seq ?? 0) >= WINDOW && !conn.isClosed) {
            await conn.next('receipt', conn.frames.length).catch(() => undefined)
          }
          await conn.send({ t: 'chunk', seq, data: Uint8Array.of(seq & 255) })
        }
      })
      try {
        const channelId = await market.openChannel(DEPOSIT)
        const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: BigInt(TOTAL) * PRICE,
          maxChunks: TOTAL,
          maxBufferedChunks: 2,
        })
        const conn = () => seller.connections[0]!
        let worst = 0n
        const { seqs, code } = await drain(stream, async (_chunk, i) => {
          await sleep(i % 10 === 0 ? 30 : 1) // a loop that is sometimes slow
          // What was signed while the loop held chunk i: at most its chunks plus the buffer's two.
          const over = highestAmount(conn().receipts()) - BigInt(i + 1 + 2) * PRICE
          if (over > worst) worst = over
          return false
        })
        expect({ code, count: seqs.length }).toEqual({ code: undefined, count: TOTAL })
        expect(seqs).toEqual([...Array(TOTAL).keys()])
        expect(worst).toBe(0n)
        expect(await stream.finished).toMatchObject({
          chunks: TOTAL,
          paid: BigInt(TOTAL) * PRICE,
          reason: 'done',
        })
      } finally {
        await seller.close()
      }
    })

    it('closes a seller that sends beyond its credit window with UNEXPECTED_FRAME, paying only for chunks it had room for', async () => {
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(PRICE, { receiptEvery: 4, window: { initial: 8, step: 0, max: 8 } }))
        await conn.next('accept')
        await floodChunks(conn, 1_000)
      })
      try {
        const channelId = await market.openChannel(DEPOSIT)
        const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: 1_000n * PRICE,
          maxBufferedChunks: 2,
        })
        const { seqs, code } = await drain(stream, async (_chunk, i) => {
          if (i === 0) await sleep(500)
          return false
        })
        expect(code).toBe('UNEXPECTED_FRAME')
        const summary = await stream.finished
        expect(summary.error?.code).toBe('UNEXPECTED_FRAME')
        expect(summary.chunks).toBeLessThanOrEqual(3)
        expect(seqs.length).toBe(summary.chunks)
        const conn = seller.connections[0]!
        await conn.closed
        expect(highestAmount(conn.receipts())).toBeLessThanOrEqual(BigInt(summary.chunks) * PRICE)
        expect(conn.frames).toContainEqual(expect.objectContaining({ t: 'error', code: 'UNEXPECTED_FRAME' }))
      } finally {
        await seller.close()
      }
    })

    it('refuses buffer limits below one chunk or byte with INVALID_ARGUMENT', async () => {
      const channelId = await market.openChannel(DEPOSIT)
      const product = market.product('ws://127.0.0.1:9/', PRICE)
      for (const limits of [
        { maxBufferedChunks: 0 },
        { maxBufferedBytes: 0.5 },
        { maxBufferedChunks: Number.NaN },
      ]) {
        await expect(
          market.buyer.stream(product, { channelId, maxSpend: PRICE, ...limits }),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
      }
    })
  })

  describe('timing parameters (finding 10)', () => {
    const refused: [string, Partial<Terms>][] = [
      ['idleTimeoutMs 2^31 − 2 (24.8 days)', { idleTimeoutMs: 2 ** 31 - 2 }],
      ['idleTimeoutMs 2^32 − 1 (overflows a timer)', { idleTimeoutMs: 2 ** 32 - 1 }],
      ['idleTimeoutMs just above the bound', { idleTimeoutMs: MAX_IDLE_TIMEOUT_MS + 1 }],
      ['heartbeatMs 1', { heartbeatMs: 1 }],
      [
        'heartbeatMs 2^31 − 3 before an idleTimeoutMs of 2^31 − 2',
        { heartbeatMs: 2 ** 31 - 3, idleTimeoutMs: 2 ** 31 - 2 },
      ],
      ['paymentTimeoutMs 2^53 − 1', { paymentTimeoutMs: MAX_SAFE }],
      ['paymentTimeoutMs 0', { paymentTimeoutMs: 0 }],
    ]
    it.each(refused)('refuses %s with TERMS_INVALID at once', async (_label, overrides) => {
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(PRICE, overrides))
        // Accepted terms get one chunk, then silence: a buyer that took them waits on its idle timer.
        await conn.next('accept')
        await conn.send({ t: 'chunk', seq: 0, data: Uint8Array.of(0) })
      })
      try {
        const channelId = await market.openChannel(DEPOSIT)
        const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: 100n * PRICE,
        })
        expect(await drain(stream)).toEqual({ seqs: [], code: 'TERMS_INVALID' })
        expect(await stream.finished).toMatchObject({ chunks: 0, paid: 0n, reason: 'terms_rejected' })
        expect(seller.connections[0]!.frames.some((f) => f.t === 'accept')).toBe(false)
      } finally {
        await seller.close()
      }
    })

    it('accepts timing parameters at the bounds, and arms no timer beyond 2^31 − 1 ms', async () => {
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(
          conn.terms(PRICE, {
            heartbeatMs: MIN_HEARTBEAT_MS,
            idleTimeoutMs: MAX_IDLE_TIMEOUT_MS,
            paymentTimeoutMs: MAX_PAYMENT_TIMEOUT_MS,
          }),
        )
        await conn.next('accept')
        await conn.send({ t: 'chunk', seq: 0, data: Uint8Array.of(0) })
      })
      const low = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(PRICE, { paymentTimeoutMs: MIN_PAYMENT_TIMEOUT_MS }))
        await conn.next('accept')
        await conn.send({ t: 'chunk', seq: 0, data: Uint8Array.of(0) })
      })
      try {
        for (const url of [seller.url, low.url]) {
          const channelId = await market.openChannel(DEPOSIT)
          const stream = await market.buyer.stream(market.product(url, PRICE), {
            channelId,
            maxSpend: 100n * PRICE,
            maxChunks: 1,
            connectTimeoutMs: 2 ** 32, // clamped, not overflowed
          })
          expect(await drain(stream)).toEqual({ seqs: [0], code: undefined })
          expect(await stream.finished).toMatchObject({ chunks: 1, paid: PRICE, reason: 'done' })
        }
      } finally {
        await seller.close()
        await low.close()
      }
    })
  })

  describe('leaving the loop early (finding 11)', () => {
    it('break after the last chunk of a window: a final receipt for exactly those chunks, then the session is closed', async () => {
      const seller = await startHostileSeller(market, async (conn) => {
        await conn.send(conn.terms(PRICE, { receiptEvery: 4 }))
        await conn.next('accept')
        for (let seq = 0; seq < 10; seq++) await conn.send({ t: 'chunk', seq, data: Uint8Array.of(seq) })
        // then waits for receipts, as a seller whose credit window is spent
      })
      try {
        const channelId = await market.openChannel(DEPOSIT)
        const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: 1_000n * PRICE,
        })
        let ended = false
        void stream.finished.then(() => {
          ended = true
        })
        const { seqs } = await drain(stream, (_chunk, i) => i + 1 === 10)
        expect(seqs).toEqual([...Array(10).keys()])
        // Leaving the loop waited for the session to close.
        expect(ended).toBe(true)
        expect(await stream.finished).toMatchObject({ chunks: 10, paid: 10n * PRICE, reason: 'buyer_closed' })
        const conn = seller.connections[0]!
        expect(conn.receipts().map((r) => [r.seq, r.amount])).toEqual([
          [4, 4n * PRICE],
          [8, 8n * PRICE],
          [10, 10n * PRICE],
        ])
        expect(conn.frames.at(-1)).toMatchObject({ t: 'close', reason: 'buyer_closed' })
        await conn.closed
      } finally {
        await seller.close()
      }
    })

    it.each(['break', 'return', 'throw'] as const)(
      '%s in the loop body of a flooding stream closes it with a final receipt for exactly the chunks handed over',
      async (exit) => {
        const seller = await startHostileSeller(market, async (conn) => {
          await conn.send(conn.terms(PRICE, { receiptEvery: 4 }))
          await conn.next('accept')
          await floodChunks(conn, 10_000)
        })
        try {
          const channelId = await market.openChannel(DEPOSIT)
          const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
            channelId,
            maxSpend: 10_000n * PRICE,
            maxBufferedChunks: 1,
          })
          let ended = false
          void stream.finished.then(() => {
            ended = true
          })
          const seqs: number[] = []
          const consume = async (): Promise<string> => {
            for await (const chunk of stream) {
              seqs.push(chunk.seq)
              if (seqs.length < 10) continue
              if (exit === 'break') break
              if (exit === 'return') return 'returned'
              throw new Error('the application failed')
            }
            return 'ended'
          }
          const outcome = await consume().catch((err: Error) => err.message)
          expect(outcome).toBe({ break: 'ended', return: 'returned', throw: 'the application failed' }[exit])
          expect(seqs).toEqual([...Array(10).keys()])
          expect(ended).toBe(true)
          expect(await stream.finished).toMatchObject({
            chunks: 10,
            paid: 10n * PRICE,
            reason: 'buyer_closed',
          })
          const conn = seller.connections[0]!
          await conn.closed
          expect(conn.receipts().at(-1)).toMatchObject({ seq: 10, amount: 10n * PRICE })
          expect(highestAmount(conn.receipts())).toBe(10n * PRICE)
          expect(conn.frames.at(-1)).toMatchObject({ t: 'close', reason: 'buyer_closed' })
        } finally {
          await seller.close()
        }
      },
    )
  })

  describe('price (finding 12)', () => {
    /** A seller that offers `price` and sends chunks until the buyer closes. */
    const offering = (price: bigint) => async (conn: HostileConnection) => {
      await conn.send(conn.terms(price, { receiptEvery: 1 }))
      await conn.next('accept')
      await floodChunks(conn, 100, (seq) => Uint8Array.of(seq))
    }

    it("refuses terms above the descriptor's price with TERMS_INVALID, signing nothing", async () => {
      const seller = await startHostileSeller(market, offering(500n * PRICE))
      try {
        const channelId = await market.openChannel(DEPOSIT)
        const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: 1_000n * PRICE,
        })
        expect(await drain(stream)).toEqual({ seqs: [], code: 'TERMS_INVALID' })
        expect(await stream.finished).toMatchObject({ chunks: 0, paid: 0n, reason: 'terms_rejected' })
        const conn = seller.connections[0]!
        await conn.closed
        expect(conn.frames.map((f) => f.t)).toEqual(['hello', 'error', 'close'])
      } finally {
        await seller.close()
      }
    })

    it("accepts the descriptor's price or less, and more only up to maxPricePerChunk", async () => {
      const cases: [bigint, bigint | undefined][] = [
        [PRICE, undefined],
        [PRICE / 2n, undefined],
        [500n * PRICE, 500n * PRICE],
      ]
      for (const [price, maxPricePerChunk] of cases) {
        const seller = await startHostileSeller(market, offering(price))
        try {
          const channelId = await market.openChannel(DEPOSIT)
          const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
            channelId,
            maxSpend: 10_000n * PRICE,
            maxChunks: 2,
            ...(maxPricePerChunk !== undefined ? { maxPricePerChunk } : {}),
          })
          expect(await drain(stream)).toEqual({ seqs: [0, 1], code: undefined })
          expect(await stream.finished).toMatchObject({ chunks: 2, paid: 2n * price, reason: 'done' })
        } finally {
          await seller.close()
        }
      }
    })
  })

  describe('resume base signers (SPEC check 11)', () => {
    /** A seller that resumes from `base` (signed by whoever the test chose) and sends the next chunk. */
    const resumingFrom = (base: ResumeBase) => async (conn: HostileConnection) => {
      await conn.send(conn.terms(PRICE, { receiptEvery: 1, base }))
      await conn.next('accept')
      await conn.send({ t: 'chunk', seq: base.seq, data: Uint8Array.of(1) })
    }

    it("accepts a base signed by the channel's payer and refuses one signed by a stranger", async () => {
      for (const [key, code] of [
        [market.payer.signingKey, undefined],
        [new SigningKey(toHex(randomBytes(32))), 'RESUME_MISMATCH'],
      ] as const) {
        const channelId = await market.openChannel(DEPOSIT)
        const base = baseSignedBy(key, channelId, 3, 3n * PRICE)
        const seller = await startHostileSeller(market, resumingFrom(base))
        try {
          const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
            channelId,
            maxSpend: 10n * PRICE,
            maxChunks: 1,
          })
          expect(await drain(stream)).toEqual(code ? { seqs: [], code } : { seqs: [3], code: undefined })
          if (!code)
            expect(await stream.finished).toMatchObject({ paid: PRICE, cumulativeAmount: 4n * PRICE })
        } finally {
          await seller.close()
        }
      }
    })

    it('accepts a base signed by the previous signer while it is valid, and not after', async () => {
      const channelId = await market.openChannel(DEPOSIT)
      const next = new SigningKey(toHex(randomBytes(32)))
      const channels = channelsAt(market.deployment.channels, market.payer)
      await (await channels.setSigner(channelId, new Wallet(next).address)).wait()
      const rotated = await market.client(next)
      // The previous signer is the first client's session key.
      const base = baseSignedBy(market.sessionKey, channelId, 3, 3n * PRICE)
      const seller = await startHostileSeller(market, resumingFrom(base))
      try {
        const during = await rotated.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: 10n * PRICE,
          maxChunks: 1,
        })
        expect(await drain(during)).toEqual({ seqs: [3], code: undefined })
        await increaseTime(market.chain.provider, Number(CHALLENGE_PERIOD) + 1)
        const after = await market.client(next)
        const late = await after.stream(market.product(seller.url, PRICE), {
          channelId,
          maxSpend: 10n * PRICE,
          maxChunks: 1,
        })
        expect(await drain(late)).toEqual({ seqs: [], code: 'RESUME_MISMATCH' })
        await after.close()
      } finally {
        await rotated.close()
        await seller.close()
      }
    })
  })

  it('refuses terms that expired beyond the clock-skew allowance with TERMS_EXPIRED', async () => {
    const seller = await startHostileSeller(market, async (conn) => {
      await conn.send(conn.terms(PRICE, { expiresAt: Date.now() - 60_000 }))
    })
    try {
      const channelId = await market.openChannel(DEPOSIT)
      const stream = await market.buyer.stream(market.product(seller.url, PRICE), {
        channelId,
        maxSpend: 10n * PRICE,
      })
      expect(await drain(stream)).toEqual({ seqs: [], code: 'TERMS_EXPIRED' })
    } finally {
      await seller.close()
    }
  })
})

describe('BuyerSession bounds (pure)', () => {
  const T0 = 1_800_000_000_000 // ms since the epoch

  function session(overrides: Partial<BuyerSessionConfig> = {}): BuyerSession {
    return new BuyerSession({
      productId: PRODUCT_ID,
      channelId: CHANNEL_ID,
      chainId: CHAIN_ID,
      channels: CHANNELS,
      payee: PAYEE,
      sellerKey: SELLER,
      signer: BUYER,
      maxSpend: 1_000n * PRICE,
      domainSeparator: SEPARATOR,
      signReceipt: (r) => signReceipt(buyerKey, SEPARATOR, r),
      signAccept: acceptSigner(),
      ...overrides,
    })
  }

  function terms(overrides: Partial<Terms> = {}): TermsFrame {
    const t: Terms = {
      v: 1,
      productId: PRODUCT_ID,
      channelId: CHANNEL_ID,
      payee: PAYEE,
      pricePerChunk: PRICE,
      maxChunkBytes: 1024,
      window: { initial: 8, step: 2, max: 16 },
      receiptEvery: 1,
      paymentTimeoutMs: 5_000,
      heartbeatMs: 10_000,
      idleTimeoutMs: 30_000,
      maxQueuedChunks: 64,
      overflow: 'drop_oldest',
      chainId: CHAIN_ID,
      channels: CHANNELS,
      expiresAt: T0 + 30_000,
      base: { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' },
      ...overrides,
    }
    return { t: 'terms', ...t, signature: signTerms(sellerKey, t), nonce: `0x${'5a'.repeat(32)}` }
  }

  /** The error code the terms were refused with, or `accepted`. */
  function verdict(s: BuyerSession, t: TermsFrame, now = T0): string {
    s.start(now)
    const effects = s.receive(t, now)
    const accepted = effects.some((e) => e.type === 'send' && e.frame.t === 'accept')
    return accepted ? 'accepted' : (s.error?.code ?? 'none')
  }

  it('refuses terms as expired only once expiresAt + TERMS_CLOCK_SKEW_MS ≤ now', () => {
    expect(verdict(session(), terms({ expiresAt: T0 - TERMS_CLOCK_SKEW_MS + 1 }))).toBe('accepted')
    expect(verdict(session(), terms({ expiresAt: T0 - TERMS_CLOCK_SKEW_MS }))).toBe('TERMS_EXPIRED')
    expect(verdict(session({ termsClockSkewMs: 0 }), terms({ expiresAt: T0 }))).toBe('TERMS_EXPIRED')
  })

  it('caps the price at expectedPricePerChunk unless maxPricePerChunk is given', () => {
    const expected = { expectedPricePerChunk: PRICE }
    expect(verdict(session(expected), terms())).toBe('accepted')
    expect(verdict(session(expected), terms({ pricePerChunk: PRICE + 1n }))).toBe('TERMS_INVALID')
    const more = { ...expected, maxPricePerChunk: 3n * PRICE }
    expect(verdict(session(more), terms({ pricePerChunk: 3n * PRICE }))).toBe('accepted')
    expect(verdict(session(more), terms({ pricePerChunk: 3n * PRICE + 1n }))).toBe('TERMS_INVALID')
  })

  it.each<[Partial<Terms>, string]>([
    [{ heartbeatMs: MIN_HEARTBEAT_MS - 1 }, 'TERMS_INVALID'],
    [{ heartbeatMs: MIN_HEARTBEAT_MS }, 'accepted'],
    [{ idleTimeoutMs: MAX_IDLE_TIMEOUT_MS }, 'accepted'],
    [{ idleTimeoutMs: MAX_IDLE_TIMEOUT_MS + 1 }, 'TERMS_INVALID'],
    [{ paymentTimeoutMs: MIN_PAYMENT_TIMEOUT_MS - 1 }, 'TERMS_INVALID'],
    [{ paymentTimeoutMs: MIN_PAYMENT_TIMEOUT_MS }, 'accepted'],
    [{ paymentTimeoutMs: MAX_PAYMENT_TIMEOUT_MS }, 'accepted'],
    [{ paymentTimeoutMs: MAX_PAYMENT_TIMEOUT_MS + 1 }, 'TERMS_INVALID'],
  ])('timing %o → %s', (overrides, expected) => {
    expect(verdict(session(), terms(overrides))).toBe(expected)
  })

  it('keeps the idle deadline within what a timer can hold after accepting the longest idle timeout', () => {
    const s = session()
    expect(verdict(s, terms({ idleTimeoutMs: MAX_IDLE_TIMEOUT_MS }))).toBe('accepted')
    expect(s.deadline).toBe(T0 + MAX_IDLE_TIMEOUT_MS)
  })

  it('signs a receipt for chunk 2^53 − 2 (seq 2^53 − 1) and refuses chunk 2^53 − 1 without throwing', () => {
    const s = session()
    expect(verdict(s, terms())).toBe('accepted')
    const first = s.receive({ t: 'chunk', seq: MAX_SAFE - 1, data: Uint8Array.of(1) }, T0)
    const receipt = first.find((e): e is Extract<BuyerEffect, { type: 'receipt' }> => e.type === 'receipt')
    expect(receipt?.receipt.seq).toBe(MAX_SAFE)
    expect(() => s.receive({ t: 'chunk', seq: MAX_SAFE, data: Uint8Array.of(2) }, T0)).not.toThrow()
    expect(s.error?.code).toBe('CHUNK_OUT_OF_ORDER')
    expect(s.cumulativeAmount).toBe(PRICE)
  })

  it('clamps timer delays to [0, 2^31 − 1] ms', () => {
    expect(
      [Number.NaN, -5, 0, 1_000, 2 ** 31 - 1, 2 ** 32, Number.POSITIVE_INFINITY].map(timerDelay),
    ).toEqual([0, 0, 0, 1_000, MAX_TIMER_DELAY_MS, MAX_TIMER_DELAY_MS, MAX_TIMER_DELAY_MS])
  })

  it('counts a buffer full at maxChunks chunks or maxBytes bytes', () => {
    const limits = { maxChunks: 2, maxBytes: 100 }
    expect(bufferFull({ chunks: 1, bytes: 99 }, limits)).toBe(false)
    expect(bufferFull({ chunks: 2, bytes: 0 }, limits)).toBe(true)
    expect(bufferFull({ chunks: 1, bytes: 100 }, limits)).toBe(true)
  })

  it("lists the channel's payer, signer and a previous signer only while it is valid", () => {
    const view = {
      payer: PAYEE,
      signer: BUYER,
      previousSigner: SELLER,
      previousSignerValidUntil: 1_000n,
    }
    expect(receiptSigners(view, 999n)).toEqual([PAYEE, BUYER, SELLER])
    expect(receiptSigners(view, 1_000n)).toEqual([PAYEE, BUYER])
    const zero = `0x${'00'.repeat(20)}`
    expect(receiptSigners({ ...view, signer: PAYEE, previousSigner: zero }, 0n)).toEqual([PAYEE])
  })

  it('accepts a resume base signed by one of baseSigners', () => {
    const payerKey = new SigningKey(`0x${'00'.repeat(31)}77`)
    const ackHash: Hex = `0x${'11'.repeat(32)}`
    const value = { channelId: CHANNEL_ID, amount: 2n * PRICE, seq: 2, ackHash }
    const base = { ...value, signature: signReceipt(payerKey, SEPARATOR, value) }
    expect(verdict(session(), terms({ base }))).toBe('RESUME_MISMATCH')
    const payer = new Wallet(payerKey).address as Address
    expect(verdict(session({ baseSigners: [payer] }), terms({ base }))).toBe('accepted')
  })
})
