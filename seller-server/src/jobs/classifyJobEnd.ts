import type { ErrorCode } from '@trickle/protocol'
import type { RunnerMessage } from './jobMessages.ts'

/** Why the parent killed a job's process, if it did. */
export type KillReason = 'abort' | 'wall' | 'cpu' | 'stdout' | 'stderr' | 'files' | 'callback'

/** Everything known when a job's process has ended. */
export interface JobEndFacts {
  /** The runner's last word, if it sent one. */
  message: RunnerMessage | undefined
  /** Set when the parent killed the process. */
  killedFor: KillReason | undefined
  /** The signal that ended the process, if any. */
  signal: string | null
  /** The process's exit status, if it exited. */
  exitStatus: number | null
  /** CPU time used, in milliseconds. */
  cpuMs: number
  /** CPU time limit, in milliseconds. */
  cpuLimitMs: number
  /** Time from start to end, in milliseconds. */
  wallMs: number
  /** Wall-clock limit, in milliseconds. */
  wallLimitMs: number
  /** The last bytes the process (Node itself or the module) wrote to stderr, as text. */
  stderrTail: string
}

/** How a job ended: a result (any exit code, zero or not), or an error code with a sentence. */
export type JobEnd = { ok: true; exitCode: number } | { ok: false; code: ErrorCode; message: string }

const OUT_OF_MEMORY = /out of memory|heap limit|allocation failed|failed to reserve|cannot allocate/i

/**
 * Decides how a job ended from what the parent saw. A non-zero exit of the module is a result, not an
 * error. The parent's own kill reason comes first (it is the authority on limits it enforces), then
 * the kernel's (`SIGXCPU` from `RLIMIT_CPU`), then the runner's report, then a crash of the child:
 * a memory failure when V8 says so, else `JOB_FAILED`.
 *
 * @param facts - see {@link JobEndFacts}
 * @returns the end
 */
export function classifyJobEnd(facts: JobEndFacts): JobEnd {
  switch (facts.killedFor) {
    case 'abort':
      return { ok: false, code: 'ABORTED', message: 'the job was cancelled' }
    case 'wall':
      return { ok: false, code: 'JOB_WALL_LIMIT', message: 'the job ran past its wall-clock limit' }
    case 'cpu':
      return { ok: false, code: 'JOB_CPU_LIMIT', message: 'the job used more CPU time than its limit' }
    case 'callback':
      return { ok: false, code: 'JOB_FAILED', message: "the caller's output or progress callback threw" }
    case 'stdout':
    case 'stderr':
    case 'files':
      return { ok: false, code: 'JOB_OUTPUT_LIMIT', message: `the job wrote past its ${facts.killedFor} cap` }
  }
  if (facts.signal === 'SIGXCPU' || (facts.signal === 'SIGKILL' && facts.cpuMs >= facts.cpuLimitMs)) {
    return { ok: false, code: 'JOB_CPU_LIMIT', message: 'the job used more CPU time than its limit' }
  }
  if (facts.message?.t === 'exit') return { ok: true, exitCode: facts.message.exitCode }
  if (facts.message?.t === 'fail')
    return { ok: false, code: facts.message.code, message: facts.message.message }
  if (facts.message === undefined && facts.wallMs >= facts.wallLimitMs) {
    // The runner ends itself a little after the limit (its sleeps are bounded) if the parent's timer was late.
    return { ok: false, code: 'JOB_WALL_LIMIT', message: 'the job ran past its wall-clock limit' }
  }
  const how = facts.signal ? `signal ${facts.signal}` : `status ${facts.exitStatus}`
  if (OUT_OF_MEMORY.test(facts.stderrTail)) {
    return { ok: false, code: 'JOB_MEMORY_LIMIT', message: `the job's process ran out of memory (${how})` }
  }
  return { ok: false, code: 'JOB_FAILED', message: `the job's process ended without a result (${how})` }
}
