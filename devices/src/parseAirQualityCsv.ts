import type { AirQualityRow } from './AirQualityRow.ts'
import { DevicesError } from './DevicesError.ts'
import { SENSORS, type SensorKey } from './sensors.ts'

/** The value the data set uses for "missing". */
const MISSING = -200

const NUMBER = /^-?\d+(?:,\d+)?$/
const DATE = /^(\d{2})\/(\d{2})\/(\d{4})$/
const TIME = /^(\d{2})\.(\d{2})\.(\d{2})$/
const EMPTY_ROW = /^[;,\s]*$/

/**
 * Parses the UCI Air Quality CSV exactly as published (`AirQualityUCI.csv`, De Vito et al., 2008).
 *
 * Format handled: `;`-separated cells, a header row whose last cell may carry trailing commas
 * (`AH,,,,,`), trailing empty cells on every row (`;;` and `;;,`), decimal commas (`2,6` → 2.6),
 * dates `DD/MM/YYYY`, times `HH.MM.SS`, `-200` (also `-200,0`) meaning missing → `null`, and empty
 * rows (`;;;;…`, about 114 at the end of the file), which are skipped wherever they occur. Columns are
 * found by header name, so their order does not matter; unknown columns are ignored. Line endings may
 * be `\n` or `\r\n`.
 *
 * @param text - the whole file's text (UTF-8 decoded)
 * @returns one {@link AirQualityRow} per non-empty data line, in file order (9,357 for the published file)
 * @throws DevicesError `CSV_MALFORMED` if the header lacks `Date`, `Time` or a sensor column, or a data
 *   row has a bad date or time, a missing cell or a non-numeric cell; `facts` holds the 1-based
 *   `line` number and the `column` name.
 */
export function parseAirQualityCsv(text: string): AirQualityRow[] {
  const lines = text.split(/\r?\n/)
  const headerLine = lines.findIndex((l) => !EMPTY_ROW.test(l))
  if (headerLine < 0) throw malformed(1, undefined, 'no header row')
  const header = lines[headerLine]!.split(';').map((cell) => cell.trim().replace(/,+$/, ''))
  const columnIndex = (name: string): number => {
    const at = header.indexOf(name)
    if (at < 0) throw malformed(headerLine + 1, name, `header has no column "${name}"`)
    return at
  }
  const dateAt = columnIndex('Date')
  const timeAt = columnIndex('Time')
  const sensorAt = SENSORS.map((s) => [s.key, s.column, columnIndex(s.column)] as const)

  const rows: AirQualityRow[] = []
  for (let i = headerLine + 1; i < lines.length; i++) {
    const line = lines[i]!
    if (EMPTY_ROW.test(line)) continue
    const lineNo = i + 1
    const cells = line.split(';')
    const cell = (at: number, column: string): string => {
      const value = cells[at]
      if (value === undefined || value.trim() === '') throw malformed(lineNo, column, 'missing cell')
      return value.trim()
    }
    const time = parseTimestamp(cell(dateAt, 'Date'), cell(timeAt, 'Time'), lineNo)
    const values = {} as Record<SensorKey, number | null>
    for (const [key, column, at] of sensorAt) {
      const raw = cell(at, column)
      if (!NUMBER.test(raw)) throw malformed(lineNo, column, `not a number: "${raw}"`)
      const value = Number(raw.replace(',', '.'))
      values[key] = value === MISSING ? null : value
    }
    rows.push({ index: rows.length, time, values })
  }
  return rows
}

function parseTimestamp(date: string, time: string, lineNo: number): string {
  const d = DATE.exec(date)
  if (d === null) throw malformed(lineNo, 'Date', `not DD/MM/YYYY: "${date}"`)
  const [, dd, mm, yyyy] = d as unknown as [string, string, string, string]
  const day = Number(dd)
  const month = Number(mm)
  const year = Number(yyyy)
  const probe = new Date(Date.UTC(year, month - 1, day))
  if (month < 1 || month > 12 || day < 1 || probe.getUTCDate() !== day) {
    throw malformed(lineNo, 'Date', `no such date: "${date}"`)
  }
  const t = TIME.exec(time)
  if (t === null) throw malformed(lineNo, 'Time', `not HH.MM.SS: "${time}"`)
  const [, hh, mi, ss] = t as unknown as [string, string, string, string]
  if (Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 59) {
    throw malformed(lineNo, 'Time', `no such time: "${time}"`)
  }
  return `${yyyy}-${mm}-${dd}T${hh}:${mi}:${ss}`
}

function malformed(line: number, column: string | undefined, reason: string): DevicesError {
  const where = column === undefined ? `line ${line}` : `line ${line}, column ${column}`
  return new DevicesError('CSV_MALFORMED', `${where}: ${reason}`, {
    facts: column === undefined ? { line } : { line, column },
  })
}
