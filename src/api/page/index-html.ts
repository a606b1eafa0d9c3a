// The page's HTML skeleton; the script (app.js) fills it from the JSON API. Asset URLs are relative, so the
// page also works behind a path prefix (e.g. `kubectl proxy`'s /api/v1/namespaces/.../proxy/).

function layerSection (key: 'host' | 'pod', title: string): string {
  return `
    <section class="card layer" id="layer-${key}" data-layer="${key}" aria-labelledby="layer-${key}-h">
      <h2 id="layer-${key}-h">${title}</h2>
      <p class="layer-summary">Loading…</p>
      <div class="matrix-scroll">
        <div class="mgrid">
          <div class="corner" aria-hidden="true">source ↓ · target →</div>
          <div class="cols"></div>
          <div class="rows"></div>
          <div class="cells"><canvas tabindex="0" role="img" aria-label="${key} matrix"></canvas><div class="box hover-box" hidden></div><div class="box sel-box" hidden></div></div>
        </div>
      </div>
      <p class="matrix-note"></p>
      <details class="failing" open><summary>Failing pairs</summary></details>
    </section>`
}

export function pageHtml (assets: { css: string, js: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>k8snet-checker</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assets.css}">
<script src="${assets.js}" defer></script>
</head>
<body>
<header class="top">
  <h1>k8snet-checker</h1>
  <p id="status" role="status">Loading…</p>
  <div class="controls">
    <label>View
      <select id="view">
        <option value="auto">auto (failing only above 150 IPs)</option>
        <option value="name">all, by name</option>
        <option value="worst">all, failures first</option>
        <option value="failing">failing rows and columns only</option>
      </select>
    </label>
    <label>Filter <input id="filter" type="search" size="26" placeholder="names or IPs" autocomplete="off"></label>
    <button id="pause" type="button" aria-pressed="false">Pause</button>
  </div>
</header>
<noscript><p class="noscript">This page needs JavaScript. The same data as JSON: <a href="api/v1/results">api/v1/results</a>, <a href="api/v1/report">api/v1/report</a>.</p></noscript>
<main>
  <div class="content">
    <section class="card" id="summary" aria-labelledby="summary-h"><h2 id="summary-h">Cluster</h2><div id="summary-body">Loading…</div></section>
    <section class="card" id="verdicts" aria-labelledby="verdicts-h"><h2 id="verdicts-h">Verdicts</h2><div id="verdicts-body">Loading…</div></section>
    <section class="card" id="legend" aria-labelledby="legend-h"><h2 id="legend-h">Legend</h2><div id="legend-body"></div></section>
    ${layerSection('host', 'Host layer: node IP → node IP (ICMP echoes, TCP to TEST_PORT)')}
    ${layerSection('pod', 'Pod layer: pod IP → pod IP (ICMP echoes, TCP to the health port)')}
    <section class="card" id="agents" aria-labelledby="agents-h"><h2 id="agents-h">Sources: data freshness and the Service check</h2><div id="agents-body">Loading…</div></section>
  </div>
  <aside class="card" id="detail" aria-labelledby="detail-h"><h2 id="detail-h">Pair detail</h2><div id="detail-body"></div><div id="pair-history"></div><p id="sel-announce" class="sr-only" aria-live="polite"></p></aside>
</main>
<div id="tip" role="tooltip" hidden></div>
<footer id="perf"></footer>
</body>
</html>
`
}
