import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  type AirQualityRow,
  DEFAULT_CSV_PATH,
  isDevicesError,
  loadAirQuality,
  parseAirQualityCsv,
  SENSORS,
  type SensorKey,
} from '../src/index.ts'

const HEADER =
  'Date;Time;CO(GT);PT08.S1(CO);NMHC(GT);C6H6(GT);PT08.S2(NMHC);NOx(GT);PT08.S3(NOx);NO2(GT);PT08.S4(NO2);PT08.S5(O3);T;RH;AH,,,,,'

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

describe('parseAirQualityCsv on the published file', () => {
  let rows: AirQualityRow[]
  beforeAll(async () => {
    rows = await loadAirQuality()
  })

  it('returns all 9,357 data rows, indexed in file order', () => {
    expect(rows).toHaveLength(9357)
    expect(rows.every((r, i) => r.index === i)).toBe(true)
    expect(rows.at(-1)!.time).toBe('2005-04-04T14:00:00')
  })

  it('reads the first row exactly', () => {
    expect(rows[0]).toEqual({
      index: 0,
      time: '2004-03-10T18:00:00',
      values: {
        co: 2.6,
        pt08_s1_co: 1360,
        nmhc: 150,
        c6h6: 11.9,
        pt08_s2_nmhc: 1046,
        nox: 166,
        pt08_s3_nox: 1056,
        no2: 113,
        pt08_s4_no2: 1692,
        pt08_s5_o3: 1268,
        t: 13.6,
        rh: 48.9,
        ah: 0.7578,
      },
    })
  })

  it('turns -200 into null, never a number', () => {
    // Line 11 of the file: 11/03/2004;03.00.00;0,6;1010;19;1,7;561;-200;1705;-200;...
    expect(rows[9]!.time).toBe('2004-03-11T03:00:00')
    expect(rows[9]!.values.nox).toBeNull()
    expect(rows[9]!.values.no2).toBeNull()
    expect(rows[9]!.values.co).toBe(0.6)
    // Line 12: CO(GT) is -200.
    expect(rows[10]!.values.co).toBeNull()
    // NMHC(GT) is missing for most of the year; the file has 8,443 such rows.
    expect(rows.filter((r) => r.values.nmhc === null)).toHaveLength(8443)
    expect(rows.at(-1)!.values.nmhc).toBeNull()
    for (const r of rows) for (const v of Object.values(r.values)) expect(v).not.toBe(-200)
  })

  it('reads -200,0 (decimal form of the marker) as null', () => {
    const text = readFileSync(DEFAULT_CSV_PATH, 'utf8')
    const lines = text.split('\n')
    const lineIndex = lines.findIndex((l) => l.split(';').includes('-200,0'))
    expect(lineIndex).toBeGreaterThan(0)
    const column = HEADER.split(';')[lines[lineIndex]!.split(';').indexOf('-200,0')]
    const key = SENSORS.find((s) => s.column === column)!.key
    expect(rows[lineIndex - 1]!.values[key]).toBeNull()
  })

  it('skips the trailing ;;;; rows: every row is a dated record, in time order', () => {
    const text = readFileSync(DEFAULT_CSV_PATH, 'utf8')
    expect(text.split('\n').filter((l) => /^[;,]+$/.test(l))).toHaveLength(114)
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.time > rows[i - 1]!.time).toBe(true)
    // The file does have 31 dated rows where every sensor is -200 (e.g. 25/05/2004 19.00.00, line 1827):
    // those are real records (kept, all null); no all-null row comes from an empty line.
    const allNull = rows.filter((r) => Object.values(r.values).every((v) => v === null))
    expect(allNull).toHaveLength(31)
    expect(allNull[0]!.time).toBe('2004-05-25T19:00:00')
  })
})

describe('parseAirQualityCsv on crafted input', () => {
  const good = '10/03/2004;18.00.00;2,6;1360;150;11,9;1046;166;1056;113;1692;1268;13,6;48,9;0,7578;;'

  it('maps columns by header name, not position', () => {
    const cols = HEADER.replace(/,+$/, '').split(';')
    const cells = good.split(';').slice(0, 15)
    const order = [14, 1, 0, ...Array.from({ length: 12 }, (_, i) => i + 2)]
    const text = `${order.map((i) => cols[i]).join(';')}\n${order.map((i) => cells[i]).join(';')}\n`
    expect(parseAirQualityCsv(text)).toEqual(parseAirQualityCsv(`${HEADER}\n${good}\n`))
  })

  it('accepts CRLF line endings', () => {
    expect(parseAirQualityCsv(`${HEADER}\r\n${good}\r\n;;;;;;;;;;;;;;;;,,,,,\r\n`)).toHaveLength(1)
  })

  it.each([
    ['a non-numeric cell', good.replace(';1360;', ';abc;'), 'PT08.S1(CO)'],
    ['an empty cell', good.replace(';1360;', ';;'), 'PT08.S1(CO)'],
    ['a bad date', good.replace('10/03/2004', '31/02/2004'), 'Date'],
    ['a date in the wrong format', good.replace('10/03/2004', '2004-03-10'), 'Date'],
    ['a bad time', good.replace('18.00.00', '25.00.00'), 'Time'],
    ['a truncated row', '10/03/2004;18.00.00;2,6;1360', 'NMHC(GT)'],
  ])('throws CSV_MALFORMED with the line number and column for %s', (_, bad, column) => {
    const err = thrown(() => parseAirQualityCsv(`${HEADER}\n${good}\n${bad};;\n`))
    expect(isDevicesError(err)).toBe(true)
    expect(err).toMatchObject({ code: 'CSV_MALFORMED', facts: { line: 3, column } })
    expect((err as Error).message).toContain('line 3')
  })

  it('throws CSV_MALFORMED when the header lacks a sensor column', () => {
    const err = thrown(() => parseAirQualityCsv(`${HEADER.replace(';RH;', ';XX;')}\n${good}\n`))
    expect(err).toMatchObject({ code: 'CSV_MALFORMED', facts: { line: 1, column: 'RH' } })
  })
})

/** Formats rows in the published format: decimal comma, -200 for null, DD/MM/YYYY, HH.MM.SS. */
function formatCsv(
  rows: { time: Date; values: Record<SensorKey, number | null> }[],
  columnOrder: number[],
): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0')
  const header = ['Date', 'Time', ...SENSORS.map((s) => s.column)]
  const lines = [`${columnOrder.map((i) => header[i]).join(';')},,,,,`]
  for (const r of rows) {
    const t = r.time
    const cells = [
      `${pad(t.getUTCDate())}/${pad(t.getUTCMonth() + 1)}/${pad(t.getUTCFullYear(), 4)}`,
      `${pad(t.getUTCHours())}.${pad(t.getUTCMinutes())}.${pad(t.getUTCSeconds())}`,
      ...SENSORS.map((s) => {
        const v = r.values[s.key]
        return v === null ? '-200' : String(v).replace('.', ',')
      }),
    ]
    lines.push(`${columnOrder.map((i) => cells[i]).join(';')};;${lines.length % 2 ? ',' : ''}`)
  }
  lines.push(';;;;;;;;;;;;;;;;,,,,,', ';;;;;;;;;;;;;;;;,,,,,')
  return `${lines.join('\n')}\n`
}

const value = fc.oneof(
  fc.constant(null),
  fc
    .tuple(fc.integer({ min: -100_000, max: 10_000_000 }), fc.integer({ min: 0, max: 4 }))
    .map(([n, decimals]) => n / 10 ** decimals)
    .filter((v) => v !== -200)
    .map((v) => (Object.is(v, -0) ? 0 : v)),
)
const record = fc.record({
  time: fc.date({
    min: new Date('1990-01-01T00:00:00Z'),
    max: new Date('2099-12-31T23:59:59Z'),
    noInvalidDate: true,
  }),
  values: fc.record(
    Object.fromEntries(SENSORS.map((s) => [s.key, value])) as Record<SensorKey, typeof value>,
  ),
})

describe('parseAirQualityCsv round trip', () => {
  it('parses what the published format encodes, in any column order', () => {
    fc.assert(
      fc.property(
        fc.array(record, { maxLength: 20 }),
        fc.shuffledSubarray([...Array(15).keys()], { minLength: 15 }),
        (records, order) => {
          const parsed = parseAirQualityCsv(formatCsv(records, order))
          expect(parsed).toEqual(
            records.map((r, index) => ({
              index,
              time: r.time.toISOString().slice(0, 19),
              values: r.values,
            })),
          )
        },
      ),
    )
  })
})

describe('loadAirQuality', () => {
  it('throws CSV_READ_FAILED for a missing file', async () => {
    await expect(loadAirQuality('/nonexistent/AirQualityUCI.csv')).rejects.toMatchObject({
      code: 'CSV_READ_FAILED',
    })
  })
})
