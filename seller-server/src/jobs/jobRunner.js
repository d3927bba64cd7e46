// @ts-check
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
 * Plain JavaScript, type-checked through JSDoc: the child starts without loading Node's TypeScript
 * stripper, which costs more than the rest of its start-up (measured ~250 ms). Not exported from the
 * package: it runs only as a child process, and it imports nothing but Node and the shim.
 *
 * @import { Fd, Inode } from '@bjorn3/browser_wasi_shim'
 * @import { RunnerMessage, RunnerStart } from './jobMessages.ts'
 */
import { lstatSync, readdirSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import {
  ConsoleStdout,
  Directory,
  File,
  OpenDirectory,
  OpenFile,
  PreopenDirectory,
  WASI,
  WASIProcExit,
  wasi,
} from '@bjorn3/browser_wasi_shim'

/** Thrown from inside a WASI call to stop the module when it writes past an output cap. */
class OutputCapReached extends Error {}

/** @returns {{ cpuMicros: number, maxRssKb: number }} this process's CPU time and peak resident set */
function usage() {
  const u = process.resourceUsage()
  return { cpuMicros: u.userCPUTime + u.systemCPUTime, maxRssKb: u.maxRSS }
}

/**
 * Reads `dir` into an in-memory tree of read-only files; symbolic links and special files are left out.
 *
 * @param {string} dir
 * @param {Set<Directory>} inputDirs - collects every directory of the tree
 * @returns {Directory}
 */
function loadInput(dir, inputDirs, depth = 0) {
  /** @type {Map<string, Inode>} */
  const contents = new Map()
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

/**
 * Writes all of `data` to a pipe; waits (without spinning) if the pipe is non-blocking and full.
 *
 * @param {number} fd
 * @param {Uint8Array} data
 */
function writeAll(fd, data) {
  const pause = new Int32Array(new SharedArrayBuffer(4))
  let offset = 0
  while (offset < data.byteLength) {
    try {
      offset += writeSync(fd, data, offset)
    } catch (err) {
      if (/** @type {{ code?: string }} */ (err).code !== 'EAGAIN') throw err
      Atomics.wait(pause, 0, 0, 5)
    }
  }
}

/**
 * A stdout/stderr that passes bytes to `fd` up to `cap`, then stops the module.
 *
 * @param {number} fd
 * @param {number} cap - bytes
 */
function cappedStream(fd, cap) {
  let written = 0
  return new ConsoleStdout((data) => {
    const room = cap - written
    if (room > 0) writeAll(fd, data.subarray(0, room))
    written += data.byteLength
    if (written > cap) throw new OutputCapReached()
  })
}

/**
 * Bytes a directory tree holds: data, names, and `entryBytes` per entry.
 *
 * @param {Directory} dir
 * @param {number} entryBytes
 * @returns {number}
 */
function treeBytes(dir, entryBytes) {
  let bytes = 0
  for (const [name, inode] of dir.contents) {
    bytes += entryBytes + name.length
    if (inode instanceof File) bytes += inode.data.byteLength
    else if (inode instanceof Directory) bytes += treeBytes(inode, entryBytes)
  }
  return bytes
}

/**
 * @param {Directory} dir
 * @param {string} prefix
 * @param {{ path: string, data: Uint8Array }[]} out
 */
function collectFiles(dir, prefix, out) {
  for (const [name, inode] of dir.contents) {
    if (inode instanceof File) out.push({ path: `${prefix}${name}`, data: inode.data })
    else if (inode instanceof Directory) collectFiles(inode, `${prefix}${name}/`, out)
  }
}

/**
 * `poll_oneoff` for one clock subscription that really sleeps (the shim's spins), so a sleeping module
 * uses no CPU. A sleep that would pass `deadline` ends the process there (the parent, if it is still
 * there, has killed it for its wall-clock limit before).
 *
 * @param {WASI} shim
 * @param {number} deadline - `Date.now()` milliseconds
 * @returns {(inPtr: number, outPtr: number, n: number) => number}
 */
function sleepingPollOneoff(shim, deadline) {
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
    const waitMs = waitNs > 0n ? Number(waitNs / 1_000_000n) : 0
    if (Date.now() + waitMs >= deadline) {
      Atomics.wait(clock, 0, 0, Math.max(0, deadline - Date.now()))
      process.exit(124)
    }
    if (waitMs > 0) Atomics.wait(clock, 0, 0, waitMs)
    new wasi.Event(sub.userdata, wasi.ERRNO_SUCCESS, sub.eventtype).write_bytes(view, outPtr)
    return wasi.ERRNO_SUCCESS
  }
}

/**
 * Wraps the shim's imports: the input tree refuses every change (`ERRNO_ROFS`), links and symlinks are
 * refused, sockets answer `ERRNO_NOTSUP`, sleeps are real, and every call that can grow `/out` is
 * charged against the cap (cheaply by growth; exactly, by walking the tree, once the estimate passes it).
 *
 * @param {WASI} shim
 * @param {Set<Directory>} inputDirs
 * @param {Directory} out
 * @param {number} outputCap - bytes
 * @param {number} entryBytes - what each created file or directory counts, besides its name
 * @param {number} deadline - when sleeps end the process, `Date.now()` milliseconds
 */
function guardImports(shim, inputDirs, out, outputCap, entryBytes, deadline) {
  /** @type {Record<string, (...args: number[]) => unknown>} */
  const imports = /** @type {never} */ (shim.wasiImport)
  /** @param {number} n @returns {Fd | undefined} */
  const fd = (n) => shim.fds[n]
  /** @param {number} n */
  const isInputDir = (n) => {
    const f = fd(n)
    return f instanceof OpenDirectory && inputDirs.has(f.dir)
  }
  /** @param {number} n */
  const isInputFile = (n) => {
    const f = fd(n)
    return f instanceof OpenFile && f.file.readonly
  }
  /** @param {number} n */
  const fileSize = (n) => {
    const f = fd(n)
    return f instanceof OpenFile ? f.file.data.byteLength : 0
  }
  let estimate = 0
  /** @param {number} bytes */
  const charge = (bytes) => {
    estimate += bytes
    if (estimate <= outputCap) return
    estimate = treeBytes(out, entryBytes)
    if (estimate > outputCap) throw new OutputCapReached()
  }
  /**
   * @param {string} name
   * @param {(args: number[]) => number | undefined} guard - an errno refuses the call
   * @param {(args: number[]) => void} [after] - runs when the call succeeded
   */
  const wrap = (name, guard, after) => {
    const original = /** @type {(...args: number[]) => unknown} */ (imports[name])
    imports[name] = (...args) => {
      const refused = guard(args)
      if (refused !== undefined) return refused
      const ret = original(...args)
      if (ret === wasi.ERRNO_SUCCESS) after?.(args)
      return ret
    }
  }
  for (const name of ['fd_write', 'fd_pwrite', 'fd_allocate', 'fd_filestat_set_size']) {
    const original = /** @type {(...args: number[]) => unknown} */ (imports[name])
    imports[name] = (...args) => {
      const n = /** @type {number} */ (args[0])
      if (isInputFile(n)) return wasi.ERRNO_ROFS
      const before = fileSize(n)
      const ret = original(...args)
      const grown = fileSize(n) - before
      if (grown > 0) charge(grown)
      return ret
    }
  }
  const creates = wasi.OFLAGS_CREAT | wasi.OFLAGS_TRUNC
  // path_open(fd, dirflags, path, path_len, oflags, ...)
  wrap(
    'path_open',
    (a) => (isInputDir(Number(a[0])) && (Number(a[4]) & creates) !== 0 ? wasi.ERRNO_ROFS : undefined),
    (a) => {
      if ((Number(a[4]) & wasi.OFLAGS_CREAT) !== 0) charge(entryBytes + Number(a[3]))
    },
  )
  // path_create_directory(fd, path, path_len)
  wrap(
    'path_create_directory',
    (a) => (isInputDir(Number(a[0])) ? wasi.ERRNO_ROFS : undefined),
    (a) => charge(entryBytes + Number(a[2])),
  )
  for (const name of ['path_unlink_file', 'path_remove_directory', 'path_filestat_set_times']) {
    wrap(name, (a) => (isInputDir(Number(a[0])) ? wasi.ERRNO_ROFS : undefined))
  }
  // path_rename(fd, old_path, old_len, new_fd, new_path, new_len)
  wrap('path_rename', (a) =>
    isInputDir(Number(a[0])) || isInputDir(Number(a[3])) ? wasi.ERRNO_ROFS : undefined,
  )
  for (const name of ['path_link', 'path_symlink']) wrap(name, () => wasi.ERRNO_NOTSUP)
  for (const name of ['sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown']) {
    imports[name] = () => wasi.ERRNO_NOTSUP
  }
  imports['poll_oneoff'] = sleepingPollOneoff(shim, deadline)
}

/**
 * Whether the module imports only WASI preview 1 and exports `_start` and `memory`.
 *
 * @param {WebAssembly.Module} module
 * @returns {string | undefined} the problem, if any
 */
function checkShape(module) {
  const foreign = WebAssembly.Module.imports(module).filter((i) => i.module !== 'wasi_snapshot_preview1')
  if (foreign.length > 0) {
    const names = foreign.slice(0, 5).map((i) => `${i.module}.${i.name}`)
    return `imports outside WASI preview 1: ${names.join(', ')}`
  }
  const exports = WebAssembly.Module.exports(module)
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) return 'no exported _start function'
  if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) return 'no exported memory'
  return undefined
}

/**
 * @param {Extract<RunnerMessage, { t: 'fail' }>['code']} code
 * @param {string} message
 * @returns {RunnerMessage}
 */
function fail(code, message) {
  return { t: 'fail', code, message, ...usage() }
}

/**
 * Runs the module once.
 *
 * @param {RunnerStart} start
 * @returns {RunnerMessage}
 */
function run(start) {
  const deadline = Date.now() + start.wallMs + start.wallGraceMs
  /** @type {WebAssembly.Module} */
  let module
  try {
    module = new WebAssembly.Module(start.module)
  } catch (err) {
    return fail('JOB_MODULE_INVALID', `the module does not compile: ${/** @type {Error} */ (err).message}`)
  }
  const shapeProblem = checkShape(module)
  if (shapeProblem) return fail('JOB_MODULE_INVALID', shapeProblem)

  /** @type {Set<Directory>} */
  const inputDirs = new Set()
  /** @type {Fd[]} */
  const fds = [
    new OpenFile(new File(new Uint8Array(0), { readonly: true })),
    cappedStream(1, start.stdoutBytes),
    cappedStream(2, start.stderrBytes),
  ]
  if (start.inputDir !== undefined) {
    const preopen = new PreopenDirectory('/in', loadInput(start.inputDir, inputDirs).contents)
    inputDirs.add(preopen.dir)
    fds.push(preopen)
  }
  const out = new PreopenDirectory('/out', new Map())
  fds.push(out)
  const shim = new WASI(start.args, start.env, fds, { debug: false })
  guardImports(shim, inputDirs, out.dir, start.outputBytes, start.entryBytes, deadline)

  /** @type {WebAssembly.Instance} */
  let instance
  try {
    instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: shim.wasiImport })
  } catch (err) {
    if (err instanceof RangeError) {
      return fail('JOB_MEMORY_LIMIT', `the module's initial memory is above the cap: ${err.message}`)
    }
    return fail(
      'JOB_MODULE_INVALID',
      `the module does not instantiate: ${/** @type {Error} */ (err).message}`,
    )
  }
  const memory = /** @type {WebAssembly.Memory} */ (instance.exports['memory'])
  let exitCode = 0
  try {
    exitCode = shim.start(/** @type {never} */ (instance))
  } catch (err) {
    if (err instanceof WASIProcExit) exitCode = err.code
    else if (err instanceof OutputCapReached)
      return fail('JOB_OUTPUT_LIMIT', 'the module wrote past an output cap')
    else {
      // memory.grow answers -1 at the cap and the module decides what follows; C's malloc failure ends in
      // abort(), a trap. A trap with the memory this close to the cap is reported as the cap.
      const atCap = memory.buffer.byteLength + Math.max(1024 ** 2, start.memoryBytes / 16) > start.memoryBytes
      const what = err instanceof Error ? `${err.name}: ${err.message}` : 'a non-error exception'
      if (atCap) return fail('JOB_MEMORY_LIMIT', `the module failed with its memory at the cap (${what})`)
      return fail('JOB_FAILED', `the module failed (${what})`)
    }
  }
  /** @type {{ path: string, data: Uint8Array }[]} */
  const files = []
  collectFiles(out.dir, '', files)
  return { t: 'exit', exitCode, files, linearMemoryBytes: memory.buffer.byteLength, ...usage() }
}

process.once('message', (/** @type {RunnerStart} */ start) => {
  /** @type {RunnerMessage} */
  let answer
  try {
    answer = run(start)
  } catch (err) {
    const code = err instanceof RangeError ? 'JOB_MEMORY_LIMIT' : 'JOB_FAILED'
    answer = fail(code, `the runner failed: ${/** @type {Error} */ (err).message}`)
  }
  process.send?.(answer, undefined, undefined, () => process.exit(0))
})
