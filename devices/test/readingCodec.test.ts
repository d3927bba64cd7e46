import { signReading } from '@trickle/protocol'
import { SigningKey } from 'ethers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeReading, encodeReading, readingTopic, SENSORS, type SensorReading } from '../src/index.ts'

const reading = fc.constantFrom(...SENSORS).chain((s) =>
  fc.record({
    device: fc.string({ minLength: 1 }),
    sensor: fc.constant(s.key),
    column: fc.constant(s.column),
    row: fc.nat(),
    time: fc
      .date({
        min: new Date('1970-01-01T00:00:00Z'),
        max: new Date('9999-12-31T23:59:59Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString().slice(0, 19)),
    value: fc.option(
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v)),
    ),
    unit: fc.constant(s.unit),
  }),
)

const sample: SensorReading = {
  device: 'airquality-uci',
  sensor: 'co',
  column: 'CO(GT)',
  row: 0,
  time: '2004-03-10T18:00:00',
  value: 2.6,
  unit: 'mg/m³',
}

describe('readingTopic', () => {
  it('builds prefix/device/sensor', () => {
    expect(readingTopic('trickle', 'airquality-uci', 'co')).toBe('trickle/airquality-uci/co')
  })
})

describe('encodeReading / decodeReading', () => {
  it('round-trips any valid reading', () => {
    fc.assert(
      fc.property(reading, (r) => {
        expect(decodeReading(encodeReading(r))).toEqual(r)
      }),
    )
  })

  it('decodes the reading inside a device-signed envelope (the signature is the buyer’s to check)', () => {
    fc.assert(
      fc.property(reading, (r) => {
        const envelope = signReading(
          new SigningKey(`0x${'44'.repeat(32)}`),
          new TextDecoder().decode(encodeReading(r)),
        )
        expect(decodeReading(envelope)).toEqual(r)
      }),
      { numRuns: 50 },
    )
  })

  it('encodes UTF-8 JSON with the documented fields', () => {
    expect(JSON.parse(new TextDecoder().decode(encodeReading(sample)))).toEqual(sample)
    expect(decodeReading(Buffer.from(JSON.stringify({ ...sample, value: null, extra: 1 })))).toEqual({
      ...sample,
      value: null,
    })
  })

  it.each([
    ['not JSON', new TextEncoder().encode('{nope'), undefined],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), undefined],
    ['an array', new TextEncoder().encode('[]'), undefined],
    ['an unknown sensor', enc({ ...sample, sensor: 'xx' }), 'sensor'],
    ['a column that does not match the sensor', enc({ ...sample, column: 'NOx(GT)' }), 'column'],
    ['a negative row', enc({ ...sample, row: -1 }), 'row'],
    ['a string value', enc({ ...sample, value: '2.6' }), 'value'],
    ['a bad time', enc({ ...sample, time: '10/03/2004' }), 'time'],
    ['a missing device', enc({ ...sample, device: undefined }), 'device'],
    ['a missing unit', enc({ ...sample, unit: undefined }), 'unit'],
  ])('rejects %s with READING_MALFORMED', (_, bytes, field) => {
    let caught: unknown
    try {
      decodeReading(bytes)
    } catch (err) {
      caught = err
    }
    expect(caught).toMatchObject({ code: 'READING_MALFORMED', ...(field ? { facts: { field } } : {}) })
  })

  it('refuses to encode a non-finite value', () => {
    expect(() => encodeReading({ ...sample, value: Number.NaN })).toThrow(/READING_MALFORMED/)
  })
})

function enc(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v))
}
