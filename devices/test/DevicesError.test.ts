import { BaseError, errorCode, hasCode } from '@trickle/errors'
import { describe, expect, it } from 'vitest'
import { DevicesError, isDevicesError, parseAirQualityCsv } from '../src/index.ts'

describe('DevicesError', () => {
  it('is a Trickle BaseError with code, shortMessage, details, cause and the facts of the failure', () => {
    const cause = Object.assign(new Error('listen EADDRINUSE 127.0.0.1:1883'), { code: 'EADDRINUSE' })
    const err = new DevicesError('BROKER_START_FAILED', 'cannot listen on 127.0.0.1:1883', {
      facts: { host: '127.0.0.1', port: 1883 },
      details: 'another broker runs there',
      cause,
    })
    expect(err).toBeInstanceOf(BaseError)
    expect(err).toMatchObject({
      name: 'DevicesError',
      code: 'BROKER_START_FAILED',
      shortMessage: 'cannot listen on 127.0.0.1:1883',
      details: 'another broker runs there',
      facts: { host: '127.0.0.1', port: 1883 },
      cause,
    })
    expect(err.message).toBe(
      'BROKER_START_FAILED: cannot listen on 127.0.0.1:1883 (another broker runs there)',
    )
    expect(hasCode(err, 'BROKER_START_FAILED')).toBe(true)
  })

  it('keeps its message as code and short message, with no details and empty facts when none are given', () => {
    const err = new DevicesError('READING_MALFORMED', 'payload is not UTF-8 JSON')
    expect(err.message).toBe('READING_MALFORMED: payload is not UTF-8 JSON')
    expect([err.details, err.facts, err.cause]).toEqual([undefined, {}, undefined])
  })

  it('walks to the innermost cause, or to the first link a predicate accepts', () => {
    const root = new Error('ENOENT: no such file')
    const read = new DevicesError('CSV_READ_FAILED', 'cannot read data.csv', { cause: root })
    const outer = new DevicesError('REPLAYER_CONNECT_FAILED', 'replayer could not start', { cause: read })
    expect(outer.walk()).toBe(root)
    expect(outer.walk((err) => errorCode(err) === 'CSV_READ_FAILED')).toBe(read)
    expect(outer.walk((err) => errorCode(err) === 'BROKER_ERROR')).toBeNull()
  })

  it('is what a malformed CSV throws, recognised by isDevicesError also as a plain object', () => {
    let caught: unknown
    try {
      parseAirQualityCsv('Date;Time\n')
    } catch (err) {
      caught = err
    }
    expect(isDevicesError(caught)).toBe(true)
    expect(errorCode(caught)).toBe('CSV_MALFORMED')
    const crossed = JSON.parse(JSON.stringify({ name: 'DevicesError', code: (caught as DevicesError).code }))
    expect(isDevicesError(crossed)).toBe(true)
  })
})
