import { Command, CommanderError, Option } from 'commander'
import { buy } from './buy.ts'
import { connect, createProvider } from './connect.ts'
import { formatError } from './formatError.ts'
import { formatProductRows, toProductRow } from './listProducts.ts'
import {
  parseChannelId,
  parseNonNegativeInt,
  parsePositiveInt,
  parseProductId,
  parseWei,
} from './parseArgs.ts'
import { type ConfigFlags, DEFAULT_CONFIG_PATH, resolveConfig } from './resolveConfig.ts'
import { showChannel } from './showChannel.ts'

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
Config (each flag overrides the environment, the environment overrides the file):
  file  --config <file>, default ${DEFAULT_CONFIG_PATH} (written by \`npm start\`):
        { rpcUrl, chainId, registry, channels, deployBlock, gateways, buyerKey? }
  env   TRICKLE_RPC_URL, TRICKLE_CHAIN_ID, TRICKLE_REGISTRY, TRICKLE_CHANNELS,
        TRICKLE_GATEWAYS (comma-separated), TRICKLE_PRIVATE_KEY (the payer; else the file's buyerKey)

Amounts are wei (decimal integers). A failing command prints \`error <CODE>: <message>\` to stderr
and exits 1; usage errors exit 2.

Examples:
  trickle products
  trickle buy 2 --chunks 20 --max-spend 100000000000000 --out readings.ndjson
  trickle channel 0x…`

function collect(value: string, previous: string[] | undefined): string[] {
  const urls = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  return [...(previous ?? []), ...urls]
}

/**
 * Builds the `trickle` command: `products`, `buy` and `channel`, with the global config flags.
 * Actions throw; {@link runCli} turns errors into exit codes.
 */
export function createProgram(io: CliIo): Command {
  const program = new Command('trickle')
    .description('Browse the Trickle marketplace, buy a paid stream chunk by chunk, inspect channels')
    .option('--config <file>', `marketplace config JSON (default: ${DEFAULT_CONFIG_PATH})`)
    .option('--rpc-url <url>', 'EVM JSON-RPC URL')
    .option('--chain-id <id>', 'chain id', parseNonNegativeInt)
    .option('--registry <address>', 'DataRegistry address')
    .option('--channels <address>', 'StreamChannels address')
    .option(
      '--gateway <url>',
      'IPFS trustless gateway for descriptors (repeat, or comma-separate, for several)',
      collect,
    )
    .option(
      '--from-block <n>',
      'block to index the registry from (default: the deployBlock)',
      parseNonNegativeInt,
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

  program
    .command('products')
    .summary('list the catalog')
    .description(
      'Lists every registry product with its descriptor fetched through IPFS: id, kind, status, name, ' +
        'price (wei/chunk), seller, endpoint and CID. Products whose descriptor is missing or invalid ' +
        'are listed with the problem code. No key is needed.',
    )
    .option('--json', 'print one JSON array (wei as decimal strings)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const conn = await connect(config(cmd))
      try {
        const rows = (await conn.client.products()).map(toProductRow)
        io.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : formatProductRows(rows))
      } finally {
        await conn.close()
      }
    })

  program
    .command('buy')
    .summary('buy chunks of a product, paying per chunk; writes them as NDJSON')
    .description(
      'Finds the product in the catalog, opens a channel to its seller (unless --channel is given), ' +
        'streams and pays per chunk, writes one {"seq","reading"} line per chunk to --out and prints ' +
        'one JSON summary line to stdout. The payer key (TRICKLE_PRIVATE_KEY, else the config’s ' +
        'buyerKey) also signs the receipts, so --channel can resume a channel the same key opened. ' +
        'Exits 1 with SPENDING_CAP_REACHED, before opening a channel, when --max-spend is below one ' +
        'chunk’s price, and after writing what arrived when the cap ends the session early.',
    )
    .argument('<productId>', 'registry product id', parseProductId)
    .requiredOption('--chunks <n>', 'chunks to receive', parsePositiveInt)
    .requiredOption('--max-spend <wei>', 'spend at most this much in this session', parseWei)
    .requiredOption('--out <file>', 'NDJSON output, one {"seq","reading"} line per chunk')
    .option('--deposit <wei>', 'deposit of the new channel (default: --max-spend)', parseWei)
    .addOption(
      new Option('--channel <channelId>', 'stream on this existing channel instead of opening one')
        .argParser(parseChannelId)
        .conflicts('deposit'),
    )
    .action(
      async (
        productId: bigint,
        opts: { chunks: number; maxSpend: bigint; out: string; deposit?: bigint; channel?: `0x${string}` },
        cmd: Command,
      ) => {
        const cfg = config(cmd)
        if (cfg.privateKey === undefined) {
          throw new CommanderError(
            2,
            'trickle.config',
            'buying needs a payer key: set TRICKLE_PRIVATE_KEY or buyerKey in the config file',
          )
        }
        const conn = await connect(cfg, cfg.privateKey)
        try {
          await buy(
            conn,
            {
              productId,
              chunks: opts.chunks,
              maxSpend: opts.maxSpend,
              out: opts.out,
              ...(opts.deposit !== undefined ? { deposit: opts.deposit } : {}),
              ...(opts.channel !== undefined ? { channel: opts.channel } : {}),
            },
            {
              stdout: io.stdout,
              stderr: io.stderr,
              ...(io.onInterrupt ? { onInterrupt: io.onInterrupt } : {}),
            },
          )
        } finally {
          await conn.close()
        }
      },
    )

  program
    .command('channel')
    .summary('print a channel’s on-chain state as JSON')
    .description(
      'Prints payer, payee, signer, token, deposit and claimed (wei), status and closeDeadline (unix s) ' +
        'of a StreamChannels channel as JSON. Exits 1 with UNKNOWN_CHANNEL for an unknown id.',
    )
    .argument('<channelId>', 'bytes32 channel id', parseChannelId)
    .action(async (channelId: `0x${string}`, _opts: unknown, cmd: Command) => {
      const cfg = config(cmd)
      const provider = createProvider(cfg)
      try {
        const view = await showChannel(provider, cfg.channels, channelId)
        io.stdout.write(`${JSON.stringify(view, null, 2)}\n`)
      } finally {
        provider.destroy()
      }
    })

  return program
}

/**
 * Runs the CLI on `argv` (as `process.argv`, node and script first).
 * @returns the exit code: 0 on success, 1 when the command failed (`error <CODE>: <message>` on
 *   stderr), 2 for usage and config errors
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = createProgram(io)
  try {
    await program.parseAsync(argv)
    return 0
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
