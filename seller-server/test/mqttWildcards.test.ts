// Wildcard topic filters against a real broker (Debian's mosquitto): before issue 13 a product
// subscribed as `office1/#` received nothing (messages were looked up by exact topic).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, type Mosquitto, startMosquitto } from '../../devices/test/helpers/mosquitto.ts'
import { connectMqttSource, type MqttSource } from '../src/mqttSource.ts'

describe('MqttSource with wildcard filters (mosquitto)', () => {
  let broker: Mosquitto
  let source: MqttSource
  let publisher: mqtt.MqttClient

  beforeAll(async () => {
    broker = await startMosquitto()
    source = await connectMqttSource(
      broker.url,
      new Map([
        ['all', ['office1/#']],
        // overlaps `all`: a broker may send one copy per matching subscription; the product gets one
        ['co2', ['office1/co2', 'office1/+/co2']],
        ['temps', ['office1/+/temp']],
        ['system', ['$SYS/broker/uptime']],
      ]),
    )
    publisher = await mqtt.connectAsync(broker.url)
  })
  afterAll(async () => {
    await publisher?.endAsync()
    await source?.close()
    await broker?.close()
  })

  it('routes each message to every product whose filter matches, once, in publication order', async () => {
    const got = new Map<string, string[]>([
      ['all', []],
      ['co2', []],
      ['temps', []],
    ])
    for (const [product, list] of got) {
      source.listen(product, (payload) => list.push(`${new TextDecoder().decode(payload)}`))
    }
    const published: [string, string][] = []
    for (let i = 0; i < 10; i++) {
      published.push(['office1/co2', `co2-${i}`])
      published.push([`office1/room${i % 3}/temp`, `temp-${i}`])
      published.push([`office1/room${i % 3}/co2`, `roomco2-${i}`])
      published.push([`office2/co2`, `other-${i}`])
    }
    published.push(['office1', 'parent']) // `office1/#` includes the parent level
    // QoS 1 to one broker from one client: delivered in publication order.
    for (const [topic, payload] of published) await publisher.publishAsync(topic, payload, { qos: 1 })
    await publisher.publishAsync('office1/end', 'end', { qos: 1 })
    const deadline = Date.now() + 10_000
    while (got.get('all')!.at(-1) !== 'end' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20))

    const office1 = published.filter(([t]) => t === 'office1' || t.startsWith('office1/')).map(([, p]) => p)
    expect(got.get('all')).toEqual([...office1, 'end'])
    expect(got.get('co2')).toEqual(
      published.filter(([t]) => /^office1\/(room\d\/)?co2$/.test(t)).map(([, p]) => p),
    )
    expect(got.get('temps')).toEqual(published.filter(([t]) => t.endsWith('/temp')).map(([, p]) => p))
  })

  it('refuses an invalid filter before connecting', async () => {
    await expect(connectMqttSource(broker.url, new Map([['p', ['office1/#/co2']]]))).rejects.toThrow(
      /'#' must be the last level/,
    )
  })
})

/** Whether something listens on 127.0.0.1:`port`. */
function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy()
      resolve(true)
    }).once('error', () => resolve(false))
  })
}

describe('MqttSource with credentials and TLS (mosquitto, allow_anonymous false)', () => {
  let dir: string
  let child: ChildProcess | undefined
  let url: string
  let tlsUrl: string
  let ca: Buffer

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trickle-mosquitto-auth-'))
    const passwords = join(dir, 'passwords')
    writeFileSync(passwords, '')
    execFileSync('/usr/bin/mosquitto_passwd', ['-b', passwords, 'seller', 's3cret'])
    // mosquitto started as root reads its files as the user `mosquitto`
    chmodSync(dir, 0o755)
    chmodSync(passwords, 0o644)
    // A CA of the test's own and a broker certificate for 127.0.0.1 it signs (Debian's openssl).
    const openssl = (...args: string[]) =>
      execFileSync('/usr/bin/openssl', args, { cwd: dir, stdio: 'ignore' })
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=Trickle test CA',
    )
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'broker.key',
      '-out',
      'broker.csr',
      '-subj',
      '/CN=127.0.0.1',
    )
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
    openssl(
      'x509',
      '-req',
      '-in',
      'broker.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'broker.crt',
      '-days',
      '2',
      '-extfile',
      'san.ext',
    )
    for (const f of ['ca.crt', 'broker.crt', 'broker.key']) chmodSync(join(dir, f), 0o644)
    ca = readFileSync(join(dir, 'ca.crt'))
    const port = await freePort()
    const tlsPort = await freePort()
    url = `mqtt://127.0.0.1:${port}`
    tlsUrl = `mqtts://127.0.0.1:${tlsPort}`
    const conf = join(dir, 'mosquitto.conf')
    writeFileSync(
      conf,
      `allow_anonymous false\npassword_file ${passwords}\npersistence false\nlog_dest none\n` +
        `listener ${port} 127.0.0.1\n` +
        `listener ${tlsPort} 127.0.0.1\ncafile ${join(dir, 'ca.crt')}\ncertfile ${join(dir, 'broker.crt')}\nkeyfile ${join(dir, 'broker.key')}\n`,
    )
    child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: 'ignore' })
    const deadline = Date.now() + 10_000
    for (;;) {
      const up = await portOpen(port)
      if (up && (await portOpen(tlsPort))) break
      if (Date.now() > deadline) throw new Error('mosquitto did not start')
      await new Promise((r) => setTimeout(r, 50))
    }
  })
  afterAll(() => {
    child?.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('connects with the user name and password it is given, and is refused without them', async () => {
    const topics = new Map([['p', ['office1/#']]])
    await expect(connectMqttSource(url, topics, { connectTimeoutMs: 2_000 })).rejects.toThrow(
      /Not authorized/i,
    )
    const source = await connectMqttSource(url, topics, { username: 'seller', password: 's3cret' })
    const publisher = await mqtt.connectAsync(url, { username: 'seller', password: 's3cret' })
    try {
      const got: string[] = []
      source.listen('p', (payload) => got.push(new TextDecoder().decode(payload)))
      await publisher.publishAsync('office1/co2', '415', { qos: 1 })
      const deadline = Date.now() + 5_000
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(got).toEqual(['415'])
    } finally {
      await publisher.endAsync(true)
      await source.close()
    }
  })

  it('connects over TLS to a broker whose certificate the given CA signed, and refuses one it cannot verify', async () => {
    const topics = new Map([['p', ['office1/#']]])
    const credentials = { username: 'seller', password: 's3cret' }
    await expect(
      connectMqttSource(tlsUrl, topics, { ...credentials, connectTimeoutMs: 2_000 }),
    ).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i)
    const source = await connectMqttSource(tlsUrl, topics, { ...credentials, tls: { ca } })
    const publisher = await mqtt.connectAsync(tlsUrl, { ...credentials, ca })
    try {
      const got: string[] = []
      source.listen('p', (payload) => got.push(new TextDecoder().decode(payload)))
      await publisher.publishAsync('office1/co2', '416', { qos: 1 })
      const deadline = Date.now() + 5_000
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(got).toEqual(['416'])
    } finally {
      await publisher.endAsync(true)
      await source.close()
    }
  })
})
