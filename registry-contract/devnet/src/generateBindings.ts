import { fileURLToPath } from 'node:url'
import type { Artifacts } from './loadArtifacts.ts'

/** One file of generated bindings. */
export interface GeneratedFile {
  /** Path relative to `registry-contract/src/`, `/`-separated, e.g. `generated/dataRegistryAbi.ts`. */
  readonly path: string
  /** The whole file, ending with a newline. */
  readonly contents: string
}

/** `registry-contract/src/`: where {@link GeneratedFile.path} is relative to. */
export const BINDINGS_SOURCE_DIR: string = fileURLToPath(new URL('../../src/', import.meta.url))

/** The command that regenerates the bindings, named in every generated file's header. */
export const GENERATE_COMMAND = 'npm run generate -w @trickle/devnet'

interface BindingSpec {
  /** Contract name in the solc output. */
  readonly contract: 'DataRegistry' | 'StreamChannels' | 'JobAttestations'
  /** Exported constant. */
  readonly constant: string
  /** File under `registry-contract/src/`. */
  readonly path: string
  /** What the typed wrapper converts, for the constant's TSDoc. */
  readonly wrapper: string
}

const bindings: readonly BindingSpec[] = [
  {
    contract: 'DataRegistry',
    constant: 'DATA_REGISTRY_ABI',
    path: 'generated/dataRegistryAbi.ts',
    wrapper: "{@link registryAt} converts `getProduct`'s `kind` to a number",
  },
  {
    contract: 'StreamChannels',
    constant: 'STREAM_CHANNELS_ABI',
    path: 'generated/streamChannelsAbi.ts',
    wrapper: "{@link channelsAt} converts `getChannel`'s `status` to a number",
  },
  {
    contract: 'JobAttestations',
    constant: 'JOB_ATTESTATIONS_ABI',
    path: 'generated/jobAttestationsAbi.ts',
    wrapper: '{@link attestationsAt} adds `findAttestation`, which finds the `Attested` event of a hash',
  },
]

/**
 * Renders the ABI modules of `@trickle/contracts` from the solc output: for each of DataRegistry,
 * StreamChannels and JobAttestations, `export const <NAME>_ABI = [...] as const satisfies Abi` holding the JSON ABI exactly
 * as solc emitted it, under a "generated — do not edit" header. The runtime bindings import these
 * files and derive their method types from the literal types, so they never need solc. Pure: the
 * same artifacts give byte-identical files, which the staleness test relies on.
 *
 * @param artifacts - the compiled contracts, as {@link loadArtifacts} returns them
 * @returns the files to write under {@link BINDINGS_SOURCE_DIR}
 */
export function generateBindings(
  artifacts: Pick<Artifacts, 'DataRegistry' | 'StreamChannels' | 'JobAttestations'>,
): GeneratedFile[] {
  return bindings.map((spec) => ({
    path: spec.path,
    contents: renderAbiModule(spec, artifacts[spec.contract].abi),
  }))
}

function renderAbiModule(spec: BindingSpec, abi: unknown): string {
  return [
    `// Generated from the solc output of registry-contract/contracts/${spec.contract}.sol by`,
    '// registry-contract/devnet/src/generateBindings.ts — do not edit; run',
    `// \`${GENERATE_COMMAND}\` after changing the contract.`,
    '// biome-ignore-all format: generated JSON, kept byte for byte as the generator writes it',
    "import type { Abi } from 'abitype'",
    '',
    '/**',
    ` * JSON ABI of ${spec.contract}, as emitted by solc, with literal types (\`as const\`) from which the`,
    ' * typed wrappers derive their method types. Note that raw ethers decodes every `uint8` as `bigint`;',
    ` * ${spec.wrapper}.`,
    ' */',
    `export const ${spec.constant} = ${JSON.stringify(abi, null, 2)} as const satisfies Abi`,
    '',
  ].join('\n')
}
