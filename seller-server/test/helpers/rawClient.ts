import {
  type AcceptFrame,
  decodeFrame,
  encodeFrame,
  type Frame,
  receiptDomainSeparator,
  signAccept,
  type TermsFrame,
  termsDigest,
} from '@trickle/protocol'
import type { SigningKey } from 'ethers'
import WebSocket from 'ws'

/**
 * The `accept` of `terms` by a buyer holding `key` (the channel's signer or payer key): the terms
 * digest and the key's EIP-712 `Accept` signature over it and the terms' nonce (SPEC.md
 * §Authentication), in the receipt domain of the terms' chain and contract.
 */
export function acceptFor(terms: TermsFrame, key: SigningKey): AcceptFrame {
  const digest = termsDigest(terms)
  const separator = receiptDomainSeparator({ chainId: terms.chainId, channels: terms.channels })
  const signature = signAccept(key, separator, {
    channelId: terms.channelId,
    termsDigest: digest,
    nonce: terms.nonce,
  })
  return { t: 'accept', termsDigest: digest, signature }
}

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
