import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import sirv from 'sirv'
import { type StorefrontConfig, storefrontConfigOf } from './storefrontConfig.ts'

/** `web/dist`, where `buildStorefront` writes by default. */
const DEFAULT_DIR = fileURLToPath(new URL('../dist', import.meta.url))

/** Options of {@link serveStorefront}. */
export interface ServeStorefrontOptions {
  /** what `GET /config.json` answers; passed through `storefrontConfigOf` again, so no key leaks */
  config: StorefrontConfig
  /** the built storefront (holds `index.html`); default `web/dist` */
  dir?: string
  /** interface to listen on; default `127.0.0.1` */
  host?: string
  /** TCP port; default 0, any free port */
  port?: number
}

/** A running storefront server. */
export interface StorefrontServer {
  /** `http://<host>:<port>`, with the port actually bound */
  url: string
  /** Stops listening and closes every open connection (keep-alive ones too). Idempotent. */
  close(): Promise<void>
}

/**
 * Serves a built storefront over HTTP: the files of `dir` (hashed assets cached for a year, the rest
 * revalidated), `index.html` for any other path without a file extension (a single-page app; its
 * routes are hash routes anyway), 204 for a `/favicon.ico` the build lacks, and `GET /config.json`
 * with the marketplace config the app reads at load, never cached. Only `GET` and `HEAD` are answered
 * (405 otherwise).
 *
 * @param options - the config, the built directory, host and port
 * @returns the URL and a `close()`
 * @throws Error when `dir` holds no `index.html` (run `buildStorefront` first)
 * @throws Error when the config lacks a field the storefront needs (from `storefrontConfigOf`)
 * @throws Error naming host and port when listening fails; its `code` is the socket error's code
 *   (`EADDRINUSE` when the port is taken, `EACCES` for a privileged port) and `cause` the socket error
 */
export async function serveStorefront(options: ServeStorefrontOptions): Promise<StorefrontServer> {
  const dir = options.dir ?? DEFAULT_DIR
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 0
  if (!existsSync(join(dir, 'index.html'))) {
    throw new Error(`storefront: ${dir} holds no index.html; build it first (buildStorefront)`)
  }
  const configJson = JSON.stringify(storefrontConfigOf({ ...options.config }))
  const hasFavicon = existsSync(join(dir, 'favicon.ico'))
  const files = sirv(dir, {
    single: true,
    etag: true,
    setHeaders: (res, pathname) => {
      res.setHeader('x-content-type-options', 'nosniff')
      res.setHeader(
        'cache-control',
        pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      )
    },
  })
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    const { pathname } = new URL(req.url ?? '/', 'http://storefront')
    if (pathname === '/favicon.ico' && !hasFavicon) {
      // Browsers ask for it unprompted; "no content" keeps a 404 out of the console.
      res.writeHead(204).end()
      return
    }
    if (pathname === '/config.json') {
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'content-length': Buffer.byteLength(configJson),
      })
      res.end(req.method === 'HEAD' ? undefined : configJson)
      return
    }
    files(req, res, () => {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const reason = err.code === 'EADDRINUSE' ? 'the port is in use' : err.message
      reject(
        Object.assign(
          new Error(`storefront: cannot listen on ${host} port ${port}: ${reason}`, { cause: err }),
          {
            code: err.code ?? 'LISTEN_FAILED',
          },
        ),
      )
    })
    server.listen(port, host, () => resolve())
  })
  const bound = (server.address() as AddressInfo).port
  let closed: Promise<void> | undefined
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closed
    },
  }
}
