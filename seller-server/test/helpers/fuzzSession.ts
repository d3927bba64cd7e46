import {
  decodeFrame,
  encodeFrame,
  type Frame,
  type HelloFrame,
  type Hex,
  termsDigest,
} from '@trickle/protocol'
import type { SigningKey } from 'ethers'
import WebSocket from 'ws'
import type { FuzzPhase, SessionTranscript } from './expectedReplies.ts'
import type { FuzzMessage } from './fuzzFrames.ts'
import { acceptFor } from './rawClient.ts'

/** One hostile session: how far to drive it honestly, then what to send. */
export interface FuzzSessionPlan {
  url: string
  phase: FuzzPhase
  /** the honest `hello` (a real open channel) for phases after `await_hello` */
  hello?: HelloFrame
  /** the key of that channel's signer: it signs the `accept` (SPEC.md §Authentication) */
  signerKey?: SigningKey
  /** builds the fuzz messages once the prefix is done (the terms digest is known then) */
  messages(termsDigest: Hex | undefined): FuzzMessage[]
  /** drop the TCP connection right after sending, without a close handshake */
  abort: boolean
  /** ms to wait for the seller to close the session */
  timeoutMs: number
}

/** What the client saw; `prefixFailure` is set when the honest prefix did not get terms. */
export interface FuzzSessionRecord extends SessionTranscript {
  messages: FuzzMessage[]
  termsDigest: Hex | undefined
  prefixFailure?: Frame | string
}

function send(ws: WebSocket, m: FuzzMessage): void {
  const bytes = typeof m.data === 'string' ? Buffer.from(m.data) : m.data
  const binary = typeof m.data !== 'string' && !m.asText
  const parts = m.fragments ?? 1
  if (parts <= 1) {
    ws.send(bytes, { binary })
    return
  }
  const size = Math.ceil(bytes.length / parts)
  for (let i = 0; i < parts; i++) {
    ws.send(bytes.subarray(i * size, (i + 1) * size), { binary, fin: i === parts - 1 })
  }
}

/**
 * Runs one session against a live seller: connects, optionally says `hello` (and `accept`s the terms),
 * sends the fuzz messages back to back followed by a valid `close`, and records every frame until the
 * seller closes the WebSocket (or the timeout).
 */
export async function runFuzzSession(plan: FuzzSessionPlan): Promise<FuzzSessionRecord> {
  const ws = new WebSocket(plan.url, { perMessageDeflate: false })
  const frames: Frame[] = []
  const undecodable: string[] = []
  let wsClose: { code: number; reason: string } | undefined
  let wake: (() => void) | undefined
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) undecodable.push(`text: ${data.toString().slice(0, 80)}`)
    else {
      try {
        frames.push(decodeFrame(data))
      } catch (err) {
        undecodable.push(`${(err as Error).message}: ${data.toString('hex').slice(0, 160)}`)
      }
    }
    wake?.()
  })
  const closed = new Promise<void>((resolve) => {
    ws.on('close', (code, reason) => {
      wsClose = { code, reason: reason.toString() }
      wake?.()
      resolve()
    })
  })
  ws.on('error', () => {
    /* a close follows */
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('close', () => reject(new Error('connection refused')))
  })
  const until = async (done: () => boolean, ms: number) => {
    const deadline = Date.now() + ms
    while (!done() && !wsClose && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    return done()
  }

  let digest: Hex | undefined
  if (plan.phase !== 'await_hello') {
    ws.send(encodeFrame(plan.hello!))
    const answered = await until(() => frames.some((f) => f.t !== 'pong'), plan.timeoutMs)
    const terms = frames.find((f) => f.t === 'terms')
    if (!answered || !terms) {
      ws.terminate()
      await closed
      const failure = frames.find((f) => f.t === 'error') ?? (answered ? 'no terms' : 'no answer to hello')
      return {
        messages: [],
        termsDigest: undefined,
        frames,
        undecodable,
        wsClose,
        timedOut: false,
        prefixFailure: failure,
      }
    }
    digest = termsDigest(terms)
    frames.length = 0
    if (plan.phase === 'streaming') ws.send(encodeFrame(acceptFor(terms, plan.signerKey!)))
  }

  const messages = plan.messages(digest)
  for (const m of messages) send(ws, m)
  if (plan.abort) {
    ws.terminate()
    await closed
    return { messages, termsDigest: digest, frames, undecodable, wsClose, timedOut: false }
  }
  if (ws.readyState === WebSocket.OPEN)
    ws.send(encodeFrame({ t: 'close', reason: 'buyer_closed', message: '' }))
  const timedOut = !(await until(() => wsClose !== undefined, plan.timeoutMs))
  if (timedOut) ws.terminate()
  await closed
  return { messages, termsDigest: digest, frames, undecodable, wsClose, timedOut }
}
