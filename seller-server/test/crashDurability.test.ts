import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { channelsAt } from '@trickle/contracts'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import { type Hex, receiptDomainSeparator, recoverReceiptSigner } from '@trickle/protocol'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buyerFor } from './helpers/buyer.ts'
import { freePort, ledgerIn, type SellerProcess, spawnMarketSeller } from './helpers/spawnSeller.ts'

const PRICE = 1_000_000_000_000n // wei per chunk
const SELLER_KEY_INDEX = 7 // anvil account 7: a seller process of its own

describe('a seller process killed with SIGKILL mid-stream', () => {
  let market: LocalMarketplace
  const children: SellerProcess[] = []

  beforeAll(async () => {
    market = await startLocalMarketplace({
      rowsPerSecond: 400,
      pricePerChunk: PRICE,
      logger: pino({ level: 'silent' }),
    })
  })
  afterAll(async () => {
    for (const child of children) await child.kill()
    await market?.stop()
  })

  async function startSeller(dataDir: string, port: number): Promise<SellerProcess> {
    const child = await spawnMarketSeller(market, { keyIndex: SELLER_KEY_INDEX, dataDir, port, price: PRICE })
    children.push(child)
    return child
  }

  it("keeps every receipt it acknowledged, and a resumed stream charges a lost receipt's chunks once", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'trickle-sigkill-'))
    const port = await freePort()
    const first = await startSeller(dataDir, port)
    const { buyer, provider, wallet } = await buyerFor(market, { gateway: first.httpUrl, keyIndex: 4 })
    const product = await buyer.product(first.products[1]!)
    const deposit = PRICE * 10_000n
    const { channelId } = await buyer.openChannel(first.address as Hex, deposit)
    const ledger = ledgerIn(dataDir)

    // Stream until the seller has stored a receipt for 96+ chunks, then kill it without warning.
    const stream = await buyer.stream(product, { channelId, maxSpend: deposit })
    const received: number[] = []
    const reading = (async () => {
      try {
        for await (const chunk of stream) received.push(chunk.seq)
      } catch {
        // the connection drops at the kill
      }
    })()
    await vi.waitFor(
      async () => expect((await ledger.latest(channelId))?.seq ?? 0).toBeGreaterThanOrEqual(96),
      {
        timeout: 15_000,
        interval: 5,
      },
    )
    await first.kill()
    await reading
    const signedByBuyer = (await stream.finished).cumulativeAmount

    // What the ledger holds after the kill is a receipt the buyer signed, priced per chunk delivered,
    // and no more than one credit window behind the last receipt the buyer signed.
    const stored = (await ledger.latest(channelId))!
    expect(stored.seq).toBeGreaterThanOrEqual(96)
    const domain = receiptDomainSeparator({
      chainId: market.chainId,
      channels: market.deployment.channels as Hex,
    })
    expect(
      recoverReceiptSigner(
        domain,
        { channelId, amount: stored.amount, seq: stored.seq, ackHash: stored.ackHash },
        stored.signature,
      ),
    ).toBe(buyer.signerAddress.toLowerCase())
    expect(stored.amount).toBe(BigInt(stored.seq) * PRICE)
    expect(stored.amount).toBeLessThanOrEqual(signedByBuyer)
    expect(signedByBuyer - stored.amount).toBeLessThanOrEqual(256n * PRICE)
    expect(Math.max(...received)).toBeLessThan(stored.seq + 256)

    // The restarted seller resumes from its stored receipt; the same buyer continues on the channel.
    const second = await startSeller(dataDir, port)
    const again = await buyer.product(second.products[1]!)
    const resumed = await buyer.stream(again, { channelId, maxSpend: deposit, maxChunks: 50 })
    const seqs: number[] = []
    for await (const chunk of resumed) seqs.push(chunk.seq)
    const summary = await resumed.finished
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => stored.seq + i))
    const finalAmount = BigInt(stored.seq + 50) * PRICE
    // Two cases, by where the kill fell. Receipts lost in flight (the seller stored less than the buyer
    // signed): the chunks re-sent after them were already paid for and add nothing. The seller stored
    // the buyer's last receipt and the buyer held chunks it had not signed yet: the buyer carries them
    // into the next session as the channel's debt (SPEC.md §Channel debt), but the killed seller never
    // recorded that debt and re-sends those labels, so they are paid twice — at most one credit
    // window. This is the SIGKILL limitation of §Channel debt seen from the buyer's side
    // (an open bug: the buyer cannot tell a crashed seller from a dropped connection).
    const carried = summary.cumulativeAmount - finalAmount
    if (stored.amount < signedByBuyer) {
      expect(carried).toBe(0n)
    } else {
      // at least the chunks the loop got beyond the last receipt, at most one credit window (16)
      expect(carried).toBeGreaterThanOrEqual(BigInt(received.length) * PRICE - signedByBuyer)
      expect(carried).toBeLessThanOrEqual(16n * PRICE)
      expect(carried % PRICE).toBe(0n)
    }
    expect(summary.paid).toBe((finalAmount > signedByBuyer ? finalAmount - signedByBuyer : 0n) + carried)

    // On-chain the seller gets what the buyer signed: one price per chunk sequence number, plus the
    // carried chunks of the second case.
    await vi.waitFor(async () => expect((await ledger.latest(channelId))?.amount).toBe(finalAmount + carried))
    const channels = channelsAt(market.deployment.channels, wallet)
    await (await channels.requestClose(channelId)).wait()
    await vi.waitFor(
      async () => expect((await channels.getChannel(channelId)).claimed).toBe(finalAmount + carried),
      {
        timeout: 15_000,
      },
    )
    await buyer.close()
    await ledger.close()
    provider.destroy()
  })
})
