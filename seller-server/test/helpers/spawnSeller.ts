import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { LocalMarketplace } from '@trickle/devnet'
import { openReceiptStore, type ReceiptStore } from '../../src/index.ts'
import type { JobSpec } from '../../src/jobs/jobProvider.ts'

const SCRIPT = fileURLToPath(new URL('./sellerProcess.ts', import.meta.url))

/** A seller running in a child process (see `sellerProcess.ts`). */
export interface SellerProcess {
  url: string
  httpUrl: string
  address: string
  /** product ids, in the order of `airQualityProducts` (then the dataset, if any) */
  products: bigint[]
  child: ChildProcess
  /** SIGKILL: no shutdown code runs */
  kill(): Promise<void>
}

/** Starts `sellerProcess.ts` with `options` (JSON) and waits for its ready line. */
export async function spawnSeller(options: Record<string, unknown>): Promise<SellerProcess> {
  const child = spawn(process.execPath, [SCRIPT, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let buffered = ''
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (part: Buffer) => {
      buffered += part.toString('utf8')
      const end = buffered.indexOf('\n')
      if (end >= 0) resolve(buffered.slice(0, end))
    })
    child.once('exit', (code) =>
      reject(new Error(`the seller process exited with ${code} before it was ready`)),
    )
  })
  const line = JSON.parse(await ready) as {
    url: string
    httpUrl: string
    address: string
    products: string[]
  }
  return {
    ...line,
    products: line.products.map(BigInt),
    child,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    },
  }
}

/** A TCP port free on 127.0.0.1 right now, so a restarted seller can keep its address. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * Spawns a seller process on `market`'s chain, contracts and broker, selling with anvil key
 * `keyIndex` at `price` wei per chunk. It never claims on its own (threshold 10^30 wei, no claim on
 * session end) unless the payer requests close; polls events every 100 ms and sweeps every 500 ms.
 */
export function spawnMarketSeller(
  market: LocalMarketplace,
  options: {
    keyIndex: number
    dataDir: string
    port: number
    price: bigint
    datasetPrice?: bigint
    /** also sell a `compute` product running these jobs at `price` wei per unit (see `sellerProcess.ts`) */
    compute?: { price: bigint; job: JobSpec }
  },
): Promise<SellerProcess> {
  return spawnSeller({
    rpcUrl: market.rpcUrl,
    chainId: market.chainId,
    registry: market.deployment.registry,
    channels: market.deployment.channels,
    sellerKey: market.chain!.privateKeys[options.keyIndex],
    brokerUrl: market.brokerUrl,
    dataDir: options.dataDir,
    port: options.port,
    price: options.price.toString(),
    ...(options.datasetPrice !== undefined ? { datasetPrice: options.datasetPrice.toString() } : {}),
    ...(options.compute
      ? { compute: { price: options.compute.price.toString(), job: options.compute.job } }
      : {}),
    settlement: {
      claimThreshold: (10n ** 30n).toString(),
      claimOnSessionEnd: false,
      pollIntervalMs: 100,
      sweepIntervalMs: 500,
    },
  })
}

/** Opens the ledger a seller process keeps under `dataDir` (read alongside the running process). */
export function ledgerIn(dataDir: string): ReceiptStore {
  const file = readdirSync(dataDir, { recursive: true, encoding: 'utf8' }).find((f) =>
    f.endsWith('receipts.sqlite'),
  )
  if (!file) throw new Error(`no ledger under ${dataDir}`)
  return openReceiptStore(join(dataDir, file))
}
