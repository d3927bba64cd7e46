import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { ContractsError } from '@trickle/contracts'
import { HDNodeWallet, JsonRpcProvider } from 'ethers'
import { findAnvil } from './findAnvil.ts'

/** Anvil's well-known development mnemonic; its keys are public, never use them for real funds. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk'

/** Options of {@link startLocalChain}. */
export interface LocalChainOptions {
  /** Chain id; default 31337. */
  chainId?: number
  /** Seconds between blocks; default: mine one block per transaction (automine). */
  blockTimeSeconds?: number
  /** Number of funded dev accounts (10,000 ETH each); default 10. */
  accounts?: number
  /** Path of the anvil executable; default the one from `@foundry-rs/anvil` ({@link findAnvil}). */
  anvilPath?: string
  /** How long to wait for the RPC to answer, in milliseconds; default 20,000. */
  startTimeoutMs?: number
  /**
   * Timestamp of the genesis block, seconds since the epoch; default anvil's start time. Two chains
   * with the same chain id and genesis timestamp have the same genesis hash.
   */
  genesisTimestamp?: number
}

/** A running anvil child process. */
export interface LocalChain {
  /** `http://127.0.0.1:<port>` */
  rpcUrl: string
  chainId: number
  /** Private keys (0x hex) of the funded dev accounts, derived from {@link ANVIL_MNEMONIC}; deterministic. */
  privateKeys: string[]
  /** A provider for `rpcUrl`: static network, 100 ms polling, no request cache (fresh nonces on automine). */
  provider: JsonRpcProvider
  /** Destroys the provider and kills anvil; resolves when it exited. Idempotent. */
  stop(): Promise<void>
}

const running = new Set<ChildProcess>()
let exitHookInstalled = false

/**
 * Starts anvil on 127.0.0.1 on a free port (found with `node:net`, retried when anvil loses the race
 * for it) and waits until `eth_chainId` answers. The child is killed by `stop()`, when this process
 * exits, and on SIGINT/SIGTERM when nothing else handles them.
 *
 * @param options - chain id, block time in seconds, number of accounts, anvil path, start timeout (ms),
 *   genesis timestamp (s)
 * @returns the running chain
 * @throws ContractsError `ANVIL_NOT_FOUND` when the anvil package is missing; `ANVIL_START_FAILED` when
 *   anvil exits or does not answer within the timeout (details hold its output);
 *   `INVALID_ARGUMENT` for a non-positive chain id, block time, account count or genesis timestamp
 */
export async function startLocalChain(options: LocalChainOptions = {}): Promise<LocalChain> {
  const chainId = options.chainId ?? 31337
  const accounts = options.accounts ?? 10
  assertPositiveInteger('chainId', chainId)
  assertPositiveInteger('accounts', accounts)
  if (options.blockTimeSeconds !== undefined)
    assertPositiveInteger('blockTimeSeconds', options.blockTimeSeconds)
  if (options.genesisTimestamp !== undefined)
    assertPositiveInteger('genesisTimestamp', options.genesisTimestamp)
  const anvilPath = options.anvilPath ?? findAnvil()
  const timeoutMs = options.startTimeoutMs ?? 20_000
  installExitHook()

  let lastError: ContractsError | undefined
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId)]
    args.push('--accounts', String(accounts), '--mnemonic', ANVIL_MNEMONIC, '--silent')
    if (options.blockTimeSeconds !== undefined) args.push('--block-time', String(options.blockTimeSeconds))
    if (options.genesisTimestamp !== undefined) args.push('--timestamp', String(options.genesisTimestamp))
    const child = spawn(anvilPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(child)
    const rpcUrl = `http://127.0.0.1:${port}`
    try {
      await waitForRpc(child, rpcUrl, chainId, timeoutMs)
    } catch (error) {
      running.delete(child)
      child.kill('SIGKILL')
      lastError = error as ContractsError
      if (lastError.details?.includes('Address already in use') === true) continue
      throw lastError
    }
    child.stdout?.resume()
    child.stderr?.resume()
    const provider = new JsonRpcProvider(rpcUrl, chainId, {
      staticNetwork: true,
      pollingInterval: 100,
      // ethers caches identical requests for 250 ms by default, which hands out stale nonces on automine.
      cacheTimeout: -1,
    })
    let stopped: Promise<void> | undefined
    return {
      rpcUrl,
      chainId,
      privateKeys: deriveKeys(accounts),
      provider,
      stop: () => {
        stopped ??= stopChild(child, provider)
        return stopped
      },
    }
  }
  throw lastError ?? new ContractsError('ANVIL_START_FAILED', 'anvil did not start')
}

function assertPositiveInteger(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ContractsError('INVALID_ARGUMENT', `${field} must be a positive integer, got ${value}`)
  }
}

function deriveKeys(count: number): string[] {
  const root = HDNodeWallet.fromPhrase(ANVIL_MNEMONIC, undefined, "m/44'/60'/0'/0")
  return Array.from({ length: count }, (_, index) => root.deriveChild(index).privateKey)
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

async function waitForRpc(
  child: ChildProcess,
  rpcUrl: string,
  chainId: number,
  timeoutMs: number,
): Promise<void> {
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  let exited: string | undefined
  child.once('error', (error) => {
    exited = `spawn failed: ${error.message}`
  })
  child.once('exit', (code, signal) => {
    exited = `anvil exited with ${signal ?? `code ${code}`}`
  })
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      throw new ContractsError('ANVIL_START_FAILED', exited, { details: output.trim() })
    }
    try {
      const response = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
        signal: AbortSignal.timeout(1_000),
      })
      const body = (await response.json()) as { result?: string }
      if (body.result !== undefined && Number(body.result) === chainId) return
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new ContractsError('ANVIL_START_FAILED', `anvil did not answer on ${rpcUrl} within ${timeoutMs} ms`, {
    details: output.trim(),
  })
}

async function stopChild(child: ChildProcess, provider: JsonRpcProvider): Promise<void> {
  provider.destroy()
  running.delete(child)
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000)
  await exited
  clearTimeout(timer)
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  const killAll = (): void => {
    for (const child of running) child.kill('SIGKILL')
    running.clear()
  }
  process.once('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll()
      // Re-raise with the default behaviour unless the application handles the signal itself.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
}
