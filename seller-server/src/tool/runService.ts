import { mkdirSync } from 'node:fs'
import { registryAt } from '@trickle/contracts'
import { type Hex, hasCode, TrickleError } from '@trickle/protocol'
import { feeOverrides } from '@trickle/sdk'
import { Wallet } from 'ethers'
import mqtt from 'mqtt'
import pRetry from 'p-retry'
import type { Logger } from 'pino'
import { deactivateDroppedProducts } from '../deactivateProducts.ts'
import type { MqttSourceOptions } from '../mqttSource.ts'
import { openReceiptStore } from '../receiptStore.ts'
import { type SellerServer, startSellerServer } from '../startSellerServer.ts'
import { claimChannels } from './claimChannels.ts'
import { type ClaimOutcome, controlSocketPath, serveControl } from './controlSocket.ts'
import type { ParsedSellerConfig } from './parseSellerConfig.ts'
import { connectChain, ledgerPathOf } from './payeeViews.ts'
import { reasonOf } from './reasonOf.ts'
import { serverOptionsOf } from './serverOptions.ts'

/** Delays between start attempts while the chain or the broker cannot be reached, ms. */
export const START_RETRY = { minTimeout: 1_000, maxTimeout: 30_000, factor: 2 }

/** What the long-lived service needs from its process. */
export interface ServiceIo {
  /** one human-readable line (stdout) */
  say(line: string): void
  log: Logger
  env: NodeJS.ProcessEnv
  /** aborted on SIGINT / SIGTERM */
  signal: AbortSignal
}

/**
 * `trickle-seller start`: waits until the chain and the broker answer (retrying with backoff and
 * saying what it waits for), deactivates products dropped from the config, starts the seller server
 * with the config's products, serves the control socket, and runs until `signal` aborts; then closes
 * the server cleanly (sessions end with `server_shutdown`, running claims get 5 s).
 *
 * @param keys - the payee's and the terms key, 0x hex
 * @returns once stopped
 * @throws TrickleError / SellerToolError of a failure that waiting cannot fix (`CHAIN_MISMATCH`, a
 *   refused registration, `SERVICE_RUNNING`…)
 */
export async function runService(
  parsed: ParsedSellerConfig,
  keys: { payee: string; terms: string },
  io: ServiceIo,
): Promise<void> {
  const options = serverOptionsOf(parsed, keys, io.env)
  mkdirSync(parsed.dataDir, { recursive: true })
  const socketPath = controlSocketPath(parsed.dataDir)
  let server: SellerServer | undefined
  // Claimed under the control socket first: a second service on this data directory stops here.
  const control = await serveControl(socketPath, {
    status: () => ({
      pid: process.pid,
      url: server?.url ?? '',
      address: server?.address ?? new Wallet(keys.payee).address,
      sessions: server?.sessionCount ?? 0,
      products: (server?.products ?? []).map((p) => ({
        key: p.key,
        productId: p.productId.toString(),
        sessions: server?.sessionsByProduct.get(p.key) ?? 0,
      })),
      health: server?.health() ?? { ok: false, reasons: ['starting'] },
    }),
    claim: (channelId) => claimNow(server, channelId),
  })
  try {
    server = await pRetry(
      async () => {
        await waitForChain(parsed)
        await probeBroker(options.brokerUrl, options.broker ?? {})
        await deactivateDropped(parsed, keys.payee, io)
        return startSellerServer({ ...options, logger: io.log })
      },
      {
        retries: Number.POSITIVE_INFINITY,
        ...START_RETRY,
        signal: io.signal,
        onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
          if (!hasCode(error, 'CHAIN_UNAVAILABLE') && !hasCode(error, 'CONNECTION_FAILED')) throw error
          const what = hasCode(error, 'CHAIN_UNAVAILABLE')
            ? `the chain at ${parsed.chain.rpcUrl}`
            : `the MQTT broker at ${options.brokerUrl}`
          io.say(
            `waiting for ${what}: ${reasonOf(error)} (attempt ${attemptNumber}, next in ${Math.round(retryDelay / 1000)} s)`,
          )
        },
      },
    )
  } catch (err) {
    await control.close()
    if (io.signal.aborted) return
    throw err
  }
  const s = server
  s.events.on('claimed', (c) => io.say(`claimed ${c.paid} wei on channel ${c.channelId} in ${c.txHash}`))
  io.say(`trickle-seller: payee ${s.address}, listening on ${s.url} (health ${s.httpUrl}/health)`)
  for (const p of s.products) {
    io.say(`  product ${p.productId}  ${p.key}  ${p.descriptor.name}  endpoint ${p.descriptor.endpoint}`)
  }
  io.say('ready')
  await new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve()
    else io.signal.addEventListener('abort', () => resolve(), { once: true })
  })
  io.say('stopping: ending sessions, finishing claims…')
  await control.close()
  await s.close()
  io.say('stopped')
}

/** Claims through the running server's settlement worker (so one claim is never sent twice). */
async function claimNow(
  server: SellerServer | undefined,
  channelId: Hex | undefined,
): Promise<ClaimOutcome[]> {
  if (!server) throw new Error('the seller is still starting')
  const ids = channelId ? [channelId] : await server.store.unsettledChannels()
  return claimChannels(ids, async (id) => {
    await server.settlement.idle()
    return server.settlement.settle(id, 'manual')
  })
}

/** @throws TrickleError `CHAIN_UNAVAILABLE` (retried), `CHAIN_MISMATCH` (not) */
async function waitForChain(parsed: ParsedSellerConfig): Promise<void> {
  const provider = await connectChain(parsed)
  provider.destroy()
}

/**
 * Connects to the broker once, without retrying, and disconnects.
 * @throws TrickleError `CONNECTION_FAILED`
 */
async function probeBroker(
  url: string,
  options: Pick<MqttSourceOptions, 'username' | 'password' | 'tls'>,
): Promise<void> {
  const tls = options.tls ?? {}
  try {
    const client = await mqtt.connectAsync(
      url,
      {
        reconnectPeriod: 0,
        connectTimeout: 5_000,
        ...(options.username === undefined ? {} : { username: options.username }),
        ...(options.password === undefined ? {} : { password: options.password }),
        ...(tls.ca === undefined ? {} : { ca: Buffer.from(tls.ca) }),
        ...(tls.cert === undefined ? {} : { cert: Buffer.from(tls.cert) }),
        ...(tls.key === undefined ? {} : { key: Buffer.from(tls.key) }),
        ...(tls.servername === undefined ? {} : { servername: tls.servername }),
        ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
      },
      false,
    )
    await client.endAsync(true)
  } catch (cause) {
    throw new TrickleError('CONNECTION_FAILED', 'could not connect to the MQTT broker', { cause })
  }
}

/** Deactivates products of this data directory that the config no longer lists. */
async function deactivateDropped(parsed: ParsedSellerConfig, payeeKey: string, io: ServiceIo): Promise<void> {
  const provider = await connectChain(parsed)
  try {
    const store = openReceiptStore(await ledgerPathOf(parsed, provider), { writerThread: false })
    try {
      const wallet = new Wallet(payeeKey, provider)
      const done = await deactivateDroppedProducts(
        {
          registry: registryAt(parsed.chain.registry, provider),
          wallet,
          store,
          fees: () => feeOverrides(provider, parsed.chain.fees),
        },
        new Set(parsed.config.products.map((p) => p.key)),
      )
      for (const d of done) io.say(`deactivated product ${d.productId} (${d.key}): no longer in the config`)
    } finally {
      await store.close()
    }
  } finally {
    provider.destroy()
  }
}
