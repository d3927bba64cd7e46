/**
 * A real MQTT broker for tests and benchmarks: the Debian package's mosquitto, started on a free
 * loopback port with a generated config in a temp dir, restartable on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Path of the Debian package's broker binary. */
export const MOSQUITTO_BIN = '/usr/sbin/mosquitto'

/** A free loopback TCP port (asked from the OS, then released). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return address.port
}

/**
 * Waits until something accepts TCP connections on the loopback `port`.
 * @throws Error after `timeoutMs` ms
 */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A mosquitto process on a loopback port, restartable on the same port. */
export type Mosquitto = {
  readonly port: number
  readonly url: string
  /** Kills the process (SIGKILL, like a crash) and waits for it to exit. */
  kill(): Promise<void>
  /**
   * Stops the process (SIGTERM: mosquitto saves its persistence file, when it has one) and waits for
   * it to exit.
   */
  stop(): Promise<void>
  /** Starts the process again on the same port. */
  restart(): Promise<void>
  /** Kills the process and removes its temp dir. */
  close(): Promise<void>
}

/** Options of {@link startMosquitto}. */
export interface MosquittoOptions {
  /**
   * keep persistent sessions, their subscriptions and queued QoS 1 messages across a {@link
   * Mosquitto.stop} and restart (`persistence true` in the temp dir); default false
   */
  persistence?: boolean
}

/**
 * Starts mosquitto ({@link MOSQUITTO_BIN}) with a generated config (`listener PORT 127.0.0.1`,
 * anonymous) in a temp dir, and waits until it listens.
 * @throws Error when mosquitto exits early (e.g. not installed) or does not listen within 10 s
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'trickle-mosquitto-'))
  const port = await freePort()
  const config = join(dir, 'mosquitto.conf')
  await writeFile(
    config,
    `listener ${port} 127.0.0.1\nallow_anonymous true\nlog_dest none\n${
      options.persistence
        ? `persistence true\npersistence_location ${dir}/\nmax_queued_messages 100000\n`
        : 'persistence false\n'
    }`,
  )
  // mosquitto started as root writes its persistence file as the user `mosquitto`.
  if (options.persistence) await chmod(dir, 0o777)
  let child: ChildProcess | undefined

  const start = async (): Promise<void> => {
    const proc = spawn(MOSQUITTO_BIN, ['-c', config], { stdio: 'ignore' })
    child = proc
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code) => reject(new Error(`mosquitto exited early with ${code}`))),
    )
    exited.catch(() => {})
    await Promise.race([waitForPort(port, 10_000), exited])
  }
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child
    child = undefined
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve())
      proc.kill(signal)
    })
  }
  const kill = () => end('SIGKILL')
  await start()
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    kill,
    stop: () => end('SIGTERM'),
    restart: start,
    async close() {
      await kill()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
