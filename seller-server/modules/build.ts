/**
 * Builds the job modules (WebAssembly, WASI preview 1) from their C sources with Debian's `clang`,
 * `lld` and `wasi-libc` (apt: `clang lld wasi-libc libclang-rt-14-dev-wasm32`). Nothing is
 * downloaded and no binary is committed: the `.wasm` files go to `modules/dist/` (git-ignored), and a
 * module is rebuilt only when a source is newer than it.
 *
 * - `airQualityStats` (compute-to-data sample): hourly statistics and anomaly flags over /in's Air Quality CSV.
 * - `airQualityReport` (app sample, with parameters): daily report and trend forecast of one field over a range.
 * - `attack`, `importsSystem`, `hugeMemory`: hostile modules of the escape suite.
 *
 * Run: `npm run build:modules` (the escape suite and the bench also call {@link buildJobModules}).
 */
import { execFile } from 'node:child_process'
import { mkdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const HERE = dirname(fileURLToPath(import.meta.url))

/** Where the built modules are. */
export const MODULES_OUT_DIR: string = join(HERE, 'dist')

/** The modules this build makes, by name. */
export const JOB_MODULES = {
  airQualityStats: { sources: ['src/airQualityStats.c', 'src/airQuality.h'], flags: ['-lm'] },
  airQualityReport: { sources: ['src/airQualityReport.c', 'src/airQuality.h'], flags: ['-lm'] },
  attack: { sources: ['attacks/attack.c'], flags: [] },
  importsSystem: { sources: ['attacks/importsSystem.c'], flags: [] },
  hugeMemory: { sources: ['attacks/hugeMemory.c'], flags: ['-Wl,--initial-memory=1073741824'] },
} as const

/** A module's name. */
export type JobModuleName = keyof typeof JOB_MODULES

async function mtime(path: string): Promise<number> {
  try {
    return (await stat(path)).mtimeMs
  } catch {
    return 0
  }
}

async function buildOne(name: JobModuleName): Promise<string> {
  const { sources, flags } = JOB_MODULES[name]
  const out = join(MODULES_OUT_DIR, `${name}.wasm`)
  const built = await mtime(out)
  const newest = Math.max(...(await Promise.all(sources.map((s) => mtime(join(HERE, s))))))
  if (built > newest) return out
  const cFiles = sources.filter((s) => s.endsWith('.c')).map((s) => join(HERE, s))
  try {
    await run('clang', [
      '--target=wasm32-wasi',
      '--sysroot=/usr',
      '-O2',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-Wl,--strip-debug',
      '-o',
      out,
      ...cFiles,
      ...flags,
    ])
  } catch (err) {
    const e = err as { code?: string; stderr?: string }
    if (e.code === 'ENOENT') {
      throw new Error('clang is missing: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32', {
        cause: err,
      })
    }
    throw new Error(`building ${name}.wasm failed:\n${e.stderr ?? ''}`, { cause: err })
  }
  return out
}

/**
 * Builds every job module that is missing or older than its sources, two at a time.
 *
 * @returns the path of each module's `.wasm`
 * @throws Error when clang is missing or a source does not compile (clang's message attached)
 */
export async function buildJobModules(): Promise<Record<JobModuleName, string>> {
  await mkdir(MODULES_OUT_DIR, { recursive: true })
  const names = Object.keys(JOB_MODULES) as JobModuleName[]
  const paths = {} as Record<JobModuleName, string>
  for (let i = 0; i < names.length; i += 2) {
    const batch = names.slice(i, i + 2)
    const built = await Promise.all(batch.map(buildOne))
    batch.forEach((name, j) => {
      paths[name] = built[j] as string
    })
  }
  return paths
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const paths = await buildJobModules()
  for (const [name, path] of Object.entries(paths)) console.log(`${name}: ${path}`)
}
