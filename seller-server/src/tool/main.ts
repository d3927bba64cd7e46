#!/usr/bin/env node
/**
 * The `trickle-seller` command: `init`, `keystore`, `check`, `start`, `products`, `channels`,
 * `earnings`, `claim`, `deactivate`, `update`; SIGHUP reloads a running `start`'s products. Run
 * `trickle-seller --help` (or `npm run trickle-seller -- --help` from the repository root) for usage.
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
// SIGHUP asks `start` to reload its config; it never ends the process (nor while `start` starts).
const hangups = new Set<() => void>()
process.on('SIGHUP', () => {
  for (const listener of hangups) listener()
})

const code = await runSellerTool(process.argv, {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: stop.signal,
  onHangup: (listener) => {
    hangups.add(listener)
    return () => hangups.delete(listener)
  },
})
// helia, ethers and mqtt may keep sockets or timers alive briefly: leave once stdout has drained.
process.stdout.write('', () => process.exit(code))
