/// <reference lib="dom" />
/**
 * A newcomer's path: `npm start`, open the printed storefront URL in Chromium, and with the local dev
 * wallet (no extension) buy a stream, watch it, stop, close the channel and get the refund.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { channelsAt } from '@trickle/contracts'
import { increaseTime } from '@trickle/devnet'
import { JsonRpcProvider } from 'ethers'
import type { Browser } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../../test/packages/helpers/launchChromium.ts'

const START = fileURLToPath(new URL('../../scripts/start.ts', import.meta.url))
const SCREENSHOTS = fileURLToPath(new URL('../test-results/screenshots/', import.meta.url))

/** Waits until `npm start`'s output has matched every pattern; rejects when it exits first. */
function waitForOutput(child: ChildProcess, patterns: RegExp[], timeoutMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(
      () => reject(new Error(`npm start printed no ${patterns} in ${timeoutMs} ms:\n${out}`)),
      timeoutMs,
    )
    const check = () => {
      const found = patterns.map((p) => p.exec(out)?.[1])
      if (found.every((v) => v !== undefined)) {
        clearTimeout(timer)
        resolve(found as string[])
      }
    }
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      check()
    })
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`npm start exited with ${code}:\n${out}`))
    })
  })
}

describe('npm start, then the storefront with the local dev wallet', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'trickle-start-'))
  let child: ChildProcess | undefined
  let browser: Browser | undefined

  afterAll(async () => {
    await browser?.close()
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r))
      child.kill('SIGINT')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
      child.kill('SIGKILL')
    }
    rmSync(cwd, { recursive: true, force: true })
  })

  it('buys, watches, stops and refunds with no wallet extension', async () => {
    // As `npm start` runs it (Node 24 with the source condition), from a scratch directory so its
    // `.trickle/` and seller data stay out of the repository.
    child = spawn(process.execPath, ['--conditions=trickle-source', START, '--web-port', '0'], {
      cwd,
      env: { ...process.env, TRICKLE_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const [storefrontUrl, rpcUrl] = await waitForOutput(
      child,
      [/storefront (http:\/\/127\.0\.0\.1:\d+)/, /chain +(http:\/\/127\.0\.0\.1:\d+)/],
      180_000,
    )
    browser = await launchChromium()
    mkdirSync(SCREENSHOTS, { recursive: true })
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.setDefaultTimeout(30_000)
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))

    await page.goto(storefrontUrl!)
    await page.getByTestId('product-card').first().waitFor()
    await page.getByRole('button', { name: 'Connect wallet' }).click()
    await page.getByTestId('dev-wallet').click()
    await page.getByTestId('account').waitFor()
    await expect.poll(() => page.getByTestId('balance').textContent()).toMatch(/^(99\.\d+|100) ETH$/)

    // npm start also provides jobs: a compute product lists its price model and how to run one.
    await page.goto(`${storefrontUrl}/#/product/4`)
    const offer = page.getByTestId('job-offer')
    await offer.waitFor()
    expect(await offer.textContent()).toMatch(/Start fee.*5 units.*per CPU-second.*air-quality/s)
    expect(await page.getByTestId('job-command').textContent()).toBe(
      'npx trickle job run module.wasm --input air-quality --out job',
    )
    await page.screenshot({ path: join(SCREENSHOTS, 'npm-start-job-product-1280.png'), fullPage: true })

    await page.goto(`${storefrontUrl}/#/product/1`)
    await page.getByTestId('start').click()
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid=chunks]')?.textContent ?? 0) >= 50,
      null,
      {
        timeout: 60_000,
      },
    )
    expect(Number(await page.getByTestId('chart').getAttribute('data-points'))).toBeGreaterThanOrEqual(50)
    await page.screenshot({ path: join(SCREENSHOTS, 'npm-start-streaming-1280.png'), fullPage: true })
    await page.getByTestId('stop').click()
    await page.getByTestId('summary').waitFor()
    const paid = BigInt((await page.getByTestId('summary-paid').getAttribute('data-wei'))!)
    expect(paid).toBeGreaterThanOrEqual(50n * 1_000_000_000_000n)

    await page.getByRole('link', { name: 'My channels' }).click()
    const row = page.getByTestId('channel').first()
    await row.getByTestId('close').click()
    await page.locator('[data-testid=channel][data-status=closing]').waitFor()
    const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true })
    try {
      // The seller claims when the buyer requests close; the page shows it once the claim is mined.
      const closing = page.locator('[data-testid=channel][data-status=closing]')
      await expect
        .poll(
          async () => {
            await closing.getByRole('button', { name: 'Refresh' }).click()
            return BigInt((await closing.getByTestId('claimed').getAttribute('data-wei')) ?? '0')
          },
          { timeout: 60_000, interval: 1_000 },
        )
        .toBe(paid)
      await increaseTime(provider, 3601) // npm start's challenge period is 3600 s
      await closing.getByRole('button', { name: 'Refresh' }).click()
      await expect.poll(() => closing.getByTestId('countdown').textContent()).toBe('now')
      await closing.getByTestId('finalize').click()
      const refund = page.getByTestId('refund')
      await refund.waitFor()
      const channelId = (await page
        .getByTestId('channel')
        .first()
        .getAttribute('data-channel-id')) as `0x${string}`
      const config = (await page.evaluate(() => fetch('/config.json').then((r) => r.json()))) as {
        channels: string
      }
      const view = await channelsAt(config.channels, provider).getChannel(channelId)
      expect(view.claimed).toBe(paid)
      expect(BigInt((await refund.getAttribute('data-wei'))!)).toBe(view.deposit - paid)
      await page.screenshot({ path: join(SCREENSHOTS, 'npm-start-refunded-1280.png'), fullPage: true })
    } finally {
      provider.destroy()
    }
    expect(errors).toEqual([])
  }, 300_000)
})
