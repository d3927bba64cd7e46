import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { lstat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { run } from './run.ts'

/**
 * Creates a project outside the repository (in `os.tmpdir()`) and `npm install`s `specs` into it
 * the way a developer would: tarballs, registry names; dependencies from the npm cache or registry.
 * @param specs - what `npm install` is given (tarball paths, `name@range`)
 * @param timeoutMs - ms for the install
 * @returns the project's directory
 */
export async function installScratchProject(specs: readonly string[], timeoutMs: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'trickle-scratch-'))
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'trickle-scratch', private: true, type: 'module' }, null, 2),
  )
  await run('npm', ['install', ...specs, '--prefer-offline', '--no-audit', '--no-fund', '--prefix', dir], {
    cwd: dir,
    timeoutMs,
  })
  return dir
}

/** How much a project's `node_modules` holds. */
export interface InstallSize {
  /** installed package directories (nested duplicates counted) */
  packages: number
  /** apparent size of every file under node_modules, bytes */
  bytes: number
}

/** Measures a project's `node_modules` from npm's hidden lockfile and the file sizes. */
export async function installSize(dir: string): Promise<InstallSize> {
  const lock = JSON.parse(readFileSync(join(dir, 'node_modules/.package-lock.json'), 'utf8')) as {
    packages: Record<string, { link?: boolean }>
  }
  const packages = Object.entries(lock.packages).filter(([path, p]) => path !== '' && !p.link).length
  let bytes = 0
  const files = readdirSync(join(dir, 'node_modules'), { recursive: true, withFileTypes: true })
  for (const entry of files) {
    if (entry.isFile()) bytes += (await lstat(join(entry.parentPath, entry.name))).size
  }
  return { packages, bytes }
}
