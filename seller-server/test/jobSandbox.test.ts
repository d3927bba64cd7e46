/**
 * The job sandbox (issue 14): real WASI modules built from C by `modules/build.ts`, run by `runJob`.
 * The samples give the same output as running them directly with `node:wasi`; the escape suite runs a
 * hostile module per attack and checks that it is contained with a typed error (or, for attempts the
 * module can survive, that nothing leaked) and that the parent keeps serving.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer, get } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_CSV_PATH } from '@trickle/devices'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildJobModules, type JobModuleName } from '../modules/build.ts'
import { probeSandbox } from '../src/jobs/probeSandbox.ts'
import { type JobLimits, type JobOptions, type JobUsage, runJob, startJob } from '../src/jobs/startJob.ts'
import { runWasiDirectly } from './helpers/runWasiDirectly.ts'

const LIMITS: JobLimits = {
  memoryBytes: 64 * 1024 ** 2,
  cpuMs: 20_000,
  wallMs: 60_000,
  outputBytes: 1024 ** 2,
  stdoutBytes: 4 * 1024 ** 2,
  stderrBytes: 64 * 1024,
}
const SECRET = 'TOP-SECRET-CANARY-7f3a'

let modules: Record<JobModuleName, Uint8Array>
let root: string
let input: string
let airQuality: string

beforeAll(async () => {
  const paths = await buildJobModules()
  modules = Object.fromEntries(
    await Promise.all(Object.entries(paths).map(async ([name, path]) => [name, await readFile(path)])),
  ) as Record<JobModuleName, Uint8Array>
  root = await mkdtemp(join(tmpdir(), 'trickle-jobs-'))
  await writeFile(join(root, 'secret.txt'), `${SECRET}\n`)
  input = join(root, 'input')
  await mkdir(input)
  await writeFile(join(input, 'data.txt'), 'input-data\n')
  await symlink(join(root, 'secret.txt'), join(input, 'link-to-secret'))
  await symlink(root, join(input, 'dir-link'))
  airQuality = join(root, 'air-quality')
  await mkdir(airQuality)
  await writeFile(join(airQuality, 'AirQualityUCI.csv'), await readFile(DEFAULT_CSV_PATH))
}, 120_000)

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

/** Runs `module` in the sandbox and collects its stdout and stderr as text. */
async function sandboxed(
  module: Uint8Array,
  args: string[],
  options: Omit<Partial<JobOptions>, 'limits'> & { limits?: Partial<JobLimits> } = {},
) {
  let stdout = ''
  let stderr = ''
  const decoder = { stdout: new TextDecoder(), stderr: new TextDecoder() }
  const progress: JobUsage[] = []
  const result = await runJob(module, {
    env: {},
    ...options,
    args,
    limits: { ...LIMITS, ...options.limits },
    onOutput: (stream, chunk, path) => {
      if (stream === 'stdout') stdout += decoder.stdout.decode(chunk, { stream: true })
      if (stream === 'stderr') stderr += decoder.stderr.decode(chunk, { stream: true })
      options.onOutput?.(stream, chunk, path)
    },
    onProgress: (usage) => progress.push(usage),
  })
  return { result, stdout, stderr, progress }
}

/** The code of the error `promise` rejects with. */
async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

describe('runJob', () => {
  it('passes args and only the given env, streams stdout and stderr, returns output files and a non-zero exit as a result', async () => {
    const outputDir = join(root, 'out-hello')
    const files: string[] = []
    const { result, stdout, stderr } = await sandboxed(modules.attack, ['attack', 'hello', '7'], {
      env: { ONLY: '1' },
      outputDir,
      onOutput: (stream, _chunk, path) => {
        if (stream === 'file') files.push(path ?? '')
      },
    })
    expect(result.exitCode).toBe(7)
    expect(stdout).toBe('hello from wasi, 3 args\narg attack\narg hello\narg 7\n')
    expect(stderr).toBe('a line on stderr\n')
    expect(result.stdoutBytes).toBe(stdout.length)
    expect(files).toEqual(['hello.txt'])
    expect(result.outputFiles).toEqual([
      {
        path: 'hello.txt',
        bytes: 22,
        sha256: createHash('sha256').update('written by the module\n').digest('hex'),
      },
    ])
    expect(await readFile(join(outputDir, 'hello.txt'), 'utf8')).toBe('written by the module\n')
    expect(result.cpuMs).toBeGreaterThan(0)
    expect(result.peakMemoryBytes).toBeGreaterThan(0)
  })

  it('gives the compute-to-data sample the same output in the sandbox as directly, on the real Air Quality data', async () => {
    const { result, stdout } = await sandboxed(modules.airQualityStats, ['airQualityStats'], {
      inputDir: airQuality,
    })
    const outDir = join(root, 'direct-stats')
    await mkdir(outDir)
    const reference = runWasiDirectly(modules.airQualityStats, ['airQualityStats'], airQuality, outDir)
    expect(result.exitCode).toBe(0)
    expect(reference.exitCode).toBe(0)
    expect(stdout).toBe(reference.stdout)
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(lines.filter((l) => l.type === 'hour')).toHaveLength(24)
    expect(lines.at(-1)).toMatchObject({ type: 'summary', rows: 9357 })
    expect(lines.some((l) => l.type === 'anomaly')).toBe(true)
  })

  it('gives the app sample with parameters the same output and report file in the sandbox as directly', async () => {
    const args = [
      'airQualityReport',
      '--field',
      'NO2(GT)',
      '--from',
      '2004-11-01',
      '--to',
      '2004-11-30',
      '--horizon',
      '5',
    ]
    const outputDir = join(root, 'out-report')
    const { result, stdout } = await sandboxed(modules.airQualityReport, args, {
      inputDir: airQuality,
      outputDir,
    })
    const outDir = join(root, 'direct-report')
    await mkdir(outDir)
    const reference = runWasiDirectly(modules.airQualityReport, args, airQuality, outDir)
    expect(result.exitCode).toBe(0)
    expect(stdout).toBe(reference.stdout)
    expect(await readFile(join(outputDir, 'report.csv'), 'utf8')).toBe(
      await readFile(join(outDir, 'report.csv'), 'utf8'),
    )
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    const csvRows = (await readFile(join(outputDir, 'report.csv'), 'utf8')).trim().split('\n').length - 1
    expect(lines.filter((l) => l.type === 'day')).toHaveLength(csvRows)
    expect(csvRows).toBeGreaterThan(20)
    expect(lines.filter((l) => l.type === 'forecast')).toHaveLength(5)
  })

  it('returns bad app parameters as exit status 2 with the usage on stderr, not as an error', async () => {
    const { result, stderr } = await sandboxed(
      modules.airQualityReport,
      ['airQualityReport', '--field', 'nope'],
      {
        inputDir: airQuality,
      },
    )
    expect(result.exitCode).toBe(2)
    expect(stderr).toContain('unknown or missing --field')
  })

  it('reports CPU time while the job runs, rising, and a final usage equal to the result', async () => {
    const job = startJob(modules.attack, {
      args: ['attack', 'busy'],
      env: {},
      limits: { ...LIMITS, cpuMs: 1_500 },
      onProgress: (usage) => reports.push(usage),
    })
    const reports: JobUsage[] = []
    expect(await codeOf(job.result)).toBe('JOB_CPU_LIMIT')
    const cpu = reports.map((r) => r.cpuMs)
    expect(cpu.length).toBeGreaterThanOrEqual(3)
    expect(new Set(cpu).size).toBeGreaterThanOrEqual(2)
    expect([...cpu].sort((a, b) => a - b)).toEqual(cpu)
    expect(cpu.at(-1)).toBeGreaterThanOrEqual(1_500)
  })

  it('pauses a job (no output, no CPU while paused) and resumes it to the end', async () => {
    let ticks = 0
    let paused = false
    // Ticks and CPU seen at each progress report while paused; the first may still take in what was in flight.
    const whilePaused: { ticks: number; cpuMs: number }[] = []
    const job = startJob(modules.attack, {
      args: ['attack', 'ticks', '20'],
      env: {},
      limits: LIMITS,
      onOutput: (stream, chunk) => {
        if (stream !== 'stdout') return
        ticks += new TextDecoder().decode(chunk).split('\n').length - 1
        if (!paused && whilePaused.length === 0) {
          paused = true
          job.pause()
        }
      },
      onProgress: (usage) => {
        if (!paused) return
        whilePaused.push({ ticks, cpuMs: usage.cpuMs })
        if (whilePaused.length === 6) {
          paused = false
          job.resume()
        }
      },
    })
    const result = await job.result
    expect(result.exitCode).toBe(0)
    expect(ticks).toBe(20)
    expect(whilePaused).toHaveLength(6)
    const settled = whilePaused.slice(1)
    expect(new Set(settled.map((p) => p.ticks)).size).toBe(1)
    expect(new Set(settled.map((p) => p.cpuMs)).size).toBe(1)
    expect(settled[0]?.ticks).toBeLessThan(20)
  })

  it('kills the job and rejects with JOB_FAILED, the thrown error as cause, when a callback throws', async () => {
    const bug = new Error('a bug in the caller')
    const run = runJob(modules.attack, {
      args: ['attack', 'sleep'],
      env: {},
      limits: LIMITS,
      onOutput: () => {
        throw bug
      },
    })
    await expect(run).rejects.toMatchObject({ code: 'JOB_FAILED', cause: bug })
  })

  it('kills a job promptly when its AbortSignal aborts (ABORTED)', async () => {
    const controller = new AbortController()
    const code = await codeOf(
      runJob(modules.attack, {
        args: ['attack', 'sleep'],
        env: {},
        limits: LIMITS,
        signal: controller.signal,
        onOutput: () => controller.abort(),
      }),
    )
    expect(code).toBe('ABORTED')
  })
})

describe('job sandbox escape suite', () => {
  it('runs the job in a process with its rlimits, its own network namespace, an empty environment and the permission model', async () => {
    const controller = new AbortController()
    let seen: (() => void) | undefined
    const sleeping = new Promise<void>((resolve) => {
      seen = resolve
    })
    const job = startJob(modules.attack, {
      args: ['attack', 'sleep'],
      env: { ONLY: '1' },
      limits: { ...LIMITS, cpuMs: 5_000 },
      signal: controller.signal,
      onOutput: () => seen?.(),
    })
    const ended = job.result.catch((err: { code?: string }) => err.code)
    await sleeping
    try {
      const pid = job.pid as number
      const limits = await readFile(`/proc/${pid}/limits`, 'utf8')
      const limit = (name: string) => new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(limits)?.slice(1)
      expect(limit('Max cpu time')).toEqual(['6', '7'])
      expect(limit('Max file size')).toEqual(['0', '0'])
      expect(limit('Max core file size')).toEqual(['0', '0'])
      expect(Number(limit('Max address space')?.[0])).toBeLessThan(4 * 1024 ** 3)
      expect(Number(limit('Max open files')?.[0])).toBeLessThanOrEqual(64)
      // Only the IPC channel's own variables, which Node sets for any child with an IPC channel.
      const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean)
      expect(environ.every((entry) => entry.startsWith('NODE_CHANNEL_'))).toBe(true)
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
      expect(cmdline).toContain('--permission')
      expect(cmdline.some((arg) => /^--allow-(fs-write|child-process|worker|addons|wasi)/.test(arg))).toBe(
        false,
      )
      if ((await probeSandbox())?.netns.length) {
        expect(await readlink(`/proc/${pid}/ns/net`)).not.toBe(await readlink('/proc/self/ns/net'))
      }
    } finally {
      controller.abort()
    }
    expect(await ended).toBe('ABORTED')
  })

  it('reads nothing outside /in: not by .., absolute paths, raw path_open, nor symlinks placed in the input', async () => {
    const { result, stdout, stderr } = await sandboxed(modules.attack, ['attack', 'read-outside'], {
      inputDir: input,
    })
    expect(result.exitCode).toBe(0)
    expect(stdout).toContain('/in/data.txt: READ input-data')
    expect(stdout).toContain('raw 3 ../secret.txt: errno 76') // ERRNO_NOTCAPABLE
    const reads = stdout.split('\n').filter((line) => line.includes('READ'))
    expect(reads).toEqual(['/in/data.txt: READ input-data'])
    expect(stdout + stderr).not.toContain(SECRET)
    expect(stdout).not.toContain('root:')
    expect(stdout).not.toContain('entry link-to-secret')
    expect(stdout).not.toContain('entry dir-link')
  })

  it('cannot change the input: truncate, create, unlink, mkdir and rename are refused and the real directory is untouched', async () => {
    const before = await readdir(input)
    const { stdout } = await sandboxed(modules.attack, ['attack', 'write-input'], { inputDir: input })
    expect(stdout).toMatch(/truncate: refused/)
    expect(stdout).toMatch(/create: refused/)
    expect(stdout).toMatch(/unlink: refused/)
    expect(stdout).toMatch(/mkdir: refused/)
    expect(stdout).toMatch(/rename: refused/)
    expect(await readdir(input)).toEqual(before)
    expect(await readFile(join(input, 'data.txt'), 'utf8')).toBe('input-data\n')
  })

  it("sees only the env it is given, none of the provider's", async () => {
    process.env['TRICKLE_TEST_CANARY'] = SECRET
    try {
      const { stdout } = await sandboxed(modules.attack, ['attack', 'env'], { env: { ONLY: '1' } })
      expect(stdout).toBe('ONLY=1\n')
    } finally {
      delete process.env['TRICKLE_TEST_CANARY']
    }
  })

  it('has no network: every WASI socket call fails, nothing reaches a listening server, the process has its own empty network namespace', async () => {
    let connections = 0
    const server = createServer((_req, res) => res.end('ok'))
    server.on('connection', () => connections++)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { result, stdout } = await sandboxed(modules.attack, ['attack', 'network'])
      expect(result.exitCode).toBe(0)
      const lines = stdout.trim().split('\n')
      expect(lines).toHaveLength(8)
      for (const line of lines) expect(line).toMatch(/accept errno [1-9]\d*, send errno [1-9]\d*/)
      expect(connections).toBe(0)
    } finally {
      server.close()
    }
    if (process.getuid?.() === 0) expect((await probeSandbox())?.netns.length).toBeGreaterThan(0)
  })

  it('cannot spawn a process: a module importing a host function outside WASI is refused (JOB_MODULE_INVALID)', async () => {
    const marker = '/tmp/trickle-escaped'
    await rm(marker, { force: true })
    expect(await codeOf(sandboxed(modules.importsSystem, ['importsSystem']))).toBe('JOB_MODULE_INVALID')
    expect(existsSync(marker)).toBe(false)
  })

  it('stops a module growing its linear memory at the cap (JOB_MEMORY_LIMIT)', async () => {
    expect(await codeOf(sandboxed(modules.attack, ['attack', 'grow-memory']))).toBe('JOB_MEMORY_LIMIT')
  })

  it('refuses a module that declares a 1 GiB memory under a 64 MiB cap (JOB_MEMORY_LIMIT)', async () => {
    expect(await codeOf(sandboxed(modules.hugeMemory, ['hugeMemory']))).toBe('JOB_MEMORY_LIMIT')
  })

  it('ends an infinite loop at the CPU limit (JOB_CPU_LIMIT)', async () => {
    const run = sandboxed(modules.attack, ['attack', 'busy'], { limits: { cpuMs: 1_000 } })
    expect(await codeOf(run)).toBe('JOB_CPU_LIMIT')
  })

  it('ends a module that sleeps forever at the wall-clock limit (JOB_WALL_LIMIT), without charging it CPU for the sleep', async () => {
    const reports: JobUsage[] = []
    const code = await codeOf(
      runJob(modules.attack, {
        args: ['attack', 'sleep'],
        env: {},
        limits: { ...LIMITS, wallMs: 2_000 },
        onProgress: (usage) => reports.push(usage),
      }),
    )
    expect(code).toBe('JOB_WALL_LIMIT')
    expect(reports.at(-1)?.cpuMs).toBeLessThan(LIMITS.cpuMs)
  })

  it('stops a stdout flood at the cap, passing on exactly the cap (JOB_OUTPUT_LIMIT)', async () => {
    let bytes = 0
    const code = await codeOf(
      runJob(modules.attack, {
        args: ['attack', 'flood-stdout'],
        env: {},
        limits: { ...LIMITS, stdoutBytes: 256 * 1024 },
        onOutput: (stream, chunk) => {
          if (stream === 'stdout') bytes += chunk.byteLength
        },
      }),
    )
    expect(code).toBe('JOB_OUTPUT_LIMIT')
    expect(bytes).toBe(256 * 1024)
  })

  it('stops a stderr flood at the cap (JOB_OUTPUT_LIMIT)', async () => {
    expect(await codeOf(sandboxed(modules.attack, ['attack', 'flood-stderr']))).toBe('JOB_OUTPUT_LIMIT')
  })

  it('stops a file flood and a flood of empty files at the output cap (JOB_OUTPUT_LIMIT), writing nothing', async () => {
    const outputDir = join(root, 'out-flood')
    expect(await codeOf(sandboxed(modules.attack, ['attack', 'flood-file'], { outputDir }))).toBe(
      'JOB_OUTPUT_LIMIT',
    )
    expect(await codeOf(sandboxed(modules.attack, ['attack', 'many-files'], { outputDir }))).toBe(
      'JOB_OUTPUT_LIMIT',
    )
    expect(existsSync(outputDir)).toBe(false)
  })

  it('refuses arguments with a NUL or above the size cap before starting anything (INVALID_ARGUMENT)', async () => {
    expect(await codeOf(sandboxed(modules.attack, ['attack', 'a\0b']))).toBe('INVALID_ARGUMENT')
    expect(await codeOf(sandboxed(modules.attack, ['attack', 'x'.repeat(100_000)]))).toBe('INVALID_ARGUMENT')
    expect(await codeOf(sandboxed(modules.attack, ['attack'], { env: { 'A=B': 'c' } }))).toBe(
      'INVALID_ARGUMENT',
    )
  })

  it('refuses an oversize module before starting anything (JOB_MODULE_INVALID)', async () => {
    const big = new Uint8Array(2 * 1024 ** 2)
    big.set(modules.attack)
    const code = await codeOf(sandboxed(big, ['x'], { limits: { moduleBytes: 1024 ** 2 } }))
    expect(code).toBe('JOB_MODULE_INVALID')
  })

  it('refuses malformed modules: random bytes, a truncated module, a module without _start (JOB_MODULE_INVALID)', async () => {
    const noStart = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])
    for (const module of [randomBytes(4096), modules.attack.subarray(0, 1000), noStart]) {
      expect(await codeOf(sandboxed(new Uint8Array(module), ['x']))).toBe('JOB_MODULE_INVALID')
    }
  })

  it('keeps the provider serving while a CPU bomb and a memory bomb run', async () => {
    const server = createServer((_req, res) => res.end('ok'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const controller = new AbortController()
    let started!: () => void
    const running = new Promise<void>((resolve) => {
      started = resolve
    })
    const bomb = runJob(modules.attack, {
      args: ['attack', 'busy'],
      env: {},
      limits: { ...LIMITS, cpuMs: 120_000, wallMs: 120_000 },
      signal: controller.signal,
      onProgress: (usage) => {
        if (usage.cpuMs > 0) started()
      },
    })
    const memoryBomb = codeOf(sandboxed(modules.attack, ['attack', 'grow-memory']))
    try {
      await running
      let answered = 0
      for (let i = 0; i < 20; i++) {
        const body = await new Promise<string>((resolve, reject) => {
          get({ host: '127.0.0.1', port, path: '/' }, (res) => {
            let text = ''
            res.on('data', (chunk) => {
              text += chunk
            })
            res.on('end', () => resolve(text))
          }).on('error', reject)
        })
        if (body === 'ok') answered++
      }
      expect(answered).toBe(20)
    } finally {
      controller.abort()
      server.close()
    }
    expect(await codeOf(bomb)).toBe('ABORTED')
    expect(await memoryBomb).toBe('JOB_MEMORY_LIMIT')
  })
})
