// The job test vectors of protocol/SPEC.md §Test vectors "Jobs", and the sealing of a job's results
// (§Jobs "Sealed jobs"). The constants below ARE the spec: hard-coded on purpose, and the code must
// reproduce each of them. The ECIES vector is also opened independently of eciesjs (node:crypto HKDF
// and AES-GCM over ethers' ECDH), so the SPEC's description of the scheme is checked, not assumed.
import { createDecipheriv, hkdfSync } from 'node:crypto'
import { SigningKey } from 'ethers'
import { describe, expect, it } from 'vitest'
import {
  decodeJobRecord,
  encodeJobRecord,
  fromHex,
  type Hex,
  hasCode,
  inputHashOf,
  type JobAttestation,
  JobOutputChain,
  type JobQuote,
  type JobRecord,
  JobResultOpener,
  JobResultSealer,
  jobArgsHash,
  jobAttestationDigest,
  jobQuoteDigest,
  recoverJobAttestationSigner,
  recoverJobQuoteSigner,
  type SealedJobRecord,
  sealTo,
  signJobAttestation,
  signJobQuote,
  toHex,
  unseal,
} from '../src/index.ts'

const SELLER_KEY = new SigningKey(`0x${'00'.repeat(31)}01`)
const BUYER_KEY = new SigningKey(`0x${'00'.repeat(31)}02`)
const SELLER_ADDRESS = '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf'
const CHAIN_ID = 31337
const CHANNELS: Hex = '0x5FbDB2315678afecb367f032d93F642f64180aa3'

const ARGS = ['airQualityReport', '--field', 'NO2(GT)']
const ARGS_HASH: Hex = '0x771e2f1e911a8eb5c5c6cdc1a3f3397f4e694d0b904eec97e1c6e2e79711b89a'
const QUOTE: JobQuote = {
  provider: SELLER_ADDRESS,
  productId: 4n,
  quoteId: `0x${'22'.repeat(32)}`,
  moduleHash: `0x${'33'.repeat(32)}`,
  argsHash: ARGS_HASH,
  input: 'air-quality',
  unitPrice: 10_000_000_000n,
  startUnits: 5,
  cpuMsPerUnit: 50,
  maxUnits: 10274,
  cpuMs: 60000,
  wallMs: 120000,
  memoryBytes: 268435456,
  outputBytes: 16777216,
  expiresAt: 1767225600000,
}
const QUOTE_DIGEST: Hex = '0xd570e4ae91c2f17e6b3574fcd2165e0a5aea169631dac052f0591984dd24d6ef'
const QUOTE_SIGNATURE: Hex =
  '0x86e22eda3a383e6b2e5fb6cfafc76e8dddbb054c74d26d26cd574512f06df3fb797eda2637a2c6507af6c1c51d44ee5f537c27b6db78688a53723ae3f8a2de681c'

const RECORDS: [JobRecord, Hex][] = [
  [
    { k: 'start', jobId: QUOTE.quoteId, n: 0 },
    '0x83a16ba57374617274a56a6f624964d942307832323232323232323232323232323232323232323232323232323232323232323232323232323232323232323232323232323232323232323232323232323232a16e00',
  ],
  [{ k: 'out', data: new TextEncoder().encode('hello\n') }, '0x82a16ba36f7574a464617461c40668656c6c6f0a'],
  [
    { k: 'end', exitCode: 0, error: '', cpuMs: 12, wallMs: 30, peakMemoryBytes: 1048576 },
    '0x86a16ba3656e64a865786974436f646500a56572726f72a0a56370754d730ca677616c6c4d731eaf7065616b4d656d6f72794279746573ce00100000',
  ],
]
const OUTPUT_HASH: Hex = '0x7cb0054400109f792d6c37d3379898fa27bb64758fd20b99d1cfd603468e7a52'
const INPUT_HASH: Hex = '0xb9b1534c7ca7d3075f71734ee99e41b1ebf37659c440298c87a10ce0e9522e99'
const ATTESTATION: JobAttestation = {
  jobId: QUOTE.quoteId,
  channelId: `0x${'11'.repeat(32)}`,
  productId: 4n,
  moduleHash: QUOTE.moduleHash,
  argsHash: ARGS_HASH,
  inputHash: INPUT_HASH,
  outputHash: OUTPUT_HASH,
  records: 3,
  exitCode: 0,
  error: '',
  cpuMs: 12,
  peakMemoryBytes: 1048576,
  startedAt: 1767225600000,
  endedAt: 1767225600030,
  units: 4,
}
const ATTESTATION_DIGEST: Hex = '0xda4e1285bf2f0b7f40080c3a6ce2adde46f551793283d846bd34c648eec82b15'
const ATTESTATION_SIGNATURE: Hex =
  '0xaba3ab3e8b88d4067b48ac0438581f96809c8c85d9318347199037f000ec269043a46beffd75101390aeadc8394e49799c7b80b135edb0be89b74b590fd47e241c'

const RESULT_KEY = new Uint8Array(32).fill(0x55)
const SEALED_RESULT_KEY: Hex =
  '0x04d675011415d6fc3fd381e7787c393ff9ea306a017f8ed5ace7185c48fcee20c6286e3ef5115c20cf691e282850e3631046ef37a962b48acbc4bc30437e9b29b80bf3759134018a0448b0437775bb0335325827e4a9fc7bbaa2757d5d75154a8d92d3744d9301744eaa97e11763616bb7813896f7957e6cdf30349d73b29909fd'
const SEALED_OUT_0: Hex = '0xebdcd3902ae13f58580f70e814ffef85db8aee082997412a236bdca3bd393efe5d4b2044'
const SEALED_OUT_1: Hex = '0x206ec6737760683af658398dd12cd3dbcff53f6d434aa5b8d31fb1e8e8ffbb3223a6df3c'
const FIRST_SEALED_RECORD: Hex =
  '0x83a16ba67365616c6564a36b6579c48104d675011415d6fc3fd381e7787c393ff9ea306a017f8ed5ace7185c48fcee20c6286e3ef5115c20cf691e282850e3631046ef37a962b48acbc4bc30437e9b29b80bf3759134018a0448b0437775bb0335325827e4a9fc7bbaa2757d5d75154a8d92d3744d9301744eaa97e11763616bb7813896f7957e6cdf30349d73b29909fda464617461c424ebdcd3902ae13f58580f70e814ffef85db8aee082997412a236bdca3bd393efe5d4b2044'

const sealed = (payload: Hex) => decodeJobRecord(fromHex(payload)) as SealedJobRecord
const invalid = (err: unknown) => hasCode(err, 'JOB_RECORD_INVALID')

describe('SPEC.md test vectors: jobs', () => {
  it('hashes the arguments as their JSON array text', async () => {
    expect(await jobArgsHash(ARGS)).toBe(ARGS_HASH)
  })

  it('digests and signs the quote, which recovers to the provider key', () => {
    expect(jobQuoteDigest(CHAIN_ID, CHANNELS, QUOTE)).toBe(QUOTE_DIGEST)
    expect(signJobQuote(SELLER_KEY, CHAIN_ID, CHANNELS, QUOTE)).toBe(QUOTE_SIGNATURE)
    expect(recoverJobQuoteSigner(CHAIN_ID, CHANNELS, { quote: QUOTE, signature: QUOTE_SIGNATURE })).toBe(
      SELLER_ADDRESS,
    )
  })

  it('encodes the records, decodes them back, and chains their payloads into the output hash', () => {
    const chain = new JobOutputChain()
    for (const [record, hex] of RECORDS) {
      expect(toHex(encodeJobRecord(record))).toBe(hex)
      expect(decodeJobRecord(fromHex(hex))).toEqual(record)
      chain.add(fromHex(hex))
    }
    expect(chain.value).toBe(OUTPUT_HASH)
    expect(chain.records).toBe(3)
  })

  it('hashes the input and digests and signs the attestation', async () => {
    expect(await inputHashOf([{ path: 'AirQualityUCI.csv', sha256: `0x${'44'.repeat(32)}` }])).toBe(
      INPUT_HASH,
    )
    expect(jobAttestationDigest(CHAIN_ID, CHANNELS, ATTESTATION)).toBe(ATTESTATION_DIGEST)
    expect(signJobAttestation(SELLER_KEY, CHAIN_ID, CHANNELS, ATTESTATION)).toBe(ATTESTATION_SIGNATURE)
    expect(recoverJobAttestationSigner(CHAIN_ID, CHANNELS, ATTESTATION, ATTESTATION_SIGNATURE)).toBe(
      SELLER_ADDRESS,
    )
  })

  it('opens the sealed result key with the buyer key, as SPEC.md describes the scheme', () => {
    const bytes = Buffer.from(fromHex(SEALED_RESULT_KEY))
    expect(unseal(BUYER_KEY.privateKey as Hex, bytes)).toEqual(RESULT_KEY)
    // Independently: R ‖ nonce ‖ tag ‖ ciphertext, key = HKDF-SHA256(R ‖ uncompressed shared point).
    const [R, nonce, tag, ciphertext] = [
      bytes.subarray(0, 65),
      bytes.subarray(65, 81),
      bytes.subarray(81, 97),
      bytes.subarray(97),
    ]
    const shared = fromHex(BUYER_KEY.computeSharedSecret(toHex(R)) as Hex)
    const key = Buffer.from(
      hkdfSync('sha256', Buffer.concat([R, shared]), Buffer.alloc(0), Buffer.alloc(0), 32),
    )
    const decipher = createDecipheriv('aes-256-gcm', key, nonce)
    decipher.setAuthTag(tag)
    expect(new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]))).toEqual(RESULT_KEY)
  })

  it('opens the first and second sealed records of a job into the output record', () => {
    const first = sealed(FIRST_SEALED_RECORD)
    expect(toHex(first.key!)).toBe(SEALED_RESULT_KEY)
    expect(toHex(first.data)).toBe(SEALED_OUT_0)
    const opener = new JobResultOpener(BUYER_KEY.privateKey as Hex)
    expect(opener.open(first)).toEqual(RECORDS[1]![0])
    expect(opener.open({ k: 'sealed', data: fromHex(SEALED_OUT_1) })).toEqual(RECORDS[1]![0])
  })
})

describe('sealed job results: what a buyer refuses', () => {
  const buyerKey = () => new JobResultOpener(BUYER_KEY.privateKey as Hex)

  it('opens what a sealer sealed to its key, in order, output of every kind', () => {
    const sealer = new JobResultSealer(BUYER_KEY.publicKey as Hex)
    const records: JobRecord[] = [
      { k: 'out', data: new Uint8Array([1, 2, 3]) },
      { k: 'err', data: new Uint8Array(0) },
      { k: 'file', path: 'report.csv', data: new TextEncoder().encode('a,b\n'), last: true },
    ]
    const wire = records.map((r) => decodeJobRecord(encodeJobRecord(sealer.seal(r))) as SealedJobRecord)
    expect(wire.map((r) => r.key !== undefined)).toEqual([true, false, false])
    const opener = buyerKey()
    expect(wire.map((r) => opener.open(r))).toEqual(records)
  })

  it('refuses a record altered by one bit', () => {
    const first = sealed(FIRST_SEALED_RECORD)
    const data = first.data.slice()
    data[0]! ^= 1
    expect(() => buyerKey().open({ ...first, data })).toThrow(expect.toSatisfy(invalid))
  })

  it('refuses records out of order or dropped (the nonce is the record index)', () => {
    const opener = buyerKey()
    // The second sealed record presented first, with the first's key.
    expect(() => opener.open({ ...sealed(FIRST_SEALED_RECORD), data: fromHex(SEALED_OUT_1) })).toThrow(
      expect.toSatisfy(invalid),
    )
  })

  it('refuses a first record without the key, and a key on any later one', () => {
    expect(() => buyerKey().open({ k: 'sealed', data: fromHex(SEALED_OUT_0) })).toThrow(
      expect.toSatisfy(invalid),
    )
    const opener = buyerKey()
    opener.open(sealed(FIRST_SEALED_RECORD))
    expect(() => opener.open({ ...sealed(FIRST_SEALED_RECORD), data: fromHex(SEALED_OUT_1) })).toThrow(
      expect.toSatisfy(invalid),
    )
  })

  it('refuses a result key sealed to another key', () => {
    const other = new JobResultOpener(new SigningKey(`0x${'00'.repeat(31)}03`).privateKey as Hex)
    expect(() => other.open(sealed(FIRST_SEALED_RECORD))).toThrow(expect.toSatisfy(invalid))
  })

  it('refuses a sealed record that seals anything but output (the meter stays in the clear)', () => {
    const sealer = new JobResultSealer(BUYER_KEY.publicKey as Hex)
    const cpu = sealer.seal({ k: 'cpu', cpuMs: 50, wallMs: 60, memoryBytes: 1 })
    expect(() => buyerKey().open(cpu)).toThrow(expect.toSatisfy(invalid))
  })

  it('seals differently each time: the same bytes twice are two ciphertexts', () => {
    const bytes = new TextEncoder().encode('same')
    expect(toHex(sealTo(BUYER_KEY.publicKey as Hex, bytes))).not.toBe(
      toHex(sealTo(BUYER_KEY.publicKey as Hex, bytes)),
    )
  })
})
