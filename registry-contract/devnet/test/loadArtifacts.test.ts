import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadArtifacts } from '@trickle/devnet'
import { describe, expect, it } from 'vitest'

describe('loadArtifacts', () => {
  it('writes one cache file keyed by the sources and reads it back unchanged', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'trickle-artifacts-'))
    try {
      const compiled = await loadArtifacts({ cacheDir })
      const files = await readdir(cacheDir)
      expect(files).toHaveLength(1)
      expect(files[0]).toMatch(/^[0-9a-f]{32}\.json$/)
      const cached = await loadArtifacts({ cacheDir })
      expect(cached).toEqual(compiled)
      expect(compiled.StreamChannels.bytecode).toMatch(/^0x[0-9a-f]+$/)
    } finally {
      await rm(cacheDir, { recursive: true, force: true })
    }
  })
})
