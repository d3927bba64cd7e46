/**
 * A bare JSON-RPC 2.0 client over fetch, for tests that send thousands of requests to anvil: no
 * batching delay, no polling, and real JSON-RPC batches (one HTTP round trip for many reads).
 */

/** A JSON-RPC error answer; `data` holds the revert data of a reverted `eth_call`. */
export class JsonRpcError extends Error {
  readonly code: number
  readonly data: unknown

  constructor(method: string, error: { code: number; message: string; data?: unknown }) {
    super(`${method}: ${error.message}`)
    this.name = 'JsonRpcError'
    this.code = error.code
    this.data = error.data
  }
}

interface Answer {
  id: number
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

/** A JSON-RPC connection to one URL. */
export class JsonRpc {
  readonly #url: string
  #nextId = 1

  constructor(url: string) {
    this.#url = url
  }

  /**
   * Sends one request.
   *
   * @returns the `result` member
   * @throws JsonRpcError when the node answers with an error; TypeError on a network failure
   */
  async call<T>(method: string, params: unknown[]): Promise<T> {
    const [answer] = await this.#post([{ method, params }])
    return unwrap<T>(method, answer!)
  }

  /**
   * Sends many requests as one JSON-RPC batch.
   *
   * @returns the results, in request order
   * @throws JsonRpcError for the first request that failed
   */
  async batch(requests: { method: string; params: unknown[] }[]): Promise<unknown[]> {
    if (requests.length === 0) return []
    const answers = await this.#post(requests)
    return requests.map((request, index) => unwrap(request.method, answers[index]!))
  }

  async #post(requests: { method: string; params: unknown[] }[]): Promise<Answer[]> {
    const firstId = this.#nextId
    this.#nextId += requests.length
    const body = requests.map((request, index) => ({ jsonrpc: '2.0', id: firstId + index, ...request }))
    const response = await fetch(this.#url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    const answers = (await response.json()) as Answer[]
    return [...answers].sort((a, b) => a.id - b.id)
  }
}

function unwrap<T>(method: string, answer: Answer): T {
  if (answer.error !== undefined) throw new JsonRpcError(method, answer.error)
  return answer.result as T
}
