/**
 * `npm run build -w registry-contract`: compiles the contracts (or finds them cached) and prints where
 * the artifacts are and how large the bytecode is.
 * @module
 */
import { loadArtifacts } from './loadArtifacts.ts'

const started = performance.now()
const artifacts = await loadArtifacts()
for (const [name, artifact] of Object.entries(artifacts)) {
  console.log(`${name}: ${(artifact.bytecode.length - 2) / 2} bytes of creation code`)
}
console.log(`artifacts ready in ${Math.round(performance.now() - started)} ms (registry-contract/artifacts/)`)
