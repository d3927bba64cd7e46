import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SRC = join(dirname(fileURLToPath(import.meta.url)), '../src')

/** Every source file the module at `entry` reaches through relative imports, and its bare imports. */
function importGraph(entry: string): { files: string[]; packages: Set<string> } {
  const files: string[] = []
  const packages = new Set<string>()
  const todo = [resolve(entry)]
  while (todo.length > 0) {
    const file = todo.pop()!
    if (files.includes(file)) continue
    files.push(file)
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)) {
      const spec = m[1] ?? m[2]!
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec))
      else packages.add(spec)
    }
  }
  return { files, packages }
}

describe('@trickle/sdk main entry', () => {
  it('imports no node: module, no ws and uses no Buffer, so it runs unchanged in a browser', () => {
    const { files, packages } = importGraph(join(SRC, 'index.ts'))
    expect(files.length).toBeGreaterThan(10)
    expect([...packages].filter((p) => p.startsWith('node:') || p === 'ws')).toEqual([])
    const usesBuffer = files.filter((f) => /\bBuffer\b(?!Limits|ed)/.test(readFileSync(f, 'utf8')))
    expect(usesBuffer).toEqual([])
  })
})
