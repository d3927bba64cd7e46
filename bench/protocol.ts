/**
 * Protocol benchmark: what paying chunk by chunk costs a seller over real WebSocket sessions on
 * loopback. The seller runs in a child process with the seller server's real driver (`driveSession`,
 * `SellerSession`, receipts stored through `openReceiptStore` before credit extends); buyers run here
 * with the real `BuyerSession` signing cumulative receipts. Figures:
 *
 * 1. paid ÷ unpaid throughput of one session, 1 KiB chunks, at three receipt cadences (every chunk,
 *    64 KiB, 1 MiB), the unpaid baseline being the same source and chunk frames without a session,
 *    measured in the same round; plus the same with a store that does not fsync;
 * 2. receipts verified per second ÷ raw secp256k1 recoveries per second, one core;
 * 3. wall time of 1,000,000 paid chunks end to end at the 1 MiB cadence;
 * 4. 2,000 concurrent paid sessions at 10 chunks/s each: delivery latency and seller RSS.
 *
 * `PROTOCOL_BENCH_SCALE` (default 1) scales counts and durations down for a quick try.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { cryptoBackend, useCryptoBackend } from '@trickle/protocol'
import { nativeCrypto } from '@trickle/seller'
import { type BuyerHandle, type BuyerOutcome, startBuyer } from './protocolBuyer.ts'
import {
  type FromSeller,
  median,
  policyFor,
  quantile,
  type SellerRunConfig,
  type SellerStats,
  type ToSeller,
} from './protocolFixture.ts'
import { measureReceiptVerification } from './receiptVerification.ts'
import type { BenchMeasurement, Benchmark } from './results.ts'

const SECTION = 'Protocol'
const SCALE = Number(process.env.PROTOCOL_BENCH_SCALE ?? '1')
/** Rounds of the throughput comparison; each round measures every variant once. */
const ROUNDS = Math.max(1, Math.round(5 * SCALE))
/** Per throughput run: at most this many chunks, at most this long. */
const RUN_CHUNKS = Math.round(30_000 * SCALE)
const RUN_MS = 4_000 * SCALE
const MILLION = Math.round(1_000_000 * SCALE)
const MILLION_CAP_MS = 180_000
const SESSIONS = Math.round(2_000 * SCALE)
const SESSION_RATE = 10
const SESSION_CADENCE = 64
const SESSION_WINDOW_MS = 20_000 * SCALE
/** Buyers connecting at once while the sessions ramp up. */
const CONNECT_BATCH = 50

const CADENCES = [
  { receiptEvery: 1, label: 'receipt every chunk' },
  { receiptEvery: 64, label: 'receipt every 64 KiB' },
  { receiptEvery: 1024, label: 'receipt every 1 MiB' },
] as const

/** The protocol benchmark, for `bench/run.ts`. */
export const protocolBenchmark: Benchmark = { name: 'protocol', run: measureProtocol }

/**
 * Runs the four measurements and returns their figures.
 * @returns ratios (unit `ratio`), rates (`chunks/s`, `receipts/s`), times (`s`, `ms`) and RSS (`MiB`)
 * @throws Error when the seller process fails to start or a session fails
 */
export async function measureProtocol(): Promise<BenchMeasurement[]> {
  const results: BenchMeasurement[] = []
  // The seller's accelerated crypto (libsecp256k1, WebAssembly Keccak), as in a running seller; the
  // in-process buyers sign with it too.
  useCryptoBackend(await nativeCrypto())
  results.push(...verificationFigures())
  const seller = await SellerProcess.start()
  try {
    results.push(...(await throughputFigures(seller)))
    results.push(...(await millionFigures(seller)))
  } finally {
    await seller.exit()
  }
  // A fresh seller process, so its RSS is that of the concurrent sessions alone.
  const fresh = await SellerProcess.start()
  try {
    results.push(...(await concurrencyFigures(fresh)))
  } finally {
    await fresh.exit()
  }
  return results
}

/** The seller child process, driven over IPC. */
class SellerProcess {
  private readonly waiting: ((message: FromSeller) => void)[] = []
  private readonly child: ChildProcess
  readonly url: string

  private constructor(child: ChildProcess, url: string) {
    this.child = child
    this.url = url
    child.on('message', (message: FromSeller) => this.waiting.shift()?.(message))
  }

  static async start(): Promise<SellerProcess> {
    const child = fork(fileURLToPath(new URL('./protocolSeller.ts', import.meta.url)), {
      execPath: process.execPath,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    })
    const ready = await new Promise<FromSeller>((resolve, reject) => {
      child.once('message', resolve)
      child.once('exit', (code) => reject(new Error(`seller process exited with ${code}`)))
    })
    if (ready.type !== 'ready') throw new Error(`seller process said ${ready.type}`)
    return new SellerProcess(child, `ws://127.0.0.1:${ready.port}`)
  }

  private request(message: ToSeller): Promise<FromSeller> {
    return new Promise((resolve) => {
      this.waiting.push(resolve)
      this.child.send(message)
    })
  }

  async configure(config: SellerRunConfig): Promise<void> {
    await this.request({ type: 'configure', config })
  }

  async stats(): Promise<SellerStats> {
    const reply = await this.request({ type: 'stats' })
    if (reply.type !== 'stats') throw new Error(`seller process said ${reply.type}`)
    return reply.stats
  }

  async exit(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.send({ type: 'exit' } satisfies ToSeller)
    await Promise.race([exited, sleep(5_000)])
    if (this.child.exitCode === null) this.child.kill()
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const round = (value: number, digits = 3) => Number(value.toFixed(digits))
const list = (values: readonly number[], digits = 3) => values.map((v) => round(v, digits)).join(', ')

function verificationFigures(): BenchMeasurement[] {
  const v = measureReceiptVerification(5, Math.max(300, 1_500 * SCALE))
  console.log(
    `  receipt verification rounds (verify, decode+verify, raw ${cryptoBackend().name}, raw ethers /s):`,
  )
  for (const r of v.rounds) console.log(`    ${list([r.verify, r.decodeVerify, r.raw, r.ethers], 0)}`)
  const rounds = `median of ${v.rounds.length} interleaved rounds`
  return [
    {
      name: 'Receipt verification ÷ raw secp256k1 recovery',
      section: SECTION,
      value: round(v.verifyRatio),
      unit: 'ratio',
      goal: { atLeast: 0.8 },
      note: `recoverReceiptSigner (precomputed domain separator) + signer check ÷ recoverPublicKey (${cryptoBackend().name}) on precomputed digest and signature bytes, one core; ${rounds}: ${list(v.rounds.map((r) => r.verify / r.raw))}`,
    },
    {
      name: 'Receipt frame decode + verification ÷ raw secp256k1 recovery',
      section: SECTION,
      value: round(v.decodeVerifyRatio),
      unit: 'ratio',
      goal: { atLeast: 0.8 },
      note: `decodeFrame of the receipt frame, then the same check; ${rounds}`,
    },
    {
      name: 'Receipts verified per second (one core)',
      section: SECTION,
      value: Math.round(v.verify),
      unit: 'receipts/s',
      note: `${rounds}: ${list(
        v.rounds.map((r) => r.verify),
        0,
      )}`,
    },
    {
      name: 'Raw secp256k1 recoveries per second (one core)',
      section: SECTION,
      value: Math.round(v.raw),
      unit: 'recoveries/s',
      note: `${cryptoBackend().name} (recoverPublicKey, the implementation receipt verification uses here); ${rounds}: ${list(
        v.rounds.map((r) => r.raw),
        0,
      )}`,
    },
    {
      name: 'Raw secp256k1 recoveries per second, ethers pure JS (one core)',
      section: SECTION,
      value: Math.round(v.ethers),
      unit: 'recoveries/s',
      note: `SigningKey.recoverPublicKey (noble-curves), what verification used before this stop, and still uses where the libsecp256k1 binary does not load and in browsers; ${rounds}: ${list(
        v.rounds.map((r) => r.ethers),
        0,
      )}`,
    },
  ]
}

interface RunResult {
  outcome: BuyerOutcome
  /** chunks/s between the first and the last chunk */
  rate: number
  stats: SellerStats
}

/** One session to completion (or until `capMs`), on whatever the seller is configured for. */
async function runSession(
  seller: SellerProcess,
  config: SellerRunConfig,
  chunks: number,
  capMs: number,
): Promise<RunResult> {
  await seller.configure(config)
  const buyer = startBuyer(seller.url, { paid: config.mode === 'paid', chunks })
  const timer = setTimeout(() => buyer.stop(), capMs)
  const outcome = await buyer.done
  clearTimeout(timer)
  const stats = await seller.stats()
  const rate = outcome.received > 1 ? ((outcome.received - 1) / (outcome.lastAt - outcome.firstAt)) * 1000 : 0
  return { outcome, rate, stats }
}

async function throughputFigures(seller: SellerProcess): Promise<BenchMeasurement[]> {
  const flood = { kind: 'flood', chunks: RUN_CHUNKS } as const
  const variants: { key: string; config: SellerRunConfig }[] = [
    { key: 'unpaid', config: { mode: 'unpaid', receiptEvery: 1, store: 'disk', source: flood } },
    ...CADENCES.map(({ receiptEvery }) => ({
      key: `disk ${receiptEvery}`,
      config: { mode: 'paid' as const, receiptEvery, store: 'disk' as const, source: flood },
    })),
    ...CADENCES.slice(0, 2).map(({ receiptEvery }) => ({
      key: `memory ${receiptEvery}`,
      config: { mode: 'paid' as const, receiptEvery, store: 'memory' as const, source: flood },
    })),
  ]
  const rates = new Map<string, number[]>(variants.map((v) => [v.key, []]))
  const ratios = new Map<string, number[]>(variants.map((v) => [v.key, []]))
  const saveMs = new Map<string, number[]>(variants.map((v) => [v.key, []]))
  const cpuPerChunkUs = new Map<string, number[]>(variants.map((v) => [v.key, []]))
  // One warm-up run per variant, not recorded.
  for (const variant of variants) await runSession(seller, variant.config, 2_000, 2_000)
  for (let r = 0; r < ROUNDS; r++) {
    let baseline = Number.NaN
    for (const variant of variants) {
      const { rate, stats, outcome } = await runSession(seller, variant.config, RUN_CHUNKS, RUN_MS)
      if (outcome.received === 0) throw new Error(`${variant.key}: no chunk arrived (${outcome.reason})`)
      if (variant.key === 'unpaid') baseline = rate
      rates.get(variant.key)!.push(rate)
      ratios.get(variant.key)!.push(rate / baseline)
      if (stats.saves > 0) saveMs.get(variant.key)!.push(stats.saveP50Ms)
      cpuPerChunkUs.get(variant.key)!.push((stats.cpuMs * 1000) / outcome.received)
      console.log(
        `    round ${r + 1} ${variant.key.padEnd(11)} ${Math.round(rate).toString().padStart(6)} chunks/s` +
          ` ratio ${round(rate / baseline, 2)} (${outcome.received} chunks, ${outcome.receipts} receipts,` +
          ` save p50 ${round(stats.saveP50Ms, 2)} ms, seller CPU ${round((stats.cpuMs * 1000) / outcome.received, 1)} µs/chunk)`,
      )
    }
  }
  const rounds = `median of ${ROUNDS} rounds`
  const perRun = `≤ ${RUN_CHUNKS.toLocaleString('en-US')} chunks or ${RUN_MS / 1000} s per run`
  const out: BenchMeasurement[] = [
    {
      name: 'Unpaid throughput, one session, 1 KiB chunks',
      section: SECTION,
      value: Math.round(median(rates.get('unpaid')!)),
      unit: 'chunks/s',
      note: `baseline: same seller process, source and chunk frames, no session, no receipts; ${perRun}; ${rounds}: ${list(rates.get('unpaid')!, 0)}`,
    },
  ]
  for (const { receiptEvery, label } of CADENCES) {
    const key = `disk ${receiptEvery}`
    const { window } = policyFor(receiptEvery)
    out.push(
      {
        name: `Paid ÷ unpaid throughput, ${label}`,
        section: SECTION,
        value: round(median(ratios.get(key)!)),
        unit: 'ratio',
        ...(receiptEvery === 1024 ? { goal: { atLeast: 0.8 } } : {}),
        note: `driveSession + openReceiptStore (WAL, synchronous = FULL); window ${window.initial}/${window.step}/${window.max}; ${rounds}: ${list(ratios.get(key)!)}`,
      },
      {
        name: `Paid throughput, ${label}`,
        section: SECTION,
        value: Math.round(median(rates.get(key)!)),
        unit: 'chunks/s',
        note: `${rounds}: ${list(rates.get(key)!, 0)}; seller CPU ${list(cpuPerChunkUs.get(key)!, 1)} µs/chunk`,
      },
    )
  }
  for (const { receiptEvery, label } of CADENCES.slice(0, 2)) {
    const key = `memory ${receiptEvery}`
    out.push({
      name: `Paid ÷ unpaid throughput, ${label}, store without fsync`,
      section: SECTION,
      value: round(median(ratios.get(key)!)),
      unit: 'ratio',
      note: `openReceiptStore(':memory:'): isolates the per-receipt fsync; ${rounds}: ${list(ratios.get(key)!)}; ${list(rates.get(key)!, 0)} chunks/s`,
    })
  }
  const saves = saveMs.get('disk 1')!
  if (saves.length > 0) {
    out.push({
      name: 'Receipt store save latency, WAL + synchronous = FULL (p50)',
      section: SECTION,
      value: round(median(saves), 2),
      unit: 'ms',
      note: `save() called to resolved: hand-off to the store's writer thread, INSERT, COMMIT with fsync (group commit), reply; the event loop is not blocked meanwhile; receipt every chunk; ${rounds}: ${list(saves, 2)}`,
    })
  }
  return out
}

async function millionFigures(seller: SellerProcess): Promise<BenchMeasurement[]> {
  const config: SellerRunConfig = {
    mode: 'paid',
    receiptEvery: 1024,
    store: 'disk',
    source: { kind: 'flood', chunks: MILLION },
  }
  const { outcome, rate, stats } = await runSession(seller, config, MILLION, MILLION_CAP_MS)
  const wallS = (outcome.lastAt - outcome.helloAt) / 1000
  const complete = outcome.received >= MILLION
  const label = MILLION.toLocaleString('en-US')
  console.log(
    `    ${outcome.received} paid chunks in ${round(wallS, 1)} s (${Math.round(rate)} chunks/s, ${outcome.receipts} receipts, ${stats.saves} saves)`,
  )
  return [
    {
      name: `${label} paid chunks end to end, receipt every 1 MiB`,
      section: SECTION,
      value: round(complete ? wallS : MILLION / rate, 1),
      unit: 's',
      note: complete
        ? `hello to last chunk, one loopback session, seller in its own process, ${outcome.receipts} receipts signed, verified and stored; single run`
        : `EXTRAPOLATED from ${outcome.received.toLocaleString('en-US')} chunks in ${round(wallS, 1)} s (cap ${MILLION_CAP_MS / 1000} s)`,
    },
  ]
}

async function concurrencyFigures(seller: SellerProcess): Promise<BenchMeasurement[]> {
  await seller.configure({
    mode: 'paid',
    receiptEvery: SESSION_CADENCE,
    store: 'disk',
    source: { kind: 'paced', chunksPerSecond: SESSION_RATE },
  })
  await sleep(500)
  const idle = await seller.stats()
  let recording = false
  const latencies: number[] = []
  const onLatency = (ms: number) => {
    if (recording) latencies.push(ms)
  }
  const buyers: BuyerHandle[] = []
  const rampStarted = performance.now()
  for (let i = 0; i < SESSIONS; i += CONNECT_BATCH) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, SESSIONS - i) }, () =>
      startBuyer(seller.url, { paid: true, onLatency }),
    )
    buyers.push(...batch)
    const deadline = performance.now() + 10_000
    while (batch.some((b) => !b.streaming) && performance.now() < deadline) await sleep(5)
  }
  const rampS = (performance.now() - rampStarted) / 1000
  const streaming = buyers.filter((b) => b.streaming).length
  await sleep(2_000)
  await seller.configure({
    mode: 'paid',
    receiptEvery: SESSION_CADENCE,
    store: 'disk',
    source: { kind: 'paced', chunksPerSecond: SESSION_RATE },
  })
  recording = true
  const windowStarted = performance.now()
  await sleep(SESSION_WINDOW_MS)
  recording = false
  const windowS = (performance.now() - windowStarted) / 1000
  const stats = await seller.stats()
  for (const buyer of buyers) buyer.stop()
  const outcomes = await Promise.race([Promise.all(buyers.map((b) => b.done)), sleep(20_000)])
  const closedCleanly = Array.isArray(outcomes)
    ? outcomes.filter((o) => o.reason === 'buyer_closed').length
    : 0
  const delivered = latencies.length / windowS
  const p50 = quantile(latencies, 0.5)
  const p99 = quantile(latencies, 0.99)
  const mib = (bytes: number) => round(bytes / 2 ** 20, 1)
  console.log(
    `    ${streaming}/${SESSIONS} sessions streaming after ${round(rampS, 1)} s ramp; ${Math.round(delivered)} chunks/s delivered;` +
      ` latency p50 ${round(p50, 2)} ms p99 ${round(p99, 2)} ms; seller RSS ${mib(stats.rss)} MiB (peak ${mib(stats.peakRss)}, idle ${mib(idle.rss)});` +
      ` seller CPU ${round(stats.cpuMs / 10 / windowS, 0)} %; ${stats.saves} saves p50 ${round(stats.saveP50Ms, 2)} ms p99 ${round(stats.saveP99Ms, 2)} ms;` +
      ` loop delay p99 ${round(stats.loopDelayP99Ms, 1)} ms; ${closedCleanly} closed cleanly`,
  )
  const label = `${SESSIONS.toLocaleString('en-US')} sessions × ${SESSION_RATE} chunks/s`
  const how = `${streaming} sessions streaming, receipt every ${SESSION_CADENCE} chunks, disk store; seller in its own process, buyers in the bench process; ${round(windowS, 0)} s window, single run`
  return [
    {
      name: `${label}: delivery latency p50`,
      section: SECTION,
      value: round(p50, 2),
      unit: 'ms',
      note: `from the seller offering a chunk to the buyer session delivering it; ${how}`,
    },
    {
      name: `${label}: delivery latency p99`,
      section: SECTION,
      value: round(p99, 2),
      unit: 'ms',
      note: `${latencies.length.toLocaleString('en-US')} chunks`,
    },
    {
      name: `${label}: chunks delivered per second`,
      section: SECTION,
      value: Math.round(delivered),
      unit: 'chunks/s',
      note: `offered: ${(streaming * SESSION_RATE).toLocaleString('en-US')} chunks/s`,
    },
    {
      name: `${label}: seller RSS`,
      section: SECTION,
      value: mib(stats.rss),
      unit: 'MiB',
      note: `seller child process at the end of the window; peak ${mib(stats.peakRss)} MiB; idle before the sessions ${mib(idle.rss)} MiB`,
    },
    {
      name: `${label}: seller CPU`,
      section: SECTION,
      value: round(stats.cpuMs / 10 / windowS, 0),
      unit: '% of one core',
      note: `${stats.saves} receipts stored, save p50 ${round(stats.saveP50Ms, 2)} ms, p99 ${round(stats.saveP99Ms, 2)} ms; event loop delay p99 ${round(stats.loopDelayP99Ms, 1)} ms`,
    },
  ]
}
