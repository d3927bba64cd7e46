import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

/** The `trickle-seller` entry point, run from source (`--conditions=trickle-source` via NODE_OPTIONS). */
export const SELLER_TOOL = fileURLToPath(new URL('../../src/tool/main.ts', import.meta.url))

/** What a finished `trickle-seller` run printed. */
export interface ToolRun {
  code: number
  stdout: string
  stderr: string
}

/**
 * Runs `trickle-seller <args>` as its own process and waits for it (at most `timeoutMs`).
 * @param env - added to the environment
 */
export function runTool(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<ToolRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SELLER_TOOL, ...args],
      { env: { ...process.env, TRICKLE_LOG_LEVEL: 'warn', ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** A `trickle-seller start` process. */
export interface ToolService {
  child: ChildProcess
  /** stdout so far */
  readonly output: string
  /** resolves once a stdout line matches (rejects after `timeoutMs` or when the process exits first) */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>
  /** SIGTERM, then the exit code (SIGKILL after `timeoutMs`) */
  stop(timeoutMs?: number): Promise<number | null>
}

/** Starts `trickle-seller start --config <config>` as its own process. */
export function spawnService(config: string, env: NodeJS.ProcessEnv = {}): ToolService {
  const child = spawn(process.execPath, [SELLER_TOOL, '--config', config, 'start'], {
    env: { ...process.env, TRICKLE_LOG_LEVEL: process.env.TRICKLE_TEST_LOG ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  const waiters = new Set<() => void>()
  child.stdout!.on('data', (part: Buffer) => {
    output += part.toString('utf8')
    for (const w of waiters) w()
  })
  child.once('exit', () => {
    for (const w of waiters) w()
  })
  return {
    child,
    get output() {
      return output
    },
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = output.split('\n').find((l) => pattern.test(l))
          if (line !== undefined) return done(() => resolve(line))
          if (child.exitCode !== null || child.signalCode !== null) {
            done(() =>
              reject(new Error(`trickle-seller exited (${child.exitCode}) before ${pattern}:\n${output}`)),
            )
          }
        }
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output}`))),
          timeoutMs,
        )
        const done = (then: () => void) => {
          clearTimeout(timer)
          waiters.delete(check)
          then()
        }
        waiters.add(check)
        check()
      })
    },
    async stop(timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      await exited
      clearTimeout(timer)
      return child.exitCode
    },
  }
}
