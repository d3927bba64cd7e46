/** A `0x`-prefixed hex string. */
export type Hex = `0x${string}`
/** A 20-byte address as `0x`-prefixed hex (any case). */
export type Address = Hex

const HEX = '0123456789abcdef'

/** Lower-case `0x` hex of `bytes`. */
export function toHex(bytes: Uint8Array): Hex {
  let out = '0x'
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!
  return out as Hex
}

/** Value of one hex digit's char code (already checked to be `[0-9a-fA-F]`). */
function nibble(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87
}

/**
 * Bytes of a `0x` hex string.
 * @throws TypeError when `hex` is not even-length `0x` hex
 */
export function fromHex(hex: string): Uint8Array {
  if (!/^0x([0-9a-fA-F]{2})*$/.test(hex)) throw new TypeError(`not 0x hex: ${hex.slice(0, 20)}`)
  const out = new Uint8Array((hex.length - 2) / 2)
  for (let i = 0, j = 2; i < out.length; i++, j += 2) {
    out[i] = (nibble(hex.charCodeAt(j)) << 4) | nibble(hex.charCodeAt(j + 1))
  }
  return out
}

/** Big-endian minimal encoding of a non-negative bigint (0n → empty). */
export function uintToBytes(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError('negative')
  if (value === 0n) return new Uint8Array(0)
  let hex = value.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  return fromHex(`0x${hex}`)
}

/** Inverse of {@link uintToBytes}. */
export function bytesToUint(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n
  return BigInt(toHex(bytes))
}
