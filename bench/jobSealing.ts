/**
 * Job sealing benchmark (SPEC.md §Jobs, "Sealed jobs"): what sealing a job's output costs against
 * sending it in the clear, in this process.
 *
 * - Per job: one ECIES seal of the 32-byte result key (provider: an ephemeral key and an ECDH) and one
 *   open (buyer: an ECDH), medians of N.
 * - Per record: a full `out` record (15 KiB of data, the payload of a 16 KiB chunk) encoded in the
 *   clear (the baseline), encoded and sealed (AES-256-GCM under the result key), and opened, medians
 *   of N batches; the ratio is sealed / clear.
 *
 * `JOB_SEALING_RUNS` (default 200) sets N.
 */
import {
  encodeJobRecord,
  type Hex,
  JobResultOpener,
  JobResultSealer,
  type SealedJobRecord,
  sealTo,
  unseal,
} from '@trickle/protocol'
import { Wallet } from 'ethers'
import type { BenchMeasurement, Benchmark } from './results.ts'

const SECTION = 'Job sealing: output sealed to the buyer against sent in the clear'
const RUNS = Number(process.env.JOB_SEALING_RUNS ?? '200')
/** records per timed batch: one record takes microseconds, below the timer's resolution */
const BATCH = 20
const RECORD_BYTES = 15 * 1024

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Median µs per call of `f` over {@link RUNS} batches of {@link BATCH}. */
function perCall(f: () => void): number {
  const samples: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now()
    for (let j = 0; j < BATCH; j++) f()
    samples.push(((performance.now() - started) * 1000) / BATCH)
  }
  return median(samples)
}

export const jobSealingBenchmark: Benchmark = {
  name: 'jobSealing',
  async run(): Promise<BenchMeasurement[]> {
    const buyer = Wallet.createRandom()
    const key = new Uint8Array(32).fill(7)
    const sealMs: number[] = []
    const openMs: number[] = []
    for (let i = 0; i < Math.max(20, RUNS / 10); i++) {
      let started = performance.now()
      const sealed = sealTo(buyer.signingKey.publicKey as Hex, key)
      sealMs.push(performance.now() - started)
      started = performance.now()
      unseal(buyer.privateKey as Hex, sealed)
      openMs.push(performance.now() - started)
    }
    const record = { k: 'out' as const, data: new Uint8Array(RECORD_BYTES).fill(42) }
    const clear = perCall(() => encodeJobRecord(record))
    const sealer = new JobResultSealer(buyer.signingKey.publicKey as Hex)
    const sealedRecords: SealedJobRecord[] = []
    const sealed = perCall(() => {
      const s = sealer.seal(record)
      encodeJobRecord(s)
      if (sealedRecords.length < RUNS * BATCH) sealedRecords.push(s)
    })
    const opener = new JobResultOpener(buyer.privateKey as Hex)
    let next = 0
    const opened = perCall(() => opener.open(sealedRecords[next++]!))
    const round = (v: number, digits = 2) => Number(v.toFixed(digits))
    return [
      {
        name: 'job sealing result key seal',
        section: SECTION,
        value: round(median(sealMs)),
        unit: 'ms',
        note: 'ECIES of the 32-byte result key, once per job (provider), median',
      },
      {
        name: 'job sealing result key open',
        section: SECTION,
        value: round(median(openMs)),
        unit: 'ms',
        note: 'ECIES open of it, once per job (buyer), median',
      },
      {
        name: 'job record clear encode',
        section: SECTION,
        value: round(clear),
        unit: 'µs',
        note: `an out record of ${RECORD_BYTES} bytes, msgpack only (baseline), median of ${RUNS} batches`,
      },
      {
        name: 'job record sealed encode',
        section: SECTION,
        value: round(sealed),
        unit: 'µs',
        note: 'the same, sealed: msgpack, AES-256-GCM, msgpack again',
      },
      {
        name: 'job record sealed/clear ratio',
        section: SECTION,
        value: round(sealed / clear),
        unit: '×',
        note: 'per record, provider side, medians',
      },
      {
        name: 'job record open',
        section: SECTION,
        value: round(opened),
        unit: 'µs',
        note: 'buyer side: AES-256-GCM open and decode, median',
      },
    ]
  },
}
