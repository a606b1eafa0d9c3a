// The built-in web page (GET / on the API port), driven in a real headless Chromium (Debian's package through
// playwright-core): its assets and headers; three agents on loopback whose page shows one row and one column per
// agent, a host pair turning to "port closed" after the test (playing sshd) closes one node's TEST_PORT, and the
// port-closed verdict naming that node; and synthetic views of 100 and 1000 agents served by the real API code,
// to check the matrix is drawn on a canvas (no per-cell elements) and aggregated at 1000 (render times reported).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { Server } from 'node:net'
import { chromium, type Browser, type Page } from 'playwright-core'
import t from 'tap'
import { Trust } from '../src/core/trust.ts'
import { buildApi } from '../src/api/app.ts'
import type { ViewSnapshot } from '../src/api/projection.ts'
import type { HealthInfo, LeaderInfo } from '../src/api/routes.ts'
import { emptyResults, type AgentRecord, type Layer, type PathResult } from '../src/core/record.ts'
import { getJson, waitUntil, type AgentProcess } from '../tools/launcher.ts'
import { chooseAgents } from '../src/probe/targets.ts'
import { problemOf } from '../src/report/paths.ts'
import { buildReport } from '../src/report/report.ts'
import { close, startProbedAgents } from './harness/probed-agents.ts'

// CI sets this so that a missing browser (or fping, for the verdict) fails instead of skipping
const required = process.env.K8SNET_REQUIRE_PRIVILEGED === '1'
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const hasFping = spawnSync('fping', ['-v']).status === 0

async function launchBrowser (): Promise<Browser | string> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (Debian: apt-get install chromium)`
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  } catch (err) {
    return `${CHROMIUM} could not be launched: ${(err as Error).message.split('\n')[0] ?? ''}`
  }
}

const launched = await launchBrowser()
const browser = typeof launched === 'string' ? null : launched
const noBrowser = typeof launched === 'string' ? launched : null
if (browser !== null) t.teardown(async () => { await browser.close() })
if (noBrowser !== null) {
  if (required) t.fail(`headless Chromium is required (K8SNET_REQUIRE_PRIVILEGED=1): ${noBrowser}`)
  else t.comment(`browser tests skipped: ${noBrowser}`)
}
const browserTest = (name: string, fn: (t: Asserts, b: Browser) => Promise<void>): void => {
  void t.test(name, { skip: browser === null ? `needs headless Chromium: ${noBrowser ?? ''}` : false }, async t => {
    if (browser !== null) await fn(t, browser)
  })
}

type Asserts = Pick<typeof t, 'ok' | 'equal' | 'same' | 'match' | 'notMatch' | 'comment' | 'fail' | 'teardown'>

// ---------------------------------------------------------------- what the page shows, read from its DOM and canvas

// The little of the DOM the page.evaluate() callbacks use (this project compiles without the DOM library; the
// callbacks run in the browser, where `globalThis` is the window).
interface El {
  textContent: string | null
  dataset: Record<string, string | undefined>
  children: ArrayLike<El>
  querySelector: (sel: string) => El | null
  querySelectorAll: (sel: string) => ArrayLike<El> & Iterable<El>
  getBoundingClientRect: () => { width: number }
  width: number
  getContext: (kind: '2d') => { getImageData: (x: number, y: number, w: number, h: number) => { data: ArrayLike<number> & Iterable<number> } }
}
interface Win {
  document: { body: El, getElementById: (id: string) => El | null, querySelector: (sel: string) => El | null, querySelectorAll: (sel: string) => ArrayLike<El> & Iterable<El> }
  k8snetPage: { stats: { updates: number, fetchMs: number, bytes: number, modelMs: number, renderMs: number, frameMs: number, cells: number, parts: Record<string, number> }, refresh: () => Promise<void> }
}

interface Shown { rows: string[], cols: string[], failing: string[], summary: string, note: string }

async function matrix (page: Page, layer: Layer): Promise<Shown> {
  return await page.evaluate((layer) => {
    const sec = (globalThis as unknown as Win).document.getElementById(`layer-${layer}`) as El
    const ips = (sel: string): string[] => [...sec.querySelectorAll(sel)].map(e => e.dataset.ip ?? '')
    return {
      rows: ips('.rl'),
      cols: ips('.cl'),
      failing: [...sec.querySelectorAll('.failing li')].map(e => e.textContent ?? ''),
      summary: sec.querySelector('.layer-summary')?.textContent ?? '',
      note: sec.querySelector('.matrix-note')?.textContent ?? ''
    }
  }, layer)
}

/** RGB of two pixels of the cell src -> dst: the middle of its top edge (the fill, clear of every mark) and its centre (the mark). */
async function cellPixels (page: Page, layer: Layer, src: string, dst: string): Promise<{ fill: number[], mark: number[] } | null> {
  return await page.evaluate(({ layer, src, dst }) => {
    const sec = (globalThis as unknown as Win).document.getElementById(`layer-${layer}`) as El
    const r = [...sec.querySelectorAll('.rl')].findIndex(e => e.dataset.ip === src)
    const cols = [...sec.querySelectorAll('.cl')]
    const c = cols.findIndex(e => e.dataset.ip === dst)
    const canvas = sec.querySelector('canvas') as El
    if (r < 0 || c < 0) return null
    const box = canvas.getBoundingClientRect()
    const cs = box.width / cols.length
    const dpr = canvas.width / box.width
    const ctx = canvas.getContext('2d')
    const px = (x: number, y: number): number[] => [...ctx.getImageData(Math.floor(x * dpr), Math.floor(y * dpr), 1, 1).data].slice(0, 3)
    return { fill: px(c * cs + cs / 2, r * cs + 1), mark: px(c * cs + (cs - 1) / 2, r * cs + (cs - 1) / 2) }
  }, { layer, src, dst })
}

const near = (a: number[] | undefined, b: number[], tol = 6): boolean => a !== undefined && a.length === 3 && a.every((v, i) => Math.abs(v - (b[i] ?? -99)) <= tol)
const isGreen = (p: number[] | undefined): boolean => p !== undefined && (p[1] ?? 0) > (p[0] ?? 0) + 30 && (p[1] ?? 0) > (p[2] ?? 0) + 30
const CLOSED_RGB = [0xe8, 0x59, 0x0c]
const WHITE = [255, 255, 255]

async function waitForUpdates (page: Page, after: number): Promise<void> {
  await page.waitForFunction((n) => Number((globalThis as unknown as Win).document.body.dataset.updates ?? '0') > n, after, { timeout: 20_000 })
}
const updates = async (page: Page): Promise<number> => await page.evaluate(() => Number((globalThis as unknown as Win).document.body.dataset.updates ?? '0'))
const text = async (page: Page, sel: string): Promise<string> => (await page.textContent(sel)) ?? ''

/** Everything the page requests, its console errors and uncaught exceptions. */
function watch (page: Page): { requests: string[], problems: string[] } {
  const out = { requests: [] as string[], problems: [] as string[] }
  page.on('request', r => { out.requests.push(r.url()) })
  page.on('pageerror', e => { out.problems.push(`pageerror: ${e.message}`) })
  page.on('console', m => { if (m.type() === 'error') out.problems.push(`console: ${m.text()}`) })
  return out
}

// ---------------------------------------------------------------- a synthetic cluster served by the real API code

const ipOf = (prefix: number, i: number): string => `10.${prefix}.${i >> 8}.${i & 255}`
const nameOf = (i: number, n: number): string => `agent-${String(i).padStart(String(n).length, '0')}`

interface Faults { closed?: number, isolated?: number, lossy?: number }

function syntheticCluster (n: number, faults: Faults, nowWall: number): AgentRecord[] {
  const records: AgentRecord[] = []
  for (let i = 1; i <= n; i++) {
    records.push({
      identity: { podName: nameOf(i, n), nodeName: `node-${i}`, nodeIp: ipOf(0, i), podIp: ipOf(1, i), namespace: 'k8snet', version: i % 7 === 0 ? '0.2.0' : '0.1.0', peerId: `peer-${i}` },
      inc: 1,
      seq: 1,
      rv: 1,
      results: emptyResults()
    })
  }
  const byName = new Map(records.map((r, i) => [r.identity.podName, i + 1]))
  const names = [...byName.keys()]
  for (const [si, src] of records.entries()) {
    const s = si + 1
    for (const dstName of chooseAgents(names, src.identity.podName, { sampleAbove: 100, k: 10, round: 0 })) {
      const d = byName.get(dstName) as number
      const dst = records[d - 1] as AgentRecord
      for (const layer of ['host', 'pod'] as const) {
        const rtt = 0.08 + ((s * 31 + d * 17) % 97) / 20
        const r: PathResult = {
          target: layer === 'host' ? dst.identity.nodeIp : dst.identity.podIp,
          port: layer === 'host' ? 22 : 6100,
          sent: 3,
          received: 3,
          rttMs: rtt,
          tcp: 'open',
          connectMs: rtt * 1.5,
          durationMs: rtt * 3,
          checkedAt: nowWall - 1000 - ((s * 13) % 5000)
        }
        if (faults.isolated === d || faults.isolated === s) Object.assign(r, { received: 0, rttMs: null, tcp: 'timeout', connectMs: null, durationMs: 1000 })
        else if (layer === 'host' && faults.closed === d) Object.assign(r, { tcp: 'refused' })
        else if (faults.lossy === d) Object.assign(r, { received: 2 })
        src.results[layer].set(r.target, r)
      }
    }
    src.results.service = {
      name: 'web.default.svc.cluster.local',
      port: 80,
      dnsOk: s !== 3,
      dnsMs: 0.4 + (s % 5) / 10,
      dnsError: s === 3 ? 'getaddrinfo ENOTFOUND web.default.svc.cluster.local' : null,
      addresses: s === 3 ? [] : ['10.96.0.10'],
      paths: s === 3 ? [] : [{ target: '10.96.0.10', port: 80, sent: 0, received: 0, rttMs: null, tcp: 'open', connectMs: 0.3, durationMs: 0.5, checkedAt: nowWall - 2000 }],
      checkedAt: nowWall - 2000
    }
  }
  return records
}

/** The real API (buildApi, with the page) over a fixed synthetic view, listening on a loopback address. */
async function serveSynthetic (records: AgentRecord[], host: string): Promise<{ url: string, close: () => Promise<void> }> {
  const view: ViewSnapshot = { agents: records.map((record, i) => ({ record, lastHeard: 0, trust: i === 0 ? Trust.Self : Trust.FirstHand })), externals: [] }
  const first = records[0]?.identity
  const health: HealthInfo = {
    pod_name: first?.podName ?? '',
    node_name: first?.nodeName ?? '',
    version: first?.version ?? '',
    peers_connected: 32,
    connections: 32,
    view_size: records.length,
    uptime_s: 100,
    gossip: { published: 0, accepted: 0, gaps: 0, expired: 0, rejected: {}, ignored: {} },
    sync: { served: 0, pulled: 0, failed: 0 },
    probes: { rounds: 1, last_round_ms: 900, last_targets: 10, icmp_error: null }
  }
  const leader: LeaderInfo = { holder: first?.podName ?? null, holder_node_ip: first?.nodeIp ?? null, is_self: true, election_enabled: true, contenders: [], contending: true, lease: null }
  const app = buildApi({
    snapshot: () => view,
    inject: () => { throw new Error('read-only') },
    health: () => health,
    leader: () => leader,
    report: v => buildReport({ live: v.agents.map(a => a.record), lost: [], legacyClients: 0, nowWall: Date.now(), reporter: first?.podName ?? null }),
    coverageK: 10
  }, { bodyLimit: 1 << 20 })
  await app.listen({ host, port: 0 })
  const port = (app.server.address() as { port: number }).port
  return { url: `http://${host}:${port}/`, close: async () => { await app.close() } }
}

/** Sources with a failing result, and targets (IPs) with one, on one layer: what the aggregated view must show. */
function failingAxes (records: AgentRecord[], layer: Layer): { rows: string[], cols: string[], pairs: number } {
  const rows = new Set<string>()
  const cols = new Set<string>()
  let pairs = 0
  for (const r of records) {
    for (const p of r.results[layer].values()) {
      if (problemOf(p) === 'ok') continue
      pairs++
      rows.add(layer === 'host' ? r.identity.nodeIp : r.identity.podIp)
      cols.add(p.target)
    }
  }
  return { rows: [...rows].sort(), cols: [...cols].sort(), pairs }
}

// ---------------------------------------------------------------- 1. the assets and their headers (no browser)

t.test('GET / and its assets: content types, caching, CSP, nothing external', async t => {
  const s = await serveSynthetic(syntheticCluster(3, {}, Date.now()), '127.0.7.9')
  t.teardown(s.close)
  const res = await fetch(s.url)
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'text/html; charset=utf-8')
  t.equal(res.headers.get('cache-control'), 'no-cache', 'the HTML is revalidated on every load')
  t.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'.*script-src 'self'.*connect-src 'self'/, 'CSP: same-origin only')
  t.equal(res.headers.get('x-content-type-options'), 'nosniff')
  const html = await res.text()
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map(m => m[1] ?? '')
  t.same(refs.filter(r => /^(?:[a-z]+:)?\/\//i.test(r)), [], 'no absolute or protocol-relative URL in the page')
  const css = refs.find(r => r.endsWith('.css'))
  const js = refs.find(r => r.endsWith('.js'))
  t.match(css, /^page\/style\.[0-9a-f]{16}\.css$/, 'the stylesheet has a content-hashed, relative URL')
  t.match(js, /^page\/app\.[0-9a-f]{16}\.js$/, 'the script has a content-hashed, relative URL')
  for (const [ref, type] of [[css, 'text/css; charset=utf-8'], [js, 'text/javascript; charset=utf-8']] as const) {
    const a = await fetch(new URL(ref ?? '', s.url))
    t.equal(a.status, 200, `${ref ?? ''}: 200`)
    t.equal(a.headers.get('content-type'), type, `${ref ?? ''}: ${type}`)
    t.equal(a.headers.get('cache-control'), 'public, max-age=31536000, immutable', `${ref ?? ''}: cached for good`)
    const body = await a.text()
    t.notMatch(body, /https?:\/\//, `${ref ?? ''}: no external URL inside`)
    const again = await fetch(new URL(ref ?? '', s.url), { headers: { 'if-none-match': a.headers.get('etag') ?? '' } })
    t.equal(again.status, 304, `${ref ?? ''}: 304 with its ETag`)
  }
  const revalidated = await fetch(s.url, { headers: { 'if-none-match': res.headers.get('etag') ?? '' } })
  t.equal(revalidated.status, 304, 'the HTML answers 304 while unchanged')
  const stale = await fetch(s.url, { headers: { 'if-none-match': '"0000000000000000"' } })
  t.equal(stale.status, 200, 'another ETag gets the page')
  const missing = await fetch(new URL('page/app.js', s.url))
  t.equal(missing.status, 404, 'an asset name without its hash is not served')
  t.match(await missing.json(), { code: 'NOT_FOUND' })
  t.equal((await fetch(new URL('api/v1/hosts', s.url))).status, 200, 'the API is still there')
})

// ---------------------------------------------------------------- 2. three agents on loopback

browserTest('three agents: one row and column per agent, a closed port turns its pairs red, the verdict names the node', async (t, b) => {
  const ips = ['127.0.7.1', '127.0.7.2', '127.0.7.3']
  const testPort = 17022
  const { agents, sshd, stop } = await startProbedAgents({ ips, testPort, prefix: 'page' })
  t.teardown(stop)
  type Pairs = Record<string, Record<string, { port_status: string }>>
  const allOpen = async (a: AgentProcess): Promise<boolean> => {
    const p = (await getJson<{ results: Pairs }>(`${a.apiUrl}/api/v1/test-results/hosts`)).results
    return ips.every(s => ips.every(d => s === d || p[s]?.[d]?.port_status === 'open'))
  }
  await waitUntil('every host pair open on every agent', async () => (await Promise.all(agents.map(allOpen))).every(Boolean), 20_000, 100)

  for (const a of agents) {
    const r = await fetch(`${a.apiUrl}/`)
    t.equal(r.status, 200, `${a.name} serves the page`)
    t.match(await r.text(), /<canvas/, `${a.name}: the page's matrix canvas`)
  }

  const a1 = agents[0] as AgentProcess
  const page = await b.newPage({ viewport: { width: 1400, height: 1000 } })
  const seen = watch(page)
  await page.goto(`${a1.apiUrl}/`)
  await page.waitForFunction(() => (globalThis as unknown as Win).document.querySelectorAll('#layer-host .rl').length === 3 && (globalThis as unknown as Win).document.querySelectorAll('#layer-pod .rl').length === 3, undefined, { timeout: 20_000 })
  // the pod layer's Service rows and every pair measured at least once
  await page.waitForFunction(() => ((globalThis as unknown as Win).document.querySelector('#layer-pod .layer-summary')?.textContent ?? '').includes('6 pairs measured'), undefined, { timeout: 20_000 })

  for (const layer of ['host', 'pod'] as const) {
    const m = await matrix(page, layer)
    t.same(m.rows, ips, `${layer}: one row per agent`)
    t.same(m.cols, ips, `${layer}: one column per agent`)
    t.same(m.failing, [], `${layer}: no failing pair`)
  }
  const labels = await page.$$eval('#layer-host .rl', els => els.map(e => e.textContent))
  t.same(labels, ['page-1', 'page-2', 'page-3'], 'rows are labelled with the agents\' names')
  const before = await cellPixels(page, 'host', '127.0.7.1', '127.0.7.2')
  t.ok(isGreen(before?.fill), `page-1 -> page-2 is drawn green (ok) before the fault (${JSON.stringify(before)})`)
  t.same(await page.$$eval('.cells', els => els.map(e => e.children.length)), [3, 3], 'each matrix is one canvas plus two boxes: no element per cell')

  const health = await getJson<{ version: string }>(`${a1.apiUrl}/api/v1/health`)
  t.equal(await text(page, '#stat-agents .stat-value'), '3', 'the live agent count')
  t.match(await text(page, '#stat-agents .stat-extra'), `v${health.version} × 3`, 'and their versions')
  t.match(await text(page, '#stat-self'), 'page-1', 'which agent answered')
  t.match(await text(page, '#stat-service'), '3 / 3 reach it', 'the Service check summary')
  const sources = await page.$$eval('#agents-body tbody tr', trs => trs.map(tr => [...tr.children].map(c => c.textContent?.trim() ?? '')))
  t.same(sources.map(r => r[0]).sort(), ['page-1', 'page-2', 'page-3'], 'one source row per agent')
  for (const r of sources) {
    t.match(r[3], /^(now|\d+ s)$/, `${r[0] ?? ''}: host data age shown (${r[3] ?? ''})`)
    t.match(r[6], /ok/, `${r[0] ?? ''}: Service DNS ok`)
    t.match(r[8], /yes/, `${r[0] ?? ''}: Service reachable`)
  }

  // hover shows the pair's detail; a click pins it in the detail panel
  const box = await page.locator('#layer-host canvas').boundingBox()
  if (box === null) throw new Error('no canvas box')
  const cs = box.width / 3
  await page.mouse.move(box.x + 1.5 * cs, box.y + 0.5 * cs)
  await page.waitForSelector('#tip:not([hidden])', { timeout: 5_000 })
  const tip = await text(page, '#tip')
  t.match(tip, /from page-1 \(127\.0\.7\.1\)/, 'hover: the source')
  t.match(tip, /to page-2 \(127\.0\.7\.2\)/, 'hover: the target')
  t.match(tip, new RegExp(`TCP open on port ${testPort}`), 'hover: the TCP outcome and port')
  t.match(tip, /checked at \d{4}-\d\d-\d\dT/, 'hover: when it was checked')
  t.match(tip, /connect time/, 'hover: the connect time')
  await page.mouse.click(box.x + 1.5 * cs, box.y + 0.5 * cs)
  t.match(await text(page, '#detail-body'), /echoes/, 'click: the detail panel holds the pair')

  // the fault: node 2's TEST_PORT closes (the sshd stand-in stops listening)
  await close(sshd.get('127.0.7.2') as Server)
  await page.waitForFunction(() => {
    const items = [...(globalThis as unknown as Win).document.querySelectorAll('#layer-host .failing li')].map(e => e.textContent ?? '')
    return items.length === 2 && items.every(s => s.includes('→ page-2 (127.0.7.2): port closed'))
  }, undefined, { timeout: 20_000 })
  const host = await matrix(page, 'host')
  t.same(host.rows, ips, 'still one row per agent')
  t.equal(host.failing.length, 2, 'two failing host pairs listed')
  for (const src of ['page-1 (127.0.7.1)', 'page-3 (127.0.7.3)']) {
    t.ok(host.failing.some(f => f.startsWith(`${src} → page-2 (127.0.7.2): port closed: TCP refused on ${testPort}`)), `listed: ${src} -> page-2 port closed, TCP refused`)
  }
  for (const src of ['127.0.7.1', '127.0.7.3']) {
    const px = await cellPixels(page, 'host', src, '127.0.7.2')
    t.ok(near(px?.fill, CLOSED_RGB), `${src} -> 127.0.7.2 is drawn in the "port closed" red-orange (${JSON.stringify(px?.fill)})`)
    t.ok(near(px?.mark, WHITE, 10), `and carries the bar mark (not colour alone) (${JSON.stringify(px?.mark)})`)
  }
  t.ok(isGreen((await cellPixels(page, 'host', '127.0.7.2', '127.0.7.1'))?.fill), 'page-2 -> page-1 stays green')
  t.ok(isGreen((await cellPixels(page, 'pod', '127.0.7.1', '127.0.7.2'))?.fill), 'the pod layer to page-2 stays green')
  t.same((await matrix(page, 'pod')).failing, [], 'no failing pod pair')
  t.same(await page.$$eval('#layer-host .cl.mostly-fail', els => els.map(e => e.textContent)), ['page-2'], 'the column of page-2 stands out')
  t.match(await text(page, '#detail-body'), /outcome\s*port closed/, 'the pinned detail (page-1 -> page-2) follows the refresh')
  t.match(await text(page, '#detail-body'), /TCP\s*refused/, 'and says the TCP connect was refused')
  // the pair's history, from the agent's reachability model: its settled state went from up to closed
  await page.waitForFunction(() => ((globalThis as unknown as Win).document.querySelector('#pair-history')?.textContent ?? '').includes('\u2192 closed'), undefined, { timeout: 20_000 })
  // (whether the model had settled the pair as up before the port closed depends on how soon the fault came)
  t.match(await text(page, '#pair-history'), /History[\s\S]*settled state closed[\s\S]*(up|first seen) \u2192 closed/, 'the pinned pair\'s history shows its change to closed')

  // the keyboard moves the selection too
  await page.focus('#layer-host canvas')
  await page.keyboard.press('ArrowDown')
  await page.keyboard.press('ArrowRight')
  t.match(await text(page, '#detail-body'), /from\s*page-2 \(127\.0\.7\.2\)\s*to\s*page-3 \(127\.0\.7\.3\)/, 'arrow keys: down and right select page-2 -> page-3')
  t.match(await text(page, '#sel-announce'), /^Selected: page-2 \(127\.0\.7\.2\) → page-3 \(127\.0\.7\.3\): ok/, 'and the selection is announced as text')
  const legend = await page.$$eval('#legend-body li strong', els => els.map(e => e.textContent))
  t.same(legend, ['ok', 'loss', 'port closed', 'unreachable', 'unknown', 'self'], 'the legend names every outcome (each with its swatch and mark)')

  if (!hasFping) {
    if (required) t.fail('fping is required for the port-closed verdict (it needs ICMP to tell a closed port from a dead node)')
    else t.comment('fping missing: the port-closed verdict (which needs ICMP) is not checked')
  } else {
    await page.waitForFunction(() => ((globalThis as unknown as Win).document.getElementById('verdicts-body')?.textContent ?? '').includes('port-closed'), undefined, { timeout: 20_000 })
    const verdicts = await page.$$eval('#verdicts-body li.verdict', els => els.map(e => ({
      kind: e.querySelector('.kind')?.textContent ?? '', subject: e.querySelector('.subject')?.textContent ?? '', summary: e.querySelector('.summary')?.textContent ?? ''
    })))
    const pc = verdicts.find(v => v.kind === 'port-closed')
    t.equal(pc?.subject, 'node-page-2 (127.0.7.2)', 'the port-closed verdict names node 2')
    t.match(pc?.summary, new RegExp(`TEST_PORT ${testPort} on node-page-2 \\(127\\.0\\.7\\.2\\) is closed`), `its text: ${pc?.summary ?? ''}`)
    t.match(await text(page, '#verdicts-body'), /peers: node-page-1, node-page-3/, 'with its evidence (the observers\' nodes)')
  }

  const origin = new URL(a1.apiUrl).origin
  t.same(seen.requests.filter(u => !u.startsWith(`${origin}/`)), [], 'every request went to the agent that served the page')
  t.ok(seen.requests.some(u => u.endsWith('/api/v1/report')), 'the page reads the report')
  t.same(seen.problems, [], 'no script error, no CSP violation')
  await page.close()
})

// ---------------------------------------------------------------- 3. scale: 100 and 1000 agents

/** A synthetic cluster of `n` agents served by one app, its page open and drawn once. */
async function openSynthetic (t: Asserts, b: Browser, n: number, faults: Faults, host: string): Promise<{ records: AgentRecord[], page: Page, seen: ReturnType<typeof watch> }> {
  const records = syntheticCluster(n, faults, Date.now())
  const s = await serveSynthetic(records, host)
  t.teardown(s.close)
  const page = await b.newPage({ viewport: { width: 1600, height: 1000 } })
  const seen = watch(page)
  await page.goto(s.url)
  await waitForUpdates(page, 0)
  return { records, page, seen }
}

browserTest('100 agents: a 100 x 100 matrix per layer on one canvas each', async (t, b) => {
  const n = 100
  const { records, page, seen } = await openSynthetic(t, b, n, { closed: 17, isolated: 42, lossy: 77 }, '127.0.7.10')
  const nodeIps = records.map(r => r.identity.nodeIp)
  for (const layer of ['host', 'pod'] as const) {
    const m = await matrix(page, layer)
    t.equal(m.rows.length, n, `${layer}: ${n} rows`)
    t.equal(m.cols.length, n, `${layer}: ${n} columns`)
    const want = failingAxes(records, layer)
    t.match(m.summary, `${n * (n - 1)} pairs measured, ${want.pairs} failing`, `${layer}: the counts (${m.summary})`)
  }
  t.same((await matrix(page, 'host')).rows, nodeIps, 'host rows: every node IP, in order')
  t.equal(await page.$$eval('.cells *', els => els.length), 6, 'two canvases and their two boxes: 20,000 cells, no element per cell')
  const isolated = records[41]?.identity.nodeIp ?? ''
  const px = await cellPixels(page, 'host', nodeIps[0] ?? '', isolated)
  t.ok(near(px?.fill, [0xb3, 0x26, 0x1e]), `a pair into the isolated node is drawn unreachable-red (${JSON.stringify(px?.fill)})`)
  // render time: reported, not asserted (it depends on the machine)
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const u = await updates(page)
    await page.evaluate(async () => { await (globalThis as unknown as Win).k8snetPage.refresh() })
    await waitForUpdates(page, u)
    times.push(await page.evaluate(() => (globalThis as unknown as Win).k8snetPage.stats.renderMs))
  }
  await page.waitForTimeout(200) // let the frame after the last render be counted (frameMs)
  const stats = await page.evaluate(() => (globalThis as unknown as Win).k8snetPage.stats)
  t.comment(`100 agents: ${stats.cells} cells drawn; script render ${times.map(x => x.toFixed(1)).join(', ')} ms (last: ${JSON.stringify(stats.parts)}), ` +
    `to the second frame ${stats.frameMs.toFixed(1)} ms; model ${stats.modelMs.toFixed(1)} ms; fetch ${stats.fetchMs.toFixed(0)} ms for ${(stats.bytes / 1024 / 1024).toFixed(1)} MiB of JSON`)
  t.same(seen.problems, [], 'no script error')
  await page.close()
})

browserTest('1000 agents (sampled): failing rows and columns only, most failures first; "all" is capped', async (t, b) => {
  const n = 1000
  const { records, page, seen } = await openSynthetic(t, b, n, { closed: 170, isolated: 420, lossy: 770 }, '127.0.7.11')
  for (const layer of ['host', 'pod'] as const) {
    const m = await matrix(page, layer)
    const want = failingAxes(records, layer)
    t.same([...m.rows].sort(), want.rows, `${layer}: exactly the ${want.rows.length} sources with a failing pair`)
    t.same([...m.cols].sort(), want.cols, `${layer}: exactly the ${want.cols.length} targets with a failing pair`)
    t.match(m.note, 'only the sources and targets with at least one failing pair', `${layer}: says it is aggregated`)
    t.match(m.summary, `${n} ${layer === 'host' ? 'node' : 'pod'} IPs: ${n * 10} pairs measured, ${want.pairs} failing`, `${layer}: the counts (${m.summary})`)
  }
  const host = await matrix(page, 'host')
  t.equal(host.rows[0], records[419]?.identity.nodeIp, 'the isolated node (most failures as a source) comes first')
  await page.waitForTimeout(200) // let the frame after the render be counted (frameMs)
  const render1000 = await page.evaluate(() => (globalThis as unknown as Win).k8snetPage.stats)
  await page.selectOption('#view', 'name')
  const all = await matrix(page, 'host')
  t.equal(all.rows.length, 200, '"all": 200 rows drawn at most')
  t.equal(all.cols.length, 200, '"all": 200 columns drawn at most')
  t.same(all.rows, records.slice(0, 200).map(r => r.identity.nodeIp), '"all, by name": the first 200 by name')
  t.match(all.note, 'Drawn: 200 of 1000 rows and 200 of 1000 columns', 'and says how many are left out')
  await page.fill('#filter', records[419]?.identity.podName ?? '')
  await page.waitForFunction(() => (globalThis as unknown as Win).document.querySelectorAll('#layer-host .rl').length === 1, undefined, { timeout: 5_000 })
  t.same((await matrix(page, 'host')).rows, [records[419]?.identity.nodeIp], 'the filter narrows to one agent')
  const afterAll = await page.evaluate(() => (globalThis as unknown as Win).k8snetPage.stats)
  t.comment(`1000 agents, sampled (k=10): aggregated view ${render1000.cells} cells, script render ${render1000.renderMs.toFixed(1)} ms (${JSON.stringify(render1000.parts)}), to the second frame ${render1000.frameMs.toFixed(1)} ms, model ${render1000.modelMs.toFixed(1)} ms, ` +
    `fetch ${render1000.fetchMs.toFixed(0)} ms for ${(render1000.bytes / 1024 / 1024).toFixed(1)} MiB; (last render after filter: ${afterAll.renderMs.toFixed(1)} ms ${JSON.stringify(afterAll.parts)}, cells ${afterAll.cells})`)
  t.same(seen.problems, [], 'no script error')
  await page.close()
})
