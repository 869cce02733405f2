/**
 * The web page's script (served as `/ui/podflame.js`): reads the agent's JSON API and fills in the page — on-demand
 * profiles (`GET /v1/profiles/recent`), stored profiles (`GET /v1/profiles`), schedules (`GET /v1/schedules`) — and
 * shows a flame graph in an iframe on request. Every value from the API reaches the page as text (textContent,
 * attribute values), never as markup. The SVG of a graph is fetched with the caller's token and shown from a `blob:`
 * URL, so that the graph's own script (zoom, search) runs inside it; content-security-policy.ts explains the policy.
 *
 * Plain browser JavaScript in a string (no build step: tsc only compiles what runs in Node), without template
 * literals, so that it can sit in this String.raw.
 */
export const WEB_PAGE_SCRIPT = String.raw`(function () {
'use strict';

var REFRESH_MS = 10000;
var STORED_SHOWN = 50;
var STORED_SINCE = 'now-24h';
var TOKEN_KEY = 'podflame.token';
var AUTO_KEY = 'podflame.autoRefresh';

// At the agent's root the token goes in Authorization; under a path prefix (the API server's pod proxy, which
// consumes Authorization) in X-Podflame-Authorization, the agent's own header for that path.
var AT_ROOT = window.location.pathname === '/';

var state = { refreshing: false, viewing: null, blobUrl: null, graphAbort: null, lastData: null };

function byId(id) { return document.getElementById(id); }

function storage(key, value) {
  try {
    if (value === undefined) return window.sessionStorage.getItem(key) || '';
    if (value === '') window.sessionStorage.removeItem(key); else window.sessionStorage.setItem(key, value);
  } catch (e) { /* storage disabled: nothing kept */ }
  return '';
}

/** An element with text children only: strings become text nodes, never markup. */
function el(tag, attrs, children) {
  var node = document.createElement(tag);
  if (attrs) {
    Object.keys(attrs).forEach(function (k) {
      if (attrs[k] === undefined || attrs[k] === null || attrs[k] === false) return;
      if (k === 'text') node.textContent = String(attrs[k]);
      else if (k === 'class') node.className = attrs[k];
      else node.setAttribute(k, String(attrs[k]));
    });
  }
  (children || []).forEach(function (c) {
    if (c === undefined || c === null || c === '') return;
    node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  });
  return node;
}

function authHeaders() {
  var token = storage(TOKEN_KEY);
  if (!token) return {};
  return AT_ROOT ? { Authorization: 'Bearer ' + token } : { 'X-Podflame-Authorization': 'Bearer ' + token };
}

function ApiError(status, code, message, details) {
  this.status = status;
  this.code = code;
  this.message = message;
  this.details = details || {};
}

async function request(path, signal) {
  var res;
  try {
    res = await fetch(path, { headers: authHeaders(), cache: 'no-store', credentials: 'omit', signal: signal });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'UNREACHABLE', 'the agent did not answer (' + (e && e.message ? e.message : e) + ')');
  }
  if (res.ok) return res;
  var body = null;
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  var err = body && body.error ? body.error : {};
  throw new ApiError(res.status, err.code || 'HTTP_' + res.status, err.message || res.statusText || 'HTTP ' + res.status,
    err.details);
}

async function getJson(path) {
  return (await request(path)).json();
}

// ---- formatting -------------------------------------------------------------------------------------------------

function pad(n) { return (n < 10 ? '0' : '') + n; }

function localTime(iso) {
  var d = new Date(iso);
  if (isNaN(d.getTime())) return String(iso);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

function relative(iso) {
  var s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (!isFinite(s)) return '';
  var future = s < 0;
  s = Math.abs(s);
  var text = s < 60 ? s + ' s' : s < 3600 ? Math.round(s / 60) + ' min' : s < 86400 ? Math.round(s / 3600) + ' h'
    : Math.round(s / 86400) + ' d';
  return future ? 'in ' + text : text + ' ago';
}

function timeCell(iso) {
  if (!iso) return el('td', { class: 'muted', text: '—' });
  return el('td', { class: 'time', title: iso }, [localTime(iso), el('div', { class: 'sub', text: relative(iso) })]);
}

function number(n) { return typeof n === 'number' ? n.toLocaleString('en-US') : '—'; }

function badge(text, kind, title) { return el('span', { class: 'badge ' + (kind || ''), title: title, text: text }); }

function warningsCell(warnings) {
  var td = el('td', { class: 'warnings' });
  (warnings || []).forEach(function (w) {
    td.appendChild(badge(String(w.code).toLowerCase().replace(/_/g, ' '), 'warn', w.message));
  });
  if (!warnings || warnings.length === 0) td.appendChild(el('span', { class: 'muted', text: 'none' }));
  return td;
}

function targetCell(ns, pod, container, id) {
  var main = [ns, pod].filter(function (x) { return x; }).join('/');
  var sub = [container ? 'container ' + container : '', id ? String(id).replace(/^[a-z-]+:\/\//, '').slice(0, 12) : '']
    .filter(function (x) { return x; }).join(' · ');
  return el('td', { class: 'target' }, [el('div', { class: 'pod', text: main || 'container ' + sub }),
    main ? el('div', { class: 'sub', text: sub }) : null]);
}

// ---- sections ---------------------------------------------------------------------------------------------------

function section(id) {
  var root = byId(id);
  return { root: root, state: root.querySelector('.state'), table: root.querySelector('table'),
    body: root.querySelector('tbody') };
}

/** The section's message (empty state or error) instead of its table, or its rows. */
function showRows(s, rows, empty, error) {
  s.state.textContent = '';
  s.state.className = 'state';
  if (error) {
    s.state.className = 'state error';
    s.state.appendChild(error);
  } else if (rows.length === 0) {
    s.state.className = 'state empty';
    s.state.appendChild(empty);
  }
  s.body.replaceChildren.apply(s.body, rows);
  s.table.hidden = rows.length === 0;
}

/** Text with inline code: ['No profiles yet — run ', {code: 'podflame profile POD'}, '.'] */
function message(parts) {
  var span = el('span');
  parts.forEach(function (p) { span.appendChild(typeof p === 'string' ? document.createTextNode(p) : el('code', { text: p.code })); });
  return span;
}

function errorMessage(err) {
  return message([(err.code ? err.code + ': ' : '') + err.message]);
}

function noStore(err) { return err && err.code === 'NO_STORED_PROFILES' && err.details && err.details.store === false; }

function graphButton(entry, disabledText) {
  if (disabledText) return el('td', { class: 'act' }, [el('button', { type: 'button', disabled: true, text: disabledText })]);
  var button = el('button', { type: 'button', class: 'graph', 'data-key': entry.key, text: 'Flame graph' });
  button.addEventListener('click', function () { showGraph(entry); });
  return el('td', { class: 'act' }, [button]);
}

function row(key, cells) {
  var tr = el('tr', { 'data-key': key }, cells);
  if (state.viewing && state.viewing.key === key) tr.className = 'selected';
  return tr;
}

function renderRecent(result) {
  var s = section('recent');
  if (result.error) return showRows(s, [], null, errorMessage(result.error));
  var rows = result.value.items.map(function (p) {
    var t = p.target || {};
    var statusCell = el('td', {}, [badge(p.status, p.status === 'done' ? 'ok' : p.status === 'failed' ? 'bad' : 'run')]);
    if (p.error) statusCell.appendChild(el('div', { class: 'sub', text: p.error.code + ': ' + p.error.message }));
    var title = [t.namespace, t.podName, t.containerName].filter(function (x) { return x; }).join('/') ||
      'container ' + String(t.containerId).slice(0, 12);
    var entry = { key: 'recent:' + p.id, title: title, url: 'v1/profiles/' + encodeURIComponent(p.id) + '/flamegraph.svg',
      file: 'podflame-' + p.id + '.svg', note: 'On-demand profile ' + p.id + ', started ' + localTime(p.startedAt) };
    return row(entry.key, [
      timeCell(p.startedAt),
      targetCell(t.namespace, t.podName, t.containerName, t.containerId),
      statusCell,
      el('td', { class: 'num', text: p.durationSeconds + ' s' }),
      el('td', { class: 'num', text: p.frequencyHz + ' Hz' }),
      el('td', { class: 'num', text: number(p.samples) }),
      warningsCell(p.warnings),
      graphButton(entry, p.status === 'running' ? 'capturing…' : p.status === 'failed' ? 'no graph' : null),
    ]);
  });
  showRows(s, rows, message(['No captures yet — run ', { code: 'podflame profile POD' },
    ' (or POST /v1/profiles to this agent); the agent keeps its latest ones in memory.']));
}

function renderStored(result) {
  var s = section('stored');
  if (result.error && noStore(result.error)) {
    return showRows(s, [], message(['This agent keeps no stored profiles: start it with ', { code: '--data-dir DIR' },
      ' (and ', { code: '--schedules FILE' }, ') to profile on a schedule.']));
  }
  if (result.error) return showRows(s, [], null, errorMessage(result.error));
  var items = result.value.items.slice().sort(function (a, b) {
    return a.start < b.start ? 1 : a.start > b.start ? -1 : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  });
  var rows = items.slice(0, STORED_SHOWN).map(function (p) {
    var q = new URLSearchParams();
    q.set('namespace', p.namespace);
    q.set('pod', p.pod);
    q.set('container', p.container);
    if (p.schedule !== null) q.set('schedule', p.schedule);
    // One profile: the range [start, start + 1 ms) of its pod and container.
    q.set('from', p.start);
    q.set('to', new Date(new Date(p.start).getTime() + 1).toISOString());
    var entry = { key: 'stored:' + p.id, title: [p.namespace, p.pod, p.container].join('/'),
      url: 'v1/flamegraph?' + q.toString(), file: 'podflame-' + p.id + '.svg',
      note: 'Stored profile ' + p.id + (p.schedule ? ' of schedule ' + p.schedule : '') + ', started ' + localTime(p.start) };
    return row(entry.key, [
      timeCell(p.start),
      targetCell(p.namespace, p.pod, p.container, p.containerId),
      el('td', { class: 'nowrap' }, [p.schedule === null ? el('span', { class: 'muted', text: 'none' }) : p.schedule]),
      el('td', { class: 'num', text: p.durationSeconds + ' s' }),
      el('td', { class: 'num', text: p.frequencyHz + ' Hz' }),
      el('td', { class: 'num', text: number(p.samples) }),
      warningsCell(p.warnings),
      graphButton(entry, null),
    ]);
  });
  showRows(s, rows, message(['No stored profiles in the last 24 hours: they appear after a schedule’s run (',
    { code: 'podflame history' }, ' lists older ones).']));
  if (items.length > STORED_SHOWN) {
    s.state.className = 'state note';
    s.state.appendChild(message(['Showing the ' + STORED_SHOWN + ' newest of ' + items.length +
      ' stored profiles of the last 24 hours; ', { code: 'podflame history' }, ' lists them all.']));
  }
}

var OUTCOME_KIND = { ok: 'ok', partial: 'warn', failed: 'bad', no_targets: 'idle', skipped_overlap: 'idle' };

function renderSchedules(result) {
  var s = section('schedules');
  if (result.error && noStore(result.error)) {
    return showRows(s, [], message(['No schedules: this agent runs without ', { code: '--data-dir' },
      ', so it cannot store scheduled profiles.']));
  }
  if (result.error) return showRows(s, [], null, errorMessage(result.error));
  var rows = result.value.items.map(function (x) {
    var selects = ['namespace ' + x.namespace, x.pod ? 'pod ' + x.pod : '', x.labelSelector ? 'labels ' + x.labelSelector : '',
      x.container ? 'container ' + x.container : ''].filter(function (v) { return v; }).join(', ');
    var last = el('td', { class: 'muted', text: 'not yet' });
    if (x.lastRun) {
      last = el('td', { class: 'time', title: x.lastRun.startedAt }, [
        badge(x.lastRun.outcome.replace(/_/g, ' '), OUTCOME_KIND[x.lastRun.outcome], x.lastRun.error ? x.lastRun.error.message : undefined),
        ' ', localTime(x.lastRun.startedAt),
        el('div', { class: 'sub', text: relative(x.lastRun.startedAt) + ' · ' + x.lastRun.profiles + ' profile' +
          (x.lastRun.profiles === 1 ? '' : 's') + ' of ' + x.lastRun.targets + ' target' + (x.lastRun.targets === 1 ? '' : 's') }),
      ]);
    }
    var c = x.counts;
    var parts = [[c.ok, 'ok'], [c.partial, 'partial'], [c.failed, 'failed'], [c.noTargets, 'no targets'], [c.skipped, 'skipped']]
      .filter(function (p) { return p[0] > 0; }).map(function (p) { return p[0] + ' ' + p[1]; });
    var name = el('td', { class: 'name nowrap' }, [el('div', { class: 'pod', text: x.name }),
      el('div', { class: 'sub' }, [x.source === 'api' ? 'from the API' : 'from the file', x.running ? ' · ' : '',
        x.running ? badge('running', 'run') : null])]);
    return row('schedule:' + x.name, [
      name,
      el('td', {}, [selects, el('div', { class: 'sub', text: x.durationSeconds + ' s at ' + x.frequencyHz + ' Hz' +
        (x.retention ? ', kept ' + x.retention : '') })]),
      el('td', {}, [el('code', { text: x.cron }), x.timezone ? el('div', { class: 'sub', text: x.timezone }) : null]),
      last,
      timeCell(x.nextRun),
      el('td', {}, [number(c.runs) + ' run' + (c.runs === 1 ? '' : 's'), el('div', { class: 'sub', text: parts.join(' · ') })]),
      el('td', { class: 'num', text: number(c.profiles) }),
      x.lastError ? el('td', { class: 'error-cell', title: x.lastError.at },
        [el('div', { text: x.lastError.code }), el('div', { class: 'sub', text: x.lastError.message })])
        : el('td', { class: 'muted', text: 'none' }),
    ]);
  });
  showRows(s, rows, message(['No schedules — add them with ', { code: '--schedules FILE' }, ' or ',
    { code: 'PUT /v1/schedules/NAME' }, '.']));
}

// ---- refresh ------------------------------------------------------------------------------------------------------

function settle(promise) {
  return promise.then(function (value) { return { value: value }; }, function (error) { return { error: error }; });
}

function showBanner(errors) {
  var banner = byId('banner');
  var unauthenticated = errors.some(function (e) { return e && e.status === 401; });
  var limited = errors.some(function (e) { return e && e.status === 429; });
  banner.textContent = '';
  if (unauthenticated) {
    banner.appendChild(message([storage(TOKEN_KEY) ? 'The agent refused this token: ' : 'The agent asks for a token: ',
      'paste a bearer token in the Token field (', { code: 'kubectl create token SERVICE_ACCOUNT' },
      ' with --auth kubernetes, a line of the --token-file with --auth token).']));
  } else if (limited) {
    banner.appendChild(message(['The agent is rate-limiting this caller: turn auto-refresh off or wait a minute.']));
  }
  banner.hidden = !unauthenticated && !limited;
}

async function refresh() {
  if (state.refreshing) return;
  state.refreshing = true;
  byId('refresh').disabled = true;
  try {
    var results = await Promise.all([
      settle(getJson('v1/profiles/recent')),
      // The last day only: a store keeps a week by default, too much to fetch every few seconds.
      settle(getJson('v1/profiles?from=' + STORED_SINCE)),
      settle(getJson('v1/schedules')),
    ]);
    renderRecent(results[0]);
    renderStored(results[1]);
    renderSchedules(results[2]);
    showBanner(results.map(function (r) { return r.error; }));
    var node = results.map(function (r) { return r.value && r.value.node; }).filter(function (n) { return n; })[0];
    if (node) byId('node').textContent = 'node ' + node;
    byId('updated').textContent = 'updated ' + localTime(new Date().toISOString()).slice(11);
  } finally {
    state.refreshing = false;
    byId('refresh').disabled = false;
  }
}

// ---- flame graph viewer -----------------------------------------------------------------------------------------

function markSelected() {
  document.querySelectorAll('tr[data-key]').forEach(function (tr) {
    tr.className = state.viewing && tr.getAttribute('data-key') === state.viewing.key ? 'selected' : '';
  });
}

function releaseGraph() {
  if (state.graphAbort) state.graphAbort.abort();
  state.graphAbort = null;
  if (state.blobUrl) URL.revokeObjectURL(state.blobUrl);
  state.blobUrl = null;
}

function fitFrame() {
  var frame = byId('viewer-frame');
  var doc = frame.contentDocument;
  var root = doc && doc.documentElement;
  var height = root ? parseFloat(root.getAttribute('height')) : NaN;
  var width = root ? parseFloat(root.getAttribute('width')) : NaN;
  if (isFinite(height)) frame.style.height = Math.ceil(height) + 4 + 'px';
  if (isFinite(width)) frame.style.width = Math.ceil(width) + 2 + 'px';
}

async function showGraph(entry) {
  releaseGraph();
  state.viewing = entry;
  markSelected();
  var viewer = byId('viewer');
  var frame = byId('viewer-frame');
  var note = byId('viewer-state');
  viewer.hidden = false;
  byId('viewer-title').textContent = entry.title;
  byId('viewer-note').textContent = entry.note;
  note.className = 'state';
  note.textContent = 'Loading the flame graph…';
  frame.hidden = true;
  byId('viewer-open').removeAttribute('href');
  byId('viewer-download').removeAttribute('href');
  viewer.scrollIntoView({ block: 'start' });
  var abort = new AbortController();
  state.graphAbort = abort;
  try {
    var svg = await (await request(entry.url, abort.signal)).text();
    if (state.viewing !== entry) return;
    state.blobUrl = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
    frame.onload = fitFrame;
    frame.src = state.blobUrl;
    frame.hidden = false;
    byId('viewer-open').href = state.blobUrl;
    byId('viewer-download').href = state.blobUrl;
    byId('viewer-download').setAttribute('download', entry.file);
    note.textContent = 'Hover a frame for its details, click to zoom, Search (or Ctrl-F) to highlight.';
    note.className = 'state hint';
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    note.className = 'state error';
    note.textContent = '';
    note.appendChild(errorMessage(err));
  }
}

function closeGraph() {
  releaseGraph();
  state.viewing = null;
  byId('viewer').hidden = true;
  byId('viewer-frame').removeAttribute('src');
  markSelected();
}

// ---- controls ---------------------------------------------------------------------------------------------------

function showTokenState() {
  var input = byId('token');
  input.value = '';
  input.placeholder = storage(TOKEN_KEY) ? 'token kept for this tab' : 'bearer token (if asked)';
  byId('token-clear').disabled = !storage(TOKEN_KEY);
}

function start() {
  byId('auto-every').textContent = '(' + REFRESH_MS / 1000 + ' s)';
  var auto = byId('auto-refresh');
  auto.checked = storage(AUTO_KEY) !== 'off';
  auto.addEventListener('change', function () { storage(AUTO_KEY, auto.checked ? '' : 'off'); });
  byId('refresh').addEventListener('click', function () { void refresh(); });
  byId('viewer-close').addEventListener('click', closeGraph);
  byId('token-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var value = byId('token').value.trim().replace(/^bearer\s+/i, '');
    if (value) storage(TOKEN_KEY, value);
    showTokenState();
    void refresh();
  });
  byId('token-clear').addEventListener('click', function () {
    storage(TOKEN_KEY, '');
    showTokenState();
    void refresh();
  });
  showTokenState();
  setInterval(function () {
    if (auto.checked && !document.hidden) void refresh();
  }, REFRESH_MS);
  void refresh();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
`;
