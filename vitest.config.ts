import { defineConfig } from 'vitest/config'
import { sourceConditions } from './vitest.shared.ts'

export default defineConfig({
  ...sourceConditions,
  test: {
    include: [
      'test/**/*.test.ts',
      '*/test/**/*.test.ts',
      'protocol/*/test/**/*.test.ts',
      'registry-contract/*/test/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Integration suites each start their own anvil/broker/seller; two cores, so keep it modest.
    maxWorkers: 2,
  },
})
