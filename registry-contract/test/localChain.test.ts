import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { attestationsAt, ContractsError, registryAt } from '@trickle/contracts'
import { findAnvil, startLocalChain } from '@trickle/devnet'
import { Contract, Wallet } from 'ethers'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const deployCli = fileURLToPath(new URL('../devnet/src/deployCli.ts', import.meta.url))

describe('startLocalChain', () => {
  it('starts anvil with the requested chain id and accounts, anvil default keys, and stops idempotently', async () => {
    const [chain, second] = await Promise.all([
      startLocalChain({ chainId: 1337, accounts: 3 }),
      startLocalChain(),
    ])
    try {
      expect(chain.rpcUrl).not.toBe(second.rpcUrl)
      expect(chain.chainId).toBe(1337)
      expect(Number((await chain.provider.getNetwork()).chainId)).toBe(1337)
      expect(second.chainId).toBe(31337)
      expect(chain.privateKeys).toHaveLength(3)
      expect(second.privateKeys).toHaveLength(10)
      // anvil's well-known first development key
      expect(chain.privateKeys[0]).toBe('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')
      const funded = await chain.provider.getBalance(new Wallet(chain.privateKeys[2]!).address)
      expect(funded).toBe(10_000n * 10n ** 18n)
    } finally {
      await Promise.all([chain.stop(), chain.stop(), second.stop()])
    }
    await chain.stop()
    await expect(fetch(chain.rpcUrl, { method: 'POST', body: '{}' })).rejects.toThrow()
  })

  it('rejects invalid options with INVALID_ARGUMENT and a missing binary with ANVIL_START_FAILED', async () => {
    await expect(startLocalChain({ chainId: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    const error = await startLocalChain({ anvilPath: '/nonexistent/anvil' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ContractsError)
    expect((error as ContractsError).code).toBe('ANVIL_START_FAILED')
    expect(() => findAnvil('plan9', 'mips')).toThrow(expect.objectContaining({ code: 'ANVIL_NOT_FOUND' }))
  })
})

describe('deploy CLI', () => {
  it('deploys the three contracts with the key from TRICKLE_DEPLOYER_KEY and prints the deployment JSON', async () => {
    const chain = await startLocalChain({ accounts: 2 })
    try {
      const { stdout } = await run(
        process.execPath,
        [deployCli, '--rpc-url', chain.rpcUrl, '--challenge-period', '120'],
        { env: { ...process.env, TRICKLE_DEPLOYER_KEY: chain.privateKeys[1]! } },
      )
      const deployment = JSON.parse(stdout) as {
        chainId: number
        registry: string
        channels: string
        attestations: string
        deployBlock: number
      }
      expect(deployment.chainId).toBe(31337)
      expect(deployment.deployBlock).toBe(1)
      expect(await chain.provider.getCode(deployment.channels)).not.toBe('0x')
      expect(await registryAt(deployment.registry, chain.provider).productCount()).toBe(0n)
      const channels = new Contract(
        deployment.channels,
        ['function challengePeriod() view returns (uint64)'],
        chain.provider,
      )
      expect(await channels.getFunction('challengePeriod')()).toBe(120n)
      expect(await attestationsAt(deployment.attestations, chain.provider).channels()).toBe(
        deployment.channels,
      )
    } finally {
      await chain.stop()
    }
  })

  it('exits with status 1 and a coded JSON error when no key is given', async () => {
    const { TRICKLE_DEPLOYER_KEY: _ignored, ...env } = process.env
    const failure = await run(process.execPath, [deployCli, '--rpc-url', 'http://127.0.0.1:9'], {
      env,
    }).catch((error: { code: number; stderr: string }) => error)
    expect(failure).toMatchObject({ code: 1 })
    expect(JSON.parse((failure as { stderr: string }).stderr)).toMatchObject({ code: 'INVALID_ARGUMENT' })
  })
})
