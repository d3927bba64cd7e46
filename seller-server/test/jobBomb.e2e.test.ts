// Issue 14, "a provider under a job bomb keeps serving its live streams": the local marketplace's
// seller streams live readings to a paying buyer while it runs a CPU bomb and a memory bomb as jobs.
import { readFile } from 'node:fs/promises'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import type { Hex, JobRecord, SignedJobQuote } from '@trickle/protocol'
import type { Chunk } from '@trickle/sdk'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildJobModules } from '../modules/build.ts'
import { buyerFor } from './helpers/buyer.ts'

describe('a provider under a job bomb (local marketplace with jobs)', () => {
  let market: LocalMarketplace
  let attack: Uint8Array

  beforeAll(async () => {
    const modules = await buildJobModules()
    attack = new Uint8Array(await readFile(modules.attack))
    market = await startLocalMarketplace({
      rowsPerSecond: 50,
      jobs: { reportModule: modules.airQualityReport, slots: 2 },
      logger: pino({ level: 'silent' }),
    })
  }, 180_000)
  afterAll(async () => {
    await market?.stop()
  })

  it('keeps streaming paid live readings, in order, while a CPU bomb and a memory bomb run as jobs', async () => {
    const { buyer, provider } = await buyerFor(market, { keyIndex: 3 })
    try {
      const products = await buyer.products()
      const live = products.find((p) => p.descriptor?.kind === 'stream')!
      const compute = products.find((p) => p.descriptor?.kind === 'compute')!
      const seller = live.descriptor!.seller as Hex
      const { channelId } = await buyer.openChannel(seller, 10n ** 17n)
      const stream = await buyer.stream(live, { channelId, maxSpend: 10n ** 17n })
      const seqs: number[] = []
      const streaming = (async () => {
        for await (const chunk of stream as AsyncIterable<Chunk>) seqs.push(chunk.seq)
      })()
      const until = async (predicate: () => boolean, what: string) => {
        for (let i = 0; i < 1_500 && !predicate(); i++) await new Promise((r) => setTimeout(r, 20))
        expect(predicate(), what).toBe(true)
      }
      await until(() => seqs.length >= 20, 'the live stream to start')

      // Two bombs at once: a busy loop (stopped at its CPU limit) and linear memory grown to its cap.
      // (quoted and funded one after the other: one wallet sends one transaction at a time)
      const prepare = async (args: string[], cpuMs: number) => {
        const quote = (await buyer.quoteJob(compute, {
          module: attack,
          args,
          limits: { cpuMs },
        })) as SignedJobQuote
        const { channelId: jobChannel } = await buyer.openChannel(
          seller,
          BigInt(quote.quote.maxUnits) * quote.quote.unitPrice,
        )
        return { quote, jobChannel, args }
      }
      const run = async ({ quote, jobChannel, args }: Awaited<ReturnType<typeof prepare>>) => {
        const job = await buyer.runJob(compute, quote, { channelId: jobChannel, args })
        const records: JobRecord[] = []
        for await (const record of job) records.push(record)
        return records
      }
      const cpuBomb = await prepare(['attack', 'busy'], 4_000)
      const memoryBomb = await prepare(['attack', 'grow-memory'], 10_000)
      const before = seqs.length
      const [busy, memory] = await Promise.all([run(cpuBomb), run(memoryBomb)])
      expect(busy.at(-2)).toMatchObject({ k: 'end', error: 'JOB_CPU_LIMIT' })
      expect(memory.at(-2)).toMatchObject({ k: 'end', error: 'JOB_MEMORY_LIMIT' })
      // The busy loop ran about 4 s of CPU: at 50 readings/s the stream kept flowing meanwhile.
      expect(seqs.length - before).toBeGreaterThanOrEqual(50)
      await until(() => seqs.length >= before + 100, 'the stream to go on after the bombs')
      expect(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!)).toBe(true)
      const summary = await stream.close()
      await streaming
      expect(summary.paid).toBeGreaterThanOrEqual(
        BigInt(seqs.length) * BigInt(live.descriptor!.pricePerChunk),
      )
    } finally {
      await buyer.close()
      provider.destroy()
    }
  }, 180_000)
})
