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

/**
 * Bytes of a `0x` hex string.
 * @throws TypeError when `hex` is not even-length `0x` hex
 */
export function fromHex(hex: string): Uint8Array {
  if (!/^0x([0-9a-fA-F]{2})*$/.test(hex)) throw new TypeError(`not 0x hex: ${hex.slice(0, 20)}`)
  return Uint8Array.from(Buffer.from(hex.slice(2), 'hex'))
}

/** Big-endian minimal encoding of a non-negative bigint (0n → empty). */
export function uintToBytes(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError('negative')
  if (value === 0n) return new Uint8Array(0)
  let hex = value.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

/** Inverse of {@link uintToBytes}. */
export function bytesToUint(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n
  return BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`)
}
