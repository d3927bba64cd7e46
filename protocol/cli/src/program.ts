import { CHAIN_PRESET_NAMES, CHAIN_PRESETS } from '@trickle/contracts'
import type { Address, Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import { readChannel } from '@trickle/sdk'
import { Command, CommanderError, Option } from 'commander'
import { amountFormatOf } from './amountFormatOf.ts'
import { assertPayer } from './assertPayer.ts'
import { buy } from './buy.ts'
import { formatChannelTable, toChannelJson } from './channelRows.ts'
import { type Connection, connect, connectProvider } from './connect.ts'
import { formatAmount } from './formatAmount.ts'
import { formatError } from './formatError.ts'
import { globalArgsOf } from './globalArgsOf.ts'
import {
  argvOf,
  fetchJobStatus,
  formatQuoteRows,
  type JobAsk,
  pickQuote,
  quoteAll,
  readJobRun,
  readJobTarget,
  runJobTo,
} from './job.ts'
import { formatProductRows, toProductRow } from './listProducts.ts'
import { loadPayerKey, payerAddress } from './loadPayerKey.ts'
import { parseAmount, parsePositiveAmount } from './parseAmount.ts'
import {
  parseAddress,
  parseChannelId,
  parseNonNegativeInt,
  parsePositiveInt,
  parseProductId,
  parseTime,
} from './parseArgs.ts'
import { productsBySeller } from './productsBySeller.ts'
import { type CliConfig, type ConfigFlags, DEFAULT_CONFIG_PATH, resolveConfig } from './resolveConfig.ts'
import { closeJson, finalizeJson, formatClose, formatFinalize, formatTopUp, topUpJson } from './txOutput.ts'

/** Exit code of a buy stopped by an interrupt: 128 + SIGINT (2), as shells report Ctrl-C. */
export const INTERRUPTED = 130

/** The process the CLI runs in; injected so it can run in-process too. */
export interface CliIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WriteStream
  env: NodeJS.ProcessEnv
  /** reads a UTF-8 file, undefined when it does not exist */
  readFile: (path: string) => string | undefined
  /** registers a handler for an interrupt (SIGINT) during `buy` */
  onInterrupt?: (stop: () => void) => void
}

const ENV_HELP = `
Config (each flag overrides the environment, the environment overrides the file, the file overrides
the --chain preset):
  file  --config <file>, default ${DEFAULT_CONFIG_PATH} (written by \`npm start\`):
        { chain?, rpcUrl, chainId, fees?, registry, channels, deployBlock, gateways,
          buyerKey? | keyFile? | keystore? }   (key paths relative to the file)
  env   TRICKLE_CHAIN, TRICKLE_RPC_URL, TRICKLE_CHAIN_ID, TRICKLE_FEES, TRICKLE_REGISTRY,
        TRICKLE_CHANNELS, TRICKLE_GATEWAYS (comma-separated)
Chain presets (--chain <name>):
${CHAIN_PRESET_NAMES.map((n) => `  ${n.padEnd(17)} chain id ${String(CHAIN_PRESETS[n].chainId).padEnd(6)} ${CHAIN_PRESETS[n].fees.padEnd(7)} fees  ${CHAIN_PRESETS[n].rpcUrl}`).join('\n')}
  A preset supplies rpcUrl, chainId and the fee mode; contract addresses always come from the config.
  Legacy fees send type-0 transactions at the node's eth_gasPrice (IOTA EVM requires its own price).
  Before anything is sent, the RPC's eth_chainId must equal the configured chain id (CHAIN_MISMATCH).
Payer key (needed by buy, topup, close, finalize; channels reads its address), one source per level:
  flags --key-file <file> (hex key) | --keystore <file> (encrypted JSON keystore)
  env   TRICKLE_PRIVATE_KEY | TRICKLE_KEY_FILE | TRICKLE_KEYSTORE; TRICKLE_KEYSTORE_PASSWORD opens it
  file  buyerKey | keyFile | keystore

Amounts are read as 0.001eth, "0.001 ETH", 1000gwei or plain wei (a whole number), and printed in
ETH (the chain's coin) unless --wei / --units wei; JSON output is always wei, as decimal strings.
A failing command prints \`error <CODE>: <message>\` to stderr and exits 1; usage and config errors
exit 2; a buy stopped by Ctrl-C ends its session cleanly, says how to resume or refund, and exits 130.

Examples:
  trickle products
  trickle buy 2 --chunks 20 --max-spend 0.0001eth --out readings.ndjson
  trickle buy 2 --chunks 20 --max-spend 0.0001eth --out - | jq .reading.value
  trickle channels
  trickle topup 0x… 0.0005eth
  trickle close 0x…           # starts the challenge period, prints the deadline
  trickle finalize 0x…        # after the deadline: refunds deposit − claimed
  trickle channel 0x…
  TRICKLE_KEYSTORE_PASSWORD=… trickle --chain iota-evm --keystore payer.json --config iota.json channels`

function collect(value: string, previous: string[] | undefined): string[] {
  const urls = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  return [...(previous ?? []), ...urls]
}

/**
 * Builds the `trickle` command: `products`, `buy`, `channels`, `topup`, `close`, `finalize` and
 * `channel`, with the global config flags.
 * Actions throw; {@link runCli} turns errors into exit codes.
 */
export function createProgram(io: CliIo, outcome: { exitCode: number } = { exitCode: 0 }): Command {
  const program = new Command('trickle')
    .description(
      'Browse the Trickle marketplace, buy a paid stream chunk by chunk, and manage your payment ' +
        'channels: list, top up, close, finalize (refund)',
    )
    .option('--config <file>', `marketplace config JSON (default: ${DEFAULT_CONFIG_PATH})`)
    .addOption(
      new Option('--chain <preset>', 'chain preset: default RPC URL, chain id and fee mode').choices(
        CHAIN_PRESET_NAMES,
      ),
    )
    .option('--rpc-url <url>', 'EVM JSON-RPC URL')
    .option('--chain-id <id>', 'chain id', parseNonNegativeInt)
    .addOption(
      new Option('--fees <mode>', 'transaction pricing (default: the preset’s, else eip1559)').choices([
        'eip1559',
        'legacy',
      ]),
    )
    .option('--registry <address>', 'DataRegistry address')
    .option('--channels <address>', 'StreamChannels address')
    .option(
      '--gateway <url>',
      'IPFS trustless gateway for descriptors (repeat, or comma-separate, for several)',
      collect,
    )
    .option(
      '--from-block <n>',
      'block to index the registry and channels from (default: the deployBlock)',
      parseNonNegativeInt,
    )
    .addOption(
      new Option('--units <units>', 'print amounts in whole coins (ETH) or in wei')
        .choices(['eth', 'wei'])
        .default('eth'),
    )
    .addOption(new Option('--wei', 'print amounts in wei (same as --units wei)').implies({ units: 'wei' }))
    .option('--key-file <file>', 'file holding the payer’s hex private key')
    .addOption(
      new Option(
        '--keystore <file>',
        'the payer’s encrypted JSON keystore (password from TRICKLE_KEYSTORE_PASSWORD)',
      ).conflicts('keyFile'),
    )
    .addHelpText('after', ENV_HELP)
    .showHelpAfterError('(run `trickle --help` for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()

  const config = (cmd: Command) =>
    resolveConfig(cmd.optsWithGlobals<ConfigFlags>(), io.env, (path) => io.readFile(path))

  /** Connects with the payer's key, or exits 2 naming where to configure one. */
  const connectPayer = async (cfg: CliConfig, what: string): Promise<Connection> => {
    const key = await loadPayerKey(cfg)
    if (key === undefined) {
      throw new CommanderError(
        2,
        'trickle.config',
        `${what} needs a payer key: set TRICKLE_PRIVATE_KEY, --key-file, --keystore or the config file’s buyerKey`,
      )
    }
    return connect(cfg, key)
  }
  const amounts = (cmd: Command, cfg: CliConfig) => amountFormatOf(cmd.optsWithGlobals(), cfg)
  const explorer = (cfg: CliConfig) =>
    cfg.chain === undefined ? undefined : CHAIN_PRESETS[cfg.chain].explorerUrl

  program
    .command('products')
    .summary('list the catalog')
    .description(
      'Lists every registry product with its descriptor fetched through IPFS: id, kind, status, name, ' +
        'description, price per chunk, the rate with the price per hour (when the descriptor states a ' +
        'rate), fields with their units, licence, seller, endpoint and CID. ' +
        'Products whose descriptor is missing or invalid are listed with the problem code. No key is needed.',
    )
    .option('--json', 'print one JSON array (wei as decimal strings)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const cfg = config(cmd)
      const conn = await connect(cfg)
      try {
        const rows = (await conn.client.products()).map(toProductRow)
        io.stdout.write(
          opts.json ? `${JSON.stringify(rows, null, 2)}\n` : formatProductRows(rows, amounts(cmd, cfg)),
        )
      } finally {
        await conn.close()
      }
    })

  program
    .command('buy')
    .summary('buy chunks of a product, paying per chunk; writes them as NDJSON')
    .description(
      'Finds the product in the catalog, prints the cost (price × chunks, the deposit; a warning when ' +
        '--max-spend cannot cover --chunks), opens a channel to its seller (unless --channel is given), ' +
        'streams and pays per chunk, writes one {"seq","reading"} line per chunk to --out and prints ' +
        'one JSON summary line to stdout (stderr with --out -). Then it prints what was paid, what stays ' +
        'in the channel and the commands to resume or get the refund. --out <file> is written beside ' +
        'the file and replaces it only once a chunk has arrived: a failed buy leaves it as it was. ' +
        'Ctrl-C ends the session with a final receipt and exits 130. The payer key (see "Payer key" in ' +
        '`trickle --help`) also signs the receipts, so --channel can resume a channel the same key ' +
        'opened. Exits 1 with SPENDING_CAP_REACHED, before opening a channel, when --max-spend is below ' +
        'one chunk’s price, and after writing what arrived when the cap ends the session early. ' +
        'With --from/--to or --last it buys recorded history instead (SPEC.md §History): it first asks the ' +
        'seller how many readings the range holds and prints their cost, then streams exactly those and ' +
        'ends; with --live it goes on with live readings after them until --chunks.',
    )
    .argument('<productId>', 'registry product id', parseProductId)
    .option('--chunks <n>', 'chunks to receive (required unless a finite range is bought)', parsePositiveInt)
    .requiredOption(
      '--max-spend <amount>',
      'spend at most this much in this session (0.001eth, 1000gwei, or wei)',
      parseAmount,
    )
    .requiredOption('--out <file>', 'NDJSON output, one {"seq","reading"} line per chunk; - for stdout')
    .option('--deposit <amount>', 'deposit of the new channel (default: --max-spend)', parseAmount)
    .addOption(
      new Option('--channel <channelId>', 'stream on this existing channel instead of opening one')
        .argParser(parseChannelId)
        .conflicts('deposit'),
    )
    .option(
      '--from <time>',
      'buy recorded history: readings recorded at or after this time (ISO 8601 or ms)',
      parseTime,
    )
    .option(
      '--to <time>',
      'buy recorded history: readings recorded at or before this time (default: now)',
      parseTime,
    )
    .addOption(
      new Option('--last <n>', 'buy recorded history: the latest n readings')
        .argParser(parsePositiveInt)
        .conflicts(['from', 'to']),
    )
    .addOption(
      new Option(
        '--live',
        'after the recorded readings, go on with live ones (a backfill; needs --chunks)',
      ).conflicts('to'),
    )
    .action(
      async (
        productId: bigint,
        opts: {
          chunks?: number
          maxSpend: bigint
          out: string
          deposit?: bigint
          channel?: `0x${string}`
          from?: number
          to?: number
          last?: number
          live?: boolean
        },
        cmd: Command,
      ) => {
        const historic = opts.from !== undefined || opts.to !== undefined || opts.last !== undefined
        if (opts.chunks === undefined && (!historic || opts.live)) {
          cmd.error('error: --chunks <n> is required, unless --from, --to or --last buy a finite range', {
            exitCode: 2,
          })
        }
        const range =
          historic || opts.live
            ? {
                ...(opts.from !== undefined ? { from: opts.from } : {}),
                ...(opts.to !== undefined ? { to: opts.to } : {}),
                ...(opts.last !== undefined ? { last: opts.last } : {}),
                ...(opts.live ? { live: true } : {}),
              }
            : undefined
        const cfg = config(cmd)
        const conn = await connectPayer(cfg, 'buying')
        try {
          const result = await buy(
            conn,
            {
              productId,
              ...(opts.chunks !== undefined ? { chunks: opts.chunks } : {}),
              ...(range !== undefined ? { range } : {}),
              maxSpend: opts.maxSpend,
              out: opts.out,
              ...(opts.deposit !== undefined ? { deposit: opts.deposit } : {}),
              ...(opts.channel !== undefined ? { channel: opts.channel } : {}),
              format: amounts(cmd, cfg),
              globalArgs: globalArgsOf(program),
            },
            {
              stdout: io.stdout,
              stderr: io.stderr,
              ...(io.onInterrupt ? { onInterrupt: io.onInterrupt } : {}),
            },
          )
          if (result.interrupted) outcome.exitCode = INTERRUPTED
        } catch (err) {
          if ((err as { code?: unknown }).code === 'ABORTED') {
            io.stderr.write(`${formatError(err)}\n`)
            outcome.exitCode = INTERRUPTED
            return
          }
          throw err
        } finally {
          await conn.close()
        }
      },
    )

  program
    .command('channels')
    .summary('list your channels: deposit, claimed, remaining, status, deadline')
    .description(
      'Lists the channels the payer opened (ChannelOpened events with the payer as indexed topic, read ' +
        'in pages of --page-blocks blocks from the deployBlock, since public RPCs cap log ranges) with ' +
        'their current state: id, status, the product (a channel pays a seller: the seller’s products ' +
        'from the catalog), deposit, claimed and remaining, and the close deadline (UTC; "finalizable" ' +
        'once it has passed on-chain), in at most 100 columns. The payer is the configured key’s ' +
        'address (a keystore is not decrypted for this), or --payer.',
    )
    .option('--json', 'print one JSON array (wei and unix seconds as decimal strings)')
    .option('--payer <address>', 'list this address’s channels instead of the key’s', parseAddress)
    .option('--page-blocks <n>', 'blocks per eth_getLogs request (default 10000)', parsePositiveInt)
    .action(async (opts: { json?: boolean; payer?: Address; pageBlocks?: number }, cmd: Command) => {
      const cfg = config(cmd)
      const payer = opts.payer ?? (await payerAddress(cfg))
      if (payer === undefined) {
        throw new CommanderError(
          2,
          'trickle.config',
          'listing channels needs the payer: configure a payer key (see `trickle --help`) or pass --payer',
        )
      }
      const conn = await connect(cfg)
      try {
        const list = await conn.client.channels({
          payer,
          ...(opts.pageBlocks !== undefined ? { pageBlocks: opts.pageBlocks } : {}),
        })
        if (opts.json) {
          io.stdout.write(`${JSON.stringify(list.map(toChannelJson), null, 2)}\n`)
        } else {
          const catalog = list.length > 0 ? await productsBySeller(conn.client) : new Map()
          io.stdout.write(formatChannelTable(list, catalog, amounts(cmd, cfg)))
        }
      } finally {
        await conn.close()
      }
    })

  program
    .command('topup')
    .summary('add to an open channel’s deposit')
    .description(
      'Adds <amount> to the deposit of an open channel the payer key pays for. For an ERC-20 channel ' +
        'the StreamChannels contract is approved first when the allowance is short. Prints the new ' +
        'deposit. Exits 1 with NOT_PAYER for a channel another address pays for (the deposit, and its ' +
        'refund, would be theirs; --force tops it up anyway), UNKNOWN_CHANNEL, CHANNEL_NOT_OPEN or ' +
        'INSUFFICIENT_FUNDS.',
    )
    .argument('<channelId>', 'bytes32 channel id', parseChannelId)
    .argument('<amount>', 'to add, above 0: 0.001eth, 1000gwei, or wei', parsePositiveAmount)
    .option('--json', 'print one JSON object (wei as decimal strings)')
    .option('--force', 'top up even a channel another address pays for (its refund goes to that payer)')
    .action(
      async (channelId: Hex, amount: bigint, opts: { json?: boolean; force?: boolean }, cmd: Command) => {
        const cfg = config(cmd)
        const conn = await connectPayer(cfg, 'topping up')
        try {
          if (!opts.force) await assertPayer(conn.client, channelId)
          const r = await conn.client.topUp(channelId, amount)
          io.stdout.write(
            opts.json
              ? `${JSON.stringify(topUpJson(r))}\n`
              : formatTopUp(r, explorer(cfg), amounts(cmd, cfg)),
          )
        } finally {
          await conn.close()
        }
      },
    )

  program
    .command('close')
    .summary('request a channel’s close; prints when it can be finalized')
    .description(
      'Starts the challenge period of an open channel (payer only): the seller can still claim what it ' +
        'is owed until the deadline, then `trickle finalize` refunds the rest. Prints the deadline. ' +
        'Exits 1 with NOT_PAYER, UNKNOWN_CHANNEL or CHANNEL_NOT_OPEN (already closing or closed).',
    )
    .argument('<channelId>', 'bytes32 channel id', parseChannelId)
    .option('--json', 'print one JSON object (deadline as unix seconds)')
    .action(async (channelId: Hex, opts: { json?: boolean }, cmd: Command) => {
      const cfg = config(cmd)
      const conn = await connectPayer(cfg, 'closing a channel')
      try {
        const r = await conn.client.requestClose(channelId)
        io.stdout.write(opts.json ? `${JSON.stringify(closeJson(r))}\n` : formatClose(r, explorer(cfg)))
      } finally {
        await conn.close()
      }
    })

  program
    .command('finalize')
    .summary('after the challenge period, refund a channel’s unclaimed deposit')
    .description(
      'Closes a channel whose challenge period is over and refunds deposit − claimed to the payer ' +
        '(anyone may call; the configured key pays the gas). Prints the refund. Exits 1 with ' +
        'CHALLENGE_PERIOD_NOT_OVER (naming the deadline), CLOSE_NOT_REQUESTED, CHANNEL_NOT_OPEN ' +
        '(already closed) or UNKNOWN_CHANNEL.',
    )
    .argument('<channelId>', 'bytes32 channel id', parseChannelId)
    .option('--json', 'print one JSON object (wei as decimal strings)')
    .action(async (channelId: Hex, opts: { json?: boolean }, cmd: Command) => {
      const cfg = config(cmd)
      const conn = await connectPayer(cfg, 'finalizing a channel')
      try {
        const r = await conn.client.finalize(channelId)
        io.stdout.write(
          opts.json
            ? `${JSON.stringify(finalizeJson(r))}\n`
            : formatFinalize(r, explorer(cfg), amounts(cmd, cfg)),
        )
      } finally {
        await conn.close()
      }
    })

  program
    .command('channel')
    .summary('print a channel’s on-chain state as JSON')
    .description(
      'Prints payer, payee, signer, token, deposit, claimed and remaining (wei), status, closeDeadline ' +
        '(unix s) and whether it can be finalized now, of a StreamChannels channel as JSON. No key is ' +
        'needed. Exits 1 with UNKNOWN_CHANNEL for an unknown id.',
    )
    .argument('<channelId>', 'bytes32 channel id', parseChannelId)
    .action(async (channelId: Hex, _opts: unknown, cmd: Command) => {
      const cfg = config(cmd)
      const provider = await connectProvider(cfg)
      try {
        const view = await readChannel({ provider, channels: cfg.channels }, channelId)
        io.stdout.write(`${JSON.stringify(toChannelJson(view), null, 2)}\n`)
      } finally {
        provider.destroy()
      }
    })

  const job = program
    .command('job')
    .summary('quote, run and check compute and app jobs (WASI modules), paid as they run')
    .description(
      'Jobs run a WebAssembly (WASI) module on a provider: your own (compute products, optionally over ' +
        'the provider’s dataset with --input, which you never get) or the provider’s (app products, with ' +
        'your parameters). Their records stream back paid unit by unit: a start fee, CPU time as it ' +
        'accrues, each output record; then the provider’s signed attestation (SPEC.md §Jobs).',
    )

  /** The ask of `job quote` / `job run` from their arguments and options. */
  const askOf = async (
    target: string,
    args: string[],
    opts: { input?: string; cpuMs?: number; product?: bigint[]; seal?: boolean },
  ): Promise<JobAsk> => ({
    target: await readJobTarget(target),
    args,
    seal: opts.seal !== false,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(opts.cpuMs !== undefined ? { cpuMs: opts.cpuMs } : {}),
    ...(opts.product !== undefined ? { productIds: opts.product } : {}),
  })
  const collectIds = (value: string, previous: bigint[] = []) => [...previous, parseProductId(value)]

  job
    .command('quote')
    .summary('ask every matching provider for a signed quote')
    .description(
      'Uploads the module (a .wasm file) to every compute product’s provider and asks each for a ' +
        'signed quote, or asks an app product (its id) for one; prints each provider’s price model, ' +
        'limits and the most the job can cost, cheapest first, with declines (at_capacity…). Arguments ' +
        'after the target (or after --) are the module’s, its program name is added first. The module ' +
        'and arguments travel sealed (ECIES) to each provider’s registered key unless --no-seal.',
    )
    .argument('<target>', 'a .wasm file (compute) or an app product id')
    .argument('[args...]', 'the module’s arguments')
    .option('--input <name>', 'a dataset of the providers mounted read-only at /in (compute-to-data)')
    .option('--cpu-ms <ms>', 'CPU time the job may use at most', parsePositiveInt)
    .option('--product <id>', 'ask only this product (repeat for more)', collectIds)
    .option('--max-price <amount>', 'mark the cheapest quote within this price', parseAmount)
    .option('--no-seal', 'send the module and arguments in the clear')
    .option('--json', 'print one JSON array (wei as decimal strings)')
    .action(
      async (
        target: string,
        args: string[],
        opts: {
          input?: string
          cpuMs?: number
          product?: bigint[]
          maxPrice?: bigint
          seal?: boolean
          json?: boolean
        },
        cmd: Command,
      ) => {
        const cfg = config(cmd)
        const conn = await connectPayer(cfg, 'quoting a job')
        try {
          const rows = await quoteAll(conn.client, await askOf(target, args, opts))
          const picked = pickQuote(rows, opts.maxPrice, opts.cpuMs)
          if (opts.json) {
            io.stdout.write(
              `${JSON.stringify(
                rows.map((r) => ({
                  productId: r.product.productId,
                  provider: r.product.descriptor?.seller,
                  ...(r.quote ? { quote: r.quote.quote, maxPrice: r.maxPrice } : {}),
                  ...(r.decline ? { decline: r.decline } : {}),
                  ...(r.failure ? { failure: r.failure } : {}),
                  picked: r === picked,
                })),
                (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
                2,
              )}\n`,
            )
          } else if (rows.length === 0) {
            io.stdout.write('no provider runs such jobs\n')
          } else io.stdout.write(formatQuoteRows(rows, amounts(cmd, cfg), picked))
        } finally {
          await conn.close()
        }
      },
    )

  job
    .command('run')
    .summary('run a job on the cheapest provider, streaming and paying as it runs')
    .description(
      'Quotes every matching provider (as `job quote`), picks the cheapest whose most is within ' +
        '--max-price, opens a channel funded with that most (or uses --channel), runs the job and ' +
        'writes what comes back to --out: stdout, stderr, files/<path> (the module’s /out), ' +
        'records.bin and attestation.json, which `trickle job verify <dir>` checks. Progress goes to ' +
        'stderr, one JSON summary line to stdout. Ctrl-C, or `trickle job cancel` from anywhere, cancels ' +
        'the job: you pay only for what arrived. The module and arguments travel sealed (ECIES) to the ' +
        'provider’s registered key and the output comes back sealed to your session key, unless --no-seal.',
    )
    .argument('<target>', 'a .wasm file (compute) or an app product id')
    .argument('[args...]', 'the module’s arguments')
    .requiredOption('--out <dir>', 'directory for the job’s output, records and attestation')
    .option('--input <name>', 'a dataset of the providers mounted read-only at /in (compute-to-data)')
    .option('--cpu-ms <ms>', 'CPU time the job may use at most', parsePositiveInt)
    .option('--product <id>', 'consider only this product (repeat for more)', collectIds)
    .option('--max-price <amount>', 'pay at most this much for the job', parseAmount)
    .option('--no-seal', 'send the module and arguments, and take the output back, in the clear')
    .addOption(
      new Option(
        '--channel <channelId>',
        'run on this channel to the provider instead of opening one',
      ).argParser(parseChannelId),
    )
    .action(
      async (
        target: string,
        args: string[],
        opts: {
          out: string
          input?: string
          cpuMs?: number
          product?: bigint[]
          maxPrice?: bigint
          seal?: boolean
          channel?: Hex
        },
        cmd: Command,
      ) => {
        const cfg = config(cmd)
        const conn = await connectPayer(cfg, 'running a job')
        const format = amounts(cmd, cfg)
        try {
          const ask = await askOf(target, args, opts)
          const rows = await quoteAll(conn.client, ask)
          const row = pickQuote(rows, opts.maxPrice, opts.cpuMs)
          if (!row) {
            io.stderr.write(rows.length > 0 ? formatQuoteRows(rows, format) : 'no provider runs such jobs\n')
            throw new TrickleError(
              'SPENDING_CAP_REACHED',
              opts.maxPrice === undefined && opts.cpuMs === undefined
                ? 'no provider quoted the job'
                : 'no quote is within --max-price and gives --cpu-ms',
            )
          }
          io.stderr.write(formatQuoteRows([row], format, row))
          let channelId = opts.channel
          if (channelId === undefined) {
            channelId = (
              await conn.client.openChannel(row.product.descriptor!.seller as Address, row.maxPrice!)
            ).channelId
            io.stderr.write(
              `opened channel ${channelId} to ${row.product.descriptor!.seller} with ${formatAmount(row.maxPrice!, format)}\n`,
            )
          }
          const jobId = row.quote!.quote.quoteId
          io.stderr.write(
            `job ${jobId} on channel ${channelId}; cancel it from anywhere: trickle job cancel ${jobId} --product ${row.product.productId} --channel ${channelId}\n`,
          )
          const stop = new Promise<void>((resolve) => io.onInterrupt?.(resolve))
          let last = 0
          const report = await runJobTo(
            conn,
            row,
            argvOf(ask, row),
            {
              channelId,
              dir: opts.out,
              seal: opts.seal !== false,
              onProgress: (units, cpuMs, outBytes) => {
                if (units - last < 50) return
                last = units
                io.stderr.write(
                  `job ${row.quote!.quote.quoteId.slice(0, 10)}…: ${units} records, ${cpuMs} ms CPU, ${outBytes} bytes out\n`,
                )
              },
            },
            stop,
          )
          io.stdout.write(`${JSON.stringify(report)}\n`)
          io.stderr.write(
            `paid ${formatAmount(BigInt(report.paidWei), format)} for ${report.units} records; exit ${report.exitCode ?? '—'}${report.error ? ` (${report.error})` : ''}\n` +
              (report.attested
                ? `check it: trickle job verify ${opts.out}\n`
                : 'no attestation: the job did not finish\n'),
          )
        } finally {
          await conn.close()
        }
      },
    )

  job
    .command('verify')
    .summary('check a job’s attestation against the chain and the records received')
    .description(
      'Reads attestation.json and records.bin from a `job run` directory and checks: the attestation ' +
        'is signed by the provider’s registered key; the records hash to its output hash; the provider ' +
        'anchored it on-chain for this channel (JobAttestations); and the channel’s claims reach the ' +
        'anchored amount (the claim that paid for the job). Exits 1 with JOB_ATTESTATION_INVALID when ' +
        'anything disagrees; an attestation not anchored or not claimed yet is reported, not an error.',
    )
    .argument('<dir>', 'the directory `trickle job run --out` wrote')
    .option('--json', 'print one JSON object')
    .action(async (dir: string, opts: { json?: boolean }, cmd: Command) => {
      const cfg = config(cmd)
      const conn = await connect(cfg)
      try {
        const saved = await readJobRun(dir)
        const report = await conn.client.verifyJob(saved.attestation, saved.signature, saved.records)
        if (opts.json) {
          io.stdout.write(
            `${JSON.stringify(report, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
          )
          return
        }
        const f = (wei: bigint) => formatAmount(wei, amounts(cmd, cfg))
        const a = saved.attestation
        io.stdout.write(
          `${[
            `job ${a.jobId}: exit ${a.exitCode}${a.error ? ` (${a.error})` : ''}, ${a.cpuMs} ms CPU, ${a.units} units`,
            `signed     by ${report.signer}, the registered key of the provider ${report.payee}`,
            `output     ${report.outputMatches ? `the ${a.records} records received hash to ${a.outputHash}` : 'records not checked'}`,
            report.anchored
              ? `anchored   in ${report.anchored.txHash} (block ${report.anchored.blockNumber}), paid by the channel's cumulative ${f(report.anchored.cumulativeAmount)}`
              : 'anchored   not yet (the provider anchors a job once its session ended paid)',
            report.anchored
              ? report.claimedCovers
                ? `claimed    ${f(report.claimed)} on channel ${a.channelId}: the claim that paid for the job is on-chain`
                : `claimed    ${f(report.claimed)} so far: the provider has not claimed the job's payment yet`
              : '',
          ]
            .filter((l) => l !== '')
            .join('\n')}\n`,
        )
      } finally {
        await conn.close()
      }
    })

  job
    .command('status')
    .summary('a job as its provider sees it: running, ended, anchored')
    .description(
      'Asks the provider of --product for the job (GET /jobs/<jobId>): running with CPU ms and records ' +
        'so far, cancelled, ended with its exit code and attestation hash, or anchored with the ' +
        'transaction. The provider keeps its recent jobs only. No key is needed.',
    )
    .argument('<jobId>', 'the job id (its quote id, 0x + 64 hex)', parseChannelId)
    .requiredOption('--product <id>', 'the job’s product', parseProductId)
    .action(async (jobId: Hex, opts: { product: bigint }, cmd: Command) => {
      const cfg = config(cmd)
      const conn = await connect(cfg)
      try {
        const product = await conn.client.product(opts.product)
        io.stdout.write(`${JSON.stringify(await fetchJobStatus(product, jobId), null, 2)}\n`)
      } finally {
        await conn.close()
      }
    })

  job
    .command('cancel')
    .summary('cancel a running job from anywhere: you pay only for what it sent')
    .description(
      'Signs a cancel of the job with the payer key (EIP-712 JobCancel for the job and its channel; the ' +
        'payer is a key of every channel it pays for) and sends it to the provider of --product ' +
        '(POST /jobs/<jobId>/cancel). The provider kills the module; the job ends with its end record ' +
        '(JOB_CANCELLED) and signed attestation, which the `trickle job run` running it receives and ' +
        'pays for, nothing more. The channel’s unspent deposit comes back with `trickle close ' +
        '<channel>`, then `trickle finalize <channel>` after the challenge period. A job already ' +
        'cancelled is reported cancelled again. Exits 1 with INVALID_ARGUMENT when the provider has no ' +
        'running job of that id (unknown, or it ended), AUTH_FAILED when the key is not one of the ' +
        'channel’s.',
    )
    .argument('<jobId>', 'the job id (its quote id, 0x + 64 hex)', parseChannelId)
    .requiredOption('--product <id>', 'the job’s product', parseProductId)
    .requiredOption('--channel <channelId>', 'the channel that pays for the job', parseChannelId)
    .option('--json', 'print one JSON object: the job’s status after the cancel')
    .action(async (jobId: Hex, opts: { product: bigint; channel: Hex; json?: boolean }, cmd: Command) => {
      const cfg = config(cmd)
      const conn = await connectPayer(cfg, 'cancelling a job')
      try {
        const product = await conn.client.product(opts.product)
        const { state } = await conn.client.cancelJob(product, { jobId, channelId: opts.channel })
        // What the provider holds of it now, best effort: the cancel itself has been answered.
        const status = (await fetchJobStatus(product, jobId).catch(() => undefined)) as
          | { records?: number; cpuMs?: number }
          | undefined
        if (opts.json) {
          io.stdout.write(`${JSON.stringify(status ?? { jobId, state }, null, 2)}\n`)
          return
        }
        const so = status ? ` (${status.records} records, ${status.cpuMs} ms CPU so far)` : ''
        io.stdout.write(
          `${[
            `job ${jobId}: ${state}${so}`,
            'the provider killed it: the job ends with JOB_CANCELLED and its signed attestation, and the',
            'session running it (trickle job run) pays only for the records it received',
            `the unspent deposit of channel ${opts.channel} comes back to the payer:`,
            `  trickle close ${opts.channel}      # starts the challenge period, prints the deadline`,
            `  trickle finalize ${opts.channel}   # after the deadline: refunds deposit − claimed`,
          ].join('\n')}\n`,
        )
      } finally {
        await conn.close()
      }
    })

  return program
}

/**
 * Runs the CLI on `argv` (as `process.argv`, node and script first).
 * @returns the exit code: 0 on success, 1 when the command failed (`error <CODE>: <message>` on
 *   stderr), 2 for usage and config errors, 130 (128 + SIGINT, the shell's convention) when an
 *   interrupt stopped a buy
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const outcome = { exitCode: 0 }
  const program = createProgram(io, outcome)
  try {
    await program.parseAsync(argv)
    return outcome.exitCode
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0
      // commander has printed its own parse errors; config errors are ours to print
      if (err.code === 'trickle.config') io.stderr.write(`error: ${err.message}\n`)
      return 2
    }
    io.stderr.write(`${formatError(err)}\n`)
    return 1
  }
}
