import { execFile } from 'node:child_process'
import { access, constants } from 'node:fs/promises'

/** What this machine offers the job sandbox (SANDBOX.md). */
export interface SandboxTools {
  /** Absolute path of util-linux `prlimit`, which sets the child's rlimits before Node starts. */
  prlimit: string
  /**
   * How the child gets an empty network namespace: `['/usr/bin/unshare', '-n']` as root,
   * `['/usr/bin/unshare', '-r', '-n']` where unprivileged user namespaces are allowed, or `[]` when
   * neither works (then WASI's lack of sockets is the only network barrier).
   */
  netns: string[]
}

const SEARCH_PATH = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']

async function findTool(name: string): Promise<string | undefined> {
  for (const dir of SEARCH_PATH) {
    const path = `${dir}/${name}`
    try {
      await access(path, constants.X_OK)
      return path
    } catch {}
  }
  return undefined
}

function succeeds(file: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(file, args, { env: {}, timeout: 5_000 }, (err) => resolve(err === null))
  })
}

let probed: Promise<SandboxTools | undefined> | undefined

/**
 * Finds `prlimit` and the way to an empty network namespace (`unshare -n`, else `unshare -r -n`),
 * once per process; the answer is cached.
 *
 * @returns the tools, or `undefined` when `prlimit` (util-linux) is missing: jobs must not run then
 */
export function probeSandbox(): Promise<SandboxTools | undefined> {
  probed ??= (async () => {
    const prlimit = await findTool('prlimit')
    if (!prlimit) return undefined
    const unshare = await findTool('unshare')
    let netns: string[] = []
    if (unshare) {
      for (const candidate of [
        [unshare, '-n'],
        [unshare, '-r', '-n'],
      ]) {
        if (await succeeds(candidate[0] as string, [...candidate.slice(1), '--', '/bin/true'])) {
          netns = candidate
          break
        }
      }
    }
    return { prlimit, netns }
  })()
  return probed
}
