import { DASHBOARD_JS } from "./page-script.js";

/**
 * The dashboard page, embedded in the bundle: hand-written HTML and CSS here, the script in
 * page-script.ts. Nothing is loaded from anywhere but this location (the CSP in dashboard.ts
 * enforces it); the icon is an empty data: URL so the browser asks for no /favicon.ico.
 */
export { DASHBOARD_JS };

export function DASHBOARD_HTML(publish: boolean): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pushwire dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="app.css">
</head>
<body data-publish="${publish ? "on" : "off"}">
<header>
  <a class="brand" href="#">pushwire</a>
  <span id="version" class="muted"></span>
  <span id="uptime" class="muted"></span>
  <span id="live" class="badge off">connecting</span>
</header>
<main id="app"></main>
<script src="app.js"></script>
</body>
</html>
`;
}

export const DASHBOARD_CSS = `
:root { --bg: #0f1419; --panel: #171e26; --line: #263140; --text: #d8dee6; --muted: #8b98a8; --accent: #4fb3ff; --good: #3fcf8e; --warn: #f5b942; --bad: #ff6b6b; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { display: flex; gap: 14px; align-items: baseline; padding: 10px 18px; border-bottom: 1px solid var(--line); background: var(--panel); }
.brand { font-weight: 700; font-size: 16px; color: var(--text); text-decoration: none; }
.muted { color: var(--muted); }
.badge { margin-left: auto; padding: 1px 8px; border-radius: 9px; font-size: 12px; border: 1px solid var(--line); }
.badge.on { color: var(--good); border-color: var(--good); }
.badge.off { color: var(--warn); border-color: var(--warn); }
main { padding: 14px 18px; }
h2 { font-size: 14px; margin: 18px 0 8px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
h1 { font-size: 18px; margin: 4px 0 10px; word-break: break-all; white-space: pre-wrap; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; min-height: 62px; }
.card .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; }
.card.wide { grid-column: span 2; }
.kv { display: grid; grid-template-columns: 1fr auto; gap: 0 10px; font-variant-numeric: tabular-nums; }
.bar { height: 6px; background: var(--line); border-radius: 3px; margin-top: 6px; overflow: hidden; }
.bar > div { height: 100%; background: var(--accent); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 10px; }
.chart { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px 4px; }
.chart .head { display: flex; justify-content: space-between; gap: 8px; }
.chart .now { font-variant-numeric: tabular-nums; font-weight: 600; }
.chart svg { display: block; width: 100%; height: 64px; }
.legend { display: flex; flex-wrap: wrap; gap: 8px; font-size: 11px; color: var(--muted); min-height: 15px; }
.legend i { display: inline-block; width: 8px; height: 8px; border-radius: 2px; margin-right: 3px; }
table { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; white-space: pre-wrap; word-break: break-all; }
a { color: var(--accent); }
td a { word-break: break-all; white-space: pre-wrap; }
input, textarea, button { font: inherit; color: var(--text); background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: 4px 8px; }
button { cursor: pointer; background: #1d2a38; }
button:hover { border-color: var(--accent); }
.toolbar { display: flex; gap: 8px; align-items: center; margin: 8px 0; }
.toolbar input { width: 320px; }
.split { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.log { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; max-height: 260px; overflow: auto; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.log div { white-space: pre-wrap; word-break: break-all; border-bottom: 1px dashed var(--line); padding: 2px 0; }
.empty { color: var(--muted); font-style: italic; }
textarea { width: 100%; min-height: 60px; }
`;
