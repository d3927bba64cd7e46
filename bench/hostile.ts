/**
 * Hostile-client benchmark: what one attacking client costs a seller server (issue 10). The sellers
 * run in one child process, the attacker in another, the probes here. Figures, each against a
 * baseline measured in the same run:
 *
 * 1. the sellers' peak RSS growth over a never-reading ping flood (flat is the goal), the attacker
 *    reconnecting whenever it is closed: against the seller at the default limits, and against one
 *    whose frame rates are lifted (only the send-buffer bound holds it), with the heap that flood
 *    leaves after a full GC;
 * 2. `/health` p99 under a one-client frame flood (pings as fast as the socket takes them, read,
 *    reconnecting when closed) against the seller at the default limits ÷ `/health` p99 idle;
 * 3. a paid stream's chunks/s during that flood ÷ idle.
 *
 * `HOSTILE_BENCH_SCALE` (default 1) scales the durations down for a quick try.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { BuyerClient } from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'
import {
  type AttackPlan,
  type FromAttacker,
  type FromSellers,
  quantile,
  type ToAttacker,
  type ToSellers,
} from './hostileFixture.ts'
import type { BenchMeasurement, Benchmark } from './results.ts'

const SECTION = 'Hostile clients (seller server)'
const SCALE = Number(process.env.HOSTILE_BENCH_SCALE ?? '1')
/** Seconds of each phase. */
const PHASE_S = Math.max(2, 15 * SCALE)
/** ms between `/health` probes (one at a time). */
const PROBE_EVERY_MS = 50
const MiB = 1024 * 1024
const PRICE = 1_000_000_000_000n

/** The hostile-client benchmark, for `bench/run.ts`. */
export const hostileBenchmark: Benchmark = { name: 'hostile', run: measureHostile }

/**
 * Runs the measurements.
 * @returns RSS and heap growth (`MiB`), `/health` latencies (`ms`) and ratios (`ratio`)
 * @throws Error when a child process fails to start
 */
export async function measureHostile(): Promise<BenchMeasurement[]> {
  const sellers = await Child.start<ToSellers, FromSellers>('./hostileSeller.ts')
  const attacker = await Child.start<ToAttacker, FromAttacker>('./hostileAttacker.ts')
  const ready = sellers.first
  if (ready.type !== 'ready') throw new Error(`seller process said ${ready.type}`)
  const provider = new JsonRpcProvider(ready.rpcUrl, ready.config.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
  })
  try {
    const results: BenchMeasurement[] = []
    const memory = async (collect = false) => {
      const answer = await sellers.request({ type: collect ? 'gc' : 'rss' })
      if (answer.type !== 'rss') throw new Error(`seller process said ${answer.type}`)
      return answer
    }

    // 1. Memory under a never-reading ping flood: RSS sampled every 250 ms, and the heap left after
    // a full collection (what the flood retains, as against what the collector has yet to free).
    await sleep(2_000)
    const memoryUnderFlood = async (url: string, localAddress: string) => {
      const before = await memory(true)
      let rssPeak = before.rss
      let sampling = true
      const sampler = (async () => {
        while (sampling) {
          rssPeak = Math.max(rssPeak, (await memory()).rss)
          await sleep(250)
        }
      })()
      const attacking = attack(attacker, { url, mode: 'never_read', seconds: PHASE_S, localAddress })
      // What the flood holds while it runs, once the collector has freed what it no longer needs.
      await sleep(PHASE_S * 800)
      const during = await memory(true)
      const done = await attacking
      sampling = false
      await sampler
      console.log(
        `  never-reading ping flood on ${url}: ${done.pings} pings sent (${((done.pings * 11) / MiB).toFixed(1)} MiB) in ${done.connections} connections (${done.refused} refused); RSS ${(before.rss / MiB).toFixed(0)} → peak ${(rssPeak / MiB).toFixed(0)} MiB, heap after GC ${(before.heapUsed / MiB).toFixed(1)} → ${(during.heapUsed / MiB).toFixed(1)} MiB during the flood`,
      )
      return {
        ...done,
        rssGrowth: round((rssPeak - before.rss) / MiB, 1),
        heapHeld: round((during.heapUsed - before.heapUsed) / MiB, 1),
        what: `${done.pings.toLocaleString('en-US')} pings (${((done.pings * 11) / MiB).toFixed(0)} MiB) sent by one client that never reads, reconnecting when closed (${done.connections} connections)`,
      }
    }
    const guardedFlood = await memoryUnderFlood(ready.guarded.url, '127.0.0.2')
    const boundFlood = await memoryUnderFlood(ready.unthrottled.url, '127.0.0.4')
    results.push(
      {
        name: `Seller peak RSS growth over ${PHASE_S} s of a never-reading ping flood`,
        section: SECTION,
        value: guardedFlood.rssGrowth,
        unit: 'MiB',
        goal: { atMost: 64 },
        note: `${guardedFlood.what}; default limits`,
      },
      {
        name: `Seller peak RSS growth over ${PHASE_S} s of a never-reading ping flood, frame rates lifted`,
        section: SECTION,
        value: boundFlood.rssGrowth,
        unit: 'MiB',
        note: `${boundFlood.what}; only the send-buffer bound (and the hello deadline) end a connection; mostly garbage not yet collected: see the next figure`,
      },
      {
        name: 'Seller heap held by a never-reading ping flood, frame rates lifted',
        section: SECTION,
        value: boundFlood.heapHeld,
        unit: 'MiB',
        goal: { atMost: 8 },
        note: `heap used after a full GC ${0.8 * PHASE_S} s into the flood, minus before it`,
      },
    )

    // 2 and 3. /health and a paid stream, idle then under a frame flood.
    const wallet = new Wallet(ready.buyerKey, provider)
    const buyer = await BuyerClient.create({
      wallet,
      ...ready.config,
      gateways: [ready.guarded.httpUrl],
    })
    const product = await buyer.product(ready.guarded.productId)
    const { channelId } = await buyer.openChannel(ready.guarded.address, PRICE * 1_000_000n)
    const stream = await buyer.stream(product, { channelId, maxSpend: PRICE * 1_000_000n })
    let chunks = 0
    const consuming = (async () => {
      for await (const _ of stream) chunks++
    })()
    await sleep(2_000)
    const idle = await phase(ready.guarded.httpUrl, () => chunks, sleep(PHASE_S * 1000))
    let flood: Extract<FromAttacker, { type: 'done' }> | undefined
    const flooded = await phase(
      ready.guarded.httpUrl,
      () => chunks,
      attack(attacker, {
        url: ready.guarded.url,
        mode: 'frame_flood',
        seconds: PHASE_S,
        localAddress: '127.0.0.3',
      }).then((done) => {
        flood = done
      }),
    )
    await stream.close()
    await consuming
    await buyer.close()
    console.log(
      `  idle: /health p50 ${idle.p50.toFixed(1)} ms p99 ${idle.p99.toFixed(1)} ms, ${idle.chunksPerSecond.toFixed(1)} chunks/s`,
    )
    console.log(
      `  frame flood: ${flood?.pings} pings in ${flood?.connections} connections (${flood?.refused} refused, errors ${JSON.stringify(flood?.errors)}); /health p50 ${flooded.p50.toFixed(1)} ms p99 ${flooded.p99.toFixed(1)} ms, ${flooded.chunksPerSecond.toFixed(1)} chunks/s`,
    )
    const floodNote = `one client sending pings as fast as its socket takes them, reconnecting when closed: ${flood?.pings.toLocaleString('en-US')} pings in ${PHASE_S} s over ${flood?.connections} connections; seller at the default limits`
    results.push(
      {
        name: '/health p99, idle',
        section: SECTION,
        value: round(idle.p99, 1),
        unit: 'ms',
        note: `${idle.samples} sequential probes over ${PHASE_S} s, a paid stream running`,
      },
      {
        name: '/health p99 under a one-client frame flood',
        section: SECTION,
        value: round(flooded.p99, 1),
        unit: 'ms',
        note: `${flooded.samples} probes; ${floodNote}`,
      },
      {
        name: '/health p99 under a one-client frame flood ÷ idle',
        section: SECTION,
        value: round(flooded.p99 / Math.max(idle.p99, 0.001), 2),
        unit: 'ratio',
        goal: { atMost: 5 },
        note: 'same run, same prober',
      },
      {
        name: 'Paid stream chunks/s under a one-client frame flood ÷ idle',
        section: SECTION,
        value: round(flooded.chunksPerSecond / Math.max(idle.chunksPerSecond, 0.001), 2),
        unit: 'ratio',
        goal: { atLeast: 0.8 },
        note: `${idle.chunksPerSecond.toFixed(1)} chunks/s idle, ${flooded.chunksPerSecond.toFixed(1)} under the flood (the feed replays 40 rows/s)`,
      },
    )
    return results
  } finally {
    provider.destroy()
    await sellers.exit()
    await attacker.exit()
  }
}

/** Probes `/health` one request at a time until `until` settles; counts the stream's chunks meanwhile. */
async function phase(httpUrl: string, chunks: () => number, until: Promise<unknown>) {
  let running = true
  const latencies: number[] = []
  const started = performance.now()
  const chunksAtStart = chunks()
  const probing = (async () => {
    while (running) {
      const t = performance.now()
      const res = await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(60_000) })
      await res.arrayBuffer()
      latencies.push(performance.now() - t)
      await sleep(PROBE_EVERY_MS)
    }
  })()
  await until
  const seconds = (performance.now() - started) / 1000
  const delivered = chunks() - chunksAtStart
  running = false
  await probing
  return {
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    samples: latencies.length,
    chunksPerSecond: delivered / seconds,
  }
}

async function attack(attacker: Child<ToAttacker, FromAttacker>, plan: AttackPlan) {
  const done = await attacker.request({ type: 'attack', plan })
  if (done.type !== 'done') throw new Error(`attacker said ${done.type}`)
  return done
}

/** A child process driven over IPC, one request at a time. */
class Child<To, From> {
  private readonly waiting: ((message: From) => void)[] = []
  private readonly child: ChildProcess
  /** the message the child sent when it was ready */
  readonly first: From

  private constructor(child: ChildProcess, first: From) {
    this.child = child
    this.first = first
    child.on('message', (message: From) => this.waiting.shift()?.(message))
  }

  static async start<To, From>(script: string): Promise<Child<To, From>> {
    const child = fork(fileURLToPath(new URL(script, import.meta.url)), {
      execPath: process.execPath,
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    })
    const first = await new Promise<From>((resolve, reject) => {
      child.once('message', resolve)
      child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
    })
    return new Child<To, From>(child, first)
  }

  request(message: To): Promise<From> {
    return new Promise((resolve) => {
      this.waiting.push(resolve)
      this.child.send(message as object)
    })
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.send({ type: 'exit' })
    await Promise.race([exited, sleep(10_000)])
    if (this.child.exitCode === null) this.child.kill()
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const round = (value: number, digits = 3) => Number(value.toFixed(digits))
