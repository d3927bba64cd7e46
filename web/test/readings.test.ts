import { signReading, verifyReading } from '@trickle/protocol'
import type { ProductDescriptor } from '@trickle/sdk'
import { SigningKey, Wallet } from 'ethers'
import { describe, expect, it } from 'vitest'
import { toCsv, toNdjson } from '../src/lib/exportReadings.ts'
import { pricePerHour } from '../src/lib/format.ts'
import { healthUrlOf } from '../src/lib/health.ts'
import { problemOf } from '../src/lib/problems.ts'
import { ReadingLog, readChunk } from '../src/lib/readings.ts'

const bytes = (value: unknown) =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))
const AT = Date.parse('2026-12-02T12:00:00Z')

describe('readChunk', () => {
  it('reads a Trickle sensor reading: its column, value, unit and own time (no zone read as UTC)', () => {
    const r = readChunk(
      7,
      bytes({
        device: 'd',
        sensor: 'co',
        column: 'CO(GT)',
        row: 3,
        time: '2004-03-10T18:00:00',
        value: 2.6,
        unit: 'mg/m³',
      }),
      AT,
    )
    expect(r.values).toEqual([{ field: 'CO(GT)', value: 2.6, unit: 'mg/m³' }])
    expect(r.time).toBe(Date.parse('2004-03-10T18:00:00Z'))
    expect(r.timeText).toBe('2004-03-10T18:00:00')
  })

  it('keeps a missing value as null, reads other JSON objects field by field, and keeps text as text', () => {
    expect(readChunk(0, bytes({ column: 'T', value: null, unit: '°C' }), AT).values[0]?.value).toBeNull()
    const generic = readChunk(
      1,
      bytes({ ts: 1_700_000_000, temperature: 21.5, label: 'x' }),
      AT,
      new Map([['temperature', '°C']]),
    )
    expect(generic.values).toEqual([{ field: 'temperature', value: 21.5, unit: '°C' }])
    expect(generic.time).toBe(1_700_000_000_000)
    const raw = readChunk(2, new Uint8Array([0xff, 0x00]), AT)
    expect(raw.values).toEqual([])
    expect(raw.json).toBeUndefined()
    expect(raw.time).toBe(AT)
  })
})

describe('readChunk of device-signed readings', () => {
  const key = new SigningKey(`0x${'22'.repeat(32)}`)
  const reading = JSON.stringify({ column: 'CO(GT)', value: 2.6, unit: 'mg/m³', time: '2004-03-10T18:00:00' })
  const envelope = signReading(key, reading)

  it('reads the signed reading inside the envelope, verified when the SDK says so', () => {
    const verified = readChunk(
      0,
      envelope,
      AT,
      new Map(),
      verifyReading(envelope, [new Wallet(key.privateKey).address]),
    )
    expect(verified.values).toEqual([{ field: 'CO(GT)', value: 2.6, unit: 'mg/m³' }])
    expect(verified.signature).toEqual({ status: 'verified', device: new Wallet(key.privateKey).address })
    const unlisted = readChunk(0, envelope, AT, new Map(), verifyReading(envelope, []))
    expect(unlisted.signature?.status).toBe('invalid')
    expect(unlisted.values[0]?.value).toBe(2.6)
  })

  it('writes the signature verdict into the NDJSON download, as trickle buy does', () => {
    const r = readChunk(7, envelope, AT, new Map(), verifyReading(envelope, []))
    expect(JSON.parse(toNdjson([r]))).toMatchObject({
      seq: 7,
      reading: JSON.parse(reading),
      signature: 'invalid',
      problem: 'the device is not listed in the descriptor',
    })
  })

  it('unwraps an envelope the descriptor lists no device for, as unchecked', () => {
    const r = readChunk(0, envelope, AT)
    expect(r.signature?.status).toBe('unchecked')
    expect(r.json).toEqual(JSON.parse(reading))
  })
})

describe('ReadingLog', () => {
  it('keeps every reading for the download but only the last `window` points per field for the chart', () => {
    const log = new ReadingLog(3)
    for (let i = 0; i < 5; i++)
      log.add(readChunk(i, bytes({ column: 'CO', value: i, time: `2004-03-10T1${i}:00:00` }), AT))
    expect(log.readings).toHaveLength(5)
    expect(log.series.get('CO')?.y).toEqual([2, 3, 4])
    expect(log.latest(2).map((r) => r.seq)).toEqual([4, 3])
  })

  it('starts a new run when the time goes back (a replay starting over), so the x axis ascends', () => {
    const log = new ReadingLog()
    log.add(readChunk(0, bytes({ column: 'CO', value: 1, time: '2005-01-01T00:00:00' }), AT))
    log.add(readChunk(1, bytes({ column: 'CO', value: 2, time: '2004-03-10T18:00:00' }), AT))
    expect(log.series.get('CO')?.y).toEqual([2])
  })
})

describe('downloads', () => {
  const readings = [
    readChunk(0, bytes({ column: 'NO2(GT)', value: 113, unit: 'µg/m³', time: '2004-03-10T18:00:00' }), AT),
    readChunk(1, bytes('a "quoted", text'), AT),
    readChunk(2, new Uint8Array([0xff]), AT),
  ]

  it('writes NDJSON lines as `trickle buy --out` does: the JSON reading, else base64 bytes', () => {
    const lines = toNdjson(readings)
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(lines[0]).toEqual({
      seq: 0,
      reading: { column: 'NO2(GT)', value: 113, unit: 'µg/m³', time: '2004-03-10T18:00:00' },
    })
    expect(lines[1]).toEqual({ seq: 1, base64: btoa('a "quoted", text') })
    expect(lines[2]).toEqual({ seq: 2, base64: '/w==' })
  })

  it('writes CSV with one row per value and quotes what needs quoting (RFC 4180)', () => {
    const rows = toCsv(readings).split('\r\n')
    expect(rows[0]).toBe('seq,time,field,value,unit,receivedAt')
    expect(rows[1]).toBe('0,2004-03-10T18:00:00,NO2(GT),113,µg/m³,2026-12-02T12:00:00.000Z')
    expect(rows[2]).toBe('1,2026-12-02T12:00:00.000Z,,"a ""quoted"", text",,2026-12-02T12:00:00.000Z')
  })
})

describe('small helpers', () => {
  it('prices an hour at the stated rate, and nothing without one', () => {
    const descriptor = { pricePerChunk: '1000000000000', chunksPerSecond: 150 } as ProductDescriptor
    expect(pricePerHour(descriptor)).toBe(540_000n * 1_000_000_000_000n)
    expect(
      pricePerHour({ ...descriptor, chunksPerSecond: undefined } as unknown as ProductDescriptor),
    ).toBeUndefined()
  })

  it("finds a seller's health URL from its WebSocket endpoint", () => {
    expect(healthUrlOf('ws://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080/health')
    expect(healthUrlOf('wss://seller.example/')).toBe('https://seller.example/health')
    expect(healthUrlOf('http://nope/')).toBeUndefined()
  })

  it('turns a wallet refusal and coded errors into problems a person can act on, code kept', () => {
    expect(problemOf({ code: 4001, message: 'User rejected the request.' })).toMatchObject({
      code: 'USER_REJECTED',
      remedy: 'retry',
    })
    expect(problemOf({ code: 'ACTION_REJECTED' }).code).toBe('USER_REJECTED')
    expect(problemOf({ code: 'SPENDING_CAP_REACHED', message: 'x' })).toMatchObject({ remedy: 'top-up' })
    expect(problemOf(new Error('boom'))).toMatchObject({ code: 'INTERNAL', detail: 'boom' })
  })
})
