/**
 * `npm run generate -w @trickle/devnet`: compiles the contracts (or finds them cached) and writes the
 * generated ABI modules of `@trickle/contracts` (`registry-contract/src/generated/`). Commit the result;
 * a test fails while the committed files differ from what this writes.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { BINDINGS_SOURCE_DIR, generateBindings } from './generateBindings.ts'
import { loadArtifacts } from './loadArtifacts.ts'

for (const file of generateBindings(await loadArtifacts())) {
  const target = join(BINDINGS_SOURCE_DIR, file.path)
  await mkdir(dirname(target), { recursive: true })
  await writeFile(target, file.contents)
  console.log(`wrote registry-contract/src/${file.path}`)
}
