import { chunksInFlight, heldFrameProblem, MAX_HELD_CONTROL_FRAMES } from '@trickle/sdk'
import { describe, expect, it } from 'vitest'

const window = { initial: 16, step: 16, max: 64 }

describe('chunksInFlight', () => {
  it('allows the initial window, one step more per receipt sent, never above max, less the unpaid chunks', () => {
    expect(chunksInFlight({ window, receiptsSent: 0, unpaidReceived: 0 })).toBe(16)
    expect(chunksInFlight({ window, receiptsSent: 1, unpaidReceived: 4 })).toBe(28)
    expect(chunksInFlight({ window, receiptsSent: 10, unpaidReceived: 0 })).toBe(64)
    expect(chunksInFlight({ window, receiptsSent: 0, unpaidReceived: 20 })).toBe(0)
    expect(chunksInFlight({ window: undefined, receiptsSent: 3, unpaidReceived: 0 })).toBe(0)
  })
})

describe('heldFrameProblem', () => {
  const position = { window, receiptsSent: 0, unpaidReceived: 6 }
  it('accepts what an honest seller can send while the buyer signs nothing', () => {
    expect(heldFrameProblem({ chunks: 10, controls: 3, bytes: 1_000 }, position, 4096)).toBeUndefined()
  })
  it('names a chunk beyond the window, bytes beyond the limit and a flood of control frames', () => {
    expect(heldFrameProblem({ chunks: 11, controls: 0, bytes: 10 }, position, 4096)).toMatch(
      /window allows 10/,
    )
    expect(heldFrameProblem({ chunks: 1, controls: 0, bytes: 4097 }, position, 4096)).toMatch(/4096 bytes/)
    expect(
      heldFrameProblem({ chunks: 0, controls: MAX_HELD_CONTROL_FRAMES + 1, bytes: 10 }, position, 4096),
    ).toMatch(/control frames/)
  })
})
