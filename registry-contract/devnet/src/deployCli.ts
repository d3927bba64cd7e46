#!/usr/bin/env node
import { ContractsError } from '@trickle/contracts'
/**
 * Deploy CLI: `node registry-contract/src/deployCli.ts --rpc-url URL --private-key KEY --challenge-period 3600`.
 * The key may come from the environment variable `TRICKLE_DEPLOYER_KEY` instead (keeps it out of shell
 * history). Prints the {@link Deployment} JSON on stdout; on failure prints `{code, message}` on stderr
 * and exits with status 1.
 * @module
 */
import { Command, InvalidArgumentError } from 'commander'
import { JsonRpcProvider, Wallet } from 'ethers'
import { type Deployment, deployContracts } from './deployContracts.ts'

function parseSeconds(value: string): bigint {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of seconds')
  return BigInt(value)
}

const program = new Command('trickle-deploy')
  .description('Deploy DataRegistry, StreamChannels and JobAttestations and print the deployment as JSON')
  .requiredOption('--rpc-url <url>', 'JSON-RPC endpoint of the chain')
  .option('--private-key <key>', 'deployer private key (0x hex); default $TRICKLE_DEPLOYER_KEY')
  .option('--challenge-period <seconds>', 'StreamChannels challenge period in seconds', parseSeconds, 3600n)
  .showHelpAfterError()

program.parse()
const options = program.opts<{ rpcUrl: string; privateKey?: string; challengePeriod: bigint }>()

async function main(): Promise<Deployment> {
  const key = options.privateKey ?? process.env['TRICKLE_DEPLOYER_KEY']
  if (key === undefined || key === '') {
    throw new ContractsError(
      'INVALID_ARGUMENT',
      'no deployer key: pass --private-key or set TRICKLE_DEPLOYER_KEY',
    )
  }
  let wallet: Wallet
  try {
    wallet = new Wallet(key)
  } catch (cause) {
    throw new ContractsError('INVALID_ARGUMENT', 'the deployer key is not a valid private key', { cause })
  }
  const provider = new JsonRpcProvider(options.rpcUrl)
  try {
    return await deployContracts(wallet.connect(provider), {
      challengePeriodSeconds: options.challengePeriod,
    })
  } finally {
    provider.destroy()
  }
}

try {
  console.log(JSON.stringify(await main(), null, 2))
} catch (error) {
  const code = error instanceof ContractsError ? error.code : 'DEPLOY_FAILED'
  console.error(JSON.stringify({ code, message: (error as Error).message }))
  process.exitCode = 1
}
