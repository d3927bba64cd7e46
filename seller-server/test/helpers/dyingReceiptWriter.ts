/**
 * A stand-in for `receiptWriterWorker.ts` that dies (exit code 3) on the first batch it is handed,
 * before committing it: what a writer thread crashing mid-transaction looks like to the store.
 */
import { parentPort } from 'node:worker_threads'

parentPort!.once('message', () => process.exit(3))
