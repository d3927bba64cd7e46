#!/usr/bin/env node
/**
 * The `trickle-seller` command: `init`, `keystore`, `check`, `start`, `products`, `channels`,
 * `earnings`, `claim`, `deactivate`, `update`. Run `trickle-seller --help` (or
 * `npm run trickle-seller -- --help` from the repository root) for usage.
 */
import { runSellerTool } from './program.ts'

const stop = new AbortController()
let signals = 0
const onSignal = () => {
  // The first signal stops cleanly (sessions closed, claims finished); a second one quits at once.
  if (++signals > 1) process.exit(130)
  stop.abort()
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

const code = await runSellerTool(process.argv, {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: stop.signal,
})
// helia, ethers and mqtt may keep sockets or timers alive briefly: leave once stdout has drained.
process.stdout.write('', () => process.exit(code))
