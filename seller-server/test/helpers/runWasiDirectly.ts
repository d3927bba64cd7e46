import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { WASI } from 'node:wasi'

/**
 * Runs a WASI module directly with `node:wasi`, in this process and without any sandbox: the
 * reference a sandboxed job's output is compared with. `/in` and `/out` are preopened.
 * @param outDir - the module's `/out`; its stdout goes to a file beside it
 * @returns the exit code and stdout (UTF-8)
 */
export function runWasiDirectly(module: Uint8Array, args: string[], inputDir: string, outDir: string) {
  const stdoutPath = join(outDir, '..', `direct-${randomBytes(4).toString('hex')}.txt`)
  const fd = openSync(stdoutPath, 'w')
  const wasi = new WASI({
    version: 'preview1',
    args,
    env: {},
    preopens: { '/in': inputDir, '/out': outDir },
    stdout: fd,
    returnOnExit: true,
  })
  const instance = new WebAssembly.Instance(
    new WebAssembly.Module(module as Uint8Array<ArrayBuffer>),
    wasi.getImportObject() as never,
  )
  const exitCode = wasi.start(instance)
  closeSync(fd)
  return { exitCode, stdout: readFileSync(stdoutPath, 'utf8') }
}
