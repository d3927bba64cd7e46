import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalMarketplace, localConfig, startLocalMarketplace } from '@trickle/devnet'
import { Wallet } from 'ethers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runTrickle, spawnTrickle } from './helpers/runTrickle.ts'

/** the fixture's price: 10^12 wei = 0.000001 ETH per chunk */
const PRICE = 1_000_000_000_000n

// each case runs the CLI (a cold Node start) several times against a live seller
describe('trickle buy: output, amounts in ETH, previews and Ctrl-C', { timeout: 180_000 }, () => {
  let market: LocalMarketplace
  let dir: string
  let config: string

  const trickle = (args: string[], env: Record<string, string> = {}) =>
    runTrickle(['--config', config, ...args], env)
  const ndjson = (text: string) =>
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { seq: number; reading?: unknown })
  /** the JSON summary line `buy` prints (to stderr when the chunks go to stdout) */
  const summaryIn = (text: string) =>
    JSON.parse(text.split('\n').find((l) => l.startsWith('{"productId"'))!) as Record<string, unknown>

  beforeAll(async () => {
    market = await startLocalMarketplace({ rowsPerSecond: 50, pricePerChunk: PRICE })
    dir = mkdtempSync(join(tmpdir(), 'trickle-cli-buy-'))
    config = join(dir, 'local.json')
    writeFileSync(config, JSON.stringify(localConfig(market)))
  })

  afterAll(async () => {
    await market?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('with --out -, writes the chunks to stdout and the preview, progress and summary to stderr', async () => {
    const run = await trickle(['buy', '2', '--chunks', '5', '--max-spend', '0.001eth', '--out', '-'])
    expect(run.stderr).not.toMatch(/^error/m)
    expect(run.code).toBe(0)
    const records = ndjson(run.stdout)
    expect(records).toHaveLength(5)
    for (const r of records) expect(r.reading).toHaveProperty('value')
    // the cost preview, in ETH, before any money moved
    expect(run.stderr).toContain('5 chunks × 0.000001 ETH = 0.000005 ETH')
    expect(run.stderr).toMatch(/deposit of 0\.001 ETH/)
    const summary = summaryIn(run.stderr)
    expect(summary).toMatchObject({ chunks: 5, paidWei: (5n * PRICE).toString(), out: '-' })
    const channel = JSON.parse((await trickle(['channel', summary.channelId as string])).stdout)
    expect(channel.deposit).toBe((10n ** 15n).toString())
  })

  it('buys recorded history: the last 20 readings, priced before paying, then ends; an empty range costs nothing', async () => {
    // The marketplace replays 50 rows a second: wait until the seller has recorded 20 of product 2.
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${market.seller.httpUrl}/history/2?last=20`)
      if (res.ok && ((await res.json()) as { count: number }).count === 20) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const run = await trickle(['buy', '2', '--last', '20', '--max-spend', '0.001eth', '--out', '-'])
    expect(run.stderr).not.toMatch(/^error/m)
    expect(run.code).toBe(0)
    expect(run.stderr).toMatch(/history: 20 readings recorded \d{4}-\d\d-\d\dT/)
    expect(run.stderr).toContain('20 chunks × 0.000001 ETH = 0.00002 ETH')
    const records = ndjson(run.stdout)
    expect(records).toHaveLength(20)
    for (const r of records) expect(r.reading).toHaveProperty('value')
    const summary = summaryIn(run.stderr)
    expect(summary).toMatchObject({ chunks: 20, paidWei: (20n * PRICE).toString(), reason: 'done' })
    expect(summary.range).toMatchObject({ count: 20, live: false })

    const empty = await trickle([
      'buy',
      '2',
      '--from',
      '2000-01-01',
      '--to',
      '2000-01-02',
      '--max-spend',
      '0.001eth',
      '--out',
      '-',
    ])
    expect(empty.code).toBe(1)
    expect(empty.stderr).toContain('RANGE_UNAVAILABLE')
    expect(empty.stderr).not.toContain('opened channel')
  })

  it('leaves an existing output file as it was when the buy fails before a chunk arrives', async () => {
    const sub = mkdtempSync(join(dir, 'keep-'))
    const out = join(sub, 'readings.ndjson')
    writeFileSync(out, 'yesterday’s readings\n')
    const unfunded = Wallet.createRandom().privateKey
    const run = await trickle(['buy', '2', '--chunks', '5', '--max-spend', '0.001 ETH', '--out', out], {
      TRICKLE_PRIVATE_KEY: unfunded,
    })
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^error INSUFFICIENT_FUNDS: /m)
    expect(readFileSync(out, 'utf8')).toBe('yesterday’s readings\n')
    expect(readdirSync(sub)).toEqual(['readings.ndjson'])
  })

  it('warns before buying when --max-spend cannot cover --chunks, then keeps the chunks it paid for', async () => {
    const out = join(dir, 'capped.ndjson')
    writeFileSync(out, 'old\n')
    const run = await trickle(['buy', '2', '--chunks', '10', '--max-spend', '3000gwei', '--out', out])
    expect(run.stderr).toMatch(/^warning: --max-spend 0\.000003 ETH covers 3 of 10 chunks/m)
    expect(run.stderr.indexOf('warning')).toBeLessThan(run.stderr.indexOf('opened channel'))
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^error SPENDING_CAP_REACHED: /m)
    expect(ndjson(readFileSync(out, 'utf8'))).toHaveLength(3)
  })

  it('stops cleanly on Ctrl-C, says what was paid and what stays locked, and its resume command works', async () => {
    const buying = spawnTrickle([
      '--config',
      config,
      'buy',
      '2',
      '--chunks',
      '100000',
      '--max-spend',
      '1eth',
      '--deposit',
      '0.01eth',
      '--out',
      '-',
    ])
    await buying.waitForStdout((s) => s.split('\n').length > 3)
    buying.child.kill('SIGINT')
    const run = await buying.exited
    expect(run.stderr).not.toMatch(/^error/m)
    expect(run.code).toBe(130)
    const written = ndjson(run.stdout).length
    const summary = summaryIn(run.stderr)
    const channelId = summary.channelId as string
    expect(summary).toMatchObject({ chunks: written, reason: 'buyer_closed' })
    const paid = BigInt(summary.paidWei as string)
    expect(paid).toBeGreaterThanOrEqual(BigInt(written) * PRICE)

    const view = JSON.parse((await trickle(['channel', channelId])).stdout) as Record<string, string>
    expect(view.status).toBe('open')
    expect(run.stderr).toContain(`stopped (Ctrl-C) after ${written} of 100000 chunks`)
    expect(run.stderr).toMatch(new RegExp(`^paid +${formatEth(paid)} ETH`, 'm'))
    expect(run.stderr).toMatch(new RegExp(`^locked +${formatEth(10n ** 16n - paid)} ETH`, 'm'))
    // the refund commands repeat the global flags given (here --config)
    expect(run.stderr).toMatch(new RegExp(`^refund +trickle --config \\S+ close ${channelId}$`, 'm'))
    expect(run.stderr).toMatch(
      new RegExp(
        `^ +then, after the 1 h challenge period, trickle --config \\S+ finalize ${channelId}$`,
        'm',
      ),
    )

    const resume = /^resume +trickle (.*)$/m.exec(run.stderr)?.[1]
    expect(resume).toContain(`--channel ${channelId}`)
    expect(resume).toContain(`--chunks ${100000 - written}`)
    const args = resume!.split(' ')
    args[args.indexOf('--chunks') + 1] = '3'
    const resumed = await runTrickle(args)
    expect(resumed.stderr).not.toMatch(/^error/m)
    expect(resumed.code).toBe(0)
    expect(ndjson(resumed.stdout)).toHaveLength(3)
    expect(summaryIn(resumed.stderr).channelId).toBe(channelId)
  })

  it('lists channels in 100 columns, naming the products they pay for, in ETH or in wei', async () => {
    const table = await trickle(['channels'])
    expect(table.code).toBe(0)
    for (const line of table.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(100)
    expect(table.stdout).toContain('Nitrogen oxides NOx and NO₂')
    expect(table.stdout).toMatch(/deposit +0\.001 ETH/)
    const wei = await trickle(['--wei', 'channels'])
    expect(wei.stdout).toMatch(/deposit +1000000000000000 wei/)
  })
})

/** ETH with 18 decimals and no trailing zeros, as the CLI prints it */
function formatEth(wei: bigint): string {
  const whole = wei / 10n ** 18n
  const frac = (wei % 10n ** 18n).toString().padStart(18, '0').replace(/0+$/, '')
  return frac === '' ? whole.toString() : `${whole}.${frac}`.replace('.', '\\.')
}
