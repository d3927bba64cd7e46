/**
 * The fuzz run of a live seller at stress size: fuzz.test.ts with 100 000 messages (or
 * `TRICKLE_FUZZ_FRAMES`). Too long for the timed suite on a busy 2-core machine, so it runs under
 * `npm run stress` (vitest.stress.config.ts), after `npm test` in CI.
 */
process.env.TRICKLE_FUZZ_FRAMES ??= '100000'
await import('./fuzz.test.ts')
