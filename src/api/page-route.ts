// The built-in web page: GET / on the API port serves a self-contained page (HTML, one stylesheet, one script, all
// from this agent: no CDN, no external asset) that polls the agent's own JSON endpoints. The stylesheet and the
// script have content-hashed URLs and are cached for good; the HTML is revalidated (ETag) on every load.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { pageHtml } from './page/index-html.ts'
import { PAGE_CSS } from './page/style-css.ts'

/** The browser script, a real JavaScript file beside this module (the build copies it into dist/ as it is). */
const PAGE_JS = readFileSync(new URL('./page/app.js', import.meta.url), 'utf8')

interface Asset { url: string, type: string, body: Buffer, etag: string, cache: string }

const hashOf = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex').slice(0, 16)

/** Everything the page loads comes from this origin, and nothing else may run or be fetched. */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

function asset (url: string, type: string, text: string, cache: string): Asset {
  const body = Buffer.from(text, 'utf8')
  return { url, type, body, etag: `"${hashOf(body)}"`, cache }
}

function pageAssets (): Asset[] {
  const immutable = 'public, max-age=31536000, immutable'
  const css = asset(`/page/style.${hashOf(PAGE_CSS)}.css`, 'text/css; charset=utf-8', PAGE_CSS, immutable)
  const js = asset(`/page/app.${hashOf(PAGE_JS)}.js`, 'text/javascript; charset=utf-8', PAGE_JS, immutable)
  // relative references (no leading slash): the page keeps working behind a path prefix
  const html = asset('/', 'text/html; charset=utf-8', pageHtml({ css: css.url.slice(1), js: js.url.slice(1) }), 'no-cache')
  return [html, css, js]
}

const ASSETS = pageAssets()

export function registerPage (app: FastifyInstance): void {
  for (const a of ASSETS) {
    const kind = a.url === '/' ? 'The built-in page (HTML)' : a.type.startsWith('text/css') ? 'The page\'s stylesheet (content-hashed, immutable)' : 'The page\'s script (content-hashed, immutable)'
    const mime = a.type.split(';')[0] ?? a.type
    // sent as bytes: the schema documents the answer, it never serialises it
    const schema = { summary: kind, response: { 200: { description: kind, content: { [mime]: { schema: { type: 'string' } } } } } }
    app.get(a.url, { schema }, (req: FastifyRequest, reply: FastifyReply): void => {
      void reply
        .header('cache-control', a.cache)
        .header('etag', a.etag)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
      if (a.type.startsWith('text/html')) void reply.header('content-security-policy', PAGE_CSP)
      const inm = req.headers['if-none-match']
      if (inm !== undefined && inm.split(',').some(t => t.trim().replace(/^W\//, '') === a.etag)) {
        void reply.code(304).send()
        return
      }
      void reply.type(a.type).send(a.body)
    })
  }
}
