/**
 * The job sandbox's pure parts: how a job's end is classified, how `/proc` is read, and which
 * containment the child's command line asks for.
 */
import { describe, expect, it } from 'vitest'
import { classifyJobEnd, type JobEndFacts } from '../src/jobs/classifyJobEnd.ts'
import type { RunnerMessage } from '../src/jobs/jobMessages.ts'
import { parseProcessUsage } from '../src/jobs/readProcessUsage.ts'
import { RUNTIME_ADDRESS_SPACE_BYTES, sandboxCommand } from '../src/jobs/sandboxCommand.ts'

const ENDED: JobEndFacts = {
  message: undefined,
  killedFor: undefined,
  signal: null,
  exitStatus: 0,
  cpuMs: 100,
  cpuLimitMs: 1_000,
  wallMs: 200,
  wallLimitMs: 10_000,
  stderrTail: '',
}
const EXIT: RunnerMessage = {
  t: 'exit',
  exitCode: 3,
  files: [],
  cpuMicros: 1,
  maxRssKb: 1,
  linearMemoryBytes: 65_536,
}

describe('classifyJobEnd', () => {
  it('returns any exit code the runner reported as a result', () => {
    expect(classifyJobEnd({ ...ENDED, message: EXIT })).toEqual({ ok: true, exitCode: 3 })
  })

  it("puts the parent's kill reason first, even over a result that arrived", () => {
    const codes = (['abort', 'wall', 'cpu', 'stdout', 'stderr', 'files', 'callback'] as const).map(
      (killedFor) => {
        const end = classifyJobEnd({ ...ENDED, message: EXIT, killedFor, signal: 'SIGKILL' })
        return end.ok ? 'ok' : end.code
      },
    )
    expect(codes).toEqual([
      'ABORTED',
      'JOB_WALL_LIMIT',
      'JOB_CPU_LIMIT',
      'JOB_OUTPUT_LIMIT',
      'JOB_OUTPUT_LIMIT',
      'JOB_OUTPUT_LIMIT',
      'JOB_FAILED',
    ])
  })

  it("reads the kernel's RLIMIT_CPU signals as the CPU limit", () => {
    expect(classifyJobEnd({ ...ENDED, signal: 'SIGXCPU' })).toMatchObject({ code: 'JOB_CPU_LIMIT' })
    expect(classifyJobEnd({ ...ENDED, signal: 'SIGKILL', cpuMs: 1_000 })).toMatchObject({
      code: 'JOB_CPU_LIMIT',
    })
  })

  it("passes the runner's failure code on", () => {
    const fail = {
      t: 'fail',
      code: 'JOB_MODULE_INVALID',
      message: 'no _start',
      cpuMicros: 1,
      maxRssKb: 1,
    } as const
    expect(classifyJobEnd({ ...ENDED, message: fail })).toMatchObject({ code: 'JOB_MODULE_INVALID' })
  })

  it('tells an out-of-memory crash of the process from another crash', () => {
    const oom = { ...ENDED, signal: 'SIGTRAP', stderrTail: '# Fatal process out of memory: Zone' }
    expect(classifyJobEnd(oom)).toMatchObject({ code: 'JOB_MEMORY_LIMIT' })
    expect(classifyJobEnd({ ...ENDED, signal: 'SIGSEGV' })).toMatchObject({ code: 'JOB_FAILED' })
    expect(classifyJobEnd({ ...ENDED, exitStatus: 1 })).toMatchObject({ code: 'JOB_FAILED' })
  })

  it('reads a runner that ended itself past the wall-clock limit as the wall limit', () => {
    expect(classifyJobEnd({ ...ENDED, exitStatus: 124, wallMs: 12_000 })).toMatchObject({
      code: 'JOB_WALL_LIMIT',
    })
  })
})

describe('parseProcessUsage', () => {
  it('reads utime + stime (clock ticks of 10 ms) after a command name with spaces, and VmHWM', () => {
    const stat = '4242 (node (job) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 150 25 0 0 20 0 11 0 100 0 0'
    const status = 'Name:\tnode\nVmPeak:\t 2000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n'
    expect(parseProcessUsage(stat, status)).toEqual({ cpuMs: 1_750, peakRssBytes: 51_200 * 1024 })
  })

  it('answers undefined for text of another shape', () => {
    expect(parseProcessUsage('garbage', '')).toBeUndefined()
  })
})

describe('sandboxCommand', () => {
  const tools = { prlimit: '/usr/bin/prlimit', netns: ['/usr/bin/unshare', '-n'] }
  const paths = {
    node: '/opt/node',
    runner: '/app/jobRunner.js',
    runnerFiles: ['/app/jobRunner.js'],
    shimDir: '/app/node_modules/@bjorn3/browser_wasi_shim',
    inputDir: '/data/in',
  }
  const limits = { memoryBytes: 64 * 1024 ** 2, cpuMs: 2_500, inputBytes: 1_000, outputBytes: 10_000 }

  it('sets the rlimits, then the network namespace, then Node with the permission model', () => {
    const { file, args } = sandboxCommand(tools, paths, limits)
    expect(file).toBe('/usr/bin/prlimit')
    const as = Number(args.find((a) => a.startsWith('--as='))?.slice(5))
    expect(as).toBeGreaterThan(RUNTIME_ADDRESS_SPACE_BYTES + limits.memoryBytes)
    expect(args).toContain('--cpu=4:5')
    expect(args).toContain('--fsize=0')
    expect(args).toContain('--core=0')
    const node = args.indexOf('/opt/node')
    expect(args.slice(args.indexOf('--') + 1, node)).toEqual(['/usr/bin/unshare', '-n', '--'])
    expect(args.slice(node)).toEqual([
      '/opt/node',
      '--permission',
      '--allow-fs-read=/app/jobRunner.js',
      '--allow-fs-read=/app/node_modules/@bjorn3/browser_wasi_shim',
      '--allow-fs-read=/data/in',
      '--disable-wasm-trap-handler',
      '--wasm-max-mem-pages=1024',
      '--max-old-space-size=128',
      '--disallow-code-generation-from-strings',
      '/app/jobRunner.js',
    ])
  })

  it('never grants writes, child processes, workers, addons, WASI or the inspector', () => {
    const { args } = sandboxCommand(tools, paths, limits)
    for (const grant of [
      '--allow-fs-write',
      '--allow-child-process',
      '--allow-worker',
      '--allow-addons',
      '--allow-wasi',
    ]) {
      expect(args.some((a) => a.startsWith(grant))).toBe(false)
    }
    expect(args.some((a) => a.startsWith('--allow-inspector'))).toBe(false)
  })

  it('leaves the namespace out where none can be made', () => {
    const { args } = sandboxCommand({ ...tools, netns: [] }, paths, limits)
    expect(args.includes('/usr/bin/unshare')).toBe(false)
  })
})
