import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { resolve } from 'node:path'

const MAIN = resolve(import.meta.dirname, '../../src/main.ts')

/** What a `trickle` run produced. */
export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** The parent's environment without its key and chain variables, so only `env` configures the run. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TRICKLE_PRIVATE_KEY: '',
    TRICKLE_KEY_FILE: '',
    TRICKLE_KEYSTORE: '',
    TRICKLE_CHAIN: '',
    ...env,
  }
}

/**
 * Runs the `trickle` CLI as a child process with this Node (24, type stripping). The key variables of
 * the parent environment are cleared so only `env` configures the run.
 *
 * @param args - command-line arguments after `trickle`
 * @param env - extra environment variables
 */
export function runTrickle(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      {
        timeout: 120_000,
        env: childEnv(env),
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
        done({ code, stdout, stderr })
      },
    )
  })
}

/** A `trickle` child process that is still running: its output so far, and its end. */
export interface RunningTrickle {
  /** the child process (send it signals) */
  child: ChildProcess
  /** stdout and stderr received so far */
  output(): { stdout: string; stderr: string }
  /** resolves once stdout matches `pattern` (rejects when the process exits first) */
  waitForStdout(pattern: (stdout: string) => boolean): Promise<void>
  /** resolves with the exit code (or -1 when a signal killed it) and the whole output */
  exited: Promise<Run>
}

/**
 * Starts the `trickle` CLI as a child process like {@link runTrickle}, without waiting for it, so a
 * test can watch its output and send it signals (e.g. SIGINT, as Ctrl-C does).
 */
export function spawnTrickle(args: readonly string[], env: Record<string, string> = {}): RunningTrickle {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  const listeners = new Set<() => void>()
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    stdout += s
    for (const l of listeners) l()
  })
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s
  })
  const exited = new Promise<Run>((done) => {
    child.on('close', (code) => {
      for (const l of listeners) l()
      done({ code: code ?? -1, stdout, stderr })
    })
  })
  return {
    child,
    output: () => ({ stdout, stderr }),
    exited,
    waitForStdout: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (pattern(stdout)) {
            listeners.delete(check)
            resolve()
          } else if (child.exitCode !== null || child.signalCode !== null) {
            listeners.delete(check)
            reject(new Error(`trickle exited before its output matched; stderr:\n${stderr}`))
          }
        }
        listeners.add(check)
        check()
      }),
  }
}
