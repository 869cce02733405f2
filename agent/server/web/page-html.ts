/**
 * The web page at `GET /`: a static shell, filled in by browser/page.ts from the JSON API. No inline script or style
 * (the page's Content-Security-Policy allows neither), and relative URLs only, so that the page also works under a
 * path prefix such as the API server's pod proxy (`/api/v1/namespaces/NS/pods/POD:http/proxy/`).
 */
import { WEB_ASSETS } from './assets.js';

export const WEB_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>podflame agent</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${WEB_ASSETS.style.path.slice(1)}">
<script src="${WEB_ASSETS.script.path.slice(1)}" defer></script>
</head>
<body>
<header class="bar">
  <div class="brand"><span class="logo" aria-hidden="true"></span><h1>podflame</h1><span id="node" class="node"></span></div>
  <div class="controls">
    <form id="token-form" class="token" autocomplete="off">
      <label for="token">Token</label>
      <input id="token" type="password" placeholder="bearer token (if asked)" spellcheck="false">
      <button type="submit">Use</button>
      <button type="button" id="token-clear" class="quiet">Forget</button>
    </form>
    <label class="auto"><input type="checkbox" id="auto-refresh" checked> auto-refresh <span id="auto-every"></span></label>
    <button type="button" id="refresh">Refresh</button>
    <span id="updated" class="muted" aria-live="polite"></span>
  </div>
</header>
<div id="banner" class="banner" role="alert" hidden></div>
<main>
  <section id="viewer" class="card" hidden>
    <div class="card-head">
      <h2 id="viewer-title">Flame graph</h2>
      <div class="actions">
        <a id="viewer-open" target="_blank" rel="noopener">Open in a new tab</a>
        <a id="viewer-download" download="flamegraph.svg">Download SVG</a>
        <button type="button" id="viewer-close" class="quiet">Close</button>
      </div>
    </div>
    <p id="viewer-note" class="muted"></p>
    <p id="viewer-state" class="state"></p>
    <div class="frame-box"><iframe id="viewer-frame" title="flame graph" hidden></iframe></div>
  </section>
  <section id="recent" class="card">
    <div class="card-head"><h2>Recent captures</h2><span class="muted">on demand and by schedules, kept in memory by this agent, newest first</span></div>
    <p class="state"></p>
    <table hidden>
      <thead><tr><th>Started</th><th>Target</th><th>Status</th><th>Event</th><th class="num">Duration</th><th class="num">Frequency</th><th class="num" title="samples; bytes for alloc, time for lock">Total</th><th>Warnings</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="stored" class="card">
    <div class="card-head"><h2>Stored profiles</h2><span class="muted">node-local store, taken by schedules, newest first</span></div>
    <form id="query" class="query" autocomplete="off">
      <label>Range <select id="q-range">
        <option value="15m">last 15 minutes</option>
        <option value="1h">last hour</option>
        <option value="24h" selected>last 24 hours</option>
        <option value="7d">last 7 days</option>
        <option value="custom">custom…</option>
      </select></label>
      <span id="q-custom" class="custom" hidden><label>from <input type="datetime-local" id="q-from" step="1"></label><label>to <input type="datetime-local" id="q-to" step="1"></label></span>
      <label>Namespace <select id="q-namespace"><option value="">all</option></select></label>
      <label>Pod <select id="q-pod"><option value="">all</option></select></label>
      <label>Schedule <select id="q-schedule"><option value="">all</option></select></label>
      <label>Event <select id="q-event"><option value="">all</option></select></label>
      <div class="query-actions">
        <button type="button" id="q-merge" disabled>Merged graph</button>
        <span class="diff"><button type="button" id="q-diff" disabled>Diff</button> against
          <select id="q-base" aria-label="baseline"><option value="previous" selected>the period before</option><option value="custom">a custom baseline…</option></select>
          <span id="q-base-custom" class="custom" hidden><label>from <input type="datetime-local" id="q-base-from" step="1"></label><label>to <input type="datetime-local" id="q-base-to" step="1"></label></span>
        </span>
        <span id="q-summary" class="muted" aria-live="polite"></span>
      </div>
    </form>
    <p class="state"></p>
    <table hidden>
      <thead><tr><th>Started</th><th>Target</th><th>Schedule</th><th>Event</th><th class="num">Duration</th><th class="num">Frequency</th><th class="num" title="samples; bytes for alloc, time for lock">Total</th><th>Warnings</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="schedules" class="card">
    <div class="card-head"><h2>Schedules</h2><span class="muted">continuous profiling on this node</span></div>
    <p class="state"></p>
    <table hidden>
      <thead><tr><th>Name</th><th>Selects</th><th>Cron</th><th>Last run</th><th>Next run</th><th>Runs</th><th class="num">Profiles</th><th>Last error</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<footer class="muted">podflame agent · <a href="v1/openapi.json">API (OpenAPI)</a> · <a href="readyz">readiness</a> · <a href="metrics">metrics</a></footer>
</body>
</html>
`;
