/**
 * The messages between {@link startJob}'s parent side and the sandboxed runner (`jobRunner.ts`), over
 * the child's IPC channel (Node's `advanced` serialization, so byte arrays pass as they are). The
 * runner (`jobRunner.js`) imports only these types, so the child never reads this file.
 */

/** Parent → runner, once: what to run. */
export interface RunnerStart {
  t: 'start'
  /** The WebAssembly module's bytes. */
  module: Uint8Array
  /** WASI `argv`, the program name first. */
  args: string[]
  /** WASI environment, `NAME=value` strings. Nothing else is visible to the module. */
  env: string[]
  /** Real path of the read-only input directory, seen by the module as `/in`; absent: no `/in`. */
  inputDir: string | undefined
  /** Cap of the output files under `/out`, in bytes (each file or directory also counts `entryBytes` plus its name). */
  outputBytes: number
  /** What each file or directory created under `/out` counts against `outputBytes`, besides its name and data ({@link ENTRY_BYTES}). */
  entryBytes: number
  /** Cap of the module's stdout, in bytes. */
  stdoutBytes: number
  /** Cap of the module's stderr, in bytes. */
  stderrBytes: number
  /** Cap of the module's linear memory, in bytes (a multiple of 64 KiB). */
  memoryBytes: number
  /**
   * The job's wall-clock limit, in milliseconds. The parent enforces it; the runner also ends itself
   * in a sleep that would pass it by `wallGraceMs`, so a job whose parent died cannot sleep forever.
   */
  wallMs: number
  /** See `wallMs` ({@link RUNNER_WALL_GRACE_MS}). */
  wallGraceMs: number
}

/** Runner → parent: how the module ended, or why it could not run. */
export type RunnerMessage =
  | {
      t: 'exit'
      /** WASI exit code (0 when `_start` returned). */
      exitCode: number
      /** Output files under `/out`, paths relative to it with `/` separators. */
      files: { path: string; data: Uint8Array }[]
      /** The child's own count of CPU microseconds (user + system), from `process.resourceUsage()`. */
      cpuMicros: number
      /** The child's peak resident set, in kilobytes (`process.resourceUsage().maxRSS`). */
      maxRssKb: number
      /** Linear memory size at the end, in bytes. */
      linearMemoryBytes: number
    }
  | {
      t: 'fail'
      /** One of the job error codes the runner can tell apart. */
      code: 'JOB_MODULE_INVALID' | 'JOB_MEMORY_LIMIT' | 'JOB_OUTPUT_LIMIT' | 'JOB_FAILED'
      /** One sentence for the provider's log; the module's own text never reaches the parent this way. */
      message: string
      cpuMicros: number
      maxRssKb: number
    }

/** How long after its wall-clock limit the runner ends itself, in milliseconds. */
export const RUNNER_WALL_GRACE_MS = 2_000

/**
 * What every file or directory created under `/out` counts against the output cap, in bytes, besides
 * its name and data: one 4 KiB block, as `du` counts a small file. It bounds the files a job can
 * leave, and with them the `file` records a quote's `maxUnits` must allow for.
 */
export const ENTRY_BYTES = 4096
