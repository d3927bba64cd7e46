import {
  type Address,
  decodeJobRecord,
  type Hex,
  type JobAttestation,
  JobOutputChain,
  type JobQuote,
  type JobRecord,
  type JobResultOpener,
  recoverJobAttestationSigner,
  TrickleError,
} from '@trickle/protocol'
import type { PaidStream, SessionSummary } from '../types.ts'

/** What a finished job came to (SPEC.md §Jobs). */
export interface JobOutcome {
  /** the session's summary: units received and wei paid */
  summary: SessionSummary
  /** the `end` record: exit code, the code that stopped it, CPU ms, peak memory */
  end?: Extract<JobRecord, { k: 'end' }>
  /** the provider's signed attestation, checked against what was received */
  attestation?: { attestation: JobAttestation; signature: Hex }
}

/**
 * A running job whose records stream back as paid chunks: iterate it for its records (`start`,
 * `cpu`, `out`, `err`, `file`, `end`, `attestation`; a sealed job's output opened); leaving the loop
 * early cancels the job and pays for what arrived.
 */
export interface PaidJob extends AsyncIterable<JobRecord> {
  /** the job's quote */
  readonly quote: JobQuote
  /**
   * the payloads of the records received so far, in order (the attestation's included), as received
   * (a sealed job's output sealed): what the output hash is recomputed from (`verifyJob`); at most the
   * quote's `maxUnits`
   */
  readonly payloads: readonly Uint8Array[]
  /**
   * resolves once the loop over the records has ended (and the session with it); the attestation is
   * there when it arrived and was checked
   */
  readonly finished: Promise<JobOutcome>
  /**
   * cancels the job: the session ends with a final receipt for the records received (a running loop
   * over the records ends, as when it is left early)
   */
  cancel(): Promise<JobOutcome>
}

/** What an attestation must agree with. */
export interface AttestationExpectation {
  quote: JobQuote
  channelId: Hex
  chainId: number
  channels: Address
  /** the provider's registered terms key (`DataRegistry.sellerKey(payee)`) */
  sellerKey: Address
  /** the output hash chain of the records received, `start` to `end` */
  outputHash: Hex
  records: number
  /** records received, the attestation's own included */
  units: number
}

/**
 * Checks a job's attestation (SPEC.md §Jobs, "Attestation"): signed by the provider's terms key, for
 * this job, channel, module, arguments and input, over exactly the records received.
 * @throws TrickleError `JOB_ATTESTATION_INVALID`, naming the first disagreement
 */
export function checkJobAttestation(
  attestation: JobAttestation,
  signature: Hex,
  expected: AttestationExpectation,
): void {
  const fail = (what: string): never => {
    throw new TrickleError('JOB_ATTESTATION_INVALID', `the attestation ${what}`)
  }
  let signer: Address | undefined
  try {
    signer = recoverJobAttestationSigner(expected.chainId, expected.channels, attestation, signature)
  } catch {
    signer = undefined
  }
  if (signer === undefined)
    throw new TrickleError('JOB_ATTESTATION_INVALID', 'the attestation signature does not recover')
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
  const q = expected.quote
  if (!same(signer, expected.sellerKey)) fail(`is signed by ${signer}, not the provider's key`)
  if (!same(attestation.jobId, q.quoteId)) fail('names another job')
  if (!same(attestation.channelId, expected.channelId)) fail('names another channel')
  if (attestation.productId !== q.productId) fail('names another product')
  if (!same(attestation.moduleHash, q.moduleHash)) fail('names another module')
  if (!same(attestation.argsHash, q.argsHash)) fail('names other arguments')
  if (!same(attestation.outputHash, expected.outputHash) || attestation.records !== expected.records) {
    fail('does not cover the records received')
  }
  if (attestation.units !== expected.units)
    fail(`charges ${attestation.units} units, ${expected.units} were received`)
}

/**
 * Wraps the paid stream of a job session: decodes each chunk as a record (opening a sealed job's
 * output with `opener`), keeps the output hash chain and checks the attestation against it.
 * @param context - `sellerKey`: the provider's registered terms key; `opener`: the job asked for
 *   sealed results, opened with the session key (output in the clear is then refused)
 */
export function paidJobOf(
  stream: PaidStream,
  quote: JobQuote,
  context: {
    channelId: Hex
    chainId: number
    channels: Address
    sellerKey: Address
    opener?: JobResultOpener
  },
): PaidJob {
  const { opener, ...expected } = context
  const chain = new JobOutputChain()
  const payloads: Uint8Array[] = []
  let units = 0
  let end: Extract<JobRecord, { k: 'end' }> | undefined
  let attested: { attestation: JobAttestation; signature: Hex } | undefined
  const outcome = (summary: SessionSummary): JobOutcome => ({
    summary,
    ...(end ? { end } : {}),
    ...(attested ? { attestation: attested } : {}),
  })
  let settle!: (outcome: Promise<JobOutcome>) => void
  /** the loop over the records, while one runs */
  let active: AsyncGenerator<JobRecord> | undefined
  const finished = new Promise<JobOutcome>((resolve) => {
    settle = resolve
  })
  return {
    quote,
    payloads,
    finished,
    async cancel() {
      // A loop over the records holds the frames it has not taken: end it as leaving the loop does.
      if (active) {
        await active.return(undefined)
        return outcome(await stream.finished)
      }
      return outcome(await stream.close())
    },
    [Symbol.asyncIterator]() {
      const generator = (async function* () {
        try {
          yield* records()
        } finally {
          active = undefined
          settle(stream.finished.then(outcome))
        }
      })()
      active = generator
      return generator
    },
  }

  /** A sealed record opened; output in the clear refused when the job is sealed. */
  function opened(record: JobRecord): JobRecord {
    const output = record.k === 'out' || record.k === 'err' || record.k === 'file'
    if (record.k === 'sealed') {
      if (!opener) throw new TrickleError('JOB_RECORD_INVALID', 'a sealed record in a job that is not sealed')
      return opener.open(record)
    }
    if (output && opener) {
      throw new TrickleError('JOB_RECORD_INVALID', `a ${record.k} record in the clear: the job is sealed`)
    }
    return record
  }

  async function* records(): AsyncGenerator<JobRecord> {
    for await (const chunk of stream) {
      const record = decodeJobRecord(chunk.data)
      payloads.push(chunk.data)
      units++
      if (record.k === 'attestation') {
        checkJobAttestation(record.attestation, record.signature, {
          quote,
          ...expected,
          outputHash: chain.value,
          records: chain.records,
          units,
        })
        attested = { attestation: record.attestation, signature: record.signature }
      } else {
        chain.add(chunk.data)
        if (record.k === 'end') end = record
      }
      yield opened(record)
    }
  }
}
