// Production: serves the `vite build` output (dist/) on $PORT. Railway runs
// `npm run build`, then `npm start`; the preview runs `vite` (dev) instead.
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize } from 'node:path'

const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' }
const root = join(import.meta.dirname, 'dist')

createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '')
  const file = join(root, path === '/' ? 'index.html' : path)
  try {
    const body = await readFile(file.startsWith(root) ? file : join(root, 'index.html'))
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(body)
  } catch {
    res.writeHead(200, { 'content-type': 'text/html' }).end(await readFile(join(root, 'index.html')))
  }
}).listen(Number(process.env.PORT) || 3000, '0.0.0.0')
