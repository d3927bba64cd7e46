/**
 * The sandboxed side of a job: the entry point of the child process that {@link startJob} spawns under
 * `prlimit`, a network namespace and Node's permission model (SANDBOX.md). It receives one
 * {@link RunnerStart} over IPC, runs the module once against `@bjorn3/browser_wasi_shim` — WASI
 * preview 1 implemented in JavaScript over an in-memory file system, so the module's system calls
 * never reach the host's — and answers with one {@link RunnerMessage}.
 *
 * The module sees: `argv` and `environ` as given, stdin empty, stdout and stderr written through to
 * this process's fd 1 and 2 (blocking pipes: a parent that stops reading stops the module), `/in` (the
 * input directory, copied into memory, read-only, symbolic links and special files left out) and `/out`
 * (an empty in-memory directory, capped). Nothing else: no sockets, no processes, real sleeps.
 *
 * Not exported from the package: it runs only as a child process.
 */
import { lstatSync, readdirSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import {
  ConsoleStdout,
  Directory,
  type Fd,
  File,
  type Inode,
  OpenDirectory,
  OpenFile,
  PreopenDirectory,
  WASI,
  WASIProcExit,
  wasi,
} from '@bjorn3/browser_wasi_shim'
import { ENTRY_BYTES, type RunnerMessage, type RunnerStart } from './jobMessages.ts'

/** Thrown from inside a WASI call to stop the module when it goes over a cap. */
class CapReached extends Error {
  readonly code: 'JOB_OUTPUT_LIMIT' | 'JOB_MEMORY_LIMIT'
  constructor(code: 'JOB_OUTPUT_LIMIT' | 'JOB_MEMORY_LIMIT') {
    super(code)
    this.code = code
  }
}

type Usage = Pick<Extract<RunnerMessage, { t: 'exit' }>, 'cpuMicros' | 'maxRssKb'>

function usage(): Usage {
  const u = process.resourceUsage()
  return { cpuMicros: u.userCPUTime + u.systemCPUTime, maxRssKb: u.maxRSS }
}

function send(message: RunnerMessage): void {
  process.send?.(message, undefined, undefined, () => process.disconnect())
}

/** Reads `dir` into an in-memory tree of read-only files; symbolic links and special files are left out. */
function loadInput(dir: string, inputDirs: Set<Directory>, depth = 0): Directory {
  const contents = new Map<string, Inode>()
  if (depth < 32) {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      const stat = lstatSync(path)
      if (stat.isFile()) contents.set(name, new File(readFileSync(path), { readonly: true }))
      else if (stat.isDirectory()) contents.set(name, loadInput(path, inputDirs, depth + 1))
    }
  }
  const directory = new Directory(contents)
  inputDirs.add(directory)
  return directory
}

/** Writes all of `data` to a blocking pipe; waits (without spinning) if it is non-blocking and full. */
function writeAll(fd: number, data: Uint8Array): void {
  const pause = new Int32Array(new SharedArrayBuffer(4))
  let offset = 0
  while (offset < data.byteLength) {
    try {
      offset += writeSync(fd, data, offset)
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err
      Atomics.wait(pause, 0, 0, 5)
    }
  }
}

/** A stdout/stderr that passes bytes to `fd` up to `cap`, then stops the module. */
function cappedStream(fd: number, cap: number): ConsoleStdout {
  let written = 0
  return new ConsoleStdout((data) => {
    const room = cap - written
    if (room > 0) writeAll(fd, data.subarray(0, room))
    written += data.byteLength
    if (written > cap) throw new CapReached('JOB_OUTPUT_LIMIT')
  })
}

/** Bytes the `/out` tree holds now: data, names, and {@link ENTRY_BYTES} per entry. */
function treeBytes(dir: Directory): number {
  let bytes = 0
  for (const [name, inode] of dir.contents) {
    bytes += ENTRY_BYTES + name.length
    if (inode instanceof File) bytes += inode.data.byteLength
    else if (inode instanceof Directory) bytes += treeBytes(inode)
  }
  return bytes
}

function collectFiles(dir: Directory, prefix: string, out: { path: string; data: Uint8Array }[]): void {
  for (const [name, inode] of dir.contents) {
    if (inode instanceof File) out.push({ path: `${prefix}${name}`, data: inode.data })
    else if (inode instanceof Directory) collectFiles(inode, `${prefix}${name}/`, out)
  }
}

/** Real sleep for `poll_oneoff` clock subscriptions (the shim spins), so a sleeping module uses no CPU. */
function sleepingPollOneoff(shim: WASI): (inPtr: number, outPtr: number, n: number) => number {
  const clock = new Int32Array(new SharedArrayBuffer(4))
  return (inPtr, outPtr, n) => {
    if (n !== 1) return wasi.ERRNO_NOTSUP
    const view = new DataView(shim.inst.exports.memory.buffer)
    const sub = wasi.Subscription.read_bytes(view, inPtr)
    if (sub.eventtype !== wasi.EVENTTYPE_CLOCK) return wasi.ERRNO_NOTSUP
    const absolute = (sub.flags & wasi.SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME) !== 0
    const nowNs =
      sub.clockid === wasi.CLOCKID_REALTIME
        ? BigInt(Date.now()) * 1_000_000n
        : BigInt(Math.round(performance.now() * 1e6))
    const waitNs = absolute ? sub.timeout - nowNs : sub.timeout
    if (waitNs > 0n) Atomics.wait(clock, 0, 0, Number(waitNs / 1_000_000n))
    new wasi.Event(sub.userdata, wasi.ERRNO_SUCCESS, sub.eventtype).write_bytes(view, outPtr)
    return wasi.ERRNO_SUCCESS
  }
}

type Call = (...args: never[]) => unknown

/**
 * Wraps the shim's imports: the input tree refuses every change (`ERRNO_ROFS`), links and symlinks are
 * refused, sockets answer `ERRNO_NOTSUP`, and every call that can grow `/out` is checked against the cap.
 */
function guardImports(shim: WASI, inputDirs: Set<Directory>, out: Directory, outputCap: number): void {
  const imports = shim.wasiImport as Record<string, Call>
  const fd = (n: number): Fd | undefined => shim.fds[n]
  const isInputDir = (n: number): boolean => {
    const f = fd(n)
    return f instanceof OpenDirectory && inputDirs.has(f.dir)
  }
  const isInputFile = (n: number): boolean => {
    const f = fd(n)
    return f instanceof OpenFile && f.file.readonly
  }
  let estimate = 0
  const charge = (bytes: number): void => {
    estimate += bytes
    if (estimate <= outputCap) return
    estimate = treeBytes(out)
    if (estimate > outputCap) throw new CapReached('JOB_OUTPUT_LIMIT')
  }
  const fileSize = (n: number): number => {
    const f = fd(n)
    return f instanceof OpenFile ? f.file.data.byteLength : 0
  }
  const wrap = (
    name: string,
    guard: (args: number[]) => number | undefined,
    after?: (args: number[]) => void,
  ) => {
    const original = imports[name] as (...args: unknown[]) => unknown
    imports[name] = ((...args: number[]) => {
      const refused = guard(args)
      if (refused !== undefined) return refused
      const ret = original(...args)
      if (ret === wasi.ERRNO_SUCCESS) after?.(args)
      return ret
    }) as Call
  }
  for (const name of ['fd_write', 'fd_pwrite', 'fd_allocate', 'fd_filestat_set_size']) {
    const original = imports[name] as (...args: unknown[]) => unknown
    imports[name] = ((...args: number[]) => {
      const n = args[0] as number
      if (isInputFile(n)) return wasi.ERRNO_ROFS
      const before = fileSize(n)
      const ret = original(...args)
      const grown = fileSize(n) - before
      if (grown > 0) charge(grown)
      return ret
    }) as Call
  }
  const create = wasi.OFLAGS_CREAT | wasi.OFLAGS_TRUNC
  wrap(
    'path_open',
    (a) => (isInputDir(a[0] as number) && ((a[4] as number) & create) !== 0 ? wasi.ERRNO_ROFS : undefined),
    (a) => {
      if (((a[4] as number) & wasi.OFLAGS_CREAT) !== 0) charge(ENTRY_BYTES + (a[3] as number))
    },
  )
  wrap(
    'path_create_directory',
    (a) => (isInputDir(a[0] as number) ? wasi.ERRNO_ROFS : undefined),
    (a) => charge(ENTRY_BYTES + (a[2] as number)),
  )
  for (const name of ['path_unlink_file', 'path_remove_directory', 'path_filestat_set_times']) {
    wrap(name, (a) => (isInputDir(a[0] as number) ? wasi.ERRNO_ROFS : undefined))
  }
  wrap('path_rename', (a) =>
    isInputDir(a[0] as number) || isInputDir(a[3] as number) ? wasi.ERRNO_ROFS : undefined,
  )
  for (const name of ['path_link', 'path_symlink']) wrap(name, () => wasi.ERRNO_NOTSUP)
  for (const name of ['sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown'])
    imports[name] = () => wasi.ERRNO_NOTSUP
  imports['poll_oneoff'] = sleepingPollOneoff(shim) as Call
}

/** Whether the module imports only WASI preview 1 and exports `_start` and `memory`. */
function checkShape(module: WebAssembly.Module): string | undefined {
  const foreign = WebAssembly.Module.imports(module).filter((i) => i.module !== 'wasi_snapshot_preview1')
  if (foreign.length > 0) {
    return `imports outside WASI preview 1: ${foreign
      .slice(0, 5)
      .map((i) => `${i.module}.${i.name}`)
      .join(', ')}`
  }
  const exports = WebAssembly.Module.exports(module)
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) return 'no exported _start function'
  if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) return 'no exported memory'
  return undefined
}

function run(start: RunnerStart): RunnerMessage {
  const fail = (code: Extract<RunnerMessage, { t: 'fail' }>['code'], message: string): RunnerMessage => ({
    t: 'fail',
    code,
    message,
    ...usage(),
  })
  let module: WebAssembly.Module
  try {
    module = new WebAssembly.Module(start.module)
  } catch (err) {
    return fail('JOB_MODULE_INVALID', `the module does not compile: ${(err as Error).message}`)
  }
  const shapeProblem = checkShape(module)
  if (shapeProblem) return fail('JOB_MODULE_INVALID', shapeProblem)

  const inputDirs = new Set<Directory>()
  const out = new Directory(new Map())
  const fds: Fd[] = [
    new OpenFile(new File(new Uint8Array(0), { readonly: true })),
    cappedStream(1, start.stdoutBytes),
    cappedStream(2, start.stderrBytes),
  ]
  if (start.inputDir !== undefined) {
    const input = loadInput(start.inputDir, inputDirs)
    const preopen = new PreopenDirectory('/in', input.contents)
    inputDirs.add(preopen.dir)
    fds.push(preopen)
  }
  const outPreopen = new PreopenDirectory('/out', out.contents)
  fds.push(outPreopen)
  const shim = new WASI(start.args, start.env, fds, { debug: false })
  guardImports(shim, inputDirs, outPreopen.dir, start.outputBytes)

  let instance: WebAssembly.Instance
  try {
    instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: shim.wasiImport })
  } catch (err) {
    if (err instanceof RangeError) {
      return fail('JOB_MEMORY_LIMIT', `the module's initial memory is above the cap: ${err.message}`)
    }
    return fail('JOB_MODULE_INVALID', `the module does not instantiate: ${(err as Error).message}`)
  }
  const memory = instance.exports['memory'] as WebAssembly.Memory
  let exitCode = 0
  try {
    exitCode = shim.start(instance as Parameters<WASI['start']>[0])
  } catch (err) {
    if (err instanceof WASIProcExit) exitCode = err.code
    else if (err instanceof CapReached) {
      return fail(
        err.code,
        err.code === 'JOB_OUTPUT_LIMIT' ? 'the module wrote past an output cap' : 'memory cap',
      )
    } else {
      // memory.grow answers -1 at the cap and the module decides what follows; C's malloc failure ends in
      // abort(), a trap. A trap with the memory this close to the cap is reported as the cap.
      const atCap = memory.buffer.byteLength + Math.max(1024 ** 2, start.memoryBytes / 16) > start.memoryBytes
      const what = err instanceof Error ? `${err.name}: ${err.message}` : 'a non-error exception'
      if (atCap) return fail('JOB_MEMORY_LIMIT', `the module failed with its memory at the cap (${what})`)
      return fail('JOB_FAILED', `the module failed (${what})`)
    }
  }
  const files: { path: string; data: Uint8Array }[] = []
  collectFiles(outPreopen.dir, '', files)
  return { t: 'exit', exitCode, files, linearMemoryBytes: memory.buffer.byteLength, ...usage() }
}

process.once('message', (message: RunnerStart) => {
  let answer: RunnerMessage
  try {
    answer = run(message)
  } catch (err) {
    const code = err instanceof RangeError ? 'JOB_MEMORY_LIMIT' : 'JOB_FAILED'
    answer = { t: 'fail', code, message: `the runner failed: ${(err as Error).message}`, ...usage() }
  }
  send(answer)
})
