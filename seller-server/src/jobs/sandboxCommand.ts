import type { SandboxTools } from './probeSandbox.ts'

/**
 * Virtual address space Node 24 reserves before any job memory, in bytes. Measured: `VmPeak` of an
 * idle `node --disable-wasm-trap-handler` is about 1.3 GiB (code range, heap cages, thread stacks),
 * and under 1 GiB of `RLIMIT_AS` V8 cannot even reserve its code range. Virtual, not resident.
 */
export const RUNTIME_ADDRESS_SPACE_BYTES = 2 * 1024 ** 3

/** The runner's JavaScript heap cap, in MiB (`--max-old-space-size`): the shim's tables and file entries. */
export const RUNNER_HEAP_MIB = 128

/** File descriptors the child may hold (`RLIMIT_NOFILE`): Node's own (epoll, pipes, IPC) and no more. */
export const RUNNER_MAX_FILES = 64

/** Where the pieces of the sandbox are on disk. */
export interface SandboxPaths {
  /** Node 24's executable (the parent's own `process.execPath`). */
  node: string
  /** The runner script and the files it imports, readable by the child. */
  runnerFiles: string[]
  /** The runner script to start. */
  runner: string
  /** The WASI shim's package directory, readable by the child. */
  shimDir: string
  /** The job's input directory (real path), readable by the child; absent: none. */
  inputDir: string | undefined
}

/** The limits the command enforces (a subset of {@link JobLimits}). */
export interface SandboxLimits {
  /** Linear memory cap, in bytes; rounded down to 64 KiB pages. */
  memoryBytes: number
  /** CPU time limit, in milliseconds; `RLIMIT_CPU` is its whole seconds plus one (soft) and two (hard). */
  cpuMs: number
  /** The input directory's size, in bytes (it is copied into the child's memory). */
  inputBytes: number
  /** The output cap, in bytes (output files are held in memory, then sent to the parent). */
  outputBytes: number
}

/**
 * The command line that starts a job's child process: `prlimit` sets the rlimits (address space, CPU
 * seconds, file size 0, no core dumps, few descriptors) and execs into `unshare -n` (empty network
 * namespace), which execs into Node with the permission model on (reads: the runner and the WASI shim
 * and the input; writes, child processes, workers, addons, WASI, inspector: none), and V8's cap on
 * every wasm memory. Pure: it only builds the strings.
 *
 * @param tools - from {@link probeSandbox}
 * @param paths - executable, runner and readable directories
 * @param limits - memory (bytes), CPU (ms), input and output (bytes)
 * @returns the executable and its arguments
 */
export function sandboxCommand(
  tools: SandboxTools,
  paths: SandboxPaths,
  limits: SandboxLimits,
): { file: string; args: string[] } {
  const pages = Math.max(1, Math.floor(limits.memoryBytes / 65_536))
  const addressSpace =
    RUNTIME_ADDRESS_SPACE_BYTES +
    pages * 65_536 +
    2 * limits.inputBytes +
    3 * limits.outputBytes +
    RUNNER_HEAP_MIB * 1024 ** 2
  const cpuSeconds = Math.ceil(limits.cpuMs / 1000)
  const reads = [
    ...paths.runnerFiles,
    paths.shimDir,
    ...(paths.inputDir === undefined ? [] : [paths.inputDir]),
  ]
  return {
    file: tools.prlimit,
    args: [
      `--as=${addressSpace}`,
      `--cpu=${cpuSeconds + 1}:${cpuSeconds + 2}`,
      '--fsize=0',
      '--core=0',
      `--nofile=${RUNNER_MAX_FILES}`,
      '--',
      ...(tools.netns.length > 0 ? [...tools.netns, '--'] : []),
      paths.node,
      '--permission',
      ...reads.map((path) => `--allow-fs-read=${path}`),
      '--disable-wasm-trap-handler',
      `--wasm-max-mem-pages=${pages}`,
      `--max-old-space-size=${RUNNER_HEAP_MIB}`,
      '--disallow-code-generation-from-strings',
      paths.runner,
    ],
  }
}
