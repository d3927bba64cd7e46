import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build } from 'vite'

/** One JavaScript file of a bundled page. */
export interface BundledFile {
  name: string
  bytes: number
  /** bytes after gzip (zlib's default level, as a web server sends it) */
  gzip: number
}

/**
 * Bundles `<project>/index.html` and what it imports with Vite for the browser (production,
 * minified), resolving packages from `<project>/node_modules` with Vite's browser conditions.
 * @param project - the scratch project (its `index.html` and installed packages)
 * @param outDir - where the page is written
 * @returns the JavaScript files, the first being the entry chunk
 */
export async function bundlePage(project: string, outDir: string): Promise<BundledFile[]> {
  await build({
    configFile: false,
    root: project,
    logLevel: 'warn',
    mode: 'production',
    build: { outDir, emptyOutDir: true, reportCompressedSize: false, chunkSizeWarningLimit: 100_000 },
  })
  const html = readFileSync(join(outDir, 'index.html'), 'utf8')
  const entry = /<script type="module"[^>]* src="\/?([^"]+)"/.exec(html)?.[1]
  const files = readdirSync(join(outDir, 'assets'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => {
      const code = readFileSync(join(outDir, 'assets', f))
      return { name: `assets/${f}`, bytes: code.byteLength, gzip: gzipSync(code).byteLength }
    })
  return files.sort((a, b) => Number(b.name === entry) - Number(a.name === entry))
}
