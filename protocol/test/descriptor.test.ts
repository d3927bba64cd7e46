import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeDescriptor,
  encodeDescriptor,
  type ProductDescriptor,
  parseDescriptor,
  TrickleError,
} from '../src/index.ts'

/** A valid descriptor without the optional `chunksPerSecond`. */
const DESCRIPTOR: ProductDescriptor = {
  schema: 'trickle.descriptor/1',
  name: 'Nitrogen oxides',
  description: '',
  kind: 'stream',
  seller: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  endpoint: 'ws://127.0.0.1:4312/',
  pricePerChunk: '1000',
  chunk: { encoding: 'application/json', maxBytes: 4096, unit: 'one sensor reading' },
  topics: ['air/nox', 'air/no2'],
  fields: [
    { name: 'NOx(GT)', unit: 'ppb' },
    { name: 'NO2(GT)', unit: 'µg/m³' },
  ],
  tags: [],
  source: { title: '', licence: '', attribution: '' },
  createdAt: '2026-01-01T00:00:00.000Z',
}

/** The error `parseDescriptor` throws for `value`, or undefined when it accepts it. */
function refusal(value: unknown): TrickleError | undefined {
  try {
    parseDescriptor(value)
    return undefined
  } catch (err) {
    if (err instanceof TrickleError) return err
    throw err
  }
}

describe('productDescriptorSchema chunksPerSecond', () => {
  it('accepts a descriptor without it, and leaves it absent (not undefined)', () => {
    const parsed = parseDescriptor(DESCRIPTOR)
    expect(parsed).toEqual(DESCRIPTOR)
    expect('chunksPerSecond' in parsed).toBe(false)
  })

  it.each([150, 0.5, 1e-7, 1_000_000])('accepts a rate of %s chunks/s', (chunksPerSecond) => {
    expect(parseDescriptor({ ...DESCRIPTOR, chunksPerSecond }).chunksPerSecond).toBe(chunksPerSecond)
  })

  it.each([
    ['zero', 0],
    ['negative zero', -0],
    ['negative', -1],
    ['above 1 000 000', 1_000_000.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a string', '150'],
    ['null', null],
  ])('refuses %s with DESCRIPTOR_INVALID naming the field', (_, chunksPerSecond) => {
    const err = refusal({ ...DESCRIPTOR, chunksPerSecond })
    expect(err?.code).toBe('DESCRIPTOR_INVALID')
    expect(err?.message).toMatch(/^descriptor field chunksPerSecond: /)
  })

  it('cannot be written as NaN or Infinity: encodeDescriptor refuses them before dag-json sees them', async () => {
    for (const chunksPerSecond of [Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(encodeDescriptor({ ...DESCRIPTOR, chunksPerSecond })).rejects.toMatchObject({
        code: 'DESCRIPTOR_INVALID',
      })
    }
  })

  it('refuses a block whose rate overflows to Infinity (1e400), or spells NaN, when it is decoded', async () => {
    const { bytes } = await encodeDescriptor({ ...DESCRIPTOR, chunksPerSecond: 150 })
    const text = new TextDecoder().decode(bytes)
    expect(text).toContain('"chunksPerSecond":150,')
    const tamper = (rate: string) =>
      new TextEncoder().encode(text.replace('"chunksPerSecond":150,', `"chunksPerSecond":${rate},`))
    expect(() => decodeDescriptor(tamper('1e400'))).toThrow(/chunksPerSecond/)
    expect(() => decodeDescriptor(tamper('NaN'))).toThrow('descriptor is not dag-json')
    for (const rate of ['1e400', 'NaN', 'Infinity', '-5', '0']) {
      expect(() => decodeDescriptor(tamper(rate)), rate).toThrow(
        expect.objectContaining({ code: 'DESCRIPTOR_INVALID' }),
      )
    }
  })

  it('round-trips every valid rate through dag-json exactly, and changes the CID', async () => {
    const { cid: without } = await encodeDescriptor(DESCRIPTOR)
    await fc.assert(
      fc.asyncProperty(
        fc.double({ min: Number.MIN_VALUE, max: 1_000_000, noNaN: true }),
        async (chunksPerSecond) => {
          const { cid, bytes } = await encodeDescriptor({ ...DESCRIPTOR, chunksPerSecond })
          expect(decodeDescriptor(bytes).chunksPerSecond).toBe(chunksPerSecond)
          expect(cid.equals(without)).toBe(false)
        },
      ),
    )
  })
})

describe('productDescriptorSchema devices and location', () => {
  it('accepts listed devices and a location in range, and refuses what is out of range', () => {
    const located = { ...DESCRIPTOR, location: { lat: 45.4642, lon: 9.19 } }
    expect(parseDescriptor(located)).toEqual(located)
    expect(refusal({ ...DESCRIPTOR, location: { lat: 91, lon: 0 } })?.message).toMatch(/location\.lat/)
    expect(refusal({ ...DESCRIPTOR, location: { lat: 0, lon: -180.5 } })?.message).toMatch(/location\.lon/)
    const signed = { ...DESCRIPTOR, devices: [{ id: 'hub-1', address: DESCRIPTOR.seller }] }
    expect(parseDescriptor(signed)).toEqual(signed)
    expect(refusal({ ...DESCRIPTOR, devices: [] })?.message).toMatch(/devices/)
    expect(refusal({ ...DESCRIPTOR, devices: [{ id: 'x', address: '0x12' }] })?.message).toMatch(
      /devices\.0\.address/,
    )
  })
})
