import { errorCode } from '@trickle/sdk'

/** What a person can do about a problem; the page offers it as a button. */
export type Remedy = 'retry' | 'switch-chain' | 'top-up' | 'connect' | 'fund'

/** A failure as the storefront shows it: a title, what happened, what to do, and the code for support. */
export interface Problem {
  title: string
  detail: string
  /**
   * the protocol's error code (SPEC.md §Error codes), or the session's close reason (§Close reasons)
   * when a session ended without an error, or `INTERNAL` for anything uncoded
   */
  code: string
  remedy?: Remedy
}

const KNOWN: Record<string, { title: string; hint: string; remedy?: Remedy }> = {
  USER_REJECTED: {
    title: 'You rejected the request in your wallet',
    hint: 'Nothing was sent or paid.',
    remedy: 'retry',
  },
  INSUFFICIENT_FUNDS: {
    title: 'Not enough funds',
    hint: 'Your account cannot pay the deposit plus gas. Add funds or choose a smaller budget.',
    remedy: 'fund',
  },
  CHAIN_MISMATCH: {
    title: 'Your wallet is on another network',
    hint: 'Switch the wallet to the marketplace’s chain.',
    remedy: 'switch-chain',
  },
  CHAIN_UNAVAILABLE: {
    title: 'The chain cannot be reached',
    hint: 'The RPC did not answer. Try again.',
    remedy: 'retry',
  },
  CONNECTION_FAILED: {
    title: 'The seller cannot be reached',
    hint: 'Its server did not answer or dropped the connection. Nothing more was paid; try again later.',
    remedy: 'retry',
  },
  PAYMENT_TIMEOUT: {
    title: 'Payment was not received in time',
    hint: 'The seller closed the session because no receipt arrived. You pay only for what you received.',
    remedy: 'retry',
  },
  SPENDING_CAP_REACHED: {
    title: 'Your budget is spent',
    hint: 'The stream stopped at the budget you set. Top up the channel to continue.',
    remedy: 'top-up',
  },
  // a close reason, not an error code: the session ended because the channel holds no more
  deposit_exhausted: {
    title: 'The deposit is used up',
    hint: 'Every wei in this channel is signed for. Top up the channel to keep streaming.',
    remedy: 'top-up',
  },
  RECEIPT_ABOVE_DEPOSIT: {
    title: 'The deposit is used up',
    hint: 'The channel has no funds left for more data. Top up to continue.',
    remedy: 'top-up',
  },
  CHANNEL_NOT_OPEN: {
    title: 'The channel is closing or closed',
    hint: 'Start a new stream to open another one.',
  },
  DEBT_DISPUTED: {
    title: 'The seller claims more than this page received',
    hint: 'The session was refused, nothing was signed. Contact the seller with the code below.',
  },
  DEBT_OUTSTANDING: {
    title: 'Unpaid data on your other channels',
    hint: 'The seller refuses new sessions while earlier ones are unpaid. Resume those channels first.',
  },
  PRODUCT_NOT_FOUND: {
    title: 'This product is not listed',
    hint: 'It may have been deactivated by its seller.',
  },
  DESCRIPTOR_INVALID: {
    title: 'The product’s description is invalid',
    hint: 'Its descriptor failed the checks.',
  },
  DESCRIPTOR_UNAVAILABLE: {
    title: 'The product’s description could not be fetched',
    hint: 'No IPFS gateway served it in time.',
    remedy: 'retry',
  },
  CHALLENGE_PERIOD_NOT_OVER: {
    title: 'Too early to finalize',
    hint: 'The challenge period has not ended yet.',
  },
  NOT_PAYER: { title: 'Not your channel', hint: 'Only the account that opened a channel may close it.' },
  TERMS_SIGNER_MISMATCH: {
    title: 'The seller’s terms are not signed by its registered key',
    hint: 'The stream was refused before any payment.',
  },
  TERMS_INVALID: { title: 'The seller’s terms were refused', hint: 'They ask more than the listed price.' },
  RANGE_UNAVAILABLE: {
    title: 'Nothing recorded in this range',
    hint: 'The seller holds no reading in the range you chose (or sells no history of this product). Nothing was paid. Try a wider or more recent range.',
  },
  INVALID_ARGUMENT: {
    title: 'This range cannot be bought',
    hint: 'Check the dates and the number of readings.',
  },
  ABORTED: { title: 'Stopped', hint: 'The action was cancelled.' },
}

/** Turns anything thrown into a {@link Problem} a person can act on. */
export function problemOf(err: unknown): Problem {
  const raw = errorCode(err)
  const code = (raw === 'ACTION_REJECTED' ? 'USER_REJECTED' : raw) ?? walletCode(err) ?? 'INTERNAL'
  const known = KNOWN[code]
  const message =
    (err as { shortMessage?: string; message?: string })?.shortMessage ?? (err as Error)?.message
  return {
    title: known?.title ?? 'Something went wrong',
    detail: known ? known.hint : String(message ?? err),
    code,
    ...(known?.remedy ? { remedy: known.remedy } : {}),
  }
}

/** EIP-1193 provider errors (a wallet call made by the storefront itself, outside the SDK). */
function walletCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown; info?: { error?: { code?: unknown } } })?.code
  if (code === 4001 || code === 'ACTION_REJECTED') return 'USER_REJECTED'
  if (code === 4902 || code === 4901) return 'CHAIN_MISMATCH'
  return undefined
}
