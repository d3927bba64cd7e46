import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

const SCRIPT = fileURLToPath(new URL('./sellerProcess.ts', import.meta.url))

/** A seller running in a child process (see `sellerProcess.ts`). */
export interface SellerProcess {
  url: string
  httpUrl: string
  address: string
  /** product ids, in the order of `airQualityProducts` */
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
