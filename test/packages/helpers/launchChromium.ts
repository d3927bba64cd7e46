import { type Browser, chromium } from 'playwright-core'

/** Debian's Chromium (`apt-get install chromium`); playwright-core never downloads a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium'

/**
 * Starts headless Chromium with nothing running in the background (no network of its own, no
 * component updates) and no sandbox (CI containers run as root).
 * @param timeoutMs - ms the launch may take
 */
export function launchChromium(timeoutMs = 30_000): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    timeout: timeoutMs,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  })
}
