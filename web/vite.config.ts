import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defaultClientConditions, defineConfig, type Plugin } from 'vite'
import { storefrontConfigOf } from './server/storefrontConfig.ts'

const localJson = fileURLToPath(new URL('../.trickle/local.json', import.meta.url))

/**
 * `npm run dev -w web`: serves `/config.json` from the `.trickle/local.json` that `npm start` writes,
 * stripped to what a browser may see (never the demo buyer's key).
 */
function localMarketplaceConfig(): Plugin {
  return {
    name: 'trickle-local-config',
    configureServer(server) {
      server.middlewares.use('/config.json', (_req, res) => {
        if (!existsSync(localJson)) {
          res.statusCode = 503
          res.end('run `npm start` first: it writes .trickle/local.json')
          return
        }
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(storefrontConfigOf(JSON.parse(readFileSync(localJson, 'utf8')))))
      })
    },
  }
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [svelte(), localMarketplaceConfig()],
  // Inside the repository the workspace packages resolve to their TypeScript sources.
  resolve: { conditions: ['trickle-source', ...defaultClientConditions] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 1024 },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
})
