// The test vectors of protocol/SPEC.md §Test vectors. The constants below ARE the spec: they are
// hard-coded on purpose (not parsed from the markdown), and the code must reproduce each of them.
import { computeAddress, SigningKey, TypedDataEncoder } from 'ethers'
import { describe, expect, it } from 'vitest'
import {
  ACCEPT_TYPEHASH,
  acceptDigest,
  decodeFrame,
  encodeFrame,
  type Frame,
  fromHex,
  type Hex,
  nextAckHash,
  RECEIPT_TYPEHASH,
  type ReceiptValue,
  receiptDigest,
  receiptDomainSeparator,
  recoverAcceptSigner,
  recoverReceiptSigner,
  recoverTermsSigner,
  signAccept,
  signReceipt,
  signTerms,
  type Terms,
  termsDigest,
  toHex,
  ZERO_HASH,
} from '../src/index.ts'

const SELLER_KEY = new SigningKey(`0x${'00'.repeat(31)}01`)
const BUYER_KEY = new SigningKey(`0x${'00'.repeat(31)}02`)
const SELLER_ADDRESS = '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf'
const BUYER_ADDRESS = '0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF'
const CHAIN_ID = 31337
const CHANNELS: Hex = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
const CHANNEL_ID: Hex = `0x${'11'.repeat(32)}`
const CHUNK0 = new TextEncoder().encode('{"v":1}')
/** the EIP-712 `Accept` struct, written out independently of accept.ts */
const ACCEPT_FIELDS = [
  { name: 'channelId', type: 'bytes32' },
  { name: 'termsDigest', type: 'bytes32' },
  { name: 'nonce', type: 'bytes32' },
]

const PING_HEX = '0x82a174a470696e67a16e01'
const CHUNK_HEX = '0x83a174a56368756e6ba373657100a464617461c4077b2276223a317d'
const HELLO_HEX =
  '0x84a174a568656c6c6fa17601a970726f647563744964c40101a96368616e6e656c4964c4201111111111111111111111111111111111111111111111111111111111111111'
const HELLO_TIME_RANGE_HEX =
  '0x85a174a568656c6c6fa17601a970726f647563744964c40101a96368616e6e656c4964c4201111111111111111111111111111111111111111111111111111111111111111a572616e676582a466726f6dd30000019b76daa800a2746fd30000019b77119680'
const HELLO_LAST_LIVE_HEX =
  '0x85a174a568656c6c6fa17601a970726f647563744964c40101a96368616e6e656c4964c4201111111111111111111111111111111111111111111111111111111111111111a572616e676582a46c61737464a46c697665c3'
const PAYMENT_REQUIRED_HEX =
  '0x84a174b07061796d656e745f7265717569726564a373657110a46f776564c4023e80a8646561646c696e65d30000019b76dabb88'
const RECEIPT_FRAME_HEX =
  '0x85a174a772656365697074a373657101a6616d6f756e74c40203e8a761636b48617368c420c65d49300dc2d863463d373af0788206b580c324371d2699e3f2d5cbb2b0b50fa97369676e6174757265c441966f404106d8703c80ea04179af71a2fff0cc6086e9df3b379a7ca1e9d9b11df2b482aed05c361ed691b2c3aafb19e11b5fcb7130ca31f32a0f11cde030284de1c'

const ACK_HASH_1: Hex = '0xc65d49300dc2d863463d373af0788206b580c324371d2699e3f2d5cbb2b0b50f'
const TYPEHASH: Hex = '0x4c0dfc24e826787fe62a306f13bfd046b2c76263d3cbc92c6ca0c7ab4cfe9c6b'
const DOMAIN_SEPARATOR: Hex = '0x0d85a1bc5bd104e41c040151ceb20a5026827de7f5265558c1d907f70566a738'
const RECEIPT_DIGEST: Hex = '0xd80d2e9844df840e215f11b4d85d909f93d4e9c711bc2412470effd026bc8143'
const RECEIPT_SIGNATURE: Hex =
  '0x966f404106d8703c80ea04179af71a2fff0cc6086e9df3b379a7ca1e9d9b11df2b482aed05c361ed691b2c3aafb19e11b5fcb7130ca31f32a0f11cde030284de1c'

const TERMS_DIGEST: Hex = '0xbff0f59a4ce5c127a639a0c6a59cdf6e05d82c17240ac20b937f85e7ae5b923f'
const TERMS_SIGNATURE: Hex =
  '0x597308111aafa397242e5f3c9f600dc9d346e241264de5c6ab2cc018d3fb17da08a3214c0a8b243f463fea054870ed03b1316c10efc9db84df965b5271fd87461c'
const NONCE: Hex = `0x${'22'.repeat(32)}`
const ACCEPT_TYPEHASH_HEX: Hex = '0xe8968873fac0962b1fd218f6ffba044ec52a9bb150df3acb9adaae7331887417'
const ACCEPT_DIGEST: Hex = '0xd70719e98e41b338d585aa9ffb1880a2b1ed2f4ac6d02382ae41e587b81932a2'
const ACCEPT_SIGNATURE: Hex =
  '0xf8396349a59443fa29971ebae3fc822c00ac56fb299c045c0d20048c1f2f80716a0bd25e7954af4ea8f1e2cde6701d1144ebf2dad23d57433a658c487ca427651c'
const ACCEPT_HEX =
  '0x83a174a6616363657074ab7465726d73446967657374c420bff0f59a4ce5c127a639a0c6a59cdf6e05d82c17240ac20b937f85e7ae5b923fa97369676e6174757265c441f8396349a59443fa29971ebae3fc822c00ac56fb299c045c0d20048c1f2f80716a0bd25e7954af4ea8f1e2cde6701d1144ebf2dad23d57433a658c487ca427651c'
const TERMS_FRAME_HEX =
  '0xde0014a174a57465726d73a17601a970726f647563744964c40101a96368616e6e656c4964c4201111111111111111111111111111111111111111111111111111111111111111a57061796565c41470997970c51812dc3a010c7d01b50e0d17dc79c8ad70726963655065724368756e6bc40203e8ad6d61784368756e6b4279746573cd1000a677696e646f7783a7696e697469616c10a47374657010a36d6178cd0100ac72656365697074457665727908b07061796d656e7454696d656f75744d73cd1388ab6865617274626561744d73cd2710ad69646c6554696d656f75744d73cd7530af6d61785175657565644368756e6b73cd0400a86f766572666c6f77ab64726f705f6f6c64657374a7636861696e4964cd7a69a86368616e6e656c73c4145fbdb2315678afecb367f032d93f642f64180aa3a9657870697265734174d30000019b76daa800a46261736584a373657100a6616d6f756e74c400a761636b48617368c4200000000000000000000000000000000000000000000000000000000000000000a97369676e6174757265c400a97369676e6174757265c441597308111aafa397242e5f3c9f600dc9d346e241264de5c6ab2cc018d3fb17da08a3214c0a8b243f463fea054870ed03b1316c10efc9db84df965b5271fd87461ca56e6f6e6365c4202222222222222222222222222222222222222222222222222222222222222222'

const RECEIPT: ReceiptValue = { channelId: CHANNEL_ID, amount: 1000n, seq: 1, ackHash: ACK_HASH_1 }

const TERMS: Terms = {
  v: 1,
  productId: 1n,
  channelId: CHANNEL_ID,
  payee: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  pricePerChunk: 1000n,
  maxChunkBytes: 4096,
  window: { initial: 16, step: 16, max: 256 },
  receiptEvery: 8,
  paymentTimeoutMs: 5000,
  heartbeatMs: 10_000,
  idleTimeoutMs: 30_000,
  maxQueuedChunks: 1024,
  overflow: 'drop_oldest',
  chainId: CHAIN_ID,
  channels: CHANNELS,
  expiresAt: 1767225600000,
  base: { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' },
}

/** A frame in comparable form: bigints and bytes as strings, hex and addresses lower-cased. */
function lower(value: unknown): unknown {
  if (typeof value === 'bigint') return `${value}n`
  if (value instanceof Uint8Array) return toHex(value)
  if (typeof value === 'string') return value.toLowerCase()
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, lower(v)]))
  }
  return value
}

describe('SPEC.md test vectors', () => {
  it('derives the key addresses', () => {
    expect(computeAddress(SELLER_KEY.publicKey)).toBe(SELLER_ADDRESS)
    expect(computeAddress(BUYER_KEY.publicKey)).toBe(BUYER_ADDRESS)
  })

  it('computes the rolling ack hash and the receipt EIP-712 values', () => {
    expect(nextAckHash(ZERO_HASH, CHUNK0)).toBe(ACK_HASH_1)
    expect(RECEIPT_TYPEHASH).toBe(TYPEHASH)
    const separator = receiptDomainSeparator({ chainId: CHAIN_ID, channels: CHANNELS })
    expect(separator).toBe(DOMAIN_SEPARATOR)
    expect(receiptDigest(separator, RECEIPT)).toBe(RECEIPT_DIGEST)
    expect(signReceipt(BUYER_KEY, separator, RECEIPT)).toBe(RECEIPT_SIGNATURE)
    expect(recoverReceiptSigner(DOMAIN_SEPARATOR, RECEIPT, RECEIPT_SIGNATURE)).toBe(
      BUYER_ADDRESS.toLowerCase(),
    )
  })

  it('computes the accept digest and signature, and ethers encodes the same typed data', () => {
    const value = { channelId: CHANNEL_ID, termsDigest: TERMS_DIGEST, nonce: NONCE }
    expect(ACCEPT_TYPEHASH).toBe(ACCEPT_TYPEHASH_HEX)
    expect(acceptDigest(DOMAIN_SEPARATOR, value)).toBe(ACCEPT_DIGEST)
    const types = { Accept: ACCEPT_FIELDS }
    const domain = {
      name: 'Trickle StreamChannels',
      version: '1',
      chainId: CHAIN_ID,
      verifyingContract: CHANNELS,
    }
    expect(TypedDataEncoder.hash(domain, types, value)).toBe(ACCEPT_DIGEST)
    expect(signAccept(BUYER_KEY, DOMAIN_SEPARATOR, value)).toBe(ACCEPT_SIGNATURE)
    expect(recoverAcceptSigner(DOMAIN_SEPARATOR, value, ACCEPT_SIGNATURE)).toBe(BUYER_ADDRESS.toLowerCase())
  })

  it('computes the terms digest and signature', () => {
    expect(termsDigest(TERMS)).toBe(TERMS_DIGEST)
    expect(signTerms(SELLER_KEY, TERMS)).toBe(TERMS_SIGNATURE)
    expect(recoverTermsSigner(TERMS, TERMS_SIGNATURE)).toBe(SELLER_ADDRESS)
  })

  const frames: [string, Frame, string][] = [
    ['ping', { t: 'ping', n: 1 }, PING_HEX],
    ['chunk', { t: 'chunk', seq: 0, data: CHUNK0 }, CHUNK_HEX],
    ['hello', { t: 'hello', v: 1, productId: 1n, channelId: CHANNEL_ID }, HELLO_HEX],
    [
      'hello with a time range',
      {
        t: 'hello',
        v: 1,
        productId: 1n,
        channelId: CHANNEL_ID,
        range: { from: 1767225600000, to: 1767229200000 },
      },
      HELLO_TIME_RANGE_HEX,
    ],
    [
      'hello with the last 100 readings, then live',
      { t: 'hello', v: 1, productId: 1n, channelId: CHANNEL_ID, range: { last: 100, live: true } },
      HELLO_LAST_LIVE_HEX,
    ],
    [
      'payment_required',
      { t: 'payment_required', seq: 16, owed: 16000n, deadline: 1767225605000 },
      PAYMENT_REQUIRED_HEX,
    ],
    [
      'receipt',
      { t: 'receipt', seq: 1, amount: 1000n, ackHash: ACK_HASH_1, signature: RECEIPT_SIGNATURE },
      RECEIPT_FRAME_HEX,
    ],
    ['accept', { t: 'accept', termsDigest: TERMS_DIGEST, signature: ACCEPT_SIGNATURE }, ACCEPT_HEX],
    ['terms', { t: 'terms', ...TERMS, signature: TERMS_SIGNATURE, nonce: NONCE }, TERMS_FRAME_HEX],
  ]

  for (const [name, frame, hex] of frames) {
    it(`encodes and decodes the ${name} frame`, () => {
      expect(toHex(encodeFrame(frame))).toBe(hex)
      const decoded = decodeFrame(fromHex(hex))
      expect(lower(decoded)).toEqual(lower(frame))
      expect(toHex(encodeFrame(decoded))).toBe(hex)
    })
  }

  it('decodes the receipt frame into a receipt that recovers to the buyer', () => {
    const f = decodeFrame(fromHex(RECEIPT_FRAME_HEX))
    if (f.t !== 'receipt') throw new Error('not a receipt')
    const value = { channelId: CHANNEL_ID, amount: f.amount, seq: f.seq, ackHash: f.ackHash }
    expect(recoverReceiptSigner(DOMAIN_SEPARATOR, value, f.signature)).toBe(BUYER_ADDRESS.toLowerCase())
  })

  it('decodes the terms frame into terms signed by the seller key', () => {
    const f = decodeFrame(fromHex(TERMS_FRAME_HEX))
    if (f.t !== 'terms') throw new Error('not terms')
    expect(termsDigest(f)).toBe(TERMS_DIGEST)
    expect(recoverTermsSigner(f, f.signature)).toBe(SELLER_ADDRESS)
  })
})
