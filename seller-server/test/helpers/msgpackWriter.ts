/**
 * A hand-written msgpack writer for fuzzing: unlike the codec's encoder it writes any shape and any
 * encoding form on purpose (non-minimal ints, floats, ext types, duplicate keys, lying lengths), so tests
 * can build exactly the bytes a hostile peer would send. Values are pre-encoded byte strings.
 */

const utf8 = new TextEncoder()

/** Concatenates byte strings. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function head(tag: number, length: number, bytes: 1 | 2 | 4): Uint8Array {
  const out = new Uint8Array(1 + bytes)
  out[0] = tag
  const view = new DataView(out.buffer)
  if (bytes === 1) view.setUint8(1, length)
  else if (bytes === 2) view.setUint16(1, length)
  else view.setUint32(1, length)
  return out
}

/** Size form of a str, bin, array or map header: the smallest that fits, or a forced one. */
export type SizeForm = 'min' | '8' | '16' | '32'

function sized(
  length: number,
  form: SizeForm,
  fix: { tag: number; max: number } | undefined,
  tag8: number | undefined,
  tag16: number,
  tag32: number,
): Uint8Array {
  if (form === 'min' && fix && length <= fix.max) return Uint8Array.of(fix.tag | length)
  if (tag8 !== undefined && (form === '8' || (form === 'min' && length <= 0xff))) return head(tag8, length, 1)
  if (form !== '32' && length <= 0xffff) return head(tag16, length, 2)
  return head(tag32, length, 4)
}

/** msgpack encoders, one per wire type; each returns the encoded bytes of one value. */
export const mp = {
  nil: () => Uint8Array.of(0xc0),
  bool: (value: boolean) => Uint8Array.of(value ? 0xc3 : 0xc2),
  /** a non-negative integer in the smallest form (uint64 above 2^32 − 1) */
  uint(value: number | bigint): Uint8Array {
    const n = BigInt(value)
    if (n < 0n) return mp.negative(n)
    if (n < 0x80n) return Uint8Array.of(Number(n))
    if (n <= 0xffn) return Uint8Array.of(0xcc, Number(n))
    if (n <= 0xffffn) return head(0xcd, Number(n), 2)
    if (n <= 0xffff_ffffn) return head(0xce, Number(n), 4)
    return mp.int64(n, 0xcf)
  },
  /** a 64-bit integer: `0xd3` int64 (the reference form above 2^32) or `0xcf` uint64 */
  int64(value: bigint, tag: 0xcf | 0xd3 = 0xd3): Uint8Array {
    const out = new Uint8Array(9)
    out[0] = tag
    const view = new DataView(out.buffer)
    if (tag === 0xcf) view.setBigUint64(1, BigInt.asUintN(64, value))
    else view.setBigInt64(1, BigInt.asIntN(64, value))
    return out
  },
  /** a negative integer in the smallest signed form */
  negative(value: bigint): Uint8Array {
    if (value >= -32n) return Uint8Array.of(Number(value) & 0xff)
    if (value >= -128n) return Uint8Array.of(0xd0, Number(value) & 0xff)
    if (value >= -32768n) return Uint8Array.of(0xd1, (Number(value) >> 8) & 0xff, Number(value) & 0xff)
    return mp.int64(value)
  },
  /** a positive integer forced into a non-minimal form (`int8`, `uint16`, `uint64`…) */
  wideUint(value: number, tag: 0xcd | 0xce | 0xcf | 0xd0 | 0xd1 | 0xd2): Uint8Array {
    if (tag === 0xcf) return mp.int64(BigInt(value), 0xcf)
    const out = new Uint8Array(tag === 0xd0 ? 2 : tag === 0xcd || tag === 0xd1 ? 3 : 5)
    out[0] = tag
    const view = new DataView(out.buffer)
    if (out.length === 2) view.setInt8(1, value)
    else if (out.length === 3) view.setUint16(1, value)
    else view.setUint32(1, value)
    return out
  },
  f32(value: number): Uint8Array {
    const out = new Uint8Array(5)
    out[0] = 0xca
    new DataView(out.buffer).setFloat32(1, value)
    return out
  },
  f64(value: number): Uint8Array {
    const out = new Uint8Array(9)
    out[0] = 0xcb
    new DataView(out.buffer).setFloat64(1, value)
    return out
  },
  str(value: string, form: SizeForm = 'min'): Uint8Array {
    const bytes = utf8.encode(value)
    return concat(sized(bytes.length, form, { tag: 0xa0, max: 31 }, 0xd9, 0xda, 0xdb), bytes)
  },
  bin(value: Uint8Array, form: SizeForm = 'min'): Uint8Array {
    return concat(sized(value.length, form, undefined, 0xc4, 0xc5, 0xc6), value)
  },
  array(items: Uint8Array[], form: SizeForm = 'min'): Uint8Array {
    return concat(sized(items.length, form, { tag: 0x90, max: 15 }, undefined, 0xdc, 0xdd), ...items)
  },
  /** a map of already encoded keys and values, in the given order (duplicates allowed) */
  map(entries: readonly (readonly [Uint8Array, Uint8Array])[], form: SizeForm = 'min'): Uint8Array {
    return concat(
      sized(entries.length, form, { tag: 0x80, max: 15 }, undefined, 0xde, 0xdf),
      ...entries.flat(),
    )
  },
  /** an extension value (forbidden by SPEC.md §Frames) */
  ext(type: number, data: Uint8Array): Uint8Array {
    const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }
    const tag = fixed[data.length]
    if (tag !== undefined) return concat(Uint8Array.of(tag, type & 0xff), data)
    return concat(head(0xc7, data.length, 1), Uint8Array.of(type & 0xff), data)
  },
}
