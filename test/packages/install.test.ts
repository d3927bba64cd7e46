import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import {
  encodeFrame,
  type Hex,
  nextAckHash,
  receiptDomainSeparator,
  signReceipt,
  toHex,
  ZERO_HASH,
} from '@trickle/protocol'
import { computeAddress, SigningKey } from 'ethers'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BundledFile, bundlePage } from './helpers/bundlePage.ts'
import { type InstallSize, installScratchProject, installSize } from './helpers/installScratchProject.ts'
import { launchChromium } from './helpers/launchChromium.ts'
import { type PackedPackage, packPublishable } from './helpers/packPublishable.ts'
import { run } from './helpers/run.ts'
import { type StaticServer, serveDirectory } from './helpers/serveDirectory.ts'
import { pageMarket, subscribeInPage, type TricklePage } from './helpers/trickleInPage.ts'

/** ms for `npm pack` of every package (each `prepack` runs `tsc`) and for one `npm install`. */
const PACK_TIMEOUT_MS = 300_000
const INSTALL_TIMEOUT_MS = 300_000
/** ms a buyer script or a bin may run */
const SCRIPT_TIMEOUT_MS = 90_000
/** ms a page or one call into it may take */
const PAGE_TIMEOUT_MS = 30_000
const MB = 1024 * 1024
const KiB = 1024

/**
 * What a developer gets from the registry: every publishable package `npm pack`ed, installed into a
 * project outside the repository, run by Node 24 against a local marketplace.
 */
describe('packed and installed packages', () => {
  const temp = mkdtempSync(join(tmpdir(), 'trickle-pack-'))
  let packed: PackedPackage[]
  let project: string
  let sdkOnly: InstallSize
  let market: LocalMarketplace
  const scratches: string[] = []

  beforeAll(
    async () => {
      const started = performance.now()
      const marketStarted = startLocalMarketplace({ rowsPerSecond: 50 })
      try {
        packed = await packPublishable(temp, PACK_TIMEOUT_MS)
      } catch (err) {
        await (await marketStarted).stop()
        throw err
      }
      const tarball = (name: string) => packed.find((p) => p.name === name)!.tarball
      const [all, sdk, started2] = await Promise.allSettled([
        installScratchProject([...packed.map((p) => p.tarball), 'ethers@^6'], INSTALL_TIMEOUT_MS),
        // Only the buyer SDK: what `npm install @trickle/sdk` costs (its @trickle deps from the tarballs).
        installScratchProject(
          ['@trickle/sdk', '@trickle/protocol', '@trickle/contracts', '@trickle/errors'].map(tarball),
          INSTALL_TIMEOUT_MS,
        ),
        marketStarted,
      ])
      for (const r of [all, sdk]) if (r.status === 'fulfilled') scratches.push(r.value)
      if (started2.status === 'fulfilled') market = started2.value
      for (const r of [all, sdk, started2]) if (r.status === 'rejected') throw r.reason
      project = (all as PromiseFulfilledResult<string>).value
      sdkOnly = await installSize((sdk as PromiseFulfilledResult<string>).value)
      console.log(
        `packed ${packed.map((p) => `${p.name} ${(p.size / 1024).toFixed(0)} KiB`).join(', ')}; ` +
          `pack + installs ${((performance.now() - started) / 1000).toFixed(0)} s`,
      )
      console.log(
        `buyer SDK install (@trickle/sdk and its @trickle deps only): ${sdkOnly.packages} packages, ` +
          `${(sdkOnly.bytes / MB).toFixed(1)} MB of node_modules`,
      )
    },
    PACK_TIMEOUT_MS + INSTALL_TIMEOUT_MS + 60_000,
  )

  afterAll(async () => {
    await market?.stop()
    for (const dir of [temp, ...scratches]) rmSync(dir, { recursive: true, force: true })
  })

  it('packs every publishable package and none of the dev-only ones', () => {
    expect(packed.map((p) => p.name).sort()).toEqual([
      '@trickle/cli',
      '@trickle/contracts',
      '@trickle/devices',
      '@trickle/errors',
      '@trickle/protocol',
      '@trickle/sdk',
      '@trickle/seller',
    ])
  })

  it('lists the products and buys chunks from a plain .mjs buyer in Node 24', async () => {
    copyFileSync(join(import.meta.dirname, 'scratch/buyer.mjs'), join(project, 'buyer.mjs'))
    const chunks = 5
    const { stdout } = await run(process.execPath, ['buyer.mjs'], {
      cwd: project,
      timeoutMs: SCRIPT_TIMEOUT_MS,
      env: {
        TRICKLE_MARKET: JSON.stringify({
          rpcUrl: market.rpcUrl,
          config: market.config,
          buyerKey: market.buyerKeys[0],
          chunks,
        }),
      },
    })
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      products: string[]
      received: number[]
      paid: string
      price: string
      reason: string
      deposit: string
      ping: unknown
    }
    expect(result.products).toEqual([
      'Carbon monoxide, road level',
      'Nitrogen oxides NOx and NO₂',
      'Temperature and humidity',
    ])
    expect(result.received).toEqual([0, 1, 2, 3, 4])
    expect(BigInt(result.paid)).toBe(BigInt(result.price) * BigInt(chunks))
    expect(result.reason).toBe('done')
    expect(BigInt(result.deposit)).toBe(BigInt(result.price) * BigInt(chunks) * 2n)
    expect(result.ping).toEqual({ t: 'ping', n: 7 })
  })

  it('runs the installed `trickle` bin of @trickle/cli', async () => {
    const { stdout } = await run(join(project, 'node_modules/.bin/trickle'), ['--help'], {
      cwd: project,
      timeoutMs: SCRIPT_TIMEOUT_MS,
    })
    expect(stdout).toMatch(/^Usage: trickle /m)
    expect(stdout).toContain('products')
    expect(stdout).toContain('buy')
  })

  /**
   * The page a developer bundles: core and SDK from the installed tarballs, built by Vite for the
   * browser, served on 127.0.0.1 and loaded in Chromium. Anvil's RPC and the seller's gateway are
   * other origins (CORS).
   */
  describe('in Chromium', () => {
    let files: BundledFile[]
    let server: StaticServer
    let browser: Browser
    let page: Page
    const pageErrors: string[] = []

    beforeAll(async () => {
      for (const file of ['index.html', 'page.js']) {
        copyFileSync(join(import.meta.dirname, 'scratch', file), join(project, file))
      }
      const started = performance.now()
      files = await bundlePage(project, join(temp, 'page'))
      const entry = files[0]!
      const total = files.reduce((sum, f) => sum + f.gzip, 0)
      console.log(
        `core + SDK page bundle (Vite, minified): entry chunk ${(entry.bytes / KiB).toFixed(0)} KiB, ` +
          `${(entry.gzip / KiB).toFixed(0)} KiB gzip; all ${files.length} chunks ` +
          `${(total / KiB).toFixed(0)} KiB gzip (the rest load on the first catalog read); ` +
          `built in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      )
      server = await serveDirectory(join(temp, 'page'))
      browser = await launchChromium(PAGE_TIMEOUT_MS)
      page = await browser.newPage()
      page.setDefaultTimeout(PAGE_TIMEOUT_MS)
      page.on('pageerror', (err) => pageErrors.push(err.message))
      await page.goto(server.url)
      await page.waitForFunction(() => 'trickle' in globalThis)
    }, 120_000)

    afterAll(async () => {
      await browser?.close()
      await server?.close()
    })

    it('decodes and encodes frames and signs and verifies receipts with the installed core', async () => {
      const key = new SigningKey(`0x${'11'.repeat(32)}`)
      const domain = { chainId: market.chainId, channels: market.config.channels }
      const separator = receiptDomainSeparator(domain)
      const receipt = {
        channelId: `0x${'ab'.repeat(32)}` as Hex,
        amount: 12_345_678_901_234_567_890n,
        seq: 42,
      }
      const chunk = new TextEncoder().encode('{"sensor":"nox","value":101}')
      const ackHash = nextAckHash(ZERO_HASH, chunk)
      const signature = signReceipt(key, separator, { ...receipt, ackHash })
      const frame = { t: 'receipt' as const, seq: receipt.seq, amount: receipt.amount, ackHash, signature }
      const input = {
        frame: toHex(encodeFrame(frame)),
        key: key.privateKey,
        domain,
        receipt: { ...receipt, ackHash, amount: receipt.amount.toString() },
        signature,
        chunk: toHex(chunk),
      }

      const result = await page.evaluate((i) => (globalThis as unknown as TricklePage).trickle.core(i), input)

      expect(result).toEqual({
        bufferGlobal: 'undefined',
        decoded: { ...frame, amount: frame.amount.toString() },
        reencoded: input.frame,
        // RFC 6979 signatures are deterministic: the page signs exactly what Node signed.
        signature,
        signer: computeAddress(key.publicKey).toLowerCase(),
        tamperedSigner: expect.not.stringMatching(new RegExp(computeAddress(key.publicKey), 'i')),
        ackHash,
        malformed: 'FRAME_MALFORMED',
      })
      expect(pageErrors).toEqual([])
    })

    it("lists the products with the installed SDK: anvil's RPC and the seller's gateway, cross-origin", async () => {
      const products = await page.evaluate(
        (m) => (globalThis as unknown as TricklePage).trickle.listProducts(m),
        pageMarket(market, 1),
      )
      expect(products).toEqual([
        { name: 'Carbon monoxide, road level' },
        { name: 'Nitrogen oxides NOx and NO₂' },
        { name: 'Temperature and humidity' },
      ])
      expect(pageErrors).toEqual([])
    })

    it('subscribes with a browser wallet (EIP-1193) and IndexedDB session keys, paying exactly its budget', async () => {
      const product = market.seller.products.find((p) => p.productId === 2n)!
      const price = BigInt(product.descriptor.pricePerChunk)
      const budget = 6n * price
      const result = await subscribeInPage(page, pageMarket(market, 1), 2n, budget)
      expect(result.received).toEqual([0, 1, 2, 3, 4, 5])
      expect(BigInt(result.deposit)).toBe(budget)
      // Receipts were signed by the channel's session key, read back from IndexedDB, not by the wallet.
      expect(result.channelSigner.toLowerCase()).not.toBe(result.payer.toLowerCase())
      expect((await market.seller.store.latest(result.channelId as Hex))?.amount).toBe(budget)
      expect(pageErrors).toEqual([])
    })
  })
})
