import { readFile } from 'node:fs/promises'

/** What `/proc` says a running process has used so far. */
export interface ProcessUsage {
  /** User + system CPU time, in milliseconds (10 ms resolution: Linux reports clock ticks of 1/100 s). */
  cpuMs: number
  /** Peak resident set (`VmHWM`), in bytes. */
  peakRssBytes: number
}

/** Linux's `USER_HZ`: the clock ticks per second in which `/proc/<pid>/stat` reports CPU time (always 100 on Linux). */
const TICKS_PER_SECOND = 100

/**
 * Parses `/proc/<pid>/stat` and `/proc/<pid>/status` text (proc(5)): fields 14 and 15 of `stat`
 * (`utime`, `stime`, counted after the parenthesised command name, which may hold spaces) and
 * `VmHWM` of `status`.
 *
 * @param stat - the text of `/proc/<pid>/stat`
 * @param status - the text of `/proc/<pid>/status`
 * @returns the usage, or `undefined` if the text is not in the expected shape
 */
export function parseProcessUsage(stat: string, status: string): ProcessUsage | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // After the command name the fields start at 3 (state): utime is field 14, stime 15 (1-based).
  const utime = Number(fields[14 - 3])
  const stime = Number(fields[15 - 3])
  const hwm = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status)
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined
  return {
    cpuMs: ((utime + stime) * 1000) / TICKS_PER_SECOND,
    peakRssBytes: hwm ? Number(hwm[1]) * 1024 : 0,
  }
}

/**
 * Reads the CPU time and peak memory of a running process from `/proc`, from outside it (the job's
 * own reports are not needed, so a module that never yields is still metered).
 *
 * @param pid - the process id
 * @returns the usage, or `undefined` when the process is gone (or `/proc` is not there)
 */
export async function readProcessUsage(pid: number): Promise<ProcessUsage | undefined> {
  try {
    const [stat, status] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/status`, 'utf8'),
    ])
    return parseProcessUsage(stat, status)
  } catch {
    return undefined
  }
}
