import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { run } from './run.ts'

const repoRoot = resolve(import.meta.dirname, '../../..')

/** One packed workspace package. */
export interface PackedPackage {
  name: string
  /** absolute path of the `.tgz` */
  tarball: string
  /** bytes of the tarball */
  size: number
}

/**
 * `npm pack`s every publishable (non-private) workspace package into `destination`, in the root
 * package.json's workspace order (dependency order: each `prepack` build finds the `dist/` of what it
 * imports).
 * @param timeoutMs - ms for the whole run, builds included
 */
export async function packPublishable(destination: string, timeoutMs: number): Promise<PackedPackage[]> {
  const root = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { workspaces: string[] }
  const names = root.workspaces
    .map((dir) => JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8')) as Manifest)
    .filter((pkg) => pkg.private !== true)
    .map((pkg) => pkg.name)
  const { stdout } = await run(
    'npm',
    ['pack', ...names.flatMap((n) => ['-w', n]), '--pack-destination', destination, '--json'],
    { cwd: repoRoot, timeoutMs },
  )
  const packed = JSON.parse(stdout) as { name: string; filename: string; size: number }[]
  return packed.map((p) => ({ name: p.name, tarball: join(destination, p.filename), size: p.size }))
}

interface Manifest {
  name: string
  private?: boolean
}
