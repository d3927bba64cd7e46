import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DATA_REGISTRY_ABI, JOB_ATTESTATIONS_ABI, STREAM_CHANNELS_ABI } from '@trickle/contracts'
import { BINDINGS_SOURCE_DIR, GENERATE_COMMAND, generateBindings, loadArtifacts } from '@trickle/devnet'
import { describe, expect, it } from 'vitest'

describe('generateBindings', () => {
  it('matches the committed generated ABI modules byte for byte (else: run the generate script)', async () => {
    const files = generateBindings(await loadArtifacts())
    expect(files.map((file) => file.path).sort()).toEqual([
      'generated/dataRegistryAbi.ts',
      'generated/jobAttestationsAbi.ts',
      'generated/streamChannelsAbi.ts',
    ])
    for (const file of files) {
      const committed = await readFile(join(BINDINGS_SOURCE_DIR, file.path), 'utf8')
      expect(committed, `registry-contract/src/${file.path} is stale: run \`${GENERATE_COMMAND}\``).toBe(
        file.contents,
      )
    }
  })

  it('exports the compiled ABIs unchanged, so the bindings need no compiler', async () => {
    const artifacts = await loadArtifacts()
    expect(DATA_REGISTRY_ABI).toEqual(artifacts.DataRegistry.abi)
    expect(STREAM_CHANNELS_ABI).toEqual(artifacts.StreamChannels.abi)
    expect(JOB_ATTESTATIONS_ABI).toEqual(artifacts.JobAttestations.abi)
  })

  it('renders a changed ABI into a different module naming the command and the contract', async () => {
    const artifacts = await loadArtifacts()
    const changed = {
      ...artifacts,
      DataRegistry: { ...artifacts.DataRegistry, abi: [{ type: 'error', name: 'Added', inputs: [] }] },
    }
    const [registry] = generateBindings(changed)
    expect(registry?.contents).toContain('"name": "Added"')
    expect(registry?.contents).toContain(GENERATE_COMMAND)
    expect(registry?.contents).toContain('registry-contract/contracts/DataRegistry.sol')
    expect(registry?.contents).toMatch(/^export const DATA_REGISTRY_ABI = \[$/m)
    expect(registry?.contents).toMatch(/\] as const satisfies Abi\n$/)
  })
})
