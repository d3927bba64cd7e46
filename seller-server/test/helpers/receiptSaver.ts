/**
 * A process that saves receipts into a receipt store until it is killed, for the crash test of the
 * store's writer thread. Opens the store at argv[2]; eight channels (`0x01…01` to `0x08…08`) each
 * save seq 1, 2, 3, … one after another, all eight at once, and the process prints `<channel> <seq>`
 * on stdout for each save that resolved (the moment a seller would extend credit for it).
 */
import type { Hex } from '@trickle/protocol'
import { openReceiptStore } from '../../src/receiptStore.ts'

const store = openReceiptStore(process.argv[2]!)
const channels = Array.from(
  { length: 8 },
  (_, i) =>
    `0x${String(i + 1)
      .padStart(2, '0')
      .repeat(32)}` as Hex,
)

await Promise.all(
  channels.map(async (channelId) => {
    for (let seq = 1; ; seq++) {
      await store.save({
        channelId,
        seq,
        amount: BigInt(seq) * 1_000n,
        ackHash: `0x${seq.toString(16).padStart(64, '0')}`,
        signature: `0x${'22'.repeat(65)}`,
        signer: `0x${'11'.repeat(20)}`,
        productId: 1n,
      })
      process.stdout.write(`${channelId} ${seq}\n`)
    }
  }),
)
