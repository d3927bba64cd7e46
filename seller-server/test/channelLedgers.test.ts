import { type ChannelDebt, type Hex, SellerChannelLedger, ZERO_HASH } from '@trickle/protocol'
import { describe, expect, it } from 'vitest'
import { ChannelLedgers } from '../src/index.ts'

const PRICE = 1_000n
const BASE = { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' as Hex }
const channel = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`
const PAYER: Hex = `0x${'aa'.repeat(20)}`

/** Joins `id`, sends `unpaid` chunks no receipt pays, and leaves: the channel ends in debt. */
function runUp(ledgers: ChannelLedgers, id: Hex, unpaid: number, payer: Hex = PAYER) {
  const joined = ledgers.join(
    id,
    payer,
    () => {},
    () => ({
      ledger: SellerChannelLedger.restore(BASE, undefined),
      recorded: false,
    }),
  )
  if (!('ledger' in joined)) return joined
  const { lane } = joined.ledger.join(BASE, 0, 10_000n * PRICE, PRICE, 16)
  for (let i = 0; i < unpaid; i++) joined.ledger.assignSeq(lane)
  joined.ledger.leave(lane)
  joined.leave()
  return joined
}

describe('ChannelLedgers', () => {
  it('keeps and records a channel whose last session left unpaid chunks, and clears the record once paid', () => {
    const records: [Hex, ChannelDebt | undefined][] = []
    const ledgers = new ChannelLedgers({ persistDebt: (id, debt) => records.push([id, debt]) })
    runUp(ledgers, channel(1), 3)
    expect(records).toEqual([[channel(1), { owed: 3n * PRICE }]])
    const ledger = ledgers.current(channel(1))!
    expect(ledger.debt).toBe(3n * PRICE)

    // A later session pays the debt with a receipt covering it; when it leaves, the record goes.
    const again = ledgers.join(
      channel(1),
      PAYER,
      () => {},
      () => {
        throw new Error('the indebted ledger is still held')
      },
    )
    if (!('ledger' in again)) throw new Error(again.code)
    const { lane } = ledger.join(BASE, 0, 10_000n * PRICE, PRICE, 16)
    ledger.persisted(lane, 0, { ...BASE, amount: 3n * PRICE })
    ledger.leave(lane)
    again.leave()
    expect(records.at(-1)).toEqual([channel(1), undefined])
    expect(ledgers.current(channel(1))).toBeUndefined()
  })

  it('refuses a new channel of a payer in debt on maxIndebtedChannelsPerPayer others, not its indebted ones', () => {
    const ledgers = new ChannelLedgers({ maxIndebtedChannelsPerPayer: 2 })
    runUp(ledgers, channel(1), 1)
    runUp(ledgers, channel(2), 1)
    expect(runUp(ledgers, channel(3), 1)).toMatchObject({ code: 'DEBT_OUTSTANDING' })
    // Another payer, and the indebted channels themselves, are still served.
    expect(runUp(ledgers, channel(4), 0, `0x${'bb'.repeat(20)}`)).toHaveProperty('ledger')
    expect(runUp(ledgers, channel(1), 0)).toHaveProperty('ledger')
  })

  it('holds at most maxIdleLedgers indebted ledgers, dropping the least recently idle (their debt stays recorded)', () => {
    const recorded = new Set<Hex>()
    const ledgers = new ChannelLedgers({
      maxIdleLedgers: 2,
      maxIndebtedChannelsPerPayer: 100,
      persistDebt: (id, debt) => (debt ? recorded.add(id) : recorded.delete(id)),
    })
    for (let n = 1; n <= 4; n++) runUp(ledgers, channel(n), 1)
    expect(ledgers.size).toBe(2)
    expect(ledgers.current(channel(1))).toBeUndefined()
    expect(ledgers.current(channel(4))?.debt).toBe(PRICE)
    expect(recorded).toEqual(new Set([channel(1), channel(2), channel(3), channel(4)]))
  })

  it('sums the unpaid exposure over live and indebted channels, without the ones dropped or paid', () => {
    const ledgers = new ChannelLedgers({ maxIdleLedgers: 2, maxIndebtedChannelsPerPayer: 100 })
    expect(ledgers.debt).toBe(0n)
    runUp(ledgers, channel(1), 3)
    runUp(ledgers, channel(2), 2)
    expect(ledgers.debt).toBe(5n * PRICE)
    // A live session's unpaid chunks count while it streams; a receipt takes them off.
    const live = ledgers.join(
      channel(3),
      PAYER,
      () => {},
      () => ({ ledger: SellerChannelLedger.restore(BASE, undefined), recorded: false }),
    )
    if (!('ledger' in live)) throw new Error(live.code)
    const { lane } = live.ledger.join(BASE, 0, 10_000n * PRICE, PRICE, 16)
    for (let i = 0; i < 4; i++) live.ledger.assignSeq(lane)
    expect(ledgers.debt).toBe(9n * PRICE)
    live.ledger.persisted(lane, 4, { ...BASE, seq: 4, amount: 4n * PRICE })
    expect(ledgers.debt).toBe(5n * PRICE)
    // Beyond maxIdleLedgers the oldest indebted ledger is dropped: its debt is the store's then.
    runUp(ledgers, channel(4), 1)
    expect(ledgers.debt).toBe(3n * PRICE)
  })

  it('refuses a session beyond maxSessionsPerChannel with CHANNEL_BUSY', () => {
    const ledgers = new ChannelLedgers({ maxSessionsPerChannel: 1 })
    const restore = () => ({ ledger: new SellerChannelLedger(), recorded: false })
    expect(ledgers.join(channel(1), PAYER, () => {}, restore)).toHaveProperty('ledger')
    expect(ledgers.join(channel(1), PAYER, () => {}, restore)).toMatchObject({ code: 'CHANNEL_BUSY' })
  })
})
