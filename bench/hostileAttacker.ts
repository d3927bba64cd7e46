/**
 * The attacker of the hostile-client benchmark, run as its own process (`fork`) so that its CPU is not
 * the prober's: one client at a time that floods `ping` frames for the planned time, reconnecting
 * whenever the seller closes it (see {@link AttackPlan}).
 */
import type { Socket } from 'node:net'
import { decodeFrame, encodeFrame } from '@trickle/protocol'
import WebSocket from 'ws'
import type { AttackPlan, FromAttacker, ToAttacker } from './hostileFixture.ts'

/** Pings sent per turn of the event loop. */
const BATCH = 500
/** The client's own send buffer is kept below this, bytes. */
const CLIENT_HIGH_WATER = 1024 * 1024

const reply = (message: FromAttacker) => process.send!(message)

async function attack(plan: AttackPlan): Promise<FromAttacker> {
  const deadline = performance.now() + plan.seconds * 1000
  const errors: Record<string, number> = {}
  let pings = 0
  let connections = 0
  let refused = 0
  while (performance.now() < deadline) {
    const ws = new WebSocket(plan.url, { localAddress: plan.localAddress, perMessageDeflate: false })
    const opened = await new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true))
      ws.once('error', () => resolve(false))
    })
    if (!opened) {
      refused++
      await new Promise((r) => setTimeout(r, 50))
      continue
    }
    connections++
    ws.on('error', () => undefined)
    if (plan.mode === 'never_read') (ws as unknown as { _socket: Socket })._socket.pause()
    else {
      ws.on('message', (data: Buffer) => {
        const frame = decodeFrame(data)
        if (frame.t === 'error') errors[frame.code] = (errors[frame.code] ?? 0) + 1
      })
    }
    while (ws.readyState === WebSocket.OPEN && performance.now() < deadline) {
      if (ws.bufferedAmount > CLIENT_HIGH_WATER) {
        await new Promise((r) => setTimeout(r, 1))
        continue
      }
      for (let i = 0; i < BATCH; i++) ws.send(encodeFrame({ t: 'ping', n: ++pings }))
      await new Promise((r) => setImmediate(r))
    }
    ws.terminate()
  }
  return { type: 'done', pings, connections, refused, errors }
}

process.on('message', (message: ToAttacker) => {
  if (message.type === 'attack') void attack(message.plan).then(reply)
})
reply({ type: 'ready' })
