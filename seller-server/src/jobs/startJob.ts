import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { lstat, mkdir, readdir, realpath, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TrickleError } from '@trickle/protocol'
import { classifyJobEnd, type KillReason } from './classifyJobEnd.ts'
import { ENTRY_BYTES, RUNNER_WALL_GRACE_MS, type RunnerMessage, type RunnerStart } from './jobMessages.ts'
import { probeSandbox } from './probeSandbox.ts'
import { readProcessUsage } from './readProcessUsage.ts'
import { sandboxCommand } from './sandboxCommand.ts'

/** The caps of one job. Every one holds on its own (SANDBOX.md says by what). */
export interface JobLimits {
  /** Linear memory cap, in bytes (rounded down to 64 KiB pages); the process gets this plus a fixed runtime allowance. */
  memoryBytes: number
  /** CPU time (user + system of the whole child process), in milliseconds. */
  cpuMs: number
  /** Wall-clock time from start to end, paused time included, in milliseconds. */
  wallMs: number
  /** Output files under `/out`, in bytes (each file or directory also counts 512 bytes plus its name). */
  outputBytes: number
  /** The module's stdout, in bytes. */
  stdoutBytes: number
  /** The module's stderr (and the runtime's own messages), in bytes. */
  stderrBytes: number
  /** The module's size, in bytes; default {@link DEFAULT_MAX_MODULE_BYTES}. */
  moduleBytes?: number
}

/** Default cap of a module's size: 16 MiB. */
export const DEFAULT_MAX_MODULE_BYTES = 16 * 1024 ** 2

/** Which output a chunk belongs to. */
export type JobStream = 'stdout' | 'stderr' | 'file'

/** What a job has used so far, or in all. */
export interface JobUsage {
  /** CPU time of the job's process (user + system), in milliseconds, Node's start-up included. */
  cpuMs: number
  /** Peak resident memory of the job's process, in bytes. */
  peakMemoryBytes: number
  /** Time since the start, in milliseconds. */
  wallMs: number
  /** Stdout bytes passed on so far. */
  stdoutBytes: number
  /** Stderr bytes passed on so far. */
  stderrBytes: number
}

/** A finished job. A non-zero `exitCode` is a result like any other. */
export interface JobResult extends JobUsage {
  /** The module's WASI exit code (0 when `_start` returned). */
  exitCode: number
  /** The module's linear memory at the end, in bytes. */
  linearMemoryBytes: number
  /** Files the module left under `/out`: path relative to it, size in bytes, SHA-256 (hex). */
  outputFiles: { path: string; bytes: number; sha256: string }[]
}

/** Options of {@link startJob}. */
export interface JobOptions {
  /** WASI `argv`, the program name first. */
  args: string[]
  /** The module's whole environment; nothing of the provider's is inherited. */
  env: Record<string, string>
  /** A directory the module reads as `/in` (copied into the sandbox's memory; symlinks left out). */
  inputDir?: string
  /** Where the files the module wrote under `/out` are saved when it ends; absent: not saved. */
  outputDir?: string
  limits: JobLimits
  /** Aborting it kills the job at once; the result rejects with `ABORTED`. */
  signal?: AbortSignal
  /**
   * Called with each chunk of output as it is produced (stdout, stderr), and with each output file
   * when the module ends (`path` relative to `/out`). Called at most the caps' bytes in all.
   */
  onOutput?: (stream: JobStream, chunk: Uint8Array, path?: string) => void
  /** Called every `progressIntervalMs` while the job runs, and once more with the final usage before it settles. */
  onProgress?: (usage: JobUsage) => void
  /** How often CPU and memory are read and reported, in milliseconds; default 100. */
  progressIntervalMs?: number
}

/** A job that runs: its result, and the controls a paying session needs. */
export interface RunningJob {
  /** Settles when the process has ended and all its output was passed on. */
  result: Promise<JobResult>
  /** Stops the process (`SIGSTOP`): no CPU accrues; the wall clock runs on. */
  pause(): void
  /** Continues a paused process (`SIGCONT`). */
  resume(): void
  /** The job's process id once it is started (for `/proc` and health reports), else `undefined`. */
  readonly pid: number | undefined
}

const here = fileURLToPath(import.meta.url)
/** The runner is JavaScript in the sources and in `dist/` alike (see its header), and imports no other file of ours. */
const RUNNER = join(dirname(here), 'jobRunner.js')
const STDERR_TAIL_BYTES = 4096

function shimDir(): string {
  const entry = createRequire(import.meta.url).resolve('@bjorn3/browser_wasi_shim')
  return dirname(dirname(entry))
}

/** Sum of the regular files' sizes under `dir`, in bytes (symlinks not followed, as the runner does). */
async function directoryBytes(dir: string, depth = 0): Promise<number> {
  if (depth >= 32) return 0
  let bytes = 0
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isFile()) bytes += (await lstat(path)).size
    else if (entry.isDirectory()) bytes += await directoryBytes(path, depth + 1)
  }
  return bytes
}

/** Whether `path` is a plain relative path that stays inside its directory. */
function isSafeRelativePath(path: string): boolean {
  if (path.length === 0 || path.length > 1024 || path.includes('\0') || path.startsWith('/')) return false
  return path.split('/').every((part) => part !== '' && part !== '.' && part !== '..')
}

/** Cap of the module's `argv` and `environ` together, in bytes (as UTF-8, one NUL after each string). */
export const MAX_ARGS_ENV_BYTES = 64 * 1024

/** `argv` and `environ` are strings without NUL, environment names without `=`, within {@link MAX_ARGS_ENV_BYTES}. */
function assertArgsEnv(args: string[], env: Record<string, string>): void {
  const strings = [...args, ...Object.entries(env).map(([name, value]) => `${name}=${value}`)]
  let bytes = 0
  for (const text of strings) {
    if (typeof text !== 'string' || text.includes('\0')) {
      throw new TrickleError('INVALID_ARGUMENT', 'job arguments and environment must be strings without NUL')
    }
    bytes += Buffer.byteLength(text) + 1
  }
  if (Object.keys(env).some((name) => name === '' || name.includes('='))) {
    throw new TrickleError('INVALID_ARGUMENT', 'an environment name is empty or holds "="')
  }
  if (bytes > MAX_ARGS_ENV_BYTES) {
    throw new TrickleError('INVALID_ARGUMENT', 'job arguments and environment are too large', {
      details: `${bytes} bytes, cap ${MAX_ARGS_ENV_BYTES}`,
    })
  }
}

function assertLimits(limits: JobLimits): void {
  for (const key of [
    'memoryBytes',
    'cpuMs',
    'wallMs',
    'outputBytes',
    'stdoutBytes',
    'stderrBytes',
  ] as const) {
    const value = limits[key]
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TrickleError('INVALID_ARGUMENT', `limits.${key} must be a non-negative integer`)
    }
  }
}

/**
 * Runs one untrusted WebAssembly (WASI preview 1) module in a contained child process and streams its
 * output. The containment (SANDBOX.md): the module runs on a JavaScript WASI implementation over an
 * in-memory file system (`/in` read-only, `/out` capped), in a Node process under the permission model
 * (reads only the runner, the shim and the input), rlimits (address space, CPU seconds, no files
 * written, no core), an empty network namespace, an empty environment and V8's cap on linear memory;
 * the parent meters CPU and memory from `/proc`, enforces the wall clock and the stdout/stderr caps,
 * and kills on abort.
 *
 * @param module - the module's bytes
 * @param options - arguments, environment, directories, limits (bytes, ms), abort signal, callbacks
 * @returns the running job; its `result` rejects with a `TrickleError`:
 * @throws through `result`, a `TrickleError` with one of these codes:
 *   `INVALID_ARGUMENT` (a limit is not a non-negative integer, `args`/`env` hold a NUL or pass
 *   {@link MAX_ARGS_ENV_BYTES}, the input directory cannot be read);
 *   `JOB_MODULE_INVALID` (above `limits.moduleBytes`, does not compile, imports other than WASI
 *   preview 1, no `_start` or `memory`); `JOB_MEMORY_LIMIT`; `JOB_CPU_LIMIT`; `JOB_WALL_LIMIT`;
 *   `JOB_OUTPUT_LIMIT`; `JOB_FAILED` (a trap, the process died without a result, the output files
 *   could not be saved to `outputDir`, or `onOutput`/`onProgress` threw: then that error is the
 *   `cause`); `JOB_SANDBOX_UNAVAILABLE` (no util-linux `prlimit`); `ABORTED` (the signal aborted)
 */
export function startJob(module: Uint8Array, options: JobOptions): RunningJob {
  let child: ReturnType<typeof spawn> | undefined
  let paused = false
  const result = run(module, options, (c) => {
    child = c
    if (paused) c.kill('SIGSTOP')
  })
  return {
    result,
    pause() {
      paused = true
      child?.kill('SIGSTOP')
    },
    resume() {
      paused = false
      child?.kill('SIGCONT')
    },
    get pid() {
      return child?.pid
    },
  }
}

/**
 * {@link startJob} without the pause controls: runs the module and resolves with its result.
 *
 * @param module - the module's bytes
 * @param options - see {@link JobOptions}
 * @returns the result once the process has ended
 * @throws the codes of {@link startJob}
 */
export function runJob(module: Uint8Array, options: JobOptions): Promise<JobResult> {
  return startJob(module, options).result
}

async function run(
  module: Uint8Array,
  options: JobOptions,
  started: (child: ReturnType<typeof spawn>) => void,
): Promise<JobResult> {
  const { limits } = options
  assertLimits(limits)
  assertArgsEnv(options.args, options.env)
  const maxModule = limits.moduleBytes ?? DEFAULT_MAX_MODULE_BYTES
  if (module.byteLength > maxModule) {
    throw new TrickleError('JOB_MODULE_INVALID', 'the module is above the size cap', {
      details: `${module.byteLength} bytes, cap ${maxModule}`,
    })
  }
  if (options.signal?.aborted) throw new TrickleError('ABORTED', 'the job was cancelled before it started')
  const tools = await probeSandbox()
  if (!tools) throw new TrickleError('JOB_SANDBOX_UNAVAILABLE', 'util-linux prlimit is not installed')
  let inputDir: string | undefined
  let inputBytes = 0
  if (options.inputDir !== undefined) {
    try {
      inputDir = await realpath(options.inputDir)
      inputBytes = await directoryBytes(inputDir)
    } catch (cause) {
      throw new TrickleError('INVALID_ARGUMENT', 'the input directory cannot be read', {
        details: options.inputDir,
        cause,
      })
    }
  }
  const command = sandboxCommand(
    tools,
    {
      node: process.execPath,
      runner: RUNNER,
      runnerFiles: [RUNNER],
      shimDir: await realpath(shimDir()),
      inputDir,
    },
    {
      memoryBytes: limits.memoryBytes,
      cpuMs: limits.cpuMs,
      inputBytes,
      outputBytes: limits.outputBytes,
    },
  )
  const startedAt = performance.now()
  const child = spawn(command.file, command.args, {
    env: {},
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
  })
  started(child)
  // A failed signal or IPC send is reported by the outcome (the process ends); never crash the provider.
  child.on('error', () => {})
  const pid = child.pid
  if (pid === undefined) {
    await new Promise((resolve) => child.once('error', resolve))
    throw new TrickleError('JOB_SANDBOX_UNAVAILABLE', 'the sandbox process did not start')
  }

  let killedFor: KillReason | undefined
  const kill = (reason: KillReason): void => {
    killedFor ??= reason
    child.kill('SIGKILL')
  }
  const usage: JobUsage = { cpuMs: 0, peakMemoryBytes: 0, wallMs: 0, stdoutBytes: 0, stderrBytes: 0 }
  let stderrTail = Buffer.alloc(0)
  let callbackError: unknown
  /** Runs a caller's callback; if it throws, the job is killed and the result rejects with it as the cause. */
  const call = (callback: () => void): void => {
    try {
      callback()
    } catch (err) {
      callbackError ??= err
      kill('callback')
    }
  }

  const pass = (stream: 'stdout' | 'stderr', cap: number, chunk: Buffer): void => {
    if (stream === 'stderr') stderrTail = Buffer.concat([stderrTail, chunk]).subarray(-STDERR_TAIL_BYTES)
    const sent = usage[`${stream}Bytes`]
    const room = cap - sent
    const part = chunk.byteLength > room ? chunk.subarray(0, Math.max(0, room)) : chunk
    if (part.byteLength > 0 && killedFor === undefined) {
      usage[`${stream}Bytes`] = sent + part.byteLength
      call(() => options.onOutput?.(stream, part))
    }
    if (chunk.byteLength > room) kill(stream)
  }
  child.stdout?.on('data', (chunk: Buffer) => pass('stdout', limits.stdoutBytes, chunk))
  child.stderr?.on('data', (chunk: Buffer) => pass('stderr', limits.stderrBytes, chunk))

  let message: RunnerMessage | undefined
  const sample = async (): Promise<void> => {
    const now = await readProcessUsage(pid)
    if (now) {
      usage.cpuMs = Math.max(usage.cpuMs, now.cpuMs)
      usage.peakMemoryBytes = Math.max(usage.peakMemoryBytes, now.peakRssBytes)
    }
    usage.wallMs = performance.now() - startedAt
  }
  child.on('message', (m: RunnerMessage) => {
    message ??= m
    void sample()
  })
  let ended = false
  const ticker = setInterval(() => {
    void sample().then(() => {
      if (ended || killedFor !== undefined || message !== undefined) return
      if (usage.cpuMs > limits.cpuMs) kill('cpu')
      else call(() => options.onProgress?.({ ...usage }))
    })
  }, options.progressIntervalMs ?? 100)
  const wallTimer = setTimeout(() => kill('wall'), limits.wallMs)
  const onAbort = (): void => kill('abort')
  options.signal?.addEventListener('abort', onAbort, { once: true })
  if (options.signal?.aborted) kill('abort') // aborted while the sandbox was being prepared

  const start: RunnerStart = {
    t: 'start',
    module,
    args: options.args,
    env: Object.entries(options.env).map(([name, value]) => `${name}=${value}`),
    inputDir,
    outputBytes: limits.outputBytes,
    entryBytes: ENTRY_BYTES,
    stdoutBytes: limits.stdoutBytes,
    stderrBytes: limits.stderrBytes,
    memoryBytes: Math.floor(limits.memoryBytes / 65_536) * 65_536,
    wallMs: limits.wallMs,
    wallGraceMs: RUNNER_WALL_GRACE_MS,
  }
  child.send(start, (err) => {
    if (err && killedFor === undefined && message === undefined) child.kill('SIGKILL')
  })

  const [exitStatus, signal] = await new Promise<[number | null, string | null]>((resolve) => {
    child.once('close', (status, sig) => resolve([status, sig]))
  })
  ended = true
  clearInterval(ticker)
  clearTimeout(wallTimer)
  options.signal?.removeEventListener('abort', onAbort)
  if (message) {
    usage.cpuMs = Math.max(usage.cpuMs, message.cpuMicros / 1000)
    usage.peakMemoryBytes = Math.max(usage.peakMemoryBytes, message.maxRssKb * 1024)
  }
  usage.wallMs = performance.now() - startedAt
  call(() => options.onProgress?.({ ...usage }))

  const end = classifyJobEnd({
    message,
    killedFor,
    signal,
    exitStatus,
    cpuMs: usage.cpuMs,
    cpuLimitMs: limits.cpuMs,
    wallMs: usage.wallMs,
    wallLimitMs: limits.wallMs,
    stderrTail: stderrTail.toString('utf8'),
  })
  if (!end.ok) {
    throw new TrickleError(end.code, end.message, {
      details: `cpu ${Math.round(usage.cpuMs)} ms`,
      cause: callbackError,
    })
  }
  const exit = message as Extract<RunnerMessage, { t: 'exit' }>
  const outputFiles = await saveFiles(exit.files, options, limits.outputBytes)
  return { ...usage, exitCode: end.exitCode, linearMemoryBytes: exit.linearMemoryBytes, outputFiles }
}

async function saveFiles(
  files: { path: string; data: Uint8Array }[],
  options: JobOptions,
  cap: number,
): Promise<JobResult['outputFiles']> {
  let total = 0
  for (const file of files) {
    total += file.data.byteLength
    if (!isSafeRelativePath(file.path)) {
      throw new TrickleError('JOB_FAILED', 'the runner reported an output path outside /out')
    }
  }
  if (total > cap) throw new TrickleError('JOB_OUTPUT_LIMIT', 'the output files are above the cap')
  const saved: JobResult['outputFiles'] = []
  for (const file of files) {
    if (options.outputDir !== undefined) {
      const root = resolve(options.outputDir)
      const target = resolve(root, file.path)
      if (relative(root, target).startsWith(`..${sep}`)) {
        throw new TrickleError('JOB_FAILED', 'the runner reported an output path outside /out')
      }
      try {
        await mkdir(dirname(target), { recursive: true })
        await writeFile(target, file.data, { flag: 'wx' })
      } catch (cause) {
        throw new TrickleError('JOB_FAILED', 'the output files could not be saved', {
          details: target,
          cause,
        })
      }
    }
    options.onOutput?.('file', file.data, file.path)
    saved.push({
      path: file.path,
      bytes: file.data.byteLength,
      sha256: createHash('sha256').update(file.data).digest('hex'),
    })
  }
  return saved
}
