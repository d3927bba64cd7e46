import { execFile } from 'node:child_process'
import { delimiter, dirname } from 'node:path'

/**
 * The environment of a process that must see only what a developer's machine has: no
 * `--conditions=trickle-source` (installed tarballs carry `src/`, and Node would load their
 * TypeScript), no npm script variables of the repository, and this Node 24 first on `PATH` (for npm
 * and `#!/usr/bin/env node` bins).
 */
export function installedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_(package_|lifecycle_|config_(local_)?prefix$)/i.test(key) || key === 'INIT_CWD') continue
    env[key] = value
  }
  env.NODE_OPTIONS = (env.NODE_OPTIONS ?? '').replace('--conditions=trickle-source', '').trim()
  env.PATH = `${dirname(process.execPath)}${delimiter}${env.PATH ?? ''}`
  return env
}

/** What a finished command printed. */
export interface RunResult {
  stdout: string
  stderr: string
}

/**
 * Runs a command to completion in {@link installedEnv} plus `env`.
 * @param timeoutMs - ms before the command is killed (SIGTERM) and the promise rejects
 * @throws Error with the command's stderr when it exits non-zero or times out
 */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: { ...installedEnv(), ...options.env },
        timeout: options.timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stderr}`, { cause: err }))
        } else {
          resolve({ stdout, stderr })
        }
      },
    )
  })
}
