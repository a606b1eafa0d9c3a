// The page's stylesheet, kept as a string so it ships inside the compiled tree (the script, app.js, is copied into it by the build).
export const PAGE_CSS = `
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; margin: 0; }
html { color-scheme: light; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: #1f2328; background: #eef1f4; }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 8px; }
.top { position: sticky; top: 0; z-index: 20; display: flex; flex-wrap: wrap; align-items: center; gap: 8px 20px;
  padding: 8px 16px; background: #fff; border-bottom: 1px solid #d0d7de; }
#status { margin: 0; color: #3d4650; flex: 1 1 320px; }
#status.error { color: #b3261e; font-weight: 600; }
.controls { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: center; }
.controls label { display: flex; gap: 6px; align-items: center; }
select, input, button { font: inherit; padding: 3px 6px; border: 1px solid #8c959f; border-radius: 4px; background: #fff; color: inherit; }
button { cursor: pointer; }
:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
main { display: grid; grid-template-columns: minmax(0, 1fr) 300px; gap: 14px; padding: 14px 16px; align-items: start; }
.content { display: flex; flex-direction: column; gap: 14px; min-width: 0; }
@media (max-width: 980px) { main { grid-template-columns: minmax(0, 1fr); } #detail { position: static; } }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 16px; min-width: 0; }
#detail { position: sticky; top: 64px; max-height: calc(100vh - 80px); overflow: auto; }
#detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0; }
#detail dt { color: #57606a; }
#detail dd { margin: 0; overflow-wrap: anywhere; }
.detail-outcome { display: flex; align-items: center; gap: 6px; font-weight: 600; margin: 0 0 8px; }
.muted { color: #57606a; }
.ok-text { color: #1a7f37; margin: 0; }
.bad { color: #b3261e; font-weight: 600; }
.noscript { padding: 12px 16px; background: #fff3cd; margin: 0; }

.stats { display: flex; flex-wrap: wrap; gap: 10px; }
#summary-body { display: flex; flex-wrap: wrap; gap: 10px; }
.stat { border: 1px solid #d8dee4; border-radius: 6px; padding: 6px 10px; min-width: 140px; }
.stat-label { color: #57606a; font-size: 12px; }
.stat-value { font-size: 18px; font-weight: 600; }
.stat-extra { color: #57606a; font-size: 12px; }

ul.verdicts { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 8px; }
.verdict { border-left: 4px solid #b3261e; background: #fff5f5; padding: 6px 10px; border-radius: 0 4px 4px 0; }
.verdict.v-lossy, .verdict.v-stale { border-left-color: #d4a100; background: #fffbea; }
.verdict .kind { display: inline-block; font: 600 12px/1.6 ui-monospace, SFMono-Regular, Menlo, monospace; background: #1f2328; color: #fff; padding: 0 6px; border-radius: 3px; }
.verdict .agree { color: #57606a; font-size: 12px; }
.verdict .summary { margin: 4px 0; }
.verdict .evidence { margin: 0; padding-left: 20px; color: #3d4650; font-size: 13px; }
.evidence-more summary { cursor: pointer; color: #3d4650; font-size: 13px; }

ul.legend { list-style: none; margin: 0 0 8px; padding: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 4px 16px; }
ul.legend li { padding-left: 26px; text-indent: -26px; }
ul.legend .swatch { vertical-align: -4px; margin-right: 6px; }
.swatch { flex: none; }
.rtt-scale { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; color: #3d4650; }
#rtt-scale { border: 1px solid #adb5bd; }

.layer-summary { margin: 0 0 8px; }
.matrix-note { margin: 6px 0; color: #57606a; }
.matrix-scroll { overflow: auto; max-height: 78vh; max-width: 100%; border: 1px solid #eaeef2; }
.mgrid { --cs: 16px; --fs: 12px; display: grid; grid-template-columns: max-content max-content; grid-template-rows: max-content max-content; width: max-content; }
.corner { grid-column: 1; grid-row: 1; position: sticky; left: 0; top: 0; z-index: 4; background: #fff; font-size: 12px; color: #57606a;
  display: flex; align-items: flex-end; justify-content: flex-end; padding: 4px 6px; }
.cols { grid-column: 2; grid-row: 1; position: sticky; top: 0; z-index: 3; background: #fff; display: flex; align-items: flex-end; }
.rows { grid-column: 1; grid-row: 2; position: sticky; left: 0; z-index: 3; background: #fff; }
.cells { grid-column: 2; grid-row: 2; position: relative; line-height: 0; }
.cells canvas { display: block; cursor: crosshair; }
.rl { height: var(--cs); line-height: var(--cs); font-size: var(--fs); max-width: 170px; padding: 0 4px 0 2px; text-align: right;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.cl { width: var(--cs); max-height: 130px; font-size: var(--fs); line-height: var(--cs); padding: 4px 0; writing-mode: vertical-rl; transform: rotate(180deg);
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; text-align: left; }
.rl:nth-child(even) { background: #f6f8fa; }
.cl:nth-child(even) { background: #f6f8fa; }
.rl.has-fail, .cl.has-fail { color: #8c1d18; }
.rl.mostly-fail, .cl.mostly-fail { color: #b3261e; font-weight: 700; }
.rl.stale { color: #8a6100; }
.rl.hl, .cl.hl { background: #fff8c5; }
.box { position: absolute; left: 0; top: 0; pointer-events: none; }
.hover-box { outline: 2px solid #1f2328; }
.sel-box { outline: 3px solid #0969da; outline-offset: 1px; }
details.failing { margin-top: 8px; }
details.failing summary { cursor: pointer; font-weight: 600; }
details.failing ol { margin: 6px 0 0; padding-left: 24px; max-height: 260px; overflow: auto; font-size: 13px; }
li.o-unreachable::marker { color: #b3261e; }
li.o-closed::marker { color: #e8590c; }

table.agents { border-collapse: collapse; width: 100%; font-size: 13px; }
table.agents caption { text-align: left; color: #57606a; padding-bottom: 6px; }
table.agents th, table.agents td { border-bottom: 1px solid #eaeef2; padding: 3px 8px; text-align: left; white-space: nowrap; }
table.agents thead th { position: sticky; top: 0; background: #f6f8fa; }
table.agents td.num { font-variant-numeric: tabular-nums; }
#agents-body { overflow: auto; max-height: 70vh; }
#agents-all { margin-top: 8px; }

#tip { position: fixed; left: 0; top: 0; z-index: 30; pointer-events: none; max-width: 380px; padding: 6px 9px; border-radius: 4px;
  background: rgba(31, 35, 40, 0.95); color: #fff; font-size: 12px; line-height: 1.5; }
#tip .k { color: #9ea7b3; }
footer { padding: 4px 16px 16px; color: #57606a; font-size: 12px; }
`
