import { readdir, readFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const packageRoot = fileURLToPath(new URL('..', import.meta.url))
const sourceDir = join(packageRoot, 'src')

/** Every module specifier in `code`: static imports and re-exports, `import()` and `require()`. */
function specifiers(code: string): { specifier: string; typeOnly: boolean }[] {
  const found: { specifier: string; typeOnly: boolean }[] = []
  const statement = /^\s*(import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm
  for (const match of code.matchAll(statement)) {
    found.push({ specifier: match[3]!, typeOnly: match[2] !== undefined })
  }
  for (const match of code.matchAll(/\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    found.push({ specifier: match[1]!, typeOnly: false })
  }
  return found
}

async function bindingSources(): Promise<{ file: string; code: string }[]> {
  const entries = await readdir(sourceDir, { recursive: true, withFileTypes: true })
  const files = entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
  return Promise.all(
    files.map(async (entry) => {
      const path = join(entry.parentPath, entry.name)
      return { file: relative(packageRoot, path), code: await readFile(path, 'utf8') }
    }),
  )
}

/** Packages of `@trickle/devnet` that must never reach the runtime bindings. */
const devOnly = ['@trickle/devnet', 'solc', '@foundry-rs/anvil', '@openzeppelin/contracts']

describe('@trickle/contracts sources', () => {
  it('import no Node builtin and no dev-only package (solc, anvil, devnet), only declared dependencies', async () => {
    const manifest = JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>
    }
    const declared = Object.keys(manifest.dependencies)
    expect(declared.filter((name) => devOnly.includes(name))).toEqual([])
    const sources = await bindingSources()
    expect(sources.map((source) => source.file)).toContain('src/index.ts')
    const offending: string[] = []
    for (const { file, code } of sources) {
      for (const { specifier } of specifiers(code)) {
        const packageName = specifier.startsWith('@')
          ? specifier.split('/').slice(0, 2).join('/')
          : specifier.split('/')[0]!
        const bad = specifier.startsWith('.')
          ? !specifier.startsWith('./') && !specifier.startsWith('../') // never leaves src (checked below)
          : specifier.startsWith('node:') ||
            builtinModules.includes(packageName) ||
            devOnly.includes(packageName) ||
            !declared.includes(packageName)
        const escapes =
          specifier.startsWith('.') &&
          relative(sourceDir, join(packageRoot, file, '..', specifier)).startsWith('..')
        if (bad || escapes) offending.push(`${file}: ${specifier}`)
      }
    }
    expect(offending).toEqual([])
  })

  it('import abitype for types only, so it adds no code to a bundle', async () => {
    const runtime = (await bindingSources()).flatMap(({ file, code }) =>
      specifiers(code)
        .filter(({ specifier, typeOnly }) => specifier === 'abitype' && !typeOnly)
        .map(() => file),
    )
    expect(runtime).toEqual([])
  })

  it('finds the imports it looks for (the scanner itself)', () => {
    const code = [
      "import { readFile } from 'node:fs'",
      "import type { Abi } from 'abitype'",
      "export { x } from './x.ts'",
      "const solc = await import('solc')",
      "import 'side-effect'",
    ].join('\n')
    expect(specifiers(code)).toEqual([
      { specifier: 'node:fs', typeOnly: false },
      { specifier: 'abitype', typeOnly: true },
      { specifier: './x.ts', typeOnly: false },
      { specifier: 'side-effect', typeOnly: false },
      { specifier: 'solc', typeOnly: false },
    ])
  })
})
