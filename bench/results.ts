/**
 * The published benchmark figures: `bench/results.json` (machine-readable, one entry per figure) and
 * `bench/RESULTS.md` (the same as tables, one per section). Every benchmark records through
 * {@link recordResults}, which merges by entry name, so benchmarks run separately (gas, protocol
 * throughput, …) share the two files without overwriting each other's figures.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { arch, cpus, platform, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A target a figure should meet: at most and/or at least a value, in the entry's unit. */
export interface BenchGoal {
  atMost?: number
  atLeast?: number
}

/** The machine a figure was measured on. */
export interface MachineInfo {
  /** CPU model as the OS reports it, e.g. `'AMD EPYC 7B13'`. */
  cpu: string
  /** Logical cores. */
  cores: number
  /** Total memory, GiB (one decimal). */
  memoryGiB: number
  /** `process.version`, e.g. `'v24.21.0'`. */
  node: string
  /** `platform release arch`, e.g. `'linux 6.8.0 x64'`. */
  os: string
}

/** What a benchmark reports for one figure; {@link recordResults} adds machine and date. */
export interface BenchMeasurement {
  /** Unique across all benchmarks; entries merge by it. */
  name: string
  /** Table the figure belongs to in RESULTS.md, e.g. `'Gas: StreamChannels'`. */
  section: string
  value: number
  /** e.g. `'gas'`, `'gas/chunk'`, `'chunks/s'`, `'ms'`. */
  unit: string
  goal?: BenchGoal
  /** How it was measured, in a few words. */
  note?: string
}

/** A benchmark `bench/run.ts` can run: a name to select it by and what it measures. */
export interface Benchmark {
  /** Selects it on the command line: `npm run bench -- <name>`. */
  name: string
  run(): Promise<BenchMeasurement[]>
}

/** One entry of `bench/results.json`. */
export interface BenchEntry extends BenchMeasurement {
  machine: MachineInfo
  /** ISO 8601 time of the run. */
  measuredAt: string
}

/** Options of {@link recordResults}. */
export interface RecordOptions {
  /** Default: {@link describeMachine}(). */
  machine?: MachineInfo
  /** Default: now. */
  measuredAt?: Date
  /** Directory holding results.json and RESULTS.md; default this folder (`bench/`). */
  dir?: string
}

const benchDir = fileURLToPath(new URL('.', import.meta.url))

/**
 * Describes this machine for the record.
 *
 * @returns CPU model and logical core count, total memory (GiB), Node version and OS
 */
export function describeMachine(): MachineInfo {
  const cores = cpus()
  return {
    cpu: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${platform()} ${release()} ${arch()}`,
  }
}

/**
 * Merges `measurements` into `results.json` (an entry with the same name is replaced in place, new
 * names are appended, all others are kept) and regenerates `RESULTS.md` from the merged list. Files are written
 * atomically (temporary file + rename).
 *
 * @param measurements - the figures of one run
 * @param options - machine, time of measurement, target directory
 * @returns the merged entries as written
 * @throws Error when an existing results.json is not a JSON array, or on a file system error
 */
export async function recordResults(
  measurements: BenchMeasurement[],
  options: RecordOptions = {},
): Promise<BenchEntry[]> {
  const dir = options.dir ?? benchDir
  const machine = options.machine ?? describeMachine()
  const measuredAt = (options.measuredAt ?? new Date()).toISOString()
  const merged = await readResults(dir)
  for (const measurement of measurements) {
    const entry: BenchEntry = { ...measurement, machine, measuredAt }
    const index = merged.findIndex((existing) => existing.name === measurement.name)
    if (index === -1) merged.push(entry)
    else merged[index] = entry
  }
  await writeAtomically(join(dir, 'results.json'), `${JSON.stringify(merged, null, 2)}\n`)
  await writeAtomically(join(dir, 'RESULTS.md'), renderResults(merged))
  return merged
}

/**
 * Reads `results.json` from `dir`.
 *
 * @returns its entries, or `[]` when the file does not exist
 * @throws Error when the file exists but is not a JSON array
 */
export async function readResults(dir: string = benchDir): Promise<BenchEntry[]> {
  let text: string
  try {
    text = await readFile(join(dir, 'results.json'), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const parsed: unknown = JSON.parse(text)
  if (!Array.isArray(parsed)) throw new Error(`${join(dir, 'results.json')} is not a JSON array`)
  return parsed as BenchEntry[]
}

/** Whether `value` meets `goal`; undefined when there is no goal. */
export function meetsGoal(value: number, goal: BenchGoal | undefined): boolean | undefined {
  if (goal === undefined) return undefined
  return (
    (goal.atMost === undefined || value <= goal.atMost) &&
    (goal.atLeast === undefined || value >= goal.atLeast)
  )
}

/**
 * Renders entries as markdown: one table per section (figure, value, unit, goal, pass/miss, note),
 * each followed by the machine(s) and date(s) its figures were measured on.
 *
 * @returns the whole RESULTS.md text
 */
export function renderResults(entries: BenchEntry[]): string {
  const lines = [
    '# Benchmark results',
    '',
    'Generated by `npm run bench` from `bench/results.json`; do not edit by hand.',
    '',
  ]
  const sections = [...new Set(entries.map((entry) => entry.section))]
  for (const section of sections) {
    const rows = entries.filter((entry) => entry.section === section)
    lines.push(
      `## ${section}`,
      '',
      '| Figure | Value | Unit | Goal | Met | Note |',
      '| --- | ---: | --- | --- | --- | --- |',
    )
    for (const row of rows) {
      const met = meetsGoal(row.value, row.goal)
      const verdict = met === undefined ? '' : met ? 'pass' : '**miss**'
      const cells = [
        row.name,
        formatNumber(row.value),
        row.unit,
        formatGoal(row.goal),
        verdict,
        row.note ?? '',
      ]
      lines.push(`| ${cells.map(escapeCell).join(' | ')} |`)
    }
    lines.push('')
    const runs = new Set(rows.map((row) => `${describeRun(row.machine)}, ${row.measuredAt.slice(0, 10)}`))
    for (const run of runs) lines.push(`Measured on ${run}.`)
    lines.push('')
  }
  return lines.join('\n')
}

function describeRun(machine: MachineInfo): string {
  const { cpu, cores, memoryGiB, node, os } = machine
  return `${cpu} × ${cores} cores, ${memoryGiB} GiB RAM, ${os}, Node ${node}`
}

function formatNumber(value: number): string {
  return Number.isInteger(value)
    ? value.toLocaleString('en-US')
    : value.toLocaleString('en-US', { maximumFractionDigits: 3 })
}

function formatGoal(goal: BenchGoal | undefined): string {
  if (goal === undefined) return ''
  const parts: string[] = []
  if (goal.atLeast !== undefined) parts.push(`≥ ${formatNumber(goal.atLeast)}`)
  if (goal.atMost !== undefined) parts.push(`≤ ${formatNumber(goal.atMost)}`)
  return parts.join(', ')
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|')
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`
  await writeFile(temporary, text)
  await rename(temporary, file)
}
