import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DATA_REGISTRY_ABI, STREAM_CHANNELS_ABI } from '@trickle/contracts'
import { loadArtifacts } from '@trickle/devnet'
import { type Fragment, Interface, type InterfaceAbi } from 'ethers'
import { describe, expect, it } from 'vitest'

/** Every fragment as types, indexed flags, mutability and outputs (names differ harmlessly). */
function signatures(abi: InterfaceAbi): string[] {
  return new Interface(abi).fragments.map((fragment: Fragment) => fragment.format('minimal')).sort()
}

describe('human-readable ABIs', () => {
  it('list exactly the functions, events, errors and constructor of the compiled contracts', async () => {
    const artifacts = await loadArtifacts()
    expect(signatures(DATA_REGISTRY_ABI)).toEqual(signatures(artifacts.DataRegistry.abi))
    expect(signatures(STREAM_CHANNELS_ABI)).toEqual(signatures(artifacts.StreamChannels.abi))
  })

  it('name the getChannel struct fields like the contract does', async () => {
    const artifacts = await loadArtifacts()
    const compiled = new Interface(artifacts.StreamChannels.abi).getFunction('getChannel')
    const handWritten = new Interface(STREAM_CHANNELS_ABI).getFunction('getChannel')
    const names = (fragment: typeof compiled) => fragment?.outputs[0]?.components?.map((c) => c.name)
    expect(names(handWritten)).toEqual(names(compiled))
    expect(names(handWritten)).toContain('previousSignerValidUntil')
  })
})

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
