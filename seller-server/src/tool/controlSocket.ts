import { createHash } from 'node:crypto'
import { chmodSync, existsSync, unlinkSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Hex } from '@trickle/protocol'
import { SellerToolError } from './SellerToolError.ts'

/** What a running `trickle-seller start` reports about itself. */
export interface ServiceStatus {
  pid: number
  /** WebSocket URL it listens on */
  url: string
  /** the payee */
  address: string
  /** sessions live now */
  sessions: number
  /** product key → id, as published at its start, and the sessions it serves now */
  products: { key: string; productId: string; sessions: number }[]
  /** whether it can take receipts now, and why not */
  health: { ok: boolean; reasons: string[] }
}

/** One channel's outcome of a claim request. */
export interface ClaimOutcome {
  channelId: Hex
  /** wei the mined claim paid, decimal; absent when there was nothing to claim or it failed */
  paid?: string
  /** the channel's claimed total after it, wei, decimal */
  cumulativeAmount?: string
  txHash?: string
  /** `error <CODE>: message` when the claim failed */
  error?: string
}

/** What a reload of the config into the running service did. */
export interface ReloadOutcome {
  /** the products sold now; `changed` when an update or a registration was sent for it */
  products: { key: string; productId: string; cid: string; pricePerChunk: string; changed: boolean }[]
  /** products deactivated on-chain because the config no longer lists them */
  deactivated: { key: string; productId: string }[]
  /** config sections that changed but take effect only at the next start (e.g. `broker`) */
  restartNeeded: string[]
}

/** What the control socket serves. */
export interface ControlHandlers {
  status(): ServiceStatus
  /** claims one channel now, or every channel with unclaimed receipts when `channelId` is absent */
  claim(channelId: Hex | undefined): Promise<ClaimOutcome[]>
  /** reads the config file again and sells its products (see `runService`) */
  reload(): Promise<ReloadOutcome>
}

/** Unix socket paths are limited to about 104 bytes; a longer one moves to the temp folder. */
const MAX_SOCKET_PATH = 100

/**
 * Where the service of a data directory listens for `trickle-seller` commands: `<dataDir>/seller.sock`,
 * or a file in the temp folder named after the data directory when that path is too long for a Unix
 * socket. Only the service's user may connect (mode 0600).
 */
export function controlSocketPath(dataDir: string): string {
  const inDir = join(resolve(dataDir), 'seller.sock')
  if (Buffer.byteLength(inDir) <= MAX_SOCKET_PATH) return inDir
  const digest = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16)
  return join(tmpdir(), `trickle-seller-${digest}.sock`)
}

/**
 * Asks the service listening on `path`.
 * @returns its answer, or undefined when no service listens there
 * @throws Error the service's failure (with the `code` it gave), or a timeout after `timeoutMs` ms
 */
export async function askService<T>(
  path: string,
  route: '/status' | '/claim' | '/reload',
  body?: unknown,
  timeoutMs = 120_000,
): Promise<T | undefined> {
  if (!existsSync(path)) return undefined
  return new Promise<T | undefined>((resolvePromise, reject) => {
    const req = request(
      { socketPath: path, path: route, method: body === undefined ? 'GET' : 'POST', timeout: timeoutMs },
      (res) => {
        const parts: Buffer[] = []
        res.on('data', (part: Buffer) => parts.push(part))
        res.on('end', () => {
          try {
            const answer = JSON.parse(Buffer.concat(parts).toString('utf8')) as T & {
              error?: string
              code?: string
            }
            if (res.statusCode !== 200) {
              const failure = new Error(answer.error ?? `the service answered ${res.statusCode}`)
              reject(answer.code === undefined ? failure : Object.assign(failure, { code: answer.code }))
            } else resolvePromise(answer)
          } catch (err) {
            reject(err)
          }
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`the service did not answer within ${timeoutMs} ms`)))
    req.on('error', (err: NodeJS.ErrnoException) => {
      // a socket file without a listener: a service that died without removing it
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolvePromise(undefined)
      else reject(err)
    })
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

/**
 * Serves {@link ControlHandlers} on a Unix socket (mode 0600): `GET /status`, `POST /claim`
 * `{ channelId? }`, `POST /reload`. A socket file left by a service that died is replaced.
 * @throws SellerToolError `SERVICE_RUNNING` when another service of this data directory answers there
 */
export async function serveControl(
  path: string,
  handlers: ControlHandlers,
): Promise<{ close(): Promise<void> }> {
  const running = await askService<ServiceStatus>(path, '/status', undefined, 5_000).catch(() => undefined)
  if (running) {
    throw new SellerToolError(
      'SERVICE_RUNNING',
      `a seller (pid ${running.pid}) already runs on this data directory; stop it first`,
    )
  }
  if (existsSync(path)) unlinkSync(path)
  const server: Server = createServer((req, res) => {
    const reply = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value))
    }
    if (req.method === 'GET' && req.url === '/status') {
      reply(200, handlers.status())
      return
    }
    if (req.method === 'POST' && req.url === '/reload') {
      req.resume()
      handlers.reload().then(
        (outcome) => reply(200, outcome),
        (err: Error & { code?: unknown }) =>
          reply(500, { error: err.message, ...(typeof err.code === 'string' ? { code: err.code } : {}) }),
      )
      return
    }
    if (req.method !== 'POST' || req.url !== '/claim') {
      reply(404, { error: 'unknown request' })
      return
    }
    const parts: Buffer[] = []
    req.on('data', (part: Buffer) => parts.push(part))
    req.on('end', (): void => {
      let channelId: Hex | undefined
      try {
        const body = JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') as { channelId?: unknown }
        if (body.channelId !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(String(body.channelId))) {
          reply(400, { error: 'channelId must be a 32-byte 0x hex id' })
          return
        }
        channelId = body.channelId as Hex | undefined
      } catch {
        reply(400, { error: 'the body must be JSON' })
        return
      }
      handlers.claim(channelId).then(
        (outcomes) => reply(200, outcomes),
        (err: Error) => reply(500, { error: err.message }),
      )
    })
  })
  const oldMask = process.umask(0o177)
  try {
    await new Promise<void>((resolvePromise, reject) => {
      server.once('error', reject)
      server.listen(path, resolvePromise)
    })
  } finally {
    process.umask(oldMask)
  }
  chmodSync(path, 0o600)
  return {
    close: () =>
      new Promise<void>((resolvePromise) => {
        server.close(() => resolvePromise())
        server.closeAllConnections()
      }),
  }
}
