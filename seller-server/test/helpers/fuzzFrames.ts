import {
  CLOSE_REASONS,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  type Frame,
  fromHex,
  type Hex,
  OVERFLOW_POLICIES,
  WIRE_ERROR_CODES,
} from '@trickle/protocol'
import { concat, mp } from './msgpackWriter.ts'

/** A seeded PRNG (mulberry32): the same seed gives the same frames, so a failure reproduces. */
export interface Rng {
  /** uniform in [0, 1) */
  next(): number
  /** uniform integer in [0, n) */
  int(n: number): number
  pick<T>(items: readonly T[]): T
  bytes(n: number): Uint8Array
  chance(p: number): boolean
}

/** @param seed - any 32-bit integer */
export function createRng(seed: number): Rng {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
  const int = (n: number) => Math.floor(next() * n)
  return {
    next,
    int,
    pick: (items) => items[int(items.length)]!,
    bytes(n) {
      const out = new Uint8Array(n)
      for (let i = 0; i < n; i++) out[i] = int(256)
      return out
    },
    chance: (p) => next() < p,
  }
}

/** How a fuzz message was made; the report counts frames per category. */
export type FuzzCategory =
  | 'random_bytes'
  | 'wrong_shape'
  | 'field_mutation'
  | 'byte_mutation'
  | 'valid_variant'
  | 'text'
  | 'oversize'

/** One WebSocket message a hostile buyer sends. */
export interface FuzzMessage {
  category: FuzzCategory
  /** what was done, for failure reports, e.g. `receipt.signature: 64 bytes` */
  label: string
  /** a string is sent as a text message */
  data: Uint8Array | string
  /** bytes sent in a text message (invalid UTF-8 most of the time: a WebSocket-level violation) */
  asText?: boolean
  /**
   * What SPEC.md §Frames says decoding gives, where it says so: `malformed` (FRAME_MALFORMED) or
   * `decodes`. Unset where the spec leaves it open (random bytes, bit flips): the codec decides.
   */
  spec?: 'malformed' | 'decodes'
  /** sent as this many WebSocket fragments of one message (1 when unset) */
  fragments?: number
}

/** What the fuzzer knows of the live session it attacks. */
export interface FuzzTarget {
  /** a product the seller sells */
  productId: bigint
  /** the session's channel (or a random one) */
  channelId: Hex
  /** the digest of the terms received in this session, if any */
  termsDigest?: Hex
}

type FieldKind = 'type' | 'int' | 'uint256' | 'fixed' | 'text' | 'member' | 'map' | 'sigOrEmpty' | 'bytes'

interface Field {
  key: string
  kind: FieldKind
  value: Uint8Array
  /** int: largest value; fixed: byte length */
  limit?: number
  /** member: the allowed strings */
  members?: readonly string[]
  /** map: nested fields */
  fields?: Field[]
  /** bound by another field too (window order, `maxQueuedChunks ≥ 1`): no `decodes` verdicts */
  constrained?: boolean
}

interface Template {
  t: Frame['t']
  fields: Field[]
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER
const MAX_TEXT = 1024
const utf8 = new TextEncoder()

function encodeFields(fields: readonly Field[]): Uint8Array {
  return mp.map(fields.map((f) => [mp.str(f.key), f.value] as const))
}

/** The smallest big-endian bytes of a uint256 (empty for zero). */
function uintBytes(value: bigint): Uint8Array {
  const hex = value === 0n ? '' : value.toString(16)
  return fromHex(`0x${hex.length % 2 ? `0${hex}` : hex}`)
}

function int(key: string, value: number, limit = MAX_SAFE, constrained = false): Field {
  return { key, kind: 'int', value: mp.uint(value), limit, constrained }
}
function uint256(key: string, value: bigint): Field {
  return { key, kind: 'uint256', value: mp.bin(uintBytes(value)) }
}
function fixed(key: string, bytes: Uint8Array): Field {
  return { key, kind: 'fixed', value: mp.bin(bytes), limit: bytes.length }
}
function text(key: string, value: string): Field {
  return { key, kind: 'text', value: mp.str(value) }
}
function member(key: string, value: string, members: readonly string[]): Field {
  return { key, kind: 'member', value: mp.str(value), members }
}
function nested(key: string, fields: Field[]): Field {
  return { key, kind: 'map', value: encodeFields(fields), fields }
}
function typeField(t: string): Field {
  return { key: 't', kind: 'type', value: mp.str(t), members: [t] }
}

/** Valid frames of every type with random field values, as field lists the mutators can edit. */
function template(rng: Rng, target: FuzzTarget, t?: Frame['t']): Template {
  const all = templates(rng, target)
  const make = t ? all.find((m) => m.t === t)! : rng.pick(all)
  return { t: make.t, fields: make.fields() }
}

function templates(rng: Rng, target: FuzzTarget): { t: Frame['t']; fields: () => Field[] }[] {
  const n = () => rng.pick([0, 1, rng.int(128), rng.int(0x1_0000), rng.int(2 ** 32), MAX_SAFE])
  const amount = () => rng.pick([0n, 1n, BigInt(rng.int(2 ** 32)) * 10n ** 9n, 2n ** 256n - 1n])
  const ms = () => Date.now() + rng.int(60_000)
  return [
    {
      t: 'hello',
      fields: () => [
        typeField('hello'),
        int('v', 1),
        uint256('productId', target.productId),
        fixed('channelId', fromHex(target.channelId)),
      ],
    },
    {
      t: 'accept',
      fields: () => [
        typeField('accept'),
        fixed('termsDigest', target.termsDigest ? fromHex(target.termsDigest) : rng.bytes(32)),
        fixed('signature', rng.bytes(65)),
      ],
    },
    {
      t: 'receipt',
      fields: () => [
        typeField('receipt'),
        int('seq', n()),
        uint256('amount', amount()),
        fixed('ackHash', rng.bytes(32)),
        fixed('signature', rng.bytes(65)),
      ],
    },
    { t: 'ping', fields: () => [typeField('ping'), int('n', n())] },
    { t: 'pong', fields: () => [typeField('pong'), int('n', n())] },
    {
      t: 'close',
      fields: () => [
        typeField('close'),
        member('reason', rng.pick(CLOSE_REASONS), CLOSE_REASONS),
        text('message', ''),
      ],
    },
    {
      t: 'error',
      fields: () => [
        typeField('error'),
        member('code', rng.pick(WIRE_ERROR_CODES), WIRE_ERROR_CODES),
        text('message', 'x'),
      ],
    },
    {
      t: 'chunk',
      fields: () => [
        typeField('chunk'),
        int('seq', n()),
        { key: 'data', kind: 'bytes', value: mp.bin(rng.bytes(rng.int(64))) },
      ],
    },
    {
      t: 'payment_required',
      fields: () => [
        typeField('payment_required'),
        int('seq', n()),
        uint256('owed', amount()),
        int('deadline', ms()),
      ],
    },
    {
      t: 'terms',
      fields: () => [
        typeField('terms'),
        int('v', 1),
        uint256('productId', target.productId),
        fixed('channelId', fromHex(target.channelId)),
        fixed('payee', rng.bytes(20)),
        uint256('pricePerChunk', amount()),
        int('maxChunkBytes', 4096, 16 * 1024 * 1024),
        nested('window', [
          int('initial', 16, 1 << 20, true),
          int('step', 16, 1 << 20, true),
          int('max', 256, 1 << 20, true),
        ]),
        int('receiptEvery', 8, 1 << 20),
        int('paymentTimeoutMs', 5_000),
        int('heartbeatMs', 10_000, 0xffff_ffff),
        int('idleTimeoutMs', 30_000, 0xffff_ffff),
        int('maxQueuedChunks', 1024, 1 << 20, true),
        member('overflow', rng.pick(OVERFLOW_POLICIES), OVERFLOW_POLICIES),
        int('chainId', 31_337),
        fixed('channels', rng.bytes(20)),
        int('expiresAt', ms()),
        nested('base', [
          int('seq', 0),
          uint256('amount', 0n),
          fixed('ackHash', new Uint8Array(32)),
          { key: 'signature', kind: 'sigOrEmpty', value: mp.bin(new Uint8Array(0)) },
        ]),
        fixed('signature', rng.bytes(65)),
        fixed('nonce', rng.bytes(32)),
      ],
    },
  ]
}

interface Mutation {
  label: string
  /** the new value; undefined deletes the field */
  value: Uint8Array | undefined
  spec?: 'malformed' | 'decodes'
}

const junkValues = (rng: Rng): Mutation[] => [
  { label: 'nil', value: mp.nil(), spec: 'malformed' },
  { label: 'bool', value: mp.bool(rng.chance(0.5)), spec: 'malformed' },
  { label: 'array', value: mp.array([mp.uint(1)]), spec: 'malformed' },
  { label: 'ext', value: mp.ext(rng.int(128), rng.bytes(4)) },
]

/** Ways to break (or legally vary) one field, with what the spec says decoding gives. */
function mutationsOf(field: Field, rng: Rng): Mutation[] {
  const all = anyMutationsOf(field, rng)
  if (!field.constrained) return all
  return all.map((m) => (m.spec === 'decodes' ? { label: m.label, value: m.value } : m))
}

function anyMutationsOf(field: Field, rng: Rng): Mutation[] {
  const limit = field.limit ?? MAX_SAFE
  switch (field.kind) {
    case 'type':
      return [
        {
          label: 'unknown t',
          value: mp.str(rng.pick(['hi', 'Hello', 'PING', 'ping\u0000', '', 'terms2', 'x'.repeat(40)])),
          spec: 'malformed',
        },
        { label: 't as bin', value: mp.bin(utf8.encode(field.members?.[0] ?? 'ping')), spec: 'malformed' },
        { label: 't as int', value: mp.uint(rng.int(300)), spec: 'malformed' },
        { label: 't as str8', value: mp.str(field.members?.[0] ?? 'ping', '8'), spec: 'decodes' },
        ...junkValues(rng),
      ]
    case 'int':
      return [
        { label: 'negative', value: mp.negative(-BigInt(1 + rng.int(2 ** 40))), spec: 'malformed' },
        { label: 'fraction', value: mp.f64(rng.int(1000) + 0.5), spec: 'malformed' },
        { label: 'NaN', value: mp.f64(Number.NaN), spec: 'malformed' },
        { label: 'Infinity', value: mp.f64(Number.POSITIVE_INFINITY), spec: 'malformed' },
        { label: 'uint64 2^53', value: mp.int64(2n ** 53n, 0xcf), spec: 'malformed' },
        { label: 'uint64 max', value: mp.int64(2n ** 64n - 1n, 0xcf), spec: 'malformed' },
        { label: 'int64 min', value: mp.int64(-(2n ** 63n)), spec: 'malformed' },
        { label: 'above max', value: mp.uint(BigInt(limit) + 1n), spec: 'malformed' },
        {
          label: 'at max',
          value: limit > 2 ** 32 ? mp.int64(BigInt(limit)) : mp.uint(limit),
          spec: 'decodes',
        },
        { label: 'integral float64', value: mp.f64(Math.min(limit, rng.int(1000))), spec: 'decodes' },
        { label: 'integral float32', value: mp.f32(Math.min(limit, rng.int(1000))), spec: 'decodes' },
        { label: 'uint16 form', value: mp.wideUint(Math.min(limit, rng.int(100)), 0xcd), spec: 'decodes' },
        { label: 'int8 form', value: mp.wideUint(Math.min(limit, rng.int(100)), 0xd0), spec: 'decodes' },
        { label: 'uint64 form', value: mp.wideUint(Math.min(limit, rng.int(100)), 0xcf), spec: 'decodes' },
        { label: 'str', value: mp.str(String(rng.int(100))), spec: 'malformed' },
        { label: 'bin', value: mp.bin(rng.bytes(4)), spec: 'malformed' },
        ...junkValues(rng),
      ]
    case 'uint256':
      return [
        {
          label: '33 bytes',
          value: mp.bin(concat(Uint8Array.of(1 + rng.int(255)), rng.bytes(32))),
          spec: 'malformed',
        },
        {
          label: 'leading zero',
          value: mp.bin(concat(Uint8Array.of(0), rng.bytes(1 + rng.int(31)))),
          spec: 'malformed',
        },
        { label: '32 bytes max', value: mp.bin(new Uint8Array(32).fill(0xff)), spec: 'decodes' },
        { label: 'zero', value: mp.bin(new Uint8Array(0)), spec: 'decodes' },
        { label: 'bin16 form', value: mp.bin(Uint8Array.of(1), '16'), spec: 'decodes' },
        { label: 'as int', value: mp.uint(rng.int(1000)), spec: 'malformed' },
        { label: 'as str', value: mp.str('1000'), spec: 'malformed' },
        ...junkValues(rng),
      ]
    case 'fixed':
    case 'sigOrEmpty': {
      const length = field.limit ?? 65
      return [
        { label: `${length - 1} bytes`, value: mp.bin(rng.bytes(length - 1)), spec: 'malformed' },
        { label: `${length + 1} bytes`, value: mp.bin(rng.bytes(length + 1)), spec: 'malformed' },
        {
          label: 'empty',
          value: mp.bin(new Uint8Array(0)),
          spec: field.kind === 'sigOrEmpty' ? 'decodes' : 'malformed',
        },
        { label: 'bin32 form', value: mp.bin(rng.bytes(length), '32'), spec: 'decodes' },
        { label: 'hex str', value: mp.str(`0x${'ab'.repeat(length)}`), spec: 'malformed' },
        ...junkValues(rng),
      ]
    }
    case 'bytes':
      return [
        { label: 'empty', value: mp.bin(new Uint8Array(0)), spec: 'decodes' },
        { label: 'as str', value: mp.str('data'), spec: 'malformed' },
        ...junkValues(rng),
      ]
    case 'text':
      return [
        { label: '1024 chars', value: mp.str('m'.repeat(MAX_TEXT)), spec: 'decodes' },
        { label: '1025 chars', value: mp.str('m'.repeat(MAX_TEXT + 1)), spec: 'malformed' },
        { label: 'huge', value: mp.str('m'.repeat(MAX_TEXT * (2 + rng.int(8)))), spec: 'malformed' },
        // Characters are UTF-16 code units (SPEC.md §Wire types): 512 emoji are 1024, 513 are 1026.
        { label: '512 emoji', value: mp.str('\u{1F600}'.repeat(512)), spec: 'decodes' },
        { label: '513 emoji', value: mp.str('\u{1F600}'.repeat(513)), spec: 'malformed' },
        { label: 'as bin', value: mp.bin(utf8.encode('hi')), spec: 'malformed' },
        { label: 'as int', value: mp.uint(7), spec: 'malformed' },
        ...junkValues(rng),
      ]
    case 'member': {
      const members = field.members ?? []
      return [
        { label: 'other member', value: mp.str(rng.pick(members)), spec: 'decodes' },
        { label: 'unknown value', value: mp.str(`NOT_${rng.int(1000)}`), spec: 'malformed' },
        { label: 'lower case', value: mp.str(`${rng.pick(members).toLowerCase()}X`), spec: 'malformed' },
        { label: 'trailing NUL', value: mp.str(`${rng.pick(members)}\u0000`), spec: 'malformed' },
        { label: 'huge', value: mp.str('R'.repeat(MAX_TEXT + 1 + rng.int(5000))), spec: 'malformed' },
        { label: 'as bin', value: mp.bin(utf8.encode(rng.pick(members))), spec: 'malformed' },
        ...junkValues(rng),
      ]
    }
    case 'map': {
      const inner = field.fields ?? []
      const pickInner = rng.pick(inner)
      const innerMutation = rng.pick(mutationsOf(pickInner, rng))
      const edited = inner.flatMap((f) =>
        f !== pickInner ? [f] : innerMutation.value ? [{ ...f, value: innerMutation.value }] : [],
      )
      const mutations: Mutation[] = [
        {
          label: `${pickInner.key}: ${innerMutation.label}`,
          value: encodeFields(edited),
          ...spec(innerMutation),
        },
        {
          label: `without ${pickInner.key}`,
          value: encodeFields(inner.filter((f) => f !== pickInner)),
          spec: 'malformed',
        },
        { label: 'empty map', value: mp.map([]), spec: 'malformed' },
        { label: 'as array', value: mp.array(inner.map((f) => f.value)), spec: 'malformed' },
        ...junkValues(rng),
      ]
      if (field.key === 'window') {
        mutations.push(
          {
            label: 'initial 0',
            value: encodeFields([int('initial', 0), int('step', 1), int('max', 4)]),
            spec: 'malformed',
          },
          {
            label: 'max < initial',
            value: encodeFields([int('initial', 8), int('step', 1), int('max', 7)]),
            spec: 'malformed',
          },
        )
      }
      return mutations
    }
  }
}

function spec(m: Mutation): Pick<Mutation, 'spec'> {
  return m.spec ? { spec: m.spec } : {}
}

function fieldMutation(rng: Rng, target: FuzzTarget): FuzzMessage {
  const frame = template(rng, target)
  const fields = frame.fields
  const at = rng.int(fields.length)
  const field = fields[at]!
  const structural = rng.int(10)
  const tag = `${frame.t}.${field.key}`
  const message = (label: string, data: Uint8Array, s?: 'malformed' | 'decodes'): FuzzMessage => ({
    category: 'field_mutation',
    label,
    data,
    ...(s ? { spec: s } : {}),
  })
  if (structural === 0) {
    return message(`${tag}: missing`, encodeFields(fields.filter((_, i) => i !== at)), 'malformed')
  }
  if (structural === 1) {
    const key = rng.pick(['x', 'extra', 'v2', 'T', 'nonce2', 'hello', '\u00e9', ''])
    const extra = rng.pick([mp.str('x'), mp.uint(rng.int(1e6)), mp.map([]), mp.bin(rng.bytes(8)), mp.nil()])
    const entries = fields.map((f) => [mp.str(f.key), f.value] as const)
    entries.splice(rng.int(entries.length + 1), 0, [mp.str(key), extra])
    return message(`${frame.t}: unknown key ${JSON.stringify(key)}`, mp.map(entries), 'decodes')
  }
  if (structural === 2) {
    const shuffled = [...fields].sort(() => rng.next() - 0.5)
    return message(`${frame.t}: keys reordered`, encodeFields(shuffled), 'decodes')
  }
  if (structural === 3) {
    // Duplicate keys: encoders MUST NOT write them; which one a decoder keeps is not specified.
    const entries = fields.map((f) => [mp.str(f.key), f.value] as const)
    entries.push([mp.str(field.key), rng.pick(mutationsOf(field, rng)).value ?? mp.nil()])
    return message(`${tag}: duplicate key`, mp.map(entries))
  }
  if (structural === 4) {
    // A map whose only key is `__proto__`: the frame has no `t` of its own (prototype pollution probe).
    return message(
      `${frame.t}: wrapped in __proto__`,
      mp.map([[mp.str('__proto__'), encodeFields(fields)]]),
      'malformed',
    )
  }
  const mutation = rng.pick(mutationsOf(field, rng))
  const edited = mutation.value
    ? fields.map((f, i) => (i === at ? { ...f, value: mutation.value! } : f))
    : fields.filter((_, i) => i !== at)
  return message(`${tag}: ${mutation.label}`, encodeFields(edited), mutation.spec)
}

/** A random msgpack value of any type, nested up to `depth`. */
function randomValue(rng: Rng, depth: number): Uint8Array {
  const kind = rng.int(depth > 0 ? 12 : 10)
  switch (kind) {
    case 0:
      return mp.nil()
    case 1:
      return mp.bool(rng.chance(0.5))
    case 2:
      return mp.uint(rng.pick([rng.int(128), rng.int(2 ** 32), 2 ** 53 + rng.int(1000)]))
    case 3:
      return mp.negative(-BigInt(1 + rng.int(2 ** 31)))
    case 4:
      return mp.f64((rng.next() - 0.5) * 1e6)
    case 5:
      return mp.f32(rng.next())
    case 6:
      return mp.str(rng.pick(['t', 'ping', 'hello', 'n', '', '\u{1F600}', 'x'.repeat(rng.int(300))]))
    case 7:
      return mp.bin(rng.bytes(rng.int(70)))
    case 8:
      return mp.ext(rng.int(256) - 128, rng.bytes(rng.pick([1, 2, 4, 8, 16, 3, 12])))
    case 9:
      return mp.str(rng.pick(CLOSE_REASONS))
    case 10:
      return mp.array(Array.from({ length: rng.int(5) }, () => randomValue(rng, depth - 1)))
    default:
      return mp.map(
        Array.from({ length: rng.int(5) }, () => [randomValue(rng, 0), randomValue(rng, depth - 1)] as const),
      )
  }
}

function wrongShape(rng: Rng): FuzzMessage {
  const message = (label: string, data: Uint8Array, s?: 'malformed' | 'decodes'): FuzzMessage => ({
    category: 'wrong_shape',
    label,
    data,
    ...(s ? { spec: s } : {}),
  })
  switch (rng.int(9)) {
    case 0:
    case 1: {
      // Top level not a map: an array, a string, bin, a number, nil, bool or ext.
      let value = randomValue(rng, 2)
      while ((value[0]! & 0xf0) === 0x80 || value[0] === 0xde || value[0] === 0xdf)
        value = randomValue(rng, 2)
      return message('top level not a map', value, 'malformed')
    }
    case 2:
    case 3: {
      // A map without a `t` key.
      const entries = Array.from({ length: rng.int(6) }, () => {
        let key = randomValue(rng, 0)
        if (key.length === 2 && key[0] === 0xa1 && key[1] === 0x74) key = mp.str('u')
        return [key, randomValue(rng, 2)] as const
      })
      return message('map without t', mp.map(entries), 'malformed')
    }
    case 4:
      return message(
        't of a wrong type',
        mp.map([
          [mp.str('t'), randomValue(rng, 1)],
          [mp.str('n'), mp.uint(1)],
        ]),
      )
    case 5: {
      // Non-string keys standing in for known ones (msgpack allows any key type).
      const key = rng.pick([mp.bin(utf8.encode('t')), mp.uint(0), mp.nil(), mp.array([mp.str('t')])])
      return message(
        'non-string key',
        mp.map([
          [key, mp.str('ping')],
          [mp.str('n'), mp.uint(1)],
        ]),
      )
    }
    case 6: {
      // Lying lengths: headers announcing far more than follows.
      const lie = rng.pick([
        Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0),
        Uint8Array.of(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x74),
        Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61),
        Uint8Array.of(0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00),
        Uint8Array.of(0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00),
        concat(
          Uint8Array.of(0x82, 0xa1, 0x74, 0xa4),
          utf8.encode('ping'),
          Uint8Array.of(0xa1, 0x6e, 0xdb, 0xff, 0xff, 0xff, 0xf0),
        ),
      ])
      return message('lying length', lie, 'malformed')
    }
    case 7: {
      // Deep nesting: moderate depth inside an unknown key of a ping is legal; extreme depth overflows
      // a recursive decoder's stack, which must still end as FRAME_MALFORMED rather than a crash.
      const depth = rng.chance(0.1) ? 150_000 + rng.int(50_000) : 1 + rng.int(64)
      if (rng.chance(0.5)) {
        // {"": {"": … nil}}: no `t` at the top, however deep
        const level = Uint8Array.of(0x81, 0xa0)
        const parts = Array.from({ length: Math.min(depth, 90_000) }, () => level)
        return message(`nested maps ×${parts.length}`, concat(...parts, mp.nil()), 'malformed')
      }
      const nest = new Uint8Array(depth + 1).fill(0x91)
      nest[depth] = 0xc0
      const ping = concat(
        Uint8Array.of(0x83),
        mp.str('t'),
        mp.str('ping'),
        mp.str('n'),
        mp.uint(3),
        mp.str('x'),
        nest,
      )
      return message(`ping with arrays nested ×${depth}`, ping)
    }
    default: {
      // Ext types, forbidden on the wire, in place of the map or inside a known frame.
      const ext = mp.ext(
        rng.pick([-1, 0, 1, 0x72, 0x73, 0x78, 100, -128]),
        rng.bytes(rng.pick([1, 4, 8, 12, 16])),
      )
      if (rng.chance(0.5)) return message('ext at top level', ext, 'malformed')
      return message(
        'ext inside a ping',
        mp.map([
          [mp.str('t'), mp.str('ping')],
          [mp.str('n'), mp.uint(rng.int(100))],
          [mp.str('e'), ext],
        ]),
      )
    }
  }
}

function encodedTemplate(rng: Rng, target: FuzzTarget): Uint8Array {
  return encodeFields(template(rng, target).fields)
}

function byteMutation(rng: Rng, target: FuzzTarget): FuzzMessage {
  const base = encodedTemplate(rng, target)
  const message = (label: string, data: Uint8Array, s?: 'malformed'): FuzzMessage => ({
    category: 'byte_mutation',
    label,
    data,
    ...(s ? { spec: s } : {}),
  })
  switch (rng.int(8)) {
    case 0:
    case 1: {
      const out = base.slice()
      const flips = 1 + rng.int(4)
      for (let i = 0; i < flips; i++) out[rng.int(out.length)]! ^= 1 << rng.int(8)
      return message(`${flips} bit flips`, out)
    }
    case 2: {
      const out = base.slice()
      out[rng.int(out.length)] = rng.pick([
        0x00,
        0xff,
        0xc1,
        0xc0,
        0xdf,
        0xdd,
        0xdb,
        0xc6,
        0x7f,
        0x80,
        rng.int(256),
      ])
      return message('byte replaced', out)
    }
    case 3:
      // Any strict prefix of one msgpack map is incomplete.
      return message('truncated', base.subarray(0, rng.int(base.length)), 'malformed')
    case 4:
      // Trailing bytes after the map make the message malformed (SPEC.md §Transport).
      return message(
        'extended',
        concat(base, rng.chance(0.5) ? rng.bytes(1 + rng.int(8)) : encodedTemplate(rng, target)),
        'malformed',
      )
    case 5: {
      const at = rng.int(base.length + 1)
      return message(
        'byte inserted',
        concat(base.subarray(0, at), rng.bytes(1 + rng.int(3)), base.subarray(at)),
      )
    }
    case 6: {
      const at = rng.int(base.length)
      return message('bytes deleted', concat(base.subarray(0, at), base.subarray(at + 1 + rng.int(4))))
    }
    default: {
      const other = encodedTemplate(rng, target)
      const cut = rng.int(base.length)
      return message('spliced', concat(base.subarray(0, cut), other.subarray(rng.int(other.length))))
    }
  }
}

function randomBytes(rng: Rng): FuzzMessage {
  const length = rng.chance(0.5) ? rng.int(17) : rng.chance(0.8) ? rng.int(257) : rng.int(4097)
  const data = rng.bytes(length)
  // Often start like a map, so the decoder gets past the first byte.
  if (length > 0 && rng.chance(0.4)) data[0] = 0x80 | rng.int(16)
  return {
    category: 'random_bytes',
    label: `${length} random bytes`,
    data,
    ...(length === 0 ? { spec: 'malformed' as const } : {}),
  }
}

function textMessage(rng: Rng, target: FuzzTarget): FuzzMessage {
  const valid = encodeFrame({ t: 'ping', n: rng.int(100) })
  switch (rng.int(6)) {
    case 0:
      return { category: 'text', label: 'empty text', data: '', spec: 'malformed' }
    case 1:
      return {
        category: 'text',
        label: 'JSON text',
        data: JSON.stringify({ t: 'ping', n: 1 }),
        spec: 'malformed',
      }
    case 2:
      return {
        category: 'text',
        label: 'hex text',
        data: Buffer.from(valid).toString('hex'),
        spec: 'malformed',
      }
    case 3:
      return {
        category: 'text',
        label: 'unicode text',
        data: Array.from({ length: rng.int(200) }, () => String.fromCodePoint(rng.int(0xd7ff))).join(''),
        spec: 'malformed',
      }
    case 4:
      // Valid UTF-8 bytes in a text message that are also msgpack ("\x81\xa1t…" is not UTF-8; this is).
      return {
        category: 'text',
        label: 'text of a hello',
        data: `hello ${target.channelId}`,
        spec: 'malformed',
      }
    default:
      // A binary frame sent as a text message: not UTF-8, so the WebSocket layer closes with 1007.
      return { category: 'text', label: 'frame bytes as text (invalid UTF-8)', data: valid, asText: true }
  }
}

/** Frames a buyer may legally send at any time before closing: ping, pong, error (SPEC.md §State machines). */
export function benignMessage(rng: Rng): FuzzMessage {
  const n = rng.pick([0, rng.int(128), rng.int(2 ** 32), 2 ** 32 + rng.int(1000), MAX_SAFE])
  const bytes = rng.pick([
    () => encodeFrame({ t: 'ping', n }),
    () => encodeFrame({ t: 'pong', n }),
    () => encodeFrame({ t: 'error', code: rng.pick(WIRE_ERROR_CODES), message: 'buyer side note' }),
    () =>
      mp.map([
        [mp.str('n'), mp.uint(n)],
        [mp.str('t'), mp.str('ping')],
        [mp.str('zz'), mp.array([])],
      ]),
    () =>
      mp.map(
        [
          [mp.str('t', '16'), mp.str('ping', '32')],
          [mp.str('n'), mp.int64(BigInt(n))],
        ],
        '16',
      ),
  ])()
  return { category: 'valid_variant', label: 'benign frame', data: bytes, spec: 'decodes' }
}

/** A legal frame the seller must reject in most phases (terms, chunk, payment_required, hello, accept). */
function validFrame(rng: Rng, target: FuzzTarget): FuzzMessage {
  if (rng.chance(0.3)) return benignMessage(rng)
  const t = rng.pick(['hello', 'accept', 'receipt', 'terms', 'chunk', 'payment_required', 'close'] as const)
  return {
    category: 'valid_variant',
    label: `valid ${t}`,
    data: encodeFields(template(rng, target, t).fields),
    spec: 'decodes',
  }
}

/** Weights of the categories in {@link fuzzMessage}. */
const MIX: readonly [FuzzCategory, number][] = [
  ['random_bytes', 16],
  ['wrong_shape', 14],
  ['field_mutation', 34],
  ['byte_mutation', 24],
  ['valid_variant', 8],
  ['text', 4],
]
const MIX_TOTAL = MIX.reduce((n, [, w]) => n + w, 0)

/**
 * One fuzz message for a session in any phase: random bytes, msgpack of wrong shapes, valid frames of
 * every type with one field mutated, byte-level mutations of valid frames, legal frames, text.
 * About 3 % are split into WebSocket fragments.
 */
export function fuzzMessage(rng: Rng, target: FuzzTarget): FuzzMessage {
  let roll = rng.int(MIX_TOTAL)
  let category: FuzzCategory = 'random_bytes'
  for (const [c, w] of MIX) {
    if (roll < w) {
      category = c
      break
    }
    roll -= w
  }
  const message =
    category === 'random_bytes'
      ? randomBytes(rng)
      : category === 'wrong_shape'
        ? wrongShape(rng)
        : category === 'field_mutation'
          ? fieldMutation(rng, target)
          : category === 'byte_mutation'
            ? byteMutation(rng, target)
            : category === 'valid_variant'
              ? validFrame(rng, target)
              : textMessage(rng, target)
  if (rng.chance(0.03) && message.data.length >= 2) message.fragments = 2 + rng.int(3)
  return message
}

/**
 * Messages above the frame limit (expensive: use a few). Between the codec's limit and the WebSocket
 * layer's `maxPayload` the seller answers `FRAME_TOO_LARGE`; above `maxPayload` ws closes with 1009.
 * @param index - which of the fixed shapes (cycled)
 */
export function oversizeMessage(rng: Rng, index: number): FuzzMessage {
  const limit = DEFAULT_MAX_FRAME_BYTES
  const shapes: (() => FuzzMessage)[] = [
    () => ({ category: 'oversize', label: 'limit + 1 zero bytes', data: new Uint8Array(limit + 1) }),
    () => ({
      category: 'oversize',
      label: 'ping with a 300 KiB unknown key',
      data: mp.map([
        [mp.str('t'), mp.str('ping')],
        [mp.str('n'), mp.uint(1)],
        [mp.str('pad'), mp.bin(rng.bytes(300 * 1024))],
      ]),
    }),
    () => ({ category: 'oversize', label: '2 × limit', data: rng.bytes(2 * limit) }),
    () => ({ category: 'oversize', label: '2 × limit + 1', data: new Uint8Array(2 * limit + 1) }),
    () => ({ category: 'oversize', label: '1 MiB', data: new Uint8Array(1024 * 1024) }),
    () => ({ category: 'oversize', label: 'text of limit + 1 chars', data: 'a'.repeat(limit + 1) }),
    () => ({
      category: 'oversize',
      label: 'limit + 1 in 4 fragments',
      data: new Uint8Array(limit + 1),
      fragments: 4,
    }),
    () => ({
      // Just under the limit: legal, and must be answered like any small ping.
      category: 'oversize',
      label: 'ping padded to just under the limit',
      data: mp.map([
        [mp.str('t'), mp.str('ping')],
        [mp.str('n'), mp.uint(2)],
        [mp.str('pad'), mp.bin(new Uint8Array(limit - 64), '32')],
      ]),
      spec: 'decodes',
    }),
  ]
  return shapes[index % shapes.length]!()
}
