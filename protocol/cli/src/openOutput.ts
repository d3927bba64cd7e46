import { randomBytes } from 'node:crypto'
import { type FileHandle, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/** Where `trickle buy` writes chunk records. */
export interface Output {
  /** writes one record line (with its newline); resolves once the sink accepted it */
  write(line: string): Promise<void>
  /**
   * Ends the output. A file is put in place only when `keep` is true (the CLI keeps it once a chunk
   * was written), replacing what `path` held; otherwise the temporary file is removed and `path` is
   * left as it was.
   */
  close(keep: boolean): Promise<void>
}

/**
 * Opens `--out`: `-` writes to `stdout` as the chunks arrive (pipe it, or append with `>>`); a path
 * writes to a temporary file beside it (`.<name>.<random>.part`, same directory, so the final rename
 * is atomic on one file system) that replaces `path` on {@link Output.close} with `keep`.
 *
 * Why a temporary file rather than opening `path` at the first chunk: the file is created before any
 * money moves, so a bad path fails for free; a buy that fails before any chunk arrives (no funds, no
 * seller) never truncates yesterday's file; and readers never see a half-written file. To follow the
 * chunks live, use `--out -`.
 *
 * @param path - `-`, or the output file
 * @param stdout - the process's standard output
 * @throws the file system's error (e.g. `ENOENT` for a missing directory)
 */
export async function openOutput(path: string, stdout: NodeJS.WritableStream): Promise<Output> {
  if (path === '-') {
    // a closed pipe (`| head`) fails the pending write, which stops the purchase; not an uncaught error
    stdout.on('error', () => {})
    return {
      write: (line) =>
        new Promise((resolve, reject) => {
          stdout.write(line, (err) => (err ? reject(err) : resolve()))
        }),
      close: async () => {},
    }
  }
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.part`)
  const file: FileHandle = await open(temp, 'wx')
  return {
    write: async (line) => {
      await file.write(line)
    },
    async close(keep) {
      await file.close()
      if (keep) await rename(temp, path)
      else await rm(temp, { force: true })
    },
  }
}
