import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Integration suites each start their own anvil/broker/seller; two cores, so keep it modest.
    maxWorkers: 2,
  },
})
