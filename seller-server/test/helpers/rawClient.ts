import { decodeFrame, encodeFrame, type Frame } from '@trickle/protocol'
import WebSocket from 'ws'

/** A bare protocol client for tests: sends any bytes, records every frame and how the socket closed. */
export interface RawClient {
  frames: Frame[]
  sendFrame(frame: Frame): void
  sendBytes(bytes: Uint8Array): void
  /** resolves with the first frame of that type (already received or future) */
  next<T extends Frame['t']>(type: T, timeoutMs?: number): Promise<Extract<Frame, { t: T }>>
  closed: Promise<{ code: number; reason: string }>
  close(): void
}

export async function connectRaw(url: string): Promise<RawClient> {
  const ws = new WebSocket(url)
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  const frames: Frame[] = []
  const waiters: (() => void)[] = []
  ws.on('message', (data: Buffer) => {
    frames.push(decodeFrame(data))
    for (const w of waiters.splice(0)) w()
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() })
      for (const w of waiters.splice(0)) w()
    })
  })
  return {
    frames,
    sendFrame: (frame) => ws.send(encodeFrame(frame)),
    sendBytes: (bytes) => ws.send(bytes),
    async next(type, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      while (true) {
        const found = frames.find((f) => f.t === type)
        if (found) return found as never
        if (ws.readyState === WebSocket.CLOSED) throw new Error(`closed before a ${type} frame`)
        if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeoutMs} ms`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 50)
        })
      }
    },
    closed,
    close: () => ws.close(),
  }
}
