import { defineConfig } from 'vitest/config'
import base from './vitest.config.ts'

/**
 * `npm run stress`: the stress-sized runs (files named `<name>.stress.ts` in a package's `test/`),
 * kept out of the timed suite. They bound their work by count and carry their own generous timeouts.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['*/test/**/*.stress.ts'],
    // One at a time: each starts its own chain, broker and seller and loads both cores.
    maxWorkers: 1,
  },
})
