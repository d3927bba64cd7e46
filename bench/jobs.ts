/// <reference path="../seller-server/src/jobs/webAssembly.d.ts" />
/**
 * Job sandbox benchmark (issue 14): what the sandbox costs against running the same WASI module
 * directly with `node:wasi` in this process, and how the CPU time it charges compares with the kernel's
 * own account of the child.
 *
 * - Overhead: median wall time of N sandboxed runs against the median of N direct runs (compile
 *   included in both), for a trivial module (the fixed cost: a Node process under prlimit, a network
 *   namespace and the permission model) and for the compute-to-data sample over the real Air Quality
 *   data (the WASI shim's cost on top).
 * - Charged CPU: the `cpuMs` a job reports (sampled from `/proc/<pid>/stat`, topped up by the runner's
 *   own `process.resourceUsage()` at the end) against the CPU the kernel adds to this process's
 *   `cutime + cstime` when the child is reaped (proc(5)), summed over the runs; and the CPU the
 *   same work takes directly.
 *
 * Direct runs after the first reuse V8's compiled module (it caches modules by their bytes within a
 * process); each sandboxed run compiles afresh in its new process, as a real job does.
 *
 * `JOB_BENCH_RUNS` (default 15) sets N. The modules are built first (`npm run build:modules`).
 */
import { execFile } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { WASI } from 'node:wasi'
import { DEFAULT_CSV_PATH } from '@trickle/devices'
import { type JobLimits, runJob } from '@trickle/seller'
import type { BenchMeasurement, Benchmark } from './results.ts'

const SECTION = 'Job sandbox: a WASI module in the sandbox against node:wasi directly'
const RUNS = Number(process.env.JOB_BENCH_RUNS ?? '15')
const MODULES = fileURLToPath(new URL('../seller-server/modules/', import.meta.url))
const LIMITS: JobLimits = {
  memoryBytes: 256 * 1024 ** 2,
  cpuMs: 60_000,
  wallMs: 120_000,
  outputBytes: 16 * 1024 ** 2,
  stdoutBytes: 64 * 1024 ** 2,
  stderrBytes: 1024 ** 2,
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** CPU time of this process's reaped children (`cutime + cstime` of `/proc/self/stat`), in milliseconds. */
async function childrenCpuMs(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[16 - 3]) + Number(fields[17 - 3])) * 1000) / 100
}

async function direct(module: Uint8Array, args: string[], inputDir: string, scratch: string) {
  const fd = openSync(join(scratch, 'direct-stdout'), 'w')
  const started = performance.now()
  const cpu = process.cpuUsage()
  const wasi = new WASI({
    version: 'preview1',
    args,
    env: {},
    preopens: { '/in': inputDir, '/out': scratch },
    stdout: fd,
    stderr: fd,
    returnOnExit: true,
  })
  const instance = new WebAssembly.Instance(new WebAssembly.Module(module), wasi.getImportObject() as never)
  wasi.start(instance)
  const used = process.cpuUsage(cpu)
  closeSync(fd)
  return { wallMs: performance.now() - started, cpuMs: (used.user + used.system) / 1000 }
}

export const jobsBenchmark: Benchmark = {
  name: 'jobs',
  async run(): Promise<BenchMeasurement[]> {
    await promisify(execFile)(process.execPath, [join(MODULES, 'build.ts')])
    const hello = await readFile(join(MODULES, 'dist', 'attack.wasm'))
    const stats = await readFile(join(MODULES, 'dist', 'airQualityStats.wasm'))
    const scratch = await mkdtemp(join(tmpdir(), 'trickle-job-bench-'))
    const input = join(scratch, 'in')
    await mkdir(input)
    await writeFile(join(input, 'AirQualityUCI.csv'), await readFile(DEFAULT_CSV_PATH))
    try {
      const cases = [
        { key: 'trivial', label: 'trivial module (hello)', module: hello, args: ['attack', 'hello'] },
        {
          key: 'stats',
          label: 'air-quality statistics over 9,357 rows',
          module: stats,
          args: ['airQualityStats'],
        },
      ]
      const out: BenchMeasurement[] = []
      await runJob(hello, { args: ['warm-up'], env: {}, limits: LIMITS }) // probes the tools once
      for (const c of cases) {
        const sandboxWall: number[] = []
        const directWall: number[] = []
        const directCpu: number[] = []
        let charged = 0
        let kernel = 0
        for (let i = 0; i < RUNS; i++) {
          const before = await childrenCpuMs()
          const started = performance.now()
          const result = await runJob(c.module, { args: c.args, env: {}, inputDir: input, limits: LIMITS })
          sandboxWall.push(performance.now() - started)
          charged += result.cpuMs
          kernel += (await childrenCpuMs()) - before
          const d = await direct(c.module, c.args, input, scratch)
          directWall.push(d.wallMs)
          directCpu.push(d.cpuMs)
        }
        const sandboxMs = median(sandboxWall)
        const directMs = median(directWall)
        out.push(
          {
            name: `job sandbox ${c.key} wall`,
            section: SECTION,
            value: round(sandboxMs),
            unit: 'ms',
            note: `${c.label}, median of ${RUNS}`,
          },
          {
            name: `job direct ${c.key} wall`,
            section: SECTION,
            value: round(directMs),
            unit: 'ms',
            note: `node:wasi in process, median of ${RUNS}`,
          },
          {
            name: `job overhead ${c.key} ratio`,
            section: SECTION,
            value: round(sandboxMs / directMs),
            unit: '×',
            note: 'sandbox / direct wall, medians',
          },
          {
            name: `job charged cpu ${c.key}`,
            section: SECTION,
            value: round(charged / RUNS),
            unit: 'ms',
            note: 'mean cpuMs a job reports (Node start-up included)',
          },
          {
            name: `job charged/kernel cpu ${c.key} ratio`,
            section: SECTION,
            value: round(charged / kernel, 3),
            unit: '×',
            note: "charged cpuMs / the kernel's cutime+cstime of the reaped child",
          },
          {
            name: `job charged/direct cpu ${c.key} ratio`,
            section: SECTION,
            value: round(charged / RUNS / median(directCpu)),
            unit: '×',
            note: 'charged cpuMs / CPU of the direct run (median)',
          },
        )
      }
      return out
    } finally {
      await rm(scratch, { recursive: true, force: true })
    }
  },
}

function round(value: number, digits = 2): number {
  return Number(value.toFixed(digits))
}
