import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalChain, startLocalChain } from '@trickle/devnet'
import { serveStorefront, storefrontConfigOf } from '@trickle/web/server'
import { Wallet as EthersWallet, parseEther, verifyMessage, verifyTypedData } from 'ethers'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../../test/packages/helpers/launchChromium.ts'
import { builtStorefront } from './helpers/storefrontFixture.ts'
import { createTestWallet, type TestWallet, WALLET_ERROR } from './helpers/testWallet.ts'

/** ms a page action, a transaction's mining or one fetch may take */
const WAIT_MS = 15_000

const rawConfig = {
  rpcUrl: 'http://127.0.0.1:8545',
  chainId: 31337,
  registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  channels: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
  deployBlock: 1,
  gateways: ['http://127.0.0.1:8080'],
  fees: 'eip1559',
  buyerKey: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
}

describe('serveStorefront', () => {
  let dir: string
  let server: Awaited<ReturnType<typeof serveStorefront>>
  const get = (path: string) => fetch(new URL(path, server.url), { signal: AbortSignal.timeout(WAIT_MS) })

  beforeAll(async () => {
    dir = await builtStorefront()
    // A raw marketplace config, key and all, as a careless caller might pass it.
    server = await serveStorefront({
      config: rawConfig as unknown as ReturnType<typeof storefrontConfigOf>,
      dir,
    })
  })
  afterAll(() => server?.close())

  it('serves the built index.html at / and for any path without a file extension', async () => {
    for (const path of ['/', '/products/abc']) {
      const response = await get(path)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^text\/html/)
      const html = await response.text()
      expect(html).toContain('<div id="app">')
      expect(html).toMatch(/<script type="module"[^>]* src="\/assets\/[^"]+\.js"/)
    }
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(await (await get('/')).text())![1]!
    const asset = await get(script)
    expect(asset.status).toBe(200)
    expect(asset.headers.get('content-type')).toMatch(/javascript/)
    expect((await get('/assets/missing.js')).status).toBe(404)
    // The favicon Chromium asks for unprompted is "no content", not a 404 in the page's console.
    expect((await get('/favicon.ico')).status).toBe(204)
  })

  it('answers only GET and HEAD', async () => {
    const post = await fetch(server.url, { method: 'POST', signal: AbortSignal.timeout(WAIT_MS) })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
  })

  it('answers /config.json with the browser-safe config, never cached and never with a key', async () => {
    const response = await get('/config.json')
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const body = (await response.json()) as Record<string, unknown>
    expect(body).toEqual(storefrontConfigOf(rawConfig))
    expect(body).not.toHaveProperty('buyerKey')
    expect(JSON.stringify(body)).not.toContain(rawConfig.buyerKey.slice(2))
  })

  it('refuses a second server on a port in use with an error naming the port', async () => {
    const port = Number(new URL(server.url).port)
    const second = serveStorefront({ config: storefrontConfigOf(rawConfig), dir, port })
    await expect(second).rejects.toThrow(new RegExp(`port ${port}`))
    await expect(second).rejects.toMatchObject({ code: 'EADDRINUSE' })
  })

  it('refuses a directory without index.html', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'trickle-empty-'))
    try {
      await expect(serveStorefront({ config: storefrontConfigOf(rawConfig), dir: empty })).rejects.toThrow(
        /index\.html/,
      )
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })

  it('closes while a keep-alive connection is still open', async () => {
    const other = await serveStorefront({ config: storefrontConfigOf(rawConfig), dir })
    // A connection held open by the client's agent, as a browser holds one.
    await new Promise<void>((resolve, reject) => {
      const req = request(`${other.url}/config.json`, {
        agent: undefined,
        headers: { connection: 'keep-alive' },
      })
      req.on('response', (res) => res.resume().on('end', resolve))
      req.on('error', reject)
      req.end()
    })
    const closed = await Promise.race([
      other.close().then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still open'), 2_000)),
    ])
    expect(closed).toBe('closed')
  })
})

/** What the page keeps of the EIP-6963 announcements it heard. */
interface PageSide {
  wallets: Record<
    string,
    {
      request(a: { method: string; params?: unknown }): Promise<unknown>
      on(e: string, fn: (v: unknown) => void): unknown
    }
  >
  infos: { uuid: string; name: string; icon: string; rdns: string }[]
  events: { rdns: string; event: string; value: unknown }[]
  addEventListener(type: string, fn: (e: Event) => void): void
  dispatchEvent(e: Event): boolean
}
type Outcome = { result: unknown } | { error: { code: unknown; message: string } }

describe('test wallet (EIP-6963, EIP-1193) in Chromium', () => {
  let chain: LocalChain
  let browser: Browser
  let site: Awaited<ReturnType<typeof serveStorefront>>
  let siteDir: string
  let page: Page
  let first: TestWallet
  let second: TestWallet

  beforeAll(async () => {
    siteDir = mkdtempSync(join(tmpdir(), 'trickle-wallet-page-'))
    writeFileSync(
      join(siteDir, 'index.html'),
      '<!doctype html><html lang="en"><title>wallet test</title></html>',
    )
    const [c, b] = await Promise.all([startLocalChain(), launchChromium()])
    chain = c
    browser = b
    site = await serveStorefront({
      config: storefrontConfigOf({ ...rawConfig, rpcUrl: chain.rpcUrl }),
      dir: siteDir,
    })
    first = createTestWallet({
      privateKey: chain.privateKeys[2]!,
      rpcUrl: chain.rpcUrl,
      chainId: chain.chainId,
    })
    second = createTestWallet({
      privateKey: chain.privateKeys[3]!,
      rpcUrl: chain.rpcUrl,
      chainId: chain.chainId,
      startChainId: 1,
      name: 'Second Wallet',
      rdns: 'org.trickle.second-wallet',
    })
    const context = await browser.newContext()
    context.setDefaultTimeout(WAIT_MS)
    await first.install(context)
    await second.install(context)
    page = await context.newPage()
    await page.goto(site.url)
    // The page discovers wallets the way a dapp does: listen, then ask.
    await page.evaluate(() => {
      const w = globalThis as unknown as PageSide
      w.wallets = {}
      w.infos = []
      w.events = []
      w.addEventListener('eip6963:announceProvider', (e) => {
        const { info, provider } = (e as CustomEvent).detail as {
          info: PageSide['infos'][number]
          provider: PageSide['wallets'][string]
        }
        if (w.wallets[info.rdns]) return
        w.wallets[info.rdns] = provider
        w.infos.push(info)
        provider.on('chainChanged', (value) =>
          w.events.push({ rdns: info.rdns, event: 'chainChanged', value }),
        )
      })
      w.dispatchEvent(new Event('eip6963:requestProvider'))
    })
  })

  afterAll(async () => {
    await browser?.close()
    await site?.close()
    await chain?.stop()
    if (siteDir) rmSync(siteDir, { recursive: true, force: true })
  })

  /** One EIP-1193 request from the page, its error caught there. */
  const call = (rdns: string, method: string, params?: unknown): Promise<Outcome> =>
    page.evaluate(
      async ([rdns, method, params]) => {
        const w = globalThis as unknown as PageSide
        try {
          return { result: await w.wallets[rdns as string]!.request({ method: method as string, params }) }
        } catch (err) {
          const e = err as { code?: unknown; message: string }
          return { error: { code: e.code, message: e.message } }
        }
      },
      [rdns, method, params] as const,
    )
  /**
   * The receipt, polled for: anvil answers `eth_sendRawTransaction` before it has mined the block, and
   * ethers' `waitForTransaction` then waits for a block event that its poller, started later, never sees.
   */
  const minedReceipt = async (hash: string) => {
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      const receipt = await chain.provider.getTransactionReceipt(hash)
      if (receipt) return receipt
      if (Date.now() > deadline) throw new Error(`${hash} not mined within ${WAIT_MS} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const FIRST = 'org.trickle.test-wallet'
  const SECOND = 'org.trickle.second-wallet'

  it('announces both wallets with their names, rdns, distinct uuids and a data-URI icon', async () => {
    const infos = await page.evaluate(() => (globalThis as unknown as PageSide).infos)
    expect(infos.map((i) => [i.name, i.rdns])).toEqual([
      ['Trickle Test Wallet', FIRST],
      ['Second Wallet', SECOND],
    ])
    expect(new Set(infos.map((i) => i.uuid)).size).toBe(2)
    for (const i of infos) expect(i.icon).toMatch(/^data:image\/svg\+xml;base64,/)
    expect(await call(FIRST, 'eth_requestAccounts')).toEqual({ result: [first.address] })
    expect(await call(SECOND, 'eth_accounts')).toEqual({ result: [second.address] })
  })

  it('sends a real value transfer that anvil mines', async () => {
    const to = EthersWallet.createRandom().address
    const value = parseEther('0.25')
    const sent = await call(FIRST, 'eth_sendTransaction', [
      { from: first.address, to, value: `0x${value.toString(16)}` },
    ])
    expect(sent).toMatchObject({ result: expect.stringMatching(/^0x[0-9a-f]{64}$/) })
    const hash = (sent as { result: string }).result
    const receipt = await minedReceipt(hash)
    expect(receipt?.status).toBe(1)
    expect(receipt?.from).toBe(first.address)
    expect(await chain.provider.getBalance(to)).toBe(value)
  })

  it('signs EIP-712 typed data that recovers to the wallet, and a personal message', async () => {
    const domain = {
      name: 'Trickle',
      version: '1',
      chainId: chain.chainId,
      verifyingContract: rawConfig.channels,
    }
    const types = {
      Receipt: [
        { name: 'channelId', type: 'bytes32' },
        { name: 'cumulativeAmount', type: 'uint256' },
      ],
    }
    const message = { channelId: `0x${'ab'.repeat(32)}`, cumulativeAmount: '1000000000000' }
    const typedData = JSON.stringify({
      types: {
        EIP712Domain: [
          { name: 'name', type: 'string' },
          { name: 'version', type: 'string' },
          { name: 'chainId', type: 'uint256' },
          { name: 'verifyingContract', type: 'address' },
        ],
        ...types,
      },
      domain,
      primaryType: 'Receipt',
      message,
    })
    const signed = await call(FIRST, 'eth_signTypedData_v4', [first.address, typedData])
    expect(signed).toHaveProperty('result')
    expect(verifyTypedData(domain, types, message, (signed as { result: string }).result)).toBe(first.address)

    const personal = await call(FIRST, 'personal_sign', ['0x68656c6c6f', first.address])
    expect(verifyMessage('hello', (personal as { result: string }).result)).toBe(first.address)
  })

  it('fails the request after rejectNext with EIP-1193 code 4001, and only that one', async () => {
    first.rejectNext('eth_sendTransaction')
    const tx = [{ from: first.address, to: second.address, value: '0x1' }]
    expect(await call(FIRST, 'eth_sendTransaction', tx)).toEqual({
      error: { code: 4001, message: 'User rejected the request.' },
    })
    expect(first.requests.at(-1)).toMatchObject({ method: 'eth_sendTransaction', params: tx })
    expect(await call(FIRST, 'eth_sendTransaction', tx)).toHaveProperty('result')
  })

  it('refuses to send from chain 1 until switched to the anvil chain, then sends', async () => {
    const to = EthersWallet.createRandom().address
    const tx = [{ from: second.address, to, value: '0x2a' }]
    expect(await call(SECOND, 'eth_chainId')).toEqual({ result: '0x1' })
    expect(await call(SECOND, 'eth_sendTransaction', tx)).toMatchObject({
      error: { code: WALLET_ERROR.chainDisconnected },
    })
    const typed = JSON.stringify({
      types: { Ping: [{ name: 'n', type: 'uint256' }] },
      domain: { name: 'Trickle', chainId: chain.chainId },
      primaryType: 'Ping',
      message: { n: 1 },
    })
    expect(await call(SECOND, 'eth_signTypedData_v4', [second.address, typed])).toMatchObject({
      error: { code: WALLET_ERROR.chainDisconnected },
    })
    expect(await call(SECOND, 'wallet_switchEthereumChain', [{ chainId: '0x5' }])).toMatchObject({
      error: { code: WALLET_ERROR.unrecognizedChain },
    })
    expect(await call(SECOND, 'wallet_switchEthereumChain', [{ chainId: '0x7a69' }])).toEqual({
      result: null,
    })
    expect(await page.evaluate(() => (globalThis as unknown as PageSide).events)).toEqual([
      { rdns: SECOND, event: 'chainChanged', value: '0x7a69' },
    ])
    expect(await call(SECOND, 'eth_chainId')).toEqual({ result: '0x7a69' })
    const sent = await call(SECOND, 'eth_sendTransaction', tx)
    await minedReceipt((sent as { result: string }).result)
    expect(await chain.provider.getBalance(to)).toBe(42n)
  })

  it('forwards reads to the node and passes its JSON-RPC errors back', async () => {
    const block = await call(FIRST, 'eth_blockNumber')
    expect(Number((block as { result: string }).result)).toBe(await chain.provider.getBlockNumber())
    expect(await call(FIRST, 'eth_noSuchMethod')).toMatchObject({ error: { code: -32601 } })
    expect(await call(FIRST, 'eth_sign', [first.address, '0x00'])).toMatchObject({
      error: { code: WALLET_ERROR.unsupportedMethod },
    })
  })
})
