import { execFile } from 'node:child_process'
import { resolve } from 'node:path'

const MAIN = resolve(import.meta.dirname, '../../src/main.ts')

/** What a `trickle` run produced. */
export interface Run {
  code: number
  stdout: string
  stderr: string
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
        timeout: 30_000,
        env: {
          ...process.env,
          TRICKLE_PRIVATE_KEY: '',
          TRICKLE_KEY_FILE: '',
          TRICKLE_KEYSTORE: '',
          TRICKLE_CHAIN: '',
          ...env,
        },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
        done({ code, stdout, stderr })
      },
    )
  })
}
