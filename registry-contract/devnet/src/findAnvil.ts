import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { ContractsError } from '@trickle/contracts'

const architectures: Record<string, string> = { x64: 'amd64', arm64: 'arm64' }

/**
 * Finds the anvil binary shipped by the npm package `@foundry-rs/anvil`, whose per-platform optional
 * dependencies are named `@foundry-rs/anvil-<platform>-<arch>` (`linux-amd64`, `darwin-arm64`,
 * `win32-amd64`, ...) and hold `bin/anvil` (`bin/anvil.exe` on Windows).
 *
 * @param platform - a `process.platform` value; default the current one
 * @param arch - a `process.arch` value; default the current one
 * @returns absolute path of the anvil executable
 * @throws ContractsError `ANVIL_NOT_FOUND` when no package for this platform is installed
 */
export function findAnvil(platform: string = process.platform, arch: string = process.arch): string {
  const packageName = `@foundry-rs/anvil-${platform}-${architectures[arch] ?? arch}`
  const require = createRequire(import.meta.url)
  let packageDir: string
  try {
    packageDir = dirname(require.resolve(`${packageName}/package.json`))
  } catch (cause) {
    throw new ContractsError('ANVIL_NOT_FOUND', `${packageName} is not installed; run npm install`, { cause })
  }
  const binary = join(packageDir, 'bin', platform === 'win32' ? 'anvil.exe' : 'anvil')
  if (!existsSync(binary)) {
    throw new ContractsError('ANVIL_NOT_FOUND', `${binary} is missing; reinstall @foundry-rs/anvil`)
  }
  return binary
}
