import { fileURLToPath } from 'node:url'
import type { LogLevel } from 'vite'

/** `web/vite.config.ts`, the storefront's one Vite configuration. */
const CONFIG_FILE = fileURLToPath(new URL('../vite.config.ts', import.meta.url))
/** `web/dist`, where `vite build` writes by default. */
const DEFAULT_OUT_DIR = fileURLToPath(new URL('../dist', import.meta.url))

/** Options of {@link buildStorefront}. */
export interface BuildStorefrontOptions {
  /** where the built files go (emptied first); default `web/dist` */
  outDir?: string
  /** Vite's log level; default `warn` (no per-file listing) */
  logLevel?: LogLevel
}

/**
 * Builds the storefront for production with Vite's `build()` and `web/vite.config.ts`: `index.html`
 * and hashed assets under `assets/`, ready for `serveStorefront`. Vite is imported only here, so
 * a process that only serves a built directory never loads it.
 *
 * @param options - output directory and log level
 * @returns the absolute path of the output directory
 * @throws whatever Vite throws when the app does not compile (a Svelte or TypeScript error names the file)
 */
export async function buildStorefront(options: BuildStorefrontOptions = {}): Promise<string> {
  const { build } = await import('vite')
  const outDir = options.outDir ?? DEFAULT_OUT_DIR
  await build({
    configFile: CONFIG_FILE,
    logLevel: options.logLevel ?? 'warn',
    mode: 'production',
    build: { outDir, emptyOutDir: true, reportCompressedSize: false },
  })
  return outDir
}
