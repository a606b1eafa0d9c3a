// @ts-check
// The page's browser script: plain JavaScript (no framework, no build step), served as it is and type-checked by
// tsc (tsconfig.page.json: checkJs with the DOM's types). It polls the JSON endpoints of the agent that served it
// (relative URLs, so it also works behind a path prefix such as `kubectl proxy`) and draws each layer's source x
// target matrix on one <canvas> with one set of listeners per canvas, never one per cell.
(function () {
  'use strict'

  const POLL_MS = 3000
  const MAX_POLL_MS = 30000
  const AUTO_AGGREGATE_ABOVE = 150   // auto view: failing rows and columns only beyond this many IPs on an axis
  const MAX_AXIS = 200               // most rows (and columns) drawn at once (a 2000 px canvas); a note counts the rest
  const MAX_LIST = 100               // most failing pairs listed as text per layer, most agents in the table
  const STALE_MS = 90000             // the report calls a source stale after 90 s
  const MIN_CELL = 10                // 9 px labels; wider matrices scroll sideways under sticky labels
  const MAX_CELL = 24
  const LABEL_MAX_W = 170

  const OK = 0; const LOSS = 1; const CLOSED = 2; const UNREACH = 3; const UNKNOWN = 4; const SELF = 5
  const OUTCOMES = [
    { code: OK, key: 'ok', label: 'ok', text: 'echoes answered and the TCP port open; darker green is a slower round trip' },
    { code: LOSS, key: 'loss', label: 'loss', text: 'the port is open but some ICMP echoes were lost (slash)' },
    { code: CLOSED, key: 'closed', label: 'port closed', text: 'the host answers but its TCP port refuses or does not answer (bar)' },
    { code: UNREACH, key: 'unreachable', label: 'unreachable', text: 'no echo and no TCP answer at all (cross)' },
    { code: UNKNOWN, key: 'unknown', label: 'unknown', text: 'no result for this pair: not probed yet, or outside this round\'s sample (dot)' },
    { code: SELF, key: 'self', label: 'self', text: 'an agent does not probe itself (diagonal line)' }
  ]
  const FILL = ['', '#f5b700', '#e8590c', '#b3261e', '#e9ecef', '#ffffff']
  const MARK = ['', '#4d3800', '#ffffff', '#ffffff', '#868e96', '#ced4da']
  const SHADES = 12
  const OK_SHADES = []
  for (let s = 0; s < SHADES; s++) OK_SHADES.push('hsl(140, 52%, ' + (72 - s * 3.6).toFixed(1) + '%)')
  const FAILING = [false, true, true, true, false, false]

  const collator = new Intl.Collator('en', { numeric: true })
  const $ = function (id) { return document.getElementById(id) }
  const esc = function (v) {
    return String(v).replace(/[&<>"']/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c] })
  }

  // replaces an element's content only when it changed: no churn for screen readers, open <details> stay open
  function setHtml (el, html) {
    if (el.k8snetHtml === html) return false
    el.innerHTML = html
    el.k8snetHtml = html
    return true
  }

  const state = {
    view: 'auto',
    filter: [],
    paused: false,
    showAllAgents: false,
    data: null,
    model: null,
    lastOk: 0,
    lastError: null,
    failures: 0,
    nextAt: 0,
    timer: 0,
    selected: null // { layer, src, dst }
  }
  const stats = { updates: 0, fetchMs: 0, bytes: 0, modelMs: 0, renderMs: 0, frameMs: 0, cells: 0, parts: {} }
  // the page's own figures, read by the page test (window.k8snetPage)
  const pageGlobal = /** @type {any} */ (window)
  pageGlobal.k8snetPage = { stats, refresh: function () { return tick(true) } }

  // ---------------------------------------------------------------- classification (as src/report/paths.ts)

  function classify (p) {
    if (p === undefined || p === null) return UNKNOWN
    if (typeof p.tcp !== 'string') { // a legacy client's result: ping and port_status only
      if (p.port_status === 'open') return OK
      return p.ping === 'unreachable' ? UNREACH : CLOSED
    }
    const sent = p.echoes_sent || 0
    const got = p.echoes_received || 0
    const reached = (sent > 0 && got > 0) || p.tcp === 'open' || p.tcp === 'refused'
    if (!reached) return UNREACH
    if (p.tcp !== 'open') return CLOSED
    if (sent > 0 && got < sent) return LOSS
    return OK
  }

  // 0 (fast, light) .. SHADES-1 (slow, dark), log scale from 0.1 ms to 100 ms
  function shadeOf (ms) {
    if (typeof ms !== 'number' || !(ms > 0)) return 3
    const x = (Math.log(ms) / Math.LN10 + 1) / 3
    return Math.max(0, Math.min(SHADES - 1, Math.floor(x * SHADES)))
  }

  // the API's own duration format (850.00\u00b5s, 12.34ms, 2.01s)
  function fmtMs (ms) {
    if (typeof ms !== 'number') return '-'
    if (ms < 1) return (ms * 1000).toFixed(2) + '\u00b5s'
    if (ms < 1000) return ms.toFixed(2) + 'ms'
    return (ms / 1000).toFixed(2) + 's'
  }

  function fmtAge (ms) {
    if (!(ms >= 0) || !isFinite(ms)) return 'no data'
    if (ms < 1000) return 'now'
    if (ms < 90000) return Math.round(ms / 1000) + ' s'
    if (ms < 5400000) return Math.round(ms / 60000) + ' min'
    return (ms / 3600000).toFixed(1) + ' h'
  }

  // ---------------------------------------------------------------- model

  function namesByIp (coverage) {
    const out = { host: Object.create(null), pod: Object.create(null) }
    const agents = coverage && coverage.agents ? coverage.agents : {}
    Object.keys(agents).sort(collator.compare).forEach(function (name) {
      const a = agents[name]
      ;(out.host[a.node_ip] = out.host[a.node_ip] || []).push(name)
      ;(out.pod[a.pod_ip] = out.pod[a.pod_ip] || []).push(name)
      // a dual-stack agent's other family: its own rows and columns, named with the family
      const fam = function (ip) { return name + (ip.indexOf(':') >= 0 ? ' (IPv6)' : ' (IPv4)') }
      if (a.second_node_ip) (out.host[a.second_node_ip] = out.host[a.second_node_ip] || []).push(fam(a.second_node_ip))
      if (a.second_pod_ip) (out.pod[a.second_pod_ip] = out.pod[a.second_pod_ip] || []).push(fam(a.second_pod_ip))
    })
    return out
  }

  function buildLayer (key, pairs, ips, names, now) {
    const index = Object.create(null)
    const axis = []
    const add = function (ip) { if (index[ip] === undefined) { index[ip] = -1; axis.push(ip) } }
    let src, dst, i
    for (i = 0; i < ips.length; i++) add(ips[i])
    for (src in pairs) { add(src); for (dst in pairs[src]) add(dst) }
    const labelOf = function (ip) { const ns = names[key][ip]; return ns ? ns.join(', ') : ip }
    const byIp = Object.create(null)
    for (i = 0; i < axis.length; i++) byIp[axis[i]] = labelOf(axis[i])
    axis.sort(function (a, b) { return collator.compare(byIp[a], byIp[b]) || collator.compare(a, b) })
    const n = axis.length
    for (i = 0; i < n; i++) index[axis[i]] = i
    const code = new Uint8Array(n * n).fill(UNKNOWN)
    const shade = new Uint8Array(n * n)
    const rowFail = new Int32Array(n)
    const colFail = new Int32Array(n)
    const rowMeasured = new Int32Array(n)
    const colMeasured = new Int32Array(n)
    const rowNewest = new Float64Array(n)
    let measured = 0
    let failing = 0
    for (i = 0; i < n; i++) code[i * n + i] = SELF
    for (src in pairs) {
      const r = index[src]
      const row = pairs[src]
      let newest = 0
      for (dst in row) {
        const c = index[dst]
        if (c === r) continue
        const p = row[dst]
        const k = classify(p)
        const at = Date.parse(p.checked_at)
        code[r * n + c] = k
        shade[r * n + c] = shadeOf(typeof p.rtt_ms === 'number' ? p.rtt_ms : p.connect_ms)
        measured++
        rowMeasured[r]++
        colMeasured[c]++
        if (FAILING[k]) { rowFail[r]++; colFail[c]++; failing++ }
        if (at > newest) newest = at
      }
      rowNewest[r] = newest
    }
    const labels = axis.map(function (ip) { return byIp[ip] })
    return {
      key,
      axis,
      index,
      n,
      code,
      shade,
      rowFail,
      colFail,
      rowMeasured,
      colMeasured,
      rowNewest,
      pairs,
      labels,
      measured,
      failing,
      now
    }
  }

  function buildModel (d) {
    const res = d.results
    const now = d.report && d.report.time ? Date.parse(d.report.time) : Date.now()
    const names = namesByIp(d.coverage)
    return {
      now,
      names,
      host: buildLayer('host', res.host_test_results || {}, res.host_ips || [], names, now),
      pod: buildLayer('pod', res.pod_test_results || {}, res.pod_ips || [], names, now)
    }
  }

  // ---------------------------------------------------------------- fetching and the refresh loop

  function getJson (path) {
    const ctl = new AbortController()
    const to = setTimeout(function () { ctl.abort() }, 15000)
    return fetch(path, { cache: 'no-store', signal: ctl.signal, headers: { accept: 'application/json' } }).then(function (r) {
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status)
      return r.text()
    }).then(function (text) {
      stats.bytes += text.length
      return JSON.parse(text)
    }).finally(function () { clearTimeout(to) })
  }

  function fetchAll () {
    stats.bytes = 0
    const paths = ['api/v1/results', 'api/v1/report', 'api/v1/coverage', 'api/v1/health', 'api/v1/leader']
    return Promise.allSettled(paths.map(getJson)).then(function (all) {
      if (all[0].status === 'rejected') throw all[0].reason
      const v = function (i) { return all[i].status === 'fulfilled' ? all[i].value : null }
      const missing = []
      for (let i = 1; i < paths.length; i++) if (all[i].status === 'rejected') missing.push(paths[i])
      return { results: v(0), report: v(1), coverage: v(2), health: v(3), leader: v(4), missing }
    })
  }

  function schedule (ms) {
    clearTimeout(state.timer)
    state.nextAt = Date.now() + ms
    state.timer = setTimeout(function () { tick(false) }, ms)
  }

  let inflight = null
  function tick (forced) {
    if (inflight) return inflight
    if (!forced && (state.paused || document.hidden)) { renderStatus(); return Promise.resolve() }
    const t0 = performance.now()
    inflight = fetchAll().then(function (d) {
      stats.fetchMs = performance.now() - t0
      state.data = d
      state.lastOk = Date.now()
      state.lastError = null
      state.failures = 0
      const t1 = performance.now()
      state.model = buildModel(d)
      stats.modelMs = performance.now() - t1
      renderAll()
      stats.updates++
    }, function (err) {
      state.failures++
      state.lastError = err && err.message ? err.message : String(err)
    }).then(function () {
      inflight = null
      const next = state.failures > 0
        ? Math.min(MAX_POLL_MS, POLL_MS * Math.pow(2, state.failures - 1))
        : Math.min(MAX_POLL_MS, Math.max(POLL_MS, stats.fetchMs * 4))
      if (!state.paused) schedule(next)
      renderStatus()
    })
    return inflight
  }

  // ---------------------------------------------------------------- rendering: header, summary, verdicts, agents

  function renderStatus () {
    const el = $('status')
    const parts = []
    if (state.paused) parts.push('Paused')
    else if (document.hidden) parts.push('Waiting (tab hidden)')
    else parts.push('Live')
    if (state.lastOk > 0) parts.push('refreshed ' + fmtAge(Date.now() - state.lastOk) + (Date.now() - state.lastOk < 1000 ? '' : ' ago'))
    if (state.lastError !== null) {
      parts.push('last refresh failed: ' + state.lastError + (state.lastOk > 0 ? ' (showing older data)' : ''))
    } else if (state.data && state.data.missing.length > 0) {
      parts.push('unavailable: ' + state.data.missing.join(', '))
    }
    if (!state.paused && state.nextAt > Date.now()) parts.push('next in ' + Math.ceil((state.nextAt - Date.now()) / 1000) + ' s')
    el.textContent = parts.join(' \u00b7 ')
    el.className = state.lastError !== null ? 'error' : ''
  }

  function pctOf (l) { return l.total === 0 ? '-' : (Math.round(l.successRate * 1000) / 10) + ' %' }

  function renderSummary () {
    const d = state.data
    const r = d.results
    const versions = r.versions || {}
    const vs = Object.keys(versions).sort(collator.compare).map(function (v) { return (v === 'legacy' ? 'legacy client' : 'v' + v) + ' \u00d7 ' + versions[v] })
    const cards = []
    const card = function (label, value, extra, id) {
      cards.push('<div class="stat"' + (id ? ' id="' + id + '"' : '') + '><div class="stat-label">' + esc(label) + '</div><div class="stat-value">' + esc(value) + '</div>' +
        (extra ? '<div class="stat-extra">' + esc(extra) + '</div>' : '') + '</div>')
    }
    card('Agents live', String(r.active_client_count), (vs.length > 1 ? 'mixed versions: ' : '') + vs.join(', '), 'stat-agents')
    if (d.health) {
      card('Answered by', d.health.pod_name, 'v' + d.health.version + ' \u00b7 ' + d.health.peers_connected + ' peers \u00b7 view of ' + d.health.view_size, 'stat-self')
    }
    if (d.leader) card('Reporter (Lease holder)', d.leader.holder || 'none', d.leader.election_enabled ? '' : 'no Kubernetes API: no election', 'stat-leader')
    if (d.report) {
      const L = d.report.layers
      card('Host pairs ok', L.host.ok + ' / ' + L.host.total, pctOf(L.host), 'stat-host')
      card('Pod pairs ok', L.pod.ok + ' / ' + L.pod.total, pctOf(L.pod), 'stat-pod')
      const sv = d.report.service
      if (sv) card('Service ' + sv.name + ':' + sv.port, sv.reachable + ' / ' + sv.agents + ' reach it', 'DNS ok on ' + sv.dnsOk + ' / ' + sv.agents + (sv.avgDnsMs === null ? '' : ', ' + fmtMs(sv.avgDnsMs) + ' on average'), 'stat-service')
      card('Data as of', new Date(d.report.time).toLocaleTimeString(), 'the answering agent\'s clock', 'stat-time')
    }
    $('summary-body').innerHTML = cards.join('')
  }

  function renderVerdicts () {
    const d = state.data
    const el = $('verdicts-body')
    if (!d.report) { setHtml(el, '<p class="muted">The report is unavailable right now.</p>'); return }
    const vs = d.report.verdicts
    // nodes Kubernetes set aside (cordoned, not ready, being removed): said, not judged
    const ex = d.report.excluded || []
    const excluded = ex.length === 0
      ? ''
      : '<p class="muted excluded">Excluded by Kubernetes, not judged (' + esc(ex.length) + '): ' +
      ex.slice(0, 20).map(function (x) { return esc(x.node) + ' (' + esc(x.reason) + ')' }).join(', ') + (ex.length > 20 ? ', …' : '') + '</p>'
    if (vs.length === 0) {
      setHtml(el, '<p class="ok-text"><span aria-hidden="true">\u2714 </span>No verdict: nothing is broken that ' + esc(d.report.activeAgents) + ' agents can see.</p>' + excluded)
      return
    }
    const h = ['<ul class="verdicts">']
    vs.forEach(function (v) {
      h.push('<li class="verdict v-' + esc(v.kind) + '"><div class="verdict-head"><span class="kind">' + esc(v.kind) + '</span> <strong class="subject">' + esc(v.subject) + '</strong>' +
        ' <span class="agree" title="observers that agree, out of those that could tell">' + esc(v.agree) + ' of ' + esc(v.of) + ' agree</span></div>' +
        '<p class="summary">' + esc(v.summary) + '</p>')
      if (v.evidence.length > 0) {
        const list = '<ul class="evidence">' + v.evidence.map(function (e) { return '<li>' + esc(e) + '</li>' }).join('') + '</ul>'
        const size = v.evidence.reduce(function (a, e) { return a + e.length }, 0)
        // long evidence (hundreds of peers) folds into a one-line preview
        h.push(size <= 300
          ? list
          : '<details class="evidence-more"><summary>' + esc(v.evidence[0].slice(0, 150)) + '… <span class="muted">(all evidence: ' +
          v.evidence.length + (v.evidence.length === 1 ? ' line' : ' lines') + ')</span></summary>' + list + '</details>')
      }
      h.push('</li>')
    })
    h.push('</ul>')
    setHtml(el, h.join('') + excluded)
  }

  function renderAgents () {
    const d = state.data
    const m = state.model
    const cov = d.coverage && d.coverage.agents ? d.coverage.agents : {}
    const k = d.coverage ? d.coverage.k : 0
    const svc = d.results.service_test_results || {}
    /**
     * @typedef {{ name: string, node: string, pod: string, covHost: number | null, covPod: number | null, legacy: boolean,
     *   hostAge?: number, podAge?: number, svc?: any, problems?: number }} AgentRow
     */
    /** @type {AgentRow[]} */
    const rows = Object.keys(cov).map(function (name) {
      const a = cov[name]
      return { name, node: a.node_ip, pod: a.pod_ip, covHost: a.host, covPod: a.pod, legacy: false }
    })
    const podIps = Object.create(null)
    rows.forEach(function (a) { podIps[a.pod] = true })
    Object.keys(svc).forEach(function (ip) {
      if (!podIps[ip]) rows.push({ name: ip, node: '', pod: ip, covHost: null, covPod: null, legacy: true })
    })
    const ageOf = function (L, ip) {
      const i = L.index[ip]
      return i === undefined || L.rowNewest[i] === 0 ? NaN : m.now - L.rowNewest[i]
    }
    rows.forEach(function (a) {
      a.hostAge = a.node === '' ? NaN : ageOf(m.host, a.node)
      a.podAge = ageOf(m.pod, a.pod)
      a.svc = svc[a.pod] || null
      let problems = 0
      if (!a.legacy && !(a.hostAge <= STALE_MS)) problems++
      if (!a.legacy && !(a.podAge <= STALE_MS)) problems++
      if (a.svc && a.svc.dns && !a.svc.dns.ok) problems++
      if (a.svc && a.svc.reachable === false) problems++
      a.problems = problems
    })
    rows.sort(function (x, y) { return y.problems - x.problems || collator.compare(x.name, y.name) })
    const shown = state.showAllAgents ? rows : rows.slice(0, MAX_LIST)
    const anySvc = Object.keys(svc).length > 0
    const ageCell = function (ms) {
      const stale = !(ms <= STALE_MS)
      return '<td class="num' + (stale ? ' bad' : '') + '">' + (stale && isFinite(ms) ? '<span aria-hidden="true">\u231b </span>' : '') + esc(fmtAge(ms)) + (stale && isFinite(ms) ? ' (stale)' : '') + '</td>'
    }
    const h = ['<table class="agents"><caption>' + esc(rows.length) + ' sources' + (rows.length > shown.length ? ', the ' + shown.length + ' with the most problems shown' : '') +
      '. Ages: time since the newest result of each source, on the answering agent\'s clock.</caption>' +
      '<thead><tr><th scope="col">agent</th><th scope="col">node IP</th><th scope="col">pod IP</th><th scope="col">host data age</th><th scope="col">pod data age</th>' +
      '<th scope="col" title="agents currently holding a result for its node / its pod (aim: ' + esc(k) + ')">probed by (host / pod)</th>' +
      (anySvc ? '<th scope="col">Service DNS</th><th scope="col">DNS time</th><th scope="col">Service reachable</th><th scope="col">latency</th>' : '') + '</tr></thead><tbody>']
    shown.forEach(function (a) {
      h.push('<tr><th scope="row">' + esc(a.name) + (a.legacy ? ' <span class="muted">(legacy client)</span>' : '') + '</th><td>' + esc(a.node) + '</td><td>' + esc(a.pod) + '</td>')
      h.push(a.legacy
        ? '<td class="muted">-</td><td class="muted">-</td><td class="muted">-</td>'
        : ageCell(a.hostAge) + ageCell(a.podAge) +
        '<td class="num' + (a.covPod < k ? ' bad' : '') + '">' + esc(a.covHost) + ' / ' + esc(a.covPod) + '</td>')
      if (anySvc) {
        const s = a.svc
        if (s === null) h.push('<td class="muted" colspan="4">no Service result</td>')
        else {
          const dnsOk = s.dns ? s.dns.ok : null
          const reach = typeof s.reachable === 'boolean' ? s.reachable : s.ping_status === 'reachable'
          h.push('<td class="' + (dnsOk === false ? 'bad' : '') + '">' + (dnsOk === null ? '<span class="muted">-</span>' : dnsOk ? '\u2714 ok' : '\u2716 failed' + (s.dns.error ? ': ' + esc(s.dns.error) : '')) + '</td>' +
            '<td class="num">' + esc(s.dns ? s.dns.time : '-') + '</td>' +
            '<td class="' + (reach ? '' : 'bad') + '">' + (reach ? '\u2714 yes' : '\u2716 no') + ' <span class="muted">' + esc(Object.keys(s.port_status || {}).map(function (p) { return p + ' ' + s.port_status[p] }).join(', ')) + '</span></td>' +
            '<td class="num">' + esc(s.latency || '-') + '</td>')
        }
      }
      h.push('</tr>')
    })
    h.push('</tbody></table>')
    if (rows.length > MAX_LIST) h.push('<button type="button" id="agents-all">' + (state.showAllAgents ? 'Show the first ' + MAX_LIST : 'Show all ' + rows.length) + '</button>')
    if (!anySvc) h.push('<p class="muted">No Service check configured (CUSTOM_SERVICE_NAME is empty).</p>')
    $('agents-body').innerHTML = h.join('')
  }

  // ---------------------------------------------------------------- rendering: the matrices

  const ui = {}

  function setupLayer (key) {
    const sec = $('layer-' + key)
    const u = {
      key,
      sec,
      canvas: sec.querySelector('canvas'),
      grid: sec.querySelector('.mgrid'),
      scroll: sec.querySelector('.matrix-scroll'),
      rowsEl: sec.querySelector('.rows'),
      colsEl: sec.querySelector('.cols'),
      hoverBox: sec.querySelector('.hover-box'),
      selBox: sec.querySelector('.sel-box'),
      summary: sec.querySelector('.layer-summary'),
      note: sec.querySelector('.matrix-note'),
      failing: sec.querySelector('.failing'),
      L: null,
      rows: [],
      cols: [],
      cs: MAX_CELL,
      hover: null,
      hl: []
    }
    ui[key] = u
    const cellAt = function (ev) {
      const rect = u.canvas.getBoundingClientRect()
      const ci = Math.floor((ev.clientX - rect.left) / u.cs)
      const ri = Math.floor((ev.clientY - rect.top) / u.cs)
      return ri >= 0 && ci >= 0 && ri < u.rows.length && ci < u.cols.length ? { ri, ci } : null
    }
    u.canvas.addEventListener('mousemove', function (ev) {
      const c = cellAt(ev)
      if (c === null) { hideHover(u); return }
      if (u.hover === null || u.hover.ri !== c.ri || u.hover.ci !== c.ci) {
        u.hover = c
        showTip(u, c)
      }
      placeTip(ev.clientX, ev.clientY)
    })
    u.canvas.addEventListener('mouseleave', function () { hideHover(u) })
    u.canvas.addEventListener('click', function (ev) {
      const c = cellAt(ev)
      if (c !== null) select(u, c.ri, c.ci)
    })
    u.canvas.addEventListener('keydown', function (ev) {
      const dr = { ArrowUp: -1, ArrowDown: 1 }[ev.key] || 0
      const dc = { ArrowLeft: -1, ArrowRight: 1 }[ev.key] || 0
      if (ev.key === 'Escape') { state.selected = null; renderSelection(); ev.preventDefault(); return }
      if (dr === 0 && dc === 0) return
      ev.preventDefault()
      const cur = selectedCell(u) || { ri: 0, ci: 0 }
      const ri = Math.max(0, Math.min(u.rows.length - 1, cur.ri + (selectedCell(u) ? dr : 0)))
      const ci = Math.max(0, Math.min(u.cols.length - 1, cur.ci + (selectedCell(u) ? dc : 0)))
      if (u.rows.length > 0 && u.cols.length > 0) select(u, ri, ci)
    })
  }

  function pickAxis (L) {
    const mode = state.view === 'auto' ? (L.n > AUTO_AGGREGATE_ABOVE ? 'failing' : 'name') : state.view
    const terms = state.filter
    const match = function (i) {
      if (terms.length === 0) return true
      const ip = L.axis[i].toLowerCase()
      const label = L.labels[i].toLowerCase()
      for (let t = 0; t < terms.length; t++) if (ip.indexOf(terms[t]) >= 0 || label.indexOf(terms[t]) >= 0) return true
      return false
    }
    const rows = []
    const cols = []
    for (let i = 0; i < L.n; i++) {
      if (!match(i)) continue
      if (mode !== 'failing' || L.rowFail[i] > 0) rows.push(i)
      if (mode !== 'failing' || L.colFail[i] > 0) cols.push(i)
    }
    if (mode !== 'name') {
      rows.sort(function (a, b) { return L.rowFail[b] - L.rowFail[a] || a - b })
      cols.sort(function (a, b) { return L.colFail[b] - L.colFail[a] || a - b })
    }
    return {
      mode,
      matched: rows.length,
      matchedCols: cols.length,
      rows: rows.slice(0, MAX_AXIS),
      cols: cols.slice(0, MAX_AXIS)
    }
  }

  function renderLayer (u, L, width) {
    let i, ri, ci
    const v = pickAxis(L)
    u.L = L
    u.rows = v.rows
    u.cols = v.cols
    const nr = v.rows.length
    const nc = v.cols.length
    // the row labels' width, estimated from the longest label at the largest font (no layout read)
    let longest = 0
    for (ri = 0; ri < nr; ri++) longest = Math.max(longest, L.labels[v.rows[ri]].length)
    const labelW = Math.min(LABEL_MAX_W, longest * 7.5 + 14)
    const cs = Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor((width - labelW - 4) / Math.max(1, nc))))
    u.cs = cs
    u.grid.style.setProperty('--cs', cs + 'px')
    u.grid.style.setProperty('--fs', Math.min(12, cs - 1) + 'px')
    u.grid.hidden = nr === 0 || nc === 0

    const layerName = L.key === 'host' ? 'host' : 'pod'
    u.summary.textContent = L.n + ' ' + (L.key === 'host' ? 'node IPs' : 'pod IPs') + ': ' + L.measured + ' pairs measured, ' +
      L.failing + ' failing' + (L.failing > 0 ? ' (' + countByOutcome(L) + ')' : '') + '.'

    // labels: one string each, built in one pass
    let h = []
    for (ri = 0; ri < nr; ri++) {
      i = v.rows[ri]
      const age = L.rowNewest[i] === 0 ? NaN : L.now - L.rowNewest[i]
      const stale = L.rowMeasured[i] > 0 && !(age <= STALE_MS)
      h.push('<div class="rl' + failClass(L.rowFail[i], L.rowMeasured[i]) + (stale ? ' stale' : '') + '" data-ip="' + esc(L.axis[i]) + '" title="' +
        esc(who(L, i) + ' as source: ' + (L.rowMeasured[i] === 0 ? 'no results from it' : L.rowFail[i] + ' failing of ' + L.rowMeasured[i] + ' measured; newest ' + fmtAge(age) + ' old')) + '">' +
        (stale ? '<span aria-hidden="true">\u231b</span> ' : '') + esc(L.labels[i]) + '</div>')
    }
    u.rowsEl.innerHTML = h.join('')
    h = []
    for (ci = 0; ci < nc; ci++) {
      i = v.cols[ci]
      h.push('<div class="cl' + failClass(L.colFail[i], L.colMeasured[i]) + '" data-ip="' + esc(L.axis[i]) + '" title="' +
        esc(who(L, i) + ' as target: ' + L.colFail[i] + ' failing of ' + L.colMeasured[i] + ' measured') + '">' + esc(L.labels[i]) + '</div>')
    }
    u.colsEl.innerHTML = h.join('')

    drawCells(u, L, cs)
    stats.cells += nr * nc

    const notes = []
    if (v.mode === 'failing') notes.push('Showing only the sources and targets with at least one failing pair, most failures first.')
    else if (v.mode === 'worst') notes.push('Most failures first.')
    if (v.matched > nr || v.matchedCols > nc) notes.push('Drawn: ' + nr + ' of ' + v.matched + ' rows and ' + nc + ' of ' + v.matchedCols + ' columns (most failures first); narrow them with the filter.')
    if (nr === 0 || nc === 0) {
      notes.push(v.mode === 'failing' && state.filter.length === 0 ? 'No failing pair on the ' + layerName + ' layer: nothing to draw (choose "all" to see every pair).' : 'Nothing matches the filter.')
    }
    u.note.textContent = notes.join(' ')
    u.canvas.setAttribute('aria-label', layerName + ' matrix: ' + nr + ' sources by ' + nc + ' targets, ' + L.failing + ' failing pairs, listed below the matrix. ' +
      'Arrow keys move the selected cell; its detail is in the pair detail panel.')

    renderFailingList(u, L)
    u.hover = null
    hideHover(u)
  }

  // labels of rows and columns that fail half their pairs or more stand out; a few failures only get a mark
  function failClass (fail, measured) {
    return fail === 0 ? '' : fail * 2 >= measured ? ' has-fail mostly-fail' : ' has-fail'
  }

  function countByOutcome (L) {
    const counts = [0, 0, 0, 0, 0, 0]
    const n = L.n
    for (let i = 0; i < n * n; i++) counts[L.code[i]]++
    const parts = []
    ;[UNREACH, CLOSED, LOSS].forEach(function (k) { if (counts[k] > 0) parts.push(counts[k] + ' ' + OUTCOMES[k].label) })
    return parts.join(', ')
  }

  // Cells are bucketed by fill style first (a counting sort), so the canvas parses each colour once and each
  // mark kind is one path: about 20 style changes per draw, whatever the number of cells.
  function drawCells (u, L, cs) {
    const c = u.canvas
    const dpr = window.devicePixelRatio || 1
    const nr = u.rows.length
    const nc = u.cols.length
    const w = nc * cs
    const hgt = nr * cs
    c.width = Math.max(1, Math.round(w * dpr))
    c.height = Math.max(1, Math.round(hgt * dpr))
    c.style.width = w + 'px'
    c.style.height = hgt + 'px'
    const ctx = c.getContext('2d')
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.clearRect(0, 0, w, hgt)
    const gap = cs >= 10 ? 1 : 0
    const size = cs - gap
    const n = L.n
    const code = L.code
    const shade = L.shade
    const cols = u.cols
    const nStyles = SHADES + FILL.length
    const style = new Uint8Array(nr * nc)
    const start = new Int32Array(nStyles + 1)
    let ri, ci, k, st, j
    for (ri = 0; ri < nr; ri++) {
      const base = u.rows[ri] * n
      for (ci = 0; ci < nc; ci++) {
        const idx = base + cols[ci]
        k = code[idx]
        st = k === OK ? shade[idx] : SHADES + k
        style[ri * nc + ci] = st
        start[st + 1]++
      }
    }
    for (st = 0; st < nStyles; st++) start[st + 1] += start[st]
    const order = new Int32Array(nr * nc)
    const fillAt = start.slice(0, nStyles)
    for (j = 0; j < nr * nc; j++) order[fillAt[style[j]]++] = j
    for (st = 0; st < nStyles; st++) {
      if (start[st] === start[st + 1]) continue
      ctx.fillStyle = st < SHADES ? OK_SHADES[st] : FILL[st - SHADES]
      for (j = start[st]; j < start[st + 1]; j++) ctx.fillRect((order[j] % nc) * cs, Math.floor(order[j] / nc) * cs, size, size)
    }
    ctx.lineWidth = Math.max(1, size / 8)
    ctx.lineCap = 'round'
    for (k = 1; k < FILL.length; k++) {
      st = SHADES + k
      if (start[st] === start[st + 1]) continue
      if (k === UNKNOWN) {
        // a dot: one small square per cell, cheaper than an arc at 100,000 cells
        const d = Math.max(2, Math.round(size * 0.2))
        const o = (size - d) / 2
        ctx.fillStyle = MARK[k]
        for (j = start[st]; j < start[st + 1]; j++) ctx.fillRect((order[j] % nc) * cs + o, Math.floor(order[j] / nc) * cs + o, d, d)
        continue
      }
      ctx.beginPath()
      for (j = start[st]; j < start[st + 1]; j++) markPath(ctx, k, (order[j] % nc) * cs, Math.floor(order[j] / nc) * cs, size)
      ctx.strokeStyle = MARK[k]
      ctx.stroke()
    }
  }

  // the shape of each outcome, so that the matrix does not rely on colour alone
  function markPath (ctx, k, x, y, s) {
    const p = Math.max(1.5, s * 0.24)
    if (k === LOSS) { ctx.moveTo(x + p, y + s - p); ctx.lineTo(x + s - p, y + p) } else if (k === CLOSED) {
      ctx.moveTo(x + p, y + s / 2); ctx.lineTo(x + s - p, y + s / 2)
    } else if (k === UNREACH) {
      ctx.moveTo(x + p, y + p); ctx.lineTo(x + s - p, y + s - p); ctx.moveTo(x + p, y + s - p); ctx.lineTo(x + s - p, y + p)
    } else if (k === SELF) { ctx.moveTo(x + 1, y + 1); ctx.lineTo(x + s - 1, y + s - 1) }
  }

  function pairLine (L, r, c) {
    const p = L.pairs[L.axis[r]] && L.pairs[L.axis[r]][L.axis[c]]
    const k = L.code[r * L.n + c]
    let what = OUTCOMES[k].label
    if (p && typeof p.tcp === 'string') {
      const icmp = p.echoes_sent > 0 ? 'ICMP ' + p.echoes_received + '/' + p.echoes_sent : 'ICMP unknown'
      what += ': TCP ' + p.tcp + ' on ' + p.port + ', ' + icmp
    } else if (p) what += ': ping ' + p.ping + ', port ' + p.port_status + ' (legacy client)'
    return who(L, r) + ' \u2192 ' + who(L, c) + ': ' + what
  }

  // "name (ip)", or the IP alone when no agent in the view claims it (a legacy client, an agent that left)
  function who (L, i) {
    return L.labels[i] === L.axis[i] ? L.axis[i] : L.labels[i] + ' (' + L.axis[i] + ')'
  }

  function renderFailingList (u, L) {
    const h = []
    let total = 0
    const rows = []
    let r
    for (r = 0; r < L.n; r++) if (L.rowFail[r] > 0) rows.push(r)
    rows.sort(function (a, b) { return L.rowFail[b] - L.rowFail[a] || a - b })
    for (let x = 0; x < rows.length; x++) {
      r = rows[x]
      for (let c = 0; c < L.n; c++) {
        const k = L.code[r * L.n + c]
        if (!FAILING[k]) continue
        total++
        if (total <= MAX_LIST) h.push('<li class="o-' + OUTCOMES[k].key + '">' + esc(pairLine(L, r, c)) + '</li>')
      }
    }
    const head = '<summary>Failing pairs: ' + total + (total > MAX_LIST ? ' (the first ' + MAX_LIST + ' listed)' : '') + '</summary>'
    setHtml(u.failing, head + (total === 0 ? '<p class="ok-text">None.</p>' : '<ol>' + h.join('') + '</ol>'))
  }

  // ---------------------------------------------------------------- hover, selection, detail

  let tip = null
  function showTip (u, c) {
    const r = u.rows[c.ri]
    const col = u.cols[c.ci]
    const lines = detailOf(u.L, r, col)
    tip.innerHTML = lines.map(function (l) { return '<div><span class="k">' + esc(l[0]) + '</span> ' + esc(l[1]) + '</div>' }).join('')
    tip.hidden = false
    const cs = u.cs
    u.hoverBox.style.transform = 'translate(' + (c.ci * cs) + 'px,' + (c.ri * cs) + 'px)'
    u.hoverBox.style.width = u.hoverBox.style.height = cs + 'px'
    u.hoverBox.hidden = false
    u.hl.forEach(function (e) { e.classList.remove('hl') })
    u.hl = [u.rowsEl.children[c.ri], u.colsEl.children[c.ci]].filter(Boolean)
    u.hl.forEach(function (e) { e.classList.add('hl') })
  }

  function placeTip (x, y) {
    const w = tip.offsetWidth
    const h = tip.offsetHeight
    const left = x + 16 + w > window.innerWidth ? x - 16 - w : x + 16
    const top = y + 16 + h > window.innerHeight ? Math.max(4, y - 16 - h) : y + 16
    tip.style.transform = 'translate(' + Math.max(4, left) + 'px,' + top + 'px)'
  }

  function hideHover (u) {
    u.hover = null
    if (tip) tip.hidden = true
    u.hoverBox.hidden = true
    u.hl.forEach(function (e) { e.classList.remove('hl') })
    u.hl = []
  }

  function detailOf (L, r, c) {
    const src = L.axis[r]
    const dst = L.axis[c]
    const k = L.code[r * L.n + c]
    const out = [
      ['from', who(L, r)],
      ['to', who(L, c)],
      ['layer', L.key === 'host' ? 'host: node IP to node IP' : 'pod: pod IP to pod IP'],
      ['outcome', OUTCOMES[k].label]
    ]
    if (r === c) return out
    const p = L.pairs[src] && L.pairs[src][dst]
    if (!p) {
      out.push(['result', 'none from this source: not probed yet, or outside its current sample'])
    } else if (typeof p.tcp !== 'string') {
      out.push(['ping', p.ping], ['port', p.port_status], ['RTT', p.rtt || '-'], ['checked at', p.checked_at], ['reported by', 'a legacy client (POSTed)'])
    } else {
      const sent = p.echoes_sent || 0
      out.push(['RTT', p.rtt ? p.rtt : sent === 0 ? 'unknown (ICMP could not run)' : 'no echo came back'])
      out.push(['loss', p.loss === null || p.loss === undefined ? 'unknown' : Math.round(p.loss * 1000) / 10 + ' %'])
      out.push(['echoes', sent === 0 ? 'none sent' : p.echoes_received + ' of ' + sent + ' answered'])
      out.push(['TCP', p.tcp + ' on port ' + p.port])
      out.push(['connect time', typeof p.connect_ms === 'number' ? fmtMs(p.connect_ms) : '- (no answer)'])
      out.push(['check took', p.test_duration])
      const at = Date.parse(p.checked_at)
      out.push(['checked at', p.checked_at + ' (' + fmtAge(L.now - at) + (L.now - at < 1000 ? '' : ' ago') + ')'])
    }
    const back = L.code[c * L.n + r]
    out.push(['reverse', L.labels[c] + ' \u2192 ' + L.labels[r] + ': ' + OUTCOMES[back].label])
    return out
  }

  function selectedCell (u) {
    const s = state.selected
    if (s === null || s.layer !== u.key || u.L === null) return null
    const r = u.L.index[s.src]
    const c = u.L.index[s.dst]
    const ri = u.rows.indexOf(r)
    const ci = u.cols.indexOf(c)
    return ri < 0 || ci < 0 ? null : { ri, ci }
  }

  function select (u, ri, ci) {
    state.selected = { layer: u.key, src: u.L.axis[u.rows[ri]], dst: u.L.axis[u.cols[ci]] }
    renderSelection()
    $('sel-announce').textContent = 'Selected: ' + pairLine(u.L, u.rows[ri], u.cols[ci])
  }

  function renderSelection () {
    const body = $('detail-body')
    const s = state.selected
    ;['host', 'pod'].forEach(function (key) {
      const u = ui[key]
      const c = selectedCell(u)
      u.selBox.hidden = c === null
      if (c !== null) {
        u.selBox.style.transform = 'translate(' + (c.ci * u.cs) + 'px,' + (c.ri * u.cs) + 'px)'
        u.selBox.style.width = u.selBox.style.height = u.cs + 'px'
      }
    })
    if (s === null || !state.model) {
      setHtml(body, '<p class="muted">Hover over a cell of a matrix, or select one: click it, or focus a matrix and use the arrow keys.</p>')
      return
    }
    const L = state.model[s.layer]
    const r = L.index[s.src]
    const c = L.index[s.dst]
    if (r === undefined || c === undefined) {
      setHtml(body, '<p class="muted">The selected pair (' + esc(s.src) + ' \u2192 ' + esc(s.dst) + ') is no longer in the view.</p>')
      return
    }
    const k = L.code[r * L.n + c]
    renderHistory(s, state.model.names[s.layer][s.src], state.model.names[s.layer][s.dst])
    const html = '<p class="detail-outcome o-' + OUTCOMES[k].key + '"><canvas class="swatch" width="16" height="16" aria-hidden="true"></canvas> ' + esc(OUTCOMES[k].label) + '</p><dl>' +
      detailOf(L, r, c).map(function (l) { return '<dt>' + esc(l[0]) + '</dt><dd>' + esc(l[1]) + '</dd>' }).join('') + '</dl>'
    if (setHtml(body, html)) drawSwatch(body.querySelector('canvas'), k, L.shade[r * L.n + c])
  }

  // the selected pair's history from the reachability model (GET /api/v1/history), fetched again at most every 5 s
  const history = { key: null, at: 0, html: '' }
  function renderHistory (s, srcNames, dstNames) {
    const el = $('pair-history')
    const src = srcNames && srcNames[0]
    const dst = dstNames && dstNames[0]
    if (!src || !dst) { setHtml(el, ''); history.key = null; return }
    const key = s.layer + '|' + src + '>' + dst
    if (history.key === key && Date.now() - history.at < 5000) return
    history.key = key
    history.at = Date.now()
    getJson('/api/v1/history?layer=' + encodeURIComponent(s.layer) + '&source=' + encodeURIComponent(src) + '&target=' + encodeURIComponent(dst)).then(function (h) {
      if (history.key !== key) return
      const p = h && h.pairs && h.pairs[0]
      if (!p) { setHtml(el, '<h3>History</h3><p class="muted">No state change of this pair seen yet.</p>'); return }
      const rows = p.transitions.slice().reverse().map(function (x) {
        return '<li><time datetime="' + esc(x.at) + '">' + esc(x.ago_s < 1 ? 'just now' : fmtAge(x.ago_s * 1000) + ' ago') + '</time>: ' + esc(x.from === null ? 'first seen' : x.from) + ' \u2192 <strong>' + esc(x.to) + '</strong></li>'
      })
      setHtml(el, '<h3>History</h3><p>' + (p.flapping ? '<strong class="bad">Flapping</strong>: ' : '') + esc(p.flips_in_window) + ' change' + (p.flips_in_window === 1 ? '' : 's') +
        ' between reachable and unreachable in the last ' + esc(h.window_s) + ' s; settled state <strong>' + esc(p.state === null ? 'not settled' : p.state) + '</strong>.</p><ul class="history">' + rows.join('') + '</ul>')
    }, function () { setHtml(el, '<p class="muted">History unavailable.</p>') })
  }

  function drawSwatch (c, k, shade) {
    const ctx = c.getContext('2d')
    const s = c.width
    ctx.fillStyle = k === OK ? OK_SHADES[shade] : FILL[k]
    ctx.fillRect(0, 0, s, s)
    ctx.strokeStyle = '#adb5bd'
    ctx.lineWidth = 1
    ctx.strokeRect(0.5, 0.5, s - 1, s - 1)
    if (k === OK) return
    if (k === UNKNOWN) {
      const d = Math.max(2, Math.round(s * 0.2))
      ctx.fillStyle = MARK[k]
      ctx.fillRect((s - d) / 2, (s - d) / 2, d, d)
      return
    }
    ctx.lineWidth = Math.max(1, s / 8)
    ctx.lineCap = 'round'
    ctx.beginPath()
    markPath(ctx, k, 0, 0, s)
    ctx.strokeStyle = MARK[k]
    ctx.stroke()
  }

  function renderLegend () {
    const h = ['<ul class="legend">']
    OUTCOMES.forEach(function (o) {
      h.push('<li class="o-' + o.key + '"><canvas class="swatch" width="18" height="18" data-code="' + o.code + '" aria-hidden="true"></canvas> <strong>' + esc(o.label) + '</strong>: ' + esc(o.text) + '</li>')
    })
    h.push('</ul><div class="rtt-scale"><span>RTT of ok pairs:</span> <canvas id="rtt-scale" width="' + (SHADES * 14) + '" height="14" aria-hidden="true"></canvas> ' +
      '<span>0.1 ms (light) to 100 ms and more (dark), log scale</span></div>')
    $('legend-body').innerHTML = h.join('')
    const all = $('legend-body').querySelectorAll('canvas.swatch')
    for (let i = 0; i < all.length; i++) drawSwatch(all[i], Number(all[i].getAttribute('data-code')), 4)
    const sc = /** @type {HTMLCanvasElement} */ ($('rtt-scale')).getContext('2d')
    for (let j = 0; j < SHADES; j++) { sc.fillStyle = OK_SHADES[j]; sc.fillRect(j * 14, 0, 14, 14) }
  }

  function renderPerf () {
    $('perf').textContent = 'Last refresh: ' + (stats.bytes / 1024).toFixed(1) + ' KiB of JSON fetched in ' + stats.fetchMs.toFixed(0) + ' ms, model built in ' +
      stats.modelMs.toFixed(1) + ' ms, drawn in ' + stats.renderMs.toFixed(1) + ' ms (' + stats.cells + ' cells). Refreshes every ' + (POLL_MS / 1000) +
      ' s or more (4 \u00d7 the fetch time), paused while the tab is hidden.'
  }

  function renderAll () {
    if (!state.data || !state.model) return
    const t0 = performance.now()
    stats.cells = 0
    // read the layout once, before any write, so that no write forces a synchronous re-layout
    const widths = { host: ui.host.scroll.clientWidth, pod: ui.pod.scroll.clientWidth }
    const parts = stats.parts = {}
    const timed = function (name, fn) { const t = performance.now(); fn(); parts[name] = Math.round((performance.now() - t) * 10) / 10 }
    timed('summary', renderSummary)
    timed('verdicts', renderVerdicts)
    timed('host', function () { renderLayer(ui.host, state.model.host, widths.host) })
    timed('pod', function () { renderLayer(ui.pod, state.model.pod, widths.pod) })
    timed('agents', renderAgents)
    timed('selection', renderSelection)
    stats.renderMs = performance.now() - t0
    document.body.setAttribute('data-updates', String(stats.updates + 1))
    renderPerf()
    // style, layout and paint happen after this script: the second frame after it is a bound on when it shows
    requestAnimationFrame(function () { requestAnimationFrame(function () { stats.frameMs = performance.now() - t0 }) })
  }

  // ---------------------------------------------------------------- start

  function start () {
    tip = $('tip')
    setupLayer('host')
    setupLayer('pod')
    renderLegend()
    $('view').addEventListener('change', function (ev) { state.view = /** @type {HTMLSelectElement} */ (ev.target).value; renderAll() })
    let filterTimer = 0
    $('filter').addEventListener('input', function (ev) {
      clearTimeout(filterTimer)
      filterTimer = setTimeout(function () {
        state.filter = /** @type {HTMLInputElement} */ (ev.target).value.toLowerCase().split(/[\s,]+/).filter(Boolean)
        renderAll()
      }, 150)
    })
    $('pause').addEventListener('click', function (ev) {
      state.paused = !state.paused
      const button = /** @type {HTMLButtonElement} */ (ev.target)
      button.textContent = state.paused ? 'Resume' : 'Pause'
      button.setAttribute('aria-pressed', String(state.paused))
      if (state.paused) clearTimeout(state.timer)
      else tick(true)
      renderStatus()
    })
    $('agents-body').addEventListener('click', function (ev) {
      if (ev.target instanceof Element && ev.target.id === 'agents-all') { state.showAllAgents = !state.showAllAgents; renderAgents() }
    })
    document.addEventListener('visibilitychange', function () { if (!document.hidden && !state.paused) tick(false) })
    let resizeFrame = 0
    window.addEventListener('resize', function () {
      cancelAnimationFrame(resizeFrame)
      resizeFrame = requestAnimationFrame(renderAll)
    })
    setInterval(renderStatus, 1000)
    tick(true)
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start)
  else start()
})()
