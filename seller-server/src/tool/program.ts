import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { channelsAt, registryAt } from '@trickle/contracts'
import { type Address, type Hex, isErrorCode, TrickleError } from '@trickle/protocol'
import { feeOverrides } from '@trickle/sdk'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { type JsonRpcProvider, Wallet } from 'ethers'
import pino from 'pino'
import { deactivateDroppedProducts, deactivateProduct } from '../deactivateProducts.ts'
import { DEFAULT_SETTLEMENT_POLICY } from '../decideClaim.ts'
import { describeProduct } from '../describeProduct.ts'
import { startIpfsNode } from '../ipfsNode.ts'
import { publishProducts } from '../publishProducts.ts'
import { openReceiptStore } from '../receiptStore.ts'
import { startSettlementWorker } from '../settlementWorker.ts'
import { DEFAULT_SESSION_POLICY } from '../startSellerServer.ts'
import { claimChannels } from './claimChannels.ts'
import {
  askService,
  type ClaimOutcome,
  controlSocketPath,
  type ReloadOutcome,
  type ServiceStatus,
} from './controlSocket.ts'
import { EXAMPLE_CONFIG } from './exampleConfig.ts'
import { keyAddress, loadKey } from './loadKey.ts'
import { type ParsedSellerConfig, parseSellerConfig } from './parseSellerConfig.ts'
import { connectChain, ledgerPathOf, payeeChannels, payeeProducts, recordedProducts } from './payeeViews.ts'
import { readLedger } from './readLedger.ts'
import {
  type AmountFormat,
  channelRows,
  earningsReport,
  formatAmount,
  formatChannels,
  formatEarnings,
  formatProducts,
  productRows,
} from './reports.ts'
import { runService } from './runService.ts'
import { SELLER_TOOL_ERROR_CODES, SellerToolError, USAGE_CODES } from './SellerToolError.ts'
import { productSpecOf, settlementOf } from './serverOptions.ts'

/** The config file commands read when `--config` is not given. */
export const DEFAULT_CONFIG_FILE = 'trickle-seller.yaml'

/** The process the tool runs in, injected so that it can run in-process in tests too. */
export interface ToolIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
  /** aborted on SIGINT / SIGTERM: `start` then shuts down cleanly */
  signal: AbortSignal
  /**
   * Registers what to do on SIGHUP: `start` reloads the config's products. Absent: no reloads on a
   * signal (`update` still reloads a running service).
   * @returns a function that unregisters it
   */
  onHangup?(listener: () => void): () => void
}

const HELP = `
Exit status: 0 done, 1 failed (\`error <CODE>: message\` on stderr), 2 usage or config error.
Read-only commands (products, channels, earnings) need the chain's RPC, not the broker, and no
keystore password (a keystore records its address in the clear).

Getting started:
  trickle-seller init                  # writes ${DEFAULT_CONFIG_FILE}, commented
  trickle-seller keystore payee.keystore.json   # a new payee key, encrypted (TRICKLE_KEYSTORE_PASSWORD)
  trickle-seller check                 # validates the config and opens the keys
  trickle-seller start                 # sells the products until Ctrl-C
  trickle-seller earnings              # what buyers paid: claimed and not yet claimed
  trickle-seller claim                 # claims every channel's receipts now

The config reference is in seller-server/README.md.`

/** Parses a product id or key argument. */
function productRef(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('a product key or id')
  return value.trim()
}

function channelIdArg(value: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new InvalidArgumentError('a 32-byte 0x channel id')
  return value.toLowerCase() as Hex
}

/**
 * Builds the `trickle-seller` command. Actions throw; {@link runSellerTool} turns errors into exit
 * codes.
 */
export function createSellerProgram(io: ToolIo): Command {
  const say = (line: string) => io.stdout.write(`${line}\n`)
  const program = new Command('trickle-seller')
    .description(
      'Sell your MQTT sensors as paid Trickle streams: write a config, start the seller, see your ' +
        'products, channels and earnings, and claim what buyers paid.',
    )
    .option('-c, --config <file>', 'the seller config, YAML or JSON', DEFAULT_CONFIG_FILE)
    .addOption(new Option('--wei', 'print amounts in wei instead of ETH'))
    .addHelpText('after', HELP)
    .showHelpAfterError('(run `trickle-seller --help` for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride()

  const load = (cmd: Command): ParsedSellerConfig => {
    const file = cmd.optsWithGlobals<{ config: string }>().config
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (cause) {
      const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT'
      throw new SellerToolError(
        'CONFIG_INVALID',
        missing ? `${file} not found (\`trickle-seller init ${file}\` writes one)` : `cannot read ${file}`,
        { cause },
      )
    }
    return parseSellerConfig(text, file)
  }
  const amounts = (cmd: Command, parsed: ParsedSellerConfig): AmountFormat => ({
    units: cmd.optsWithGlobals<{ wei?: boolean }>().wei ? 'wei' : 'eth',
    symbol: parsed.chain.symbol,
  })
  const status = (parsed: ParsedSellerConfig) =>
    askService<ServiceStatus>(controlSocketPath(parsed.dataDir), '/status', undefined, 5_000).catch(
      () => undefined,
    )
  const refuseWhileRunning = async (parsed: ParsedSellerConfig, what: string) => {
    const running = await status(parsed)
    if (running) {
      throw new SellerToolError(
        'SERVICE_RUNNING',
        `the seller runs on this data directory (pid ${running.pid}): stop it before ${what} (its claims use ` +
          'the same account); `update` reloads changed products into the running seller and deactivates dropped ones',
      )
    }
  }

  program
    .command('init')
    .summary('write a commented example config')
    .description(
      'Writes an example config with every field commented; it validates as it is. Edit it, then `check`.',
    )
    .argument('[file]', 'where to write it', DEFAULT_CONFIG_FILE)
    .option('--force', 'replace an existing file')
    .action((file: string, opts: { force?: boolean }) => {
      if (existsSync(file) && !opts.force) {
        throw new SellerToolError('CONFIG_INVALID', `${file} exists; --force replaces it`)
      }
      writeFileSync(file, EXAMPLE_CONFIG, { mode: 0o644 })
      say(
        `wrote ${file}: set chain, payee, broker and products, then run \`trickle-seller check --config ${file}\``,
      )
    })

  program
    .command('keystore')
    .summary('create an encrypted keystore for the payee (or terms) key')
    .description(
      'Encrypts a new random key, or the key of --from-key-file, into a JSON keystore (Web3 Secret ' +
        'Storage, scrypt) with the password in the variable --password-env names, and prints its address.',
    )
    .argument('<file>', 'the keystore to write (mode 0600)')
    .option('--from-key-file <file>', 'encrypt this 0x key instead of a new one')
    .option('--password-env <name>', 'variable holding the password', 'TRICKLE_KEYSTORE_PASSWORD')
    .option('--force', 'replace an existing file')
    .action(async (file: string, opts: { fromKeyFile?: string; passwordEnv: string; force?: boolean }) => {
      const password = io.env[opts.passwordEnv]
      if (!password) {
        throw new SellerToolError(
          'KEY_UNAVAILABLE',
          `set ${opts.passwordEnv} to the keystore's password first`,
        )
      }
      if (existsSync(file) && !opts.force)
        throw new SellerToolError('CONFIG_INVALID', `${file} exists; --force replaces it`)
      let wallet: Wallet
      if (opts.fromKeyFile) {
        const text = readFileSync(opts.fromKeyFile, 'utf8').trim()
        try {
          wallet = new Wallet(text.startsWith('0x') ? text : `0x${text}`)
        } catch (cause) {
          throw new SellerToolError('KEY_UNAVAILABLE', `${opts.fromKeyFile} does not hold a private key`, {
            cause,
          })
        }
      } else {
        wallet = new Wallet(Wallet.createRandom().privateKey)
      }
      writeFileSync(file, await wallet.encrypt(password), { mode: 0o600 })
      say(`wrote ${file} for ${wallet.address}; fund this address with a little coin for gas`)
    })

  program
    .command('check')
    .summary('validate the config and open the keys')
    .action(async (_opts: unknown, cmd: Command) => {
      const parsed = load(cmd)
      const payee = new Wallet(await loadKey(parsed, 'payee', io.env)).address
      const terms = new Wallet(await loadKey(parsed, 'termsKey', io.env)).address
      say(`${parsed.file}: valid; payee ${payee}${terms === payee ? '' : `, terms key ${terms}`}`)
      say(
        `chain ${parsed.chain.rpcUrl} (chain id ${parsed.chain.chainId}), broker ${parsed.config.broker.url}`,
      )
      for (const p of parsed.config.products) {
        say(
          `  ${p.key}: ${p.kind === 'dataset' ? `the recording of ${p.recordingOf}` : p.topics.join(', ')} at ${formatAmount(p.pricePerChunk, amounts(cmd, parsed))}/chunk`,
        )
      }
    })

  program
    .command('start')
    .summary('run the seller until SIGINT / SIGTERM')
    .description(
      'Publishes the config’s products (registers new ones, updates changed ones, deactivates dropped ' +
        'ones), bridges their MQTT topics into paid sessions and claims receipts on-chain, until Ctrl-C ' +
        'or SIGTERM, which end the sessions and running claims cleanly. While the chain or the broker ' +
        'cannot be reached it waits and tries again (1 s, 2 s, … up to 30 s), saying what it waits for. ' +
        'SIGHUP (or `trickle-seller update`) reloads the config’s products without stopping. ' +
        'Logs are JSON lines on stderr (TRICKLE_LOG_LEVEL, default info).',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const parsed = load(cmd)
      const payee = await loadKey(parsed, 'payee', io.env)
      const terms = await loadKey(parsed, 'termsKey', io.env)
      const log = pino({ level: io.env.TRICKLE_LOG_LEVEL ?? 'info' }, pino.destination(2))
      await runService(
        parsed,
        { payee, terms },
        { say, log, env: io.env, signal: io.signal, ...(io.onHangup ? { onHangup: io.onHangup } : {}) },
      )
    })

  /**
   * Runs a read-only payee report: the config, the payee's address (no keystore password needed) and a
   * chain connection, closed after.
   */
  const payeeView = async (
    cmd: Command,
    report: (parsed: ParsedSellerConfig, payee: Address, provider: JsonRpcProvider) => Promise<void>,
  ): Promise<void> => {
    const parsed = load(cmd)
    const payee = await keyAddress(parsed, 'payee', io.env)
    const provider = await connectChain(parsed)
    try {
      await report(parsed, payee, provider)
    } finally {
      provider.destroy()
    }
  }

  program
    .command('products')
    .summary('the payee’s products: id, key, status, price; live sessions')
    .option('--json', 'print JSON (wei as decimal strings)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await payeeView(cmd, async (parsed, payee, provider) => {
        const records = await recordedProducts(parsed, await ledgerPathOf(parsed, provider))
        const products = await payeeProducts(parsed, provider, payee, records)
        const keys = new Set(parsed.config.products.map((p) => p.key))
        const running = await status(parsed)
        const live = running ? new Map(running.products.map((p) => [p.key, p.sessions])) : undefined
        const rows = productRows(products, keys, live)
        const registered = new Set(products.filter((p) => p.active).map((p) => p.key))
        const unregistered = [...keys].filter((k) => !registered.has(k))
        if (opts.json) {
          say(JSON.stringify({ products: rows, unregistered, sessions: running?.sessions ?? null }, null, 2))
        } else {
          io.stdout.write(formatProducts(rows, unregistered, amounts(cmd, parsed), running?.sessions))
        }
      })
    })

  program
    .command('channels')
    .summary('channels paying the payee: payer, deposit, claimed, outstanding, deadline')
    .option('--json', 'print JSON (wei and unix seconds as decimal strings)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await payeeView(cmd, async (parsed, payee, provider) => {
        const ledger = readLedger(await ledgerPathOf(parsed, provider))
        const rows = channelRows(
          await payeeChannels(parsed, provider, payee),
          ledger.receipts,
          ledger.pendingClaims,
        )
        io.stdout.write(
          opts.json ? `${JSON.stringify(rows, null, 2)}\n` : formatChannels(rows, amounts(cmd, parsed)),
        )
      })
    })

  program
    .command('earnings')
    .summary('claimed and unclaimed earnings per product and channel')
    .option('--json', 'print JSON (wei as decimal strings)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await payeeView(cmd, async (parsed, payee, provider) => {
        const path = await ledgerPathOf(parsed, provider)
        const ledger = readLedger(path)
        const products = await payeeProducts(parsed, provider, payee, await recordedProducts(parsed, path))
        const report = earningsReport(await payeeChannels(parsed, provider, payee), ledger.receipts, products)
        io.stdout.write(
          opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatEarnings(report, amounts(cmd, parsed)),
        )
      })
    })

  program
    .command('claim')
    .summary('claim stored receipts on-chain now')
    .description(
      'Claims the latest stored receipt of the channel (or of every channel with unclaimed receipts) ' +
        'now, through the running seller when it runs, else with the seller’s own settlement code. ' +
        'Exits 1 when a claim failed.',
    )
    .argument('[channelId]', 'one channel', channelIdArg)
    .option('--json', 'print JSON')
    .action(async (channelId: Hex | undefined, opts: { json?: boolean }, cmd: Command) => {
      const parsed = load(cmd)
      const socket = controlSocketPath(parsed.dataDir)
      let outcomes = await askService<ClaimOutcome[]>(socket, '/claim', channelId ? { channelId } : {})
      if (outcomes === undefined)
        outcomes = await claimLocally(parsed, await loadKey(parsed, 'payee', io.env), channelId)
      const format = amounts(cmd, parsed)
      if (opts.json) say(JSON.stringify(outcomes, null, 2))
      else if (outcomes.length === 0) say('nothing to claim')
      for (const o of opts.json ? [] : outcomes) {
        if (o.error) say(`${o.channelId}  ${o.error}`)
        else if (o.paid === undefined) say(`${o.channelId}  nothing to claim`)
        else
          say(
            `${o.channelId}  claimed ${formatAmount(BigInt(o.paid), format)} (total ${formatAmount(BigInt(o.cumulativeAmount ?? '0'), format)}) in ${o.txHash}`,
          )
      }
      const failed = outcomes.find((o) => o.error)
      if (failed) throw new TrickleError('CLAIM_REJECTED', `a claim failed: ${failed.error}`)
    })

  program
    .command('deactivate')
    .summary('take a product off the catalog (final)')
    .description(
      'Deactivates a product of the payee on DataRegistry, by its config key or its id. Final: buyers no ' +
        'longer find it; a key still in the config is registered as a new product at the next start.',
    )
    .argument('<product>', 'product key or id', productRef)
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const parsed = load(cmd)
      await refuseWhileRunning(parsed, 'deactivating')
      const provider = await connectChain(parsed)
      try {
        const records = await recordedProducts(parsed, await ledgerPathOf(parsed, provider))
        const record = /^\d+$/.test(ref)
          ? (records.find((r) => r.productId === BigInt(ref)) ?? { key: `#${ref}`, productId: BigInt(ref) })
          : records.find((r) => r.key === ref)
        if (record?.productId === undefined) {
          throw new SellerToolError(
            'PRODUCT_NOT_FOUND',
            `no product with key ${ref} was published from ${parsed.dataDir}`,
          )
        }
        const wallet = new Wallet(await loadKey(parsed, 'payee', io.env), provider)
        const done = await deactivateProduct(
          {
            registry: registryAt(parsed.chain.registry, provider),
            wallet,
            fees: () => feeOverrides(provider, parsed.chain.fees),
          },
          record.productId,
          record.key,
        )
        say(
          done
            ? `deactivated product ${done.productId} (${done.key}) in ${done.txHash}`
            : `product ${record.productId} was inactive already`,
        )
        if (parsed.config.products.some((p) => p.key === record.key)) {
          say(
            `note: ${record.key} is still in ${parsed.file}: remove it, or the next start registers it again as a new product`,
          )
        }
      } finally {
        provider.destroy()
      }
    })

  program
    .command('update')
    .summary('re-publish changed products and deactivate dropped ones')
    .description(
      'Publishes the config’s products as `start` would (new ones registered, changed descriptors ' +
        'updated, unchanged ones left alone: no transaction) and deactivates the products no longer in ' +
        'the config. When the seller runs, it reloads the config into the running seller instead (as ' +
        'SIGHUP does): sessions that start afterwards get the new prices, live ones keep theirs; adding ' +
        'a product or changing topics needs a restart.',
    )
    .option('--json', 'print JSON (the running seller’s reload report)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const parsed = load(cmd)
      const reloaded = await askService<ReloadOutcome>(controlSocketPath(parsed.dataDir), '/reload', {})
      if (reloaded) {
        if (opts.json) {
          say(JSON.stringify(reloaded, null, 2))
          return
        }
        for (const d of reloaded.deactivated) {
          say(`deactivated product ${d.productId} (${d.key}): no longer in the config`)
        }
        for (const p of reloaded.products) {
          say(
            `product ${p.productId}  ${p.key}  ${p.changed ? 'updated' : 'unchanged'}  ${formatAmount(BigInt(p.pricePerChunk), amounts(cmd, parsed))}/chunk  ipfs://${p.cid}`,
          )
        }
        if (reloaded.restartNeeded.length > 0) {
          say(`changed, applied at the next start: ${reloaded.restartNeeded.join(', ')}`)
        }
        return
      }
      const { config } = parsed
      if (config.publicUrl === undefined && config.listen.port === 0) {
        throw new SellerToolError(
          'CONFIG_INVALID',
          `${parsed.where(['listen', 'port'])} listen.port: update needs a fixed port or a publicUrl to write the endpoint`,
        )
      }
      const provider = await connectChain(parsed)
      const store = openReceiptStore(await ledgerPathOf(parsed, provider), { writerThread: false })
      const ipfs = await startIpfsNode(`${parsed.dataDir}/blocks`)
      try {
        const wallet = new Wallet(await loadKey(parsed, 'payee', io.env), provider)
        const terms = new Wallet(await loadKey(parsed, 'termsKey', io.env))
        const registry = registryAt(parsed.chain.registry, wallet)
        const fees = () => feeOverrides(provider, parsed.chain.fees)
        const dropped = await deactivateDroppedProducts(
          { registry, wallet, store, fees },
          new Set(config.products.map((p) => p.key)),
        )
        for (const d of dropped) say(`deactivated product ${d.productId} (${d.key}): no longer in the config`)
        if ((await registry.sellerKey(wallet.address)).toLowerCase() !== terms.address.toLowerCase()) {
          await (await registry.setSellerKey(terms.address, await fees())).wait()
          say(`terms key set to ${terms.address}`)
        }
        const endpoint = `${(config.publicUrl ?? `ws://${config.listen.host}:${config.listen.port}`).replace(/\/$/, '')}/`
        const descriptors = new Map(
          config.products.map((p) => [
            p.key,
            describeProduct(
              productSpecOf(p),
              wallet.address as Address,
              endpoint,
              DEFAULT_SESSION_POLICY.maxChunkBytes,
            ),
          ]),
        )
        const published = await publishProducts(
          { ipfs, registry, provider, wallet, store, fees },
          descriptors,
        )
        for (const p of published) say(`product ${p.productId}  ${p.key}  ipfs://${p.cid}`)
      } finally {
        await ipfs.stop()
        await store.close()
        provider.destroy()
      }
    })

  return program
}

/** Claims with the seller's settlement worker in this process (the service is not running). */
async function claimLocally(
  parsed: ParsedSellerConfig,
  payeeKey: string,
  channelId: Hex | undefined,
): Promise<ClaimOutcome[]> {
  const provider = await connectChain(parsed)
  const store = openReceiptStore(await ledgerPathOf(parsed, provider), { writerThread: false })
  const log = pino({ level: 'silent' })
  const worker = startSettlementWorker(
    {
      provider,
      wallet: new Wallet(payeeKey, provider),
      channels: channelsAt(parsed.chain.channels, provider),
      store,
      fees: parsed.chain.fees,
    },
    // No sweep or threshold claims of its own: only the claims asked for.
    {
      ...DEFAULT_SETTLEMENT_POLICY,
      ...settlementOf(parsed),
      claimThreshold: 2n ** 255n,
      maxUnclaimedAgeMs: 2 ** 31 - 1,
      sweepIntervalMs: 2 ** 31 - 1,
    },
    log,
  )
  try {
    const ids = channelId ? [channelId] : await store.unsettledChannels()
    return await claimChannels(ids, (id) => worker.settle(id, 'manual'))
  } finally {
    await worker.stop(5_000)
    await store.close()
    provider.destroy()
  }
}

/**
 * Runs `trickle-seller` on `argv` (as `process.argv`: node and script first).
 * @returns the exit status: 0 done, 1 failed (`error <CODE>: message` on stderr), 2 usage or config
 *   error
 */
export async function runSellerTool(argv: readonly string[], io: ToolIo): Promise<number> {
  const program = createSellerProgram(io)
  try {
    await program.parseAsync(argv)
    return 0
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2
    const e = err as { code?: unknown; message?: string }
    const known = isErrorCode(e.code) || (SELLER_TOOL_ERROR_CODES as readonly unknown[]).includes(e.code)
    const code = known ? String(e.code) : 'INTERNAL'
    io.stderr.write(`error ${code}: ${e.message ?? String(err)}\n`)
    return USAGE_CODES.has(code) ? 2 : 1
  }
}
