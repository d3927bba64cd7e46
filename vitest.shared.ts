/**
 * In this repository every `@trickle/*` package resolves to its TypeScript source through the
 * `trickle-source` export condition (published tarballs resolve to `dist/`). Vite resolves test
 * imports with it; Node itself needs `--conditions`, which `NODE_OPTIONS` hands to the test workers
 * and to every child process and worker thread a test starts (a seller, the CLI, receipt verifiers).
 */
const CONDITION = '--conditions=trickle-source'
if (!(process.env.NODE_OPTIONS ?? '').includes(CONDITION)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${CONDITION}`.trim()
}

/** Vite resolve options that pick the TypeScript sources of the workspace packages. */
export const sourceConditions = {
  resolve: { conditions: ['trickle-source', 'module', 'node', 'development|production'] },
  ssr: { resolve: { conditions: ['trickle-source', 'module', 'node', 'development|production'] } },
}
