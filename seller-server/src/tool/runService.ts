import { mkdirSync, readFileSync } from 'node:fs'
import { registryAt } from '@trickle/contracts'
import { type Hex, hasCode, TrickleError } from '@trickle/protocol'
import { feeOverrides } from '@trickle/sdk'
import { Wallet } from 'ethers'
import mqtt from 'mqtt'
import pRetry from 'p-retry'
import type { Logger } from 'pino'
import { type DeactivatedProduct, deactivateDroppedProducts } from '../deactivateProducts.ts'
import type { MqttSourceOptions } from '../mqttSource.ts'
import { openReceiptStore, type ReceiptStore } from '../receiptStore.ts'
import { type SellerServer, startSellerServer } from '../startSellerServer.ts'
import { claimChannels } from './claimChannels.ts'
import { type ClaimOutcome, controlSocketPath, type ReloadOutcome, serveControl } from './controlSocket.ts'
import { type ParsedSellerConfig, parseSellerConfig } from './parseSellerConfig.ts'
import { connectChain, ledgerPathOf } from './payeeViews.ts'
import { reasonOf } from './reasonOf.ts'
import { SellerToolError } from './SellerToolError.ts'
import { productSpecOf, serverOptionsOf } from './serverOptions.ts'

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
  /**
   * Registers what to do on a reload request (SIGHUP), if the process takes them.
   * @returns a function that unregisters it
   */
  onHangup?(listener: () => void): () => void
}

/**
 * `trickle-seller start`: waits until the chain and the broker answer (retrying with backoff and
 * saying what it waits for), deactivates products dropped from the config, starts the seller server
 * with the config's products, serves the control socket, and runs until `signal` aborts; then closes
 * the server cleanly (sessions end with `server_shutdown`, running claims get 5 s).
 *
 * On SIGHUP (`io.onHangup`) or `trickle-seller update` (the control socket's `/reload`) it reads the
 * config file again and sells its products without stopping (see {@link reloadConfig}).
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
  /** the reload running now: SIGHUP and `update` reload one at a time (their deactivations too) */
  let reloading: Promise<unknown> = Promise.resolve()
  const reload = (s: SellerServer): Promise<ReloadOutcome> => {
    const run = reloading.then(() => reloadConfig(parsed, s, keys.payee, io))
    reloading = run.catch(() => undefined)
    return run
  }
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
    reload: async () => {
      if (!server) throw new Error('the seller is still starting')
      return reload(server)
    },
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
  const unhook = io.onHangup?.(() => {
    io.say(`SIGHUP: reloading ${parsed.file}`)
    reload(s).catch((err: unknown) => {
      io.say(`reload failed, still selling the products as before: ${reasonOf(err)}`)
      io.log.warn({ err }, 'reload failed')
    })
  })
  await new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve()
    else io.signal.addEventListener('abort', () => resolve(), { once: true })
  })
  unhook?.()
  io.say('stopping: ending sessions, finishing claims…')
  await control.close()
  await s.close()
  io.say('stopped')
}

/** Config sections the running service applies only at its next start. */
const RESTART_SECTIONS = [
  'chain',
  'payee',
  'termsKey',
  'dataDir',
  'listen',
  'publicUrl',
  'metrics',
  'broker',
  'settlement',
  'recording',
  'jobs',
] as const

/**
 * Reads the config file again and sells its products from now on: changed products are updated on
 * the registry (an unchanged one costs no transaction), sessions that start afterwards get the new
 * terms, live sessions keep theirs, and products dropped from the config take no new sessions and
 * are deactivated on-chain. Other sections that changed are named in the outcome and take effect at
 * the next start. Says one line per product (`updated` or `unchanged`).
 *
 * @param running - the config the service was started with (its products' topics are subscribed)
 * @param payeeKey - the payee's key, 0x hex (sends the deactivations)
 * @throws SellerToolError `CONFIG_INVALID` (the file cannot be read or is invalid: nothing changes);
 *   TrickleError `INVALID_ARGUMENT` (a new product or changed topics: restart the service; nothing
 *   changes), `CHAIN_UNAVAILABLE`, `TRANSACTION_REVERTED` from the publication
 */
export async function reloadConfig(
  running: ParsedSellerConfig,
  server: SellerServer,
  payeeKey: string,
  io: Pick<ServiceIo, 'say' | 'log'>,
): Promise<ReloadOutcome> {
  let text: string
  try {
    text = readFileSync(running.file, 'utf8')
  } catch (cause) {
    throw new SellerToolError('CONFIG_INVALID', `cannot read ${running.file}`, { cause })
  }
  const fresh = parseSellerConfig(text, running.file)
  const same = (a: unknown, b: unknown) =>
    JSON.stringify(a, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ===
    JSON.stringify(b, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  const restartNeeded = RESTART_SECTIONS.filter((k) => !same(running.config[k], fresh.config[k]))
  const reloaded = await server.reload(fresh.config.products.map((p) => productSpecOf(p, fresh.resolvePath)))
  const deactivated = await deactivateDropped(fresh, payeeKey, io, server.store)
  const prices = new Map(fresh.config.products.map((p) => [p.key, p.pricePerChunk]))
  const outcome: ReloadOutcome = {
    products: reloaded.map((p) => ({
      key: p.key,
      productId: p.productId.toString(),
      cid: p.cid,
      pricePerChunk: prices.get(p.key)!.toString(),
      changed: p.changed,
    })),
    deactivated: deactivated.map((d) => ({ key: d.key, productId: d.productId.toString() })),
    restartNeeded,
  }
  for (const p of outcome.products) {
    io.say(`  product ${p.productId}  ${p.key}  ${p.changed ? 'updated' : 'unchanged'}  ipfs://${p.cid}`)
  }
  if (restartNeeded.length > 0) io.say(`  changed, applied at the next start: ${restartNeeded.join(', ')}`)
  return outcome
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

/**
 * Deactivates products of this data directory that the config no longer lists.
 * @param open - the running server's receipt store (default: the ledger opened for this call)
 */
async function deactivateDropped(
  parsed: ParsedSellerConfig,
  payeeKey: string,
  io: Pick<ServiceIo, 'say'>,
  open?: ReceiptStore,
): Promise<DeactivatedProduct[]> {
  const provider = await connectChain(parsed)
  try {
    const store = open ?? openReceiptStore(await ledgerPathOf(parsed, provider), { writerThread: false })
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
      return done
    } finally {
      if (open === undefined) await store.close()
    }
  } finally {
    provider.destroy()
  }
}
