import { Presets, SingleBar } from 'cli-progress'

/** Reports how many chunks of a purchase have arrived. */
export interface Progress {
  /** @param chunks - chunks received so far */
  update(chunks: number): void
  stop(): void
}

/**
 * A progress display on `stream`: a `cli-progress` bar when it is a TTY, otherwise plain lines at
 * every tenth of `total` and at the end, so logs and CI stay readable.
 *
 * @param stream - usually `process.stderr`
 * @param total - chunks expected
 * @param label - what is being bought, e.g. `product 2`
 */
export function createProgress(stream: NodeJS.WriteStream, total: number, label: string): Progress {
  if (stream.isTTY) {
    const bar = new SingleBar(
      {
        stream,
        format: `${label} |{bar}| {value}/{total} chunks | {duration}s`,
        hideCursor: true,
        clearOnComplete: false,
      },
      Presets.shades_classic,
    )
    bar.start(total, 0)
    return {
      update: (chunks) => bar.update(chunks),
      stop: () => bar.stop(),
    }
  }
  const every = Math.max(1, Math.floor(total / 10))
  let received = 0
  let printed = 0
  const print = () => {
    printed = received
    stream.write(`${label}: ${received}/${total} chunks\n`)
  }
  return {
    update(chunks) {
      received = chunks
      if (chunks !== printed && (chunks % every === 0 || chunks === total)) print()
    },
    stop() {
      if (received !== printed) print()
    },
  }
}
