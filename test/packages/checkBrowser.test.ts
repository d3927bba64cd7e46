import { execFile } from 'node:child_process'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { readsBufferGlobal } from '../../scripts/findNodeOnlyCode.ts'

const repoRoot = resolve(import.meta.dirname, '../..')
const fixtures = join(import.meta.dirname, 'fixtures')

/** Runs `npm run check:browser -- <dir>` the way CI does; exit code and output. */
async function checkBrowser(dir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(repoRoot, 'scripts/checkBrowser.ts'), dir],
      { cwd: repoRoot, timeout: 60_000 },
    )
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: unknown; stdout: string; stderr: string }
    if (typeof e.code !== 'number') throw err
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('check:browser', () => {
  it('fails on a package importing node:fs and bare crypto, naming each import chain', async () => {
    const result = await checkBrowser(join(fixtures, 'reads-node-fs'))
    expect(result.code).toBe(1)
    const root = 'test/packages/fixtures/reads-node-fs/src'
    expect(result.stderr).toContain(`imports node:fs:\n      ${root}/index.js\n    → ${root}/config.js`)
    expect(result.stderr).toContain(`imports crypto:\n      ${root}/index.js\n    → ${root}/digest.js`)
  })

  it('fails on a package reading the Buffer global without importing anything', async () => {
    const result = await checkBrowser(join(fixtures, 'reads-buffer-global'))
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      'reads the Buffer global:\n      test/packages/fixtures/reads-buffer-global/src/index.js',
    )
  })

  it('passes a package whose only Buffer is its own binding or a property name', async () => {
    const result = await checkBrowser(join(fixtures, 'browser-safe'))
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
  })
})

describe('readsBufferGlobal', () => {
  it('sees reads of the global, direct or through globalThis', () => {
    expect(readsBufferGlobal('export const b = Buffer.alloc(1)')).toBe(true)
    expect(readsBufferGlobal('export const has = typeof Buffer !== "undefined"')).toBe(true)
    expect(readsBufferGlobal('export const B = globalThis.Buffer')).toBe(true)
    expect(readsBufferGlobal('export const B = globalThis["Buffer"]')).toBe(true)
    expect(readsBufferGlobal('export const o = { Buffer }')).toBe(true)
  })

  it('ignores ArrayBuffer, property names, comments, strings and a declared binding', () => {
    expect(readsBufferGlobal('// Buffer\nexport const a = new ArrayBuffer(1), s = "Buffer"')).toBe(false)
    expect(readsBufferGlobal('export const f = (o) => o.Buffer ?? { Buffer: 1 }')).toBe(false)
    expect(readsBufferGlobal('import { Buffer } from "buffer"; export const b = Buffer.alloc(1)')).toBe(false)
    expect(readsBufferGlobal('const Buffer = Uint8Array; export const b = new Buffer(1)')).toBe(false)
  })
})
