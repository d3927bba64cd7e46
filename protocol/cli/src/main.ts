#!/usr/bin/env node
/**
 * The `trickle` command-line tool: `trickle products`, `buy`, `channels`, `topup`, `close`, `finalize`,
 * `channel`.
 * Run `trickle --help` (or `npm run trickle -- --help` from the repository root) for usage.
 */
import { readFileSync } from 'node:fs'
import { INTERRUPTED, runCli } from './program.ts'

function readFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

let stopping = false
const code = await runCli(process.argv, {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  readFile,
  // The first Ctrl-C stops the purchase cleanly (final receipt, report); a second one quits at once.
  onInterrupt: (stop) => {
    process.on('SIGINT', () => {
      if (stopping) process.exit(INTERRUPTED)
      stopping = true
      stop()
    })
  },
})
// helia and ethers may keep sockets or timers alive briefly; the work is done, so leave now —
// after stdout has drained, so a piped summary line is never cut off.
process.stdout.write('', () => process.exit(code))
