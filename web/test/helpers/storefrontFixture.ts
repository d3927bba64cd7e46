import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import AxeBuilder from '@axe-core/playwright'
import { DEMO_DEVICE_KEY, type LocalMarketplace, localConfig, startLocalMarketplace } from '@trickle/devnet'
import {
  buildStorefront,
  type StorefrontConfig,
  type StorefrontServer,
  serveStorefront,
  storefrontConfigOf,
} from '@trickle/web/server'
import pino from 'pino'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { launchChromium } from '../../../test/packages/helpers/launchChromium.ts'
import type { TestWallet } from './testWallet.ts'

/** ms an action (click, fill, wait for a locator) or a screenshot may take */
const ACTION_TIMEOUT_MS = 15_000
/** ms a navigation may take */
const NAVIGATION_TIMEOUT_MS = 30_000
/** px: every page of the fixture is this tall (the width is the test's: phone or desktop) */
const VIEWPORT_HEIGHT = 900
/** px: the widths every screenshot is taken at (a phone, a desktop) */
const SCREENSHOT_WIDTHS = [390, 1280] as const
const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-results/screenshots/', import.meta.url))

/** A local marketplace, the built storefront served with its config, and Chromium to open it. */
export interface StorefrontFixture {
  market: LocalMarketplace
  /** `http://127.0.0.1:<port>` of the storefront */
  url: string
  /** what the storefront's `/config.json` answers */
  config: StorefrontConfig
  browser: Browser
  /**
   * Opens a page in a fresh browser context, `width` × 900 px, with the wallets installed (call
   * `page.goto(fixture.url)` next). Actions wait at most 15 s, navigations 30 s.
   * @param o - viewport width in px (390: a phone, 1280: a desktop) and the wallet or wallets
   */
  newPage(o: { width: 390 | 1280; wallet?: TestWallet | TestWallet[] }): Promise<Page>
  /** The page's `console.error` messages and uncaught errors so far, in order (a live array). */
  pageErrors(page: Page): string[]
  /**
   * Saves full-page PNGs of the page as it is now at both widths the storefront is checked at, 390 and
   * 1280 px, to `web/test-results/screenshots/<name>-<width>.png` (gitignored): the viewport is resized
   * for each, then restored.
   * @returns the files' paths
   */
  screenshot(page: Page, name: string): Promise<string[]>
  /** Closes the pages, Chromium, the storefront server and the marketplace. Idempotent. */
  stop(): Promise<void>
}

let built: Promise<string> | undefined

/**
 * The storefront built once per process, into a temporary directory of its own (test files run in
 * parallel processes; each builds its own copy instead of racing on `web/dist`). Removed at exit.
 * @returns the built directory
 */
export function builtStorefront(): Promise<string> {
  if (!built) {
    const outDir = mkdtempSync(join(tmpdir(), 'trickle-storefront-'))
    process.once('exit', () => rmSync(outDir, { recursive: true, force: true }))
    built = buildStorefront({ outDir, logLevel: 'error' })
    built.catch(() => {
      built = undefined
    })
  }
  return built
}

/**
 * Starts a local marketplace (anvil, contracts, broker, replayer, seller; logs silent), serves the
 * built storefront with `storefrontConfigOf(localConfig(market))` and launches headless Chromium.
 *
 * @param o - rows per second the replayer publishes (default 50), the seller's data directory
 *   (default a temporary one, removed by `stop()`), and the price in wei per reading of a `dataset`
 *   product selling the recording of product 1 (listed as product 4; absent: no dataset)
 * @returns the fixture; call `stop()` in `afterAll`
 * @throws whatever a part throws when it does not start; the parts already started are stopped
 */
export async function startStorefrontFixture(
  o: { rowsPerSecond?: number; dataDir?: string; datasetPricePerChunk?: bigint } = {},
): Promise<StorefrontFixture> {
  const tempDir = o.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'trickle-seller-')) : undefined
  const stops: (() => Promise<unknown>)[] = []
  if (tempDir) stops.push(async () => rmSync(tempDir, { recursive: true, force: true }))
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined)
  }
  try {
    const [marketResult, dirResult] = await Promise.allSettled([
      startLocalMarketplace({
        rowsPerSecond: o.rowsPerSecond ?? 50,
        deviceKey: DEMO_DEVICE_KEY, // as npm start: the demo device signs its readings
        dataDir: o.dataDir ?? tempDir!,
        ...(o.datasetPricePerChunk === undefined ? {} : { datasetPricePerChunk: o.datasetPricePerChunk }),
        logger: pino({ level: 'silent' }),
      }),
      builtStorefront(),
    ])
    if (marketResult.status === 'fulfilled') stops.push(() => marketResult.value.stop())
    if (marketResult.status === 'rejected') throw marketResult.reason
    if (dirResult.status === 'rejected') throw dirResult.reason
    const market = marketResult.value
    const config = storefrontConfigOf({ ...localConfig(market) })
    const server: StorefrontServer = await serveStorefront({ config, dir: dirResult.value })
    stops.push(() => server.close())
    const browser = await launchChromium()
    stops.push(() => browser.close())

    const contexts = new Set<BrowserContext>()
    const errors = new WeakMap<Page, string[]>()
    let stopped: Promise<void> | undefined
    return {
      market,
      url: server.url,
      config,
      browser,
      async newPage({ width, wallet }) {
        const context = await browser.newContext({ viewport: { width, height: VIEWPORT_HEIGHT } })
        contexts.add(context)
        context.once('close', () => contexts.delete(context))
        context.setDefaultTimeout(ACTION_TIMEOUT_MS)
        context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS)
        for (const w of wallet === undefined ? [] : [wallet].flat()) await w.install(context)
        const page = await context.newPage()
        const list: string[] = []
        errors.set(page, list)
        page.on('console', (message) => {
          if (message.type() !== 'error') return
          const { url } = message.location()
          list.push(`console.error: ${message.text()}${url ? ` (${url})` : ''}`)
        })
        page.on('pageerror', (error) => list.push(`uncaught: ${error.message}`))
        return page
      },
      pageErrors(page) {
        return errors.get(page) ?? []
      },
      async screenshot(page, name) {
        mkdirSync(SCREENSHOT_DIR, { recursive: true })
        const original = page.viewportSize() ?? { width: 1280, height: VIEWPORT_HEIGHT }
        const paths: string[] = []
        // from the top, so the sticky header is where a person sees it
        await page.evaluate(() => window.scrollTo(0, 0))
        for (const width of SCREENSHOT_WIDTHS) {
          await page.setViewportSize({ width, height: original.height })
          // two frames: the layout and the charts' ResizeObserver settle at the new width
          await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
          const path = join(SCREENSHOT_DIR, `${name}-${width}.png`)
          await page.screenshot({ path, fullPage: true, timeout: ACTION_TIMEOUT_MS })
          paths.push(path)
        }
        await page.setViewportSize(original)
        return paths
      },
      stop() {
        stopped ??= (async () => {
          await Promise.allSettled([...contexts].map((c) => c.close()))
          await stopAll()
        })()
        return stopped
      },
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}

/** One accessibility rule a page breaks, with how many elements break it. */
export interface AxeViolation {
  /** axe rule id, such as `color-contrast` */
  id: string
  /** `serious` or `critical` */
  impact: string
  /** elements that break the rule */
  nodes: number
}

/**
 * Runs axe-core (WCAG 2 A and AA rules) on the page as it is now.
 * @returns the serious and critical violations; empty when there are none
 */
export async function axeScan(page: Page): Promise<AxeViolation[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze()
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact ?? '', nodes: v.nodes.length }))
}
