/*
 * podflame's web page script (served as /ui/podflame.js): reads the agent's JSON API and fills in the page —
 * on-demand profiles (GET /v1/profiles/recent), stored profiles of a time range and filters (GET /v1/profiles),
 * schedules (GET /v1/schedules) — and shows a flame graph in an iframe on request: one profile's, the merged graph of
 * the selection (GET /v1/flamegraph) or a diff of two ranges of it (GET /v1/diff). Every value from the API reaches the page as text (textContent,
 * attribute values), never as markup. The SVG of a graph is fetched with the caller's token and shown from a blob:
 * URL, so that the graph's own script (zoom, search) runs inside it.
 */
'use strict';
import type { CaptureWarning, ProfileMetadata, RecentProfilesResponse } from '../../../../shared/api.js';
import type { ProfileEvent } from '../../../../shared/profile-events.js';
import { formatBytes, formatCount, formatDuration } from '../../../../shared/format-numbers.js';
import type {
  ProfileListResponse,
  ScheduleListResponse,
  ScheduleRunOutcome,
  StoredProfile,
} from '../../../../shared/history.js';

const REFRESH_MS = 10000;
const STORED_SHOWN = 50;
/** The ranges the Range menu offers, as its option values: their length in ms. */
const RANGES: Record<string, number> = { '15m': 15 * 60e3, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };
const EVENTS: ProfileEvent[] = ['cpu', 'alloc', 'lock', 'wall'];
const TOKEN_KEY = 'podflame.token';
const AUTO_KEY = 'podflame.autoRefresh';

// At the agent's root the token goes in Authorization; under a path prefix (the API server's pod proxy, which
// consumes Authorization) in X-Podflame-Authorization, the agent's own header for that path.
const AT_ROOT = window.location.pathname === '/';

/** A flame graph the page can show: its row's key, the API URL of its SVG and how it is labelled. */
interface GraphEntry {
  key: string;
  title: string;
  url: string;
  file: string;
  note: string;
}

const state: {
  refreshing: boolean;
  /** A refresh was asked for while one ran (a filter changed): run another when it ends, with the new query. */
  again: boolean;
  viewing: GraphEntry | null;
  blobUrl: string | null;
  graphAbort: AbortController | null;
} = { refreshing: false, again: false, viewing: null, blobUrl: null, graphAbort: null };

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`podflame page: no #${id}`);
  return node as T;
}

function storage(key: string, value?: string): string {
  try {
    if (value === undefined) return window.sessionStorage.getItem(key) || '';
    if (value === '') window.sessionStorage.removeItem(key);
    else window.sessionStorage.setItem(key, value);
  } catch {
    // storage disabled: nothing kept
  }
  return '';
}

type Attributes = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | number | null | undefined;

/** An element with text children only: strings become text nodes, never markup. */
function el(tag: string, attrs?: Attributes, children?: Child[]): HTMLElement {
  const node = document.createElement(tag);
  if (attrs) {
    Object.keys(attrs).forEach(function (k) {
      const v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') node.textContent = String(v);
      else if (k === 'class') node.className = String(v);
      else node.setAttribute(k, String(v));
    });
  }
  (children || []).forEach(function (c) {
    if (c === undefined || c === null || c === '') return;
    node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  });
  return node;
}

function authHeaders(): Record<string, string> {
  const token = storage(TOKEN_KEY);
  if (!token) return {};
  return AT_ROOT ? { Authorization: 'Bearer ' + token } : { 'X-Podflame-Authorization': 'Bearer ' + token };
}

/** What a failed request says: the agent's `{error: {code, message, details}}`, or why there was no answer. */
interface Failure {
  /** HTTP status; 0 when the agent did not answer. */
  status?: number;
  code?: string;
  message: string;
  details?: Record<string, unknown>;
}

class ApiError implements Failure {
  status: number;
  code: string;
  message: string;
  details: Record<string, unknown>;
  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.details = details || {};
  }
}

/** What fetch throws when its request is aborted (a DOMException). */
function isAbort(e: unknown): boolean {
  return !!e && (e as { name?: unknown }).name === 'AbortError';
}

async function request(path: string, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, { headers: authHeaders(), cache: 'no-store', credentials: 'omit', signal: signal });
  } catch (e) {
    if (isAbort(e)) throw e;
    const why = e && (e as { message?: unknown }).message ? (e as { message: unknown }).message : e;
    throw new ApiError(0, 'UNREACHABLE', 'the agent did not answer (' + why + ')');
  }
  if (res.ok) return res;
  let body: { error?: Partial<Failure> } | null = null;
  try {
    body = await res.json();
  } catch {
    // not JSON
  }
  const err: Partial<Failure> = body && body.error ? body.error : {};
  throw new ApiError(
    res.status,
    err.code || 'HTTP_' + res.status,
    err.message || res.statusText || 'HTTP ' + res.status,
    err.details,
  );
}

async function getJson<T>(path: string): Promise<T> {
  return (await request(path)).json();
}

// ---- formatting -------------------------------------------------------------------------------------------------

function pad(n: number): string {
  return (n < 10 ? '0' : '') + n;
}

function localTime(iso: string): string {
  const d = new Date(iso);
  if (isNaN(d.getTime())) return String(iso);
  return (
    d.getFullYear() +
    '-' +
    pad(d.getMonth() + 1) +
    '-' +
    pad(d.getDate()) +
    ' ' +
    pad(d.getHours()) +
    ':' +
    pad(d.getMinutes()) +
    ':' +
    pad(d.getSeconds())
  );
}

function relative(iso: string): string {
  let s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (!isFinite(s)) return '';
  const future = s < 0;
  s = Math.abs(s);
  const text =
    s < 60
      ? s + ' s'
      : s < 3600
        ? Math.round(s / 60) + ' min'
        : s < 86400
          ? Math.round(s / 3600) + ' h'
          : Math.round(s / 86400) + ' d';
  return future ? 'in ' + text : text + ' ago';
}

function timeCell(iso: string | null | undefined): HTMLElement {
  if (!iso) return el('td', { class: 'muted', text: '—' });
  return el('td', { class: 'time', title: iso }, [localTime(iso), el('div', { class: 'sub', text: relative(iso) })]);
}

function number(n: unknown): string {
  return typeof n === 'number' ? formatCount(n) : '—';
}

/**
 * A profile's total in its event's unit: samples as a count, bytes and blocked time as people read them, in the
 * words of the graphs' subtitles (shared/format-numbers.ts, shared/profile-events.ts `describeTotal`).
 */
function weight(event: ProfileEvent | undefined, n: unknown): string {
  if (typeof n !== 'number') return '—';
  if (event === 'alloc') return formatBytes(n);
  if (event === 'lock') return formatDuration(n / 1e9);
  return number(n);
}

/** Whether the event is sampled at a frequency (cpu, wall); alloc and lock are weighted (shared/event-options.ts). */
function sampled(event: string | undefined): boolean {
  return !event || event === 'cpu' || event === 'wall';
}

function frequency(event: string | undefined, hz: number): string {
  return sampled(event) ? hz + ' Hz' : '—';
}

/** The event cell: what the profile counts, and the unit of its Samples column. */
function eventCell(event: ProfileEvent | undefined): HTMLElement {
  const e = event || 'cpu';
  const unit = e === 'alloc' ? 'bytes allocated' : e === 'lock' ? 'time blocked' : 'samples';
  return el('td', { class: 'nowrap', title: unit, text: e });
}

function badge(text: string, kind?: string, title?: string): HTMLElement {
  return el('span', { class: 'badge ' + (kind || ''), title: title, text: text });
}

function warningsCell(warnings: CaptureWarning[] | undefined): HTMLElement {
  const td = el('td', { class: 'warnings' });
  (warnings || []).forEach(function (w) {
    td.appendChild(badge(String(w.code).toLowerCase().replace(/_/g, ' '), 'warn', w.message));
  });
  if (!warnings || warnings.length === 0) td.appendChild(el('span', { class: 'muted', text: 'none' }));
  return td;
}

function targetCell(
  ns: string | undefined,
  pod: string | undefined,
  container: string | undefined,
  id: string | null | undefined,
): HTMLElement {
  const main = [ns, pod]
    .filter(function (x) {
      return x;
    })
    .join('/');
  const sub = [
    container ? 'container ' + container : '',
    id
      ? String(id)
          .replace(/^[a-z-]+:\/\//, '')
          .slice(0, 12)
      : '',
  ]
    .filter(function (x) {
      return x;
    })
    .join(' · ');
  return el('td', { class: 'target' }, [
    // Outside a pod the container's line is the heading; it says "container" already when it has a name.
    el('div', { class: 'pod', text: main || (container ? sub : 'container ' + sub) }),
    main ? el('div', { class: 'sub', text: sub }) : null,
  ]);
}

// ---- sections ---------------------------------------------------------------------------------------------------

interface Section {
  root: HTMLElement;
  state: HTMLElement;
  table: HTMLTableElement;
  body: HTMLTableSectionElement;
}

function section(id: string): Section {
  const root = byId(id);
  return {
    root: root,
    state: root.querySelector('.state') as HTMLElement,
    table: root.querySelector('table') as HTMLTableElement,
    body: root.querySelector('tbody') as HTMLTableSectionElement,
  };
}

/** The section's message (empty state or error) instead of its table, or its rows. */
function showRows(s: Section, rows: HTMLElement[], empty: Node | null, error?: Node): void {
  s.state.textContent = '';
  s.state.className = 'state';
  if (error) {
    s.state.className = 'state error';
    s.state.appendChild(error);
  } else if (rows.length === 0 && empty) {
    s.state.className = 'state empty';
    s.state.appendChild(empty);
  }
  s.body.replaceChildren(...rows);
  s.table.hidden = rows.length === 0;
}

/** Text with inline code: ['No profiles yet — run ', {code: 'podflame profile POD'}, '.'] */
function message(parts: (string | { code: string })[]): HTMLElement {
  const span = el('span');
  parts.forEach(function (p) {
    span.appendChild(typeof p === 'string' ? document.createTextNode(p) : el('code', { text: p.code }));
  });
  return span;
}

function errorMessage(err: Failure): HTMLElement {
  return message([(err.code ? err.code + ': ' : '') + err.message]);
}

function noStore(err: Failure | undefined): boolean {
  return !!err && err.code === 'NO_STORED_PROFILES' && !!err.details && err.details.store === false;
}

function graphButton(entry: GraphEntry, disabledText: string | null): HTMLElement {
  if (disabledText) {
    return el('td', { class: 'act' }, [el('button', { type: 'button', disabled: true, text: disabledText })]);
  }
  const button = el('button', { type: 'button', class: 'graph', 'data-key': entry.key, text: 'Flame graph' });
  button.addEventListener('click', function () {
    void showGraph(entry);
  });
  return el('td', { class: 'act' }, [button]);
}

function row(key: string, cells: HTMLElement[]): HTMLElement {
  const tr = el('tr', { 'data-key': key }, cells);
  if (state.viewing && state.viewing.key === key) tr.className = 'selected';
  return tr;
}

/** An API answer, or why there is none (what `request` throws). */
type Settled<T> = { value: T; error?: undefined } | { value?: undefined; error: Failure };

function renderRecent(result: Settled<RecentProfilesResponse>): void {
  const s = section('recent');
  if (result.error) return showRows(s, [], null, errorMessage(result.error));
  const rows = result.value.items.map(function (p: ProfileMetadata) {
    const t = p.target || {};
    const statusCell = el('td', {}, [
      badge(p.status, p.status === 'done' ? 'ok' : p.status === 'failed' ? 'bad' : 'run'),
    ]);
    if (p.error) statusCell.appendChild(el('div', { class: 'sub', text: p.error.code + ': ' + p.error.message }));
    if (p.schedule) statusCell.appendChild(el('div', { class: 'sub', text: 'schedule ' + p.schedule.name }));
    const title =
      [t.namespace, t.podName, t.containerName]
        .filter(function (x) {
          return x;
        })
        .join('/') || 'container ' + String(t.containerId).slice(0, 12);
    const entry: GraphEntry = {
      key: 'recent:' + p.id,
      title: title,
      url: 'v1/profiles/' + encodeURIComponent(p.id) + '/flamegraph.svg',
      file: 'podflame-' + p.id + '.svg',
      note:
        (p.schedule ? 'Scheduled profile ' : 'On-demand profile ') +
        p.id +
        (p.schedule ? ' of schedule ' + p.schedule.namespace + '/' + p.schedule.name : '') +
        ', started ' +
        localTime(p.startedAt),
    };
    return row(entry.key, [
      timeCell(p.startedAt),
      targetCell(t.namespace, t.podName, t.containerName, t.containerId),
      statusCell,
      eventCell(p.event),
      el('td', { class: 'num', text: p.durationSeconds + ' s' }),
      el('td', { class: 'num', text: frequency(p.event, p.frequencyHz) }),
      // A running capture has counted nothing yet: its 0 would read as an empty profile.
      p.status === 'running'
        ? el('td', { class: 'num muted', text: 'running…' })
        : el('td', { class: 'num', text: weight(p.event, p.samples) }),
      warningsCell(p.warnings),
      graphButton(entry, p.status === 'running' ? 'capturing…' : p.status === 'failed' ? 'no graph' : null),
    ]);
  });
  showRows(
    s,
    rows,
    message([
      'No captures yet — run ',
      { code: 'podflame profile POD' },
      ' (or POST /v1/profiles to this agent); the agent keeps its latest ones in memory.',
    ]),
  );
}

// ---- stored profiles: the query ---------------------------------------------------------------------------------

/** The time range and filters of the Stored profiles section, as its controls say them now. */
interface Query {
  /** The range, ISO 8601, `to` exclusive; for a preset, up to the moment it was read. */
  from: string;
  to: string;
  /** What the range is called in messages: "the last 24 hours", or its dates. */
  label: string;
  namespace: string;
  pod: string;
  /** `namespace/name` of a schedule, or '' for any. */
  schedule: string;
  event: ProfileEvent | '';
}

/** A `<input type="datetime-local">` value (local time) as a Date; invalid when empty. */
function localInput(id: string): Date {
  const value = byId<HTMLInputElement>(id).value;
  return value ? new Date(value) : new Date(NaN);
}

/** A Date as a `datetime-local` value, local time to the second. */
function toLocalInput(d: Date): string {
  return localTime(d.toISOString()).replace(' ', 'T');
}

function selected(id: string): string {
  return byId<HTMLSelectElement>(id).value;
}

/** The query the controls describe, or why they describe none (a custom range that is empty or backwards). */
function readQuery(): { query: Query; error?: undefined } | { query?: undefined; error: string } {
  const range = selected('q-range');
  let from: Date;
  let to: Date;
  let label: string;
  if (range === 'custom') {
    from = localInput('q-from');
    to = localInput('q-to');
    if (isNaN(from.getTime()) || isNaN(to.getTime())) return { error: 'Give the custom range a start and an end.' };
    if (from.getTime() >= to.getTime()) return { error: 'The custom range starts after it ends: swap its ends.' };
    label = localTime(from.toISOString()) + ' to ' + localTime(to.toISOString());
  } else {
    to = new Date();
    from = new Date(to.getTime() - (RANGES[range] ?? 86400e3));
    const option = byId<HTMLSelectElement>('q-range').selectedOptions[0];
    label = option ? option.text : range;
  }
  return {
    query: {
      from: from.toISOString(),
      to: to.toISOString(),
      label: label,
      namespace: selected('q-namespace'),
      pod: selected('q-pod'),
      schedule: selected('q-schedule'),
      event: selected('q-event') as ProfileEvent | '',
    },
  };
}

function matches(q: Query, p: StoredProfile): boolean {
  return (
    (!q.namespace || p.namespace === q.namespace) &&
    (!q.pod || p.pod === q.pod) &&
    (!q.schedule || (p.schedule !== null && p.namespace + '/' + p.schedule === q.schedule)) &&
    (!q.event || (p.event || 'cpu') === q.event)
  );
}

/** The query's filters as API parameters; a schedule names its namespace too (one schedule, never ambiguous). */
function filterParams(q: Query, event: ProfileEvent): URLSearchParams {
  const params = new URLSearchParams();
  const slash = q.schedule.indexOf('/');
  const namespace = q.namespace || (slash > 0 ? q.schedule.slice(0, slash) : '');
  if (namespace) params.set('namespace', namespace);
  if (q.pod) params.set('pod', q.pod);
  if (slash > 0) params.set('schedule', q.schedule.slice(slash + 1));
  params.set('event', event);
  return params;
}

/** Merges and diffs are of one event: the filter's, else cpu (as the API's default). */
function graphEvent(q: Query): ProfileEvent {
  return q.event || 'cpu';
}

/** Fills a filter menu with `values` (sorted, unique), keeping what was chosen even when the range has none of it. */
function fillMenu(id: string, values: { value: string; text: string }[]): void {
  const menu = byId<HTMLSelectElement>(id);
  const current = menu.value;
  const seen: Record<string, boolean> = {};
  const options = [el('option', { value: '', text: 'all' })];
  values
    .slice()
    .sort(function (a, b) {
      return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
    })
    .concat(current && !values.some((v) => v.value === current) ? [{ value: current, text: current }] : [])
    .forEach(function (v) {
      if (seen[v.value]) return;
      seen[v.value] = true;
      options.push(el('option', { value: v.value, text: v.text }));
    });
  menu.replaceChildren(...options);
  menu.value = current;
}

function fillMenus(items: StoredProfile[], q: Query): void {
  fillMenu(
    'q-namespace',
    items.map((p) => ({ value: p.namespace, text: p.namespace })),
  );
  fillMenu(
    'q-pod',
    items.filter((p) => !q.namespace || p.namespace === q.namespace).map((p) => ({ value: p.pod, text: p.pod })),
  );
  fillMenu(
    'q-schedule',
    items
      .filter((p) => p.schedule !== null && (!q.namespace || p.namespace === q.namespace))
      .map((p) => ({ value: p.namespace + '/' + p.schedule, text: p.schedule + ' (' + p.namespace + ')' })),
  );
}

/** The baseline of a diff: the same length just before the range, or the custom one. */
function baseRange(q: Query): { from: string; to: string; error?: undefined } | { error: string } {
  if (selected('q-base') === 'custom') {
    const from = localInput('q-base-from');
    const to = localInput('q-base-to');
    if (isNaN(from.getTime()) || isNaN(to.getTime())) return { error: 'Give the baseline a start and an end.' };
    if (from.getTime() >= to.getTime()) return { error: 'The baseline starts after it ends: swap its ends.' };
    return { from: from.toISOString(), to: to.toISOString() };
  }
  const fromMs = new Date(q.from).getTime();
  const length = new Date(q.to).getTime() - fromMs;
  return { from: new Date(fromMs - length).toISOString(), to: q.from };
}

function describeFilters(q: Query): string {
  const parts = [
    q.namespace ? 'namespace ' + q.namespace : '',
    q.pod ? 'pod ' + q.pod : '',
    q.schedule ? 'schedule ' + q.schedule : '',
  ].filter((x) => x);
  return parts.length > 0 ? parts.join(', ') : 'every namespace';
}

/** The merged graph of what the query selects. */
function mergedEntry(q: Query, count: number): GraphEntry {
  const event = graphEvent(q);
  const params = filterParams(q, event);
  params.set('from', q.from);
  params.set('to', q.to);
  return {
    key: 'merged',
    title: 'Merged ' + event + ' graph: ' + describeFilters(q),
    url: 'v1/flamegraph?' + params.toString(),
    file: 'podflame-merged.svg',
    note:
      formatCount(count) +
      ' ' +
      event +
      ' profile' +
      (count === 1 ? '' : 's') +
      ' of ' +
      q.label +
      ' (' +
      localTime(q.from) +
      ' to ' +
      localTime(q.to) +
      ') merged into one graph',
  };
}

/** The diff of the query's range (comparison) against its baseline. */
function diffEntry(q: Query, base: { from: string; to: string }): GraphEntry {
  const event = graphEvent(q);
  const params = filterParams(q, event);
  params.set('baseFrom', base.from);
  params.set('baseTo', base.to);
  params.set('targetFrom', q.from);
  params.set('targetTo', q.to);
  return {
    key: 'diff',
    title: 'Diff of ' + event + ': ' + describeFilters(q),
    url: 'v1/diff?' + params.toString(),
    file: 'podflame-diff.svg',
    note:
      'Comparison ' +
      localTime(q.from) +
      ' to ' +
      localTime(q.to) +
      ' against the baseline ' +
      localTime(base.from) +
      ' to ' +
      localTime(base.to) +
      ': red grew, blue shrank (the baseline scaled to the comparison’s total).',
  };
}

/** The query the table shows, for the Merged graph and Diff buttons. */
const shown: { query: Query | null; count: number } = { query: null, count: 0 };

function renderStored(q: Query, result: Settled<ProfileListResponse>): void {
  const s = section('stored');
  shown.query = null;
  shown.count = 0;
  byId<HTMLButtonElement>('q-merge').disabled = true;
  byId<HTMLButtonElement>('q-diff').disabled = true;
  byId('q-summary').textContent = '';
  if (result.error && noStore(result.error)) {
    byId('query').hidden = true;
    return showRows(
      s,
      [],
      message([
        'This agent keeps no stored profiles: start it with ',
        { code: '--data-dir DIR' },
        ' (and ',
        { code: '--schedules FILE' },
        ') to profile on a schedule.',
      ]),
    );
  }
  byId('query').hidden = false;
  if (result.error) return showRows(s, [], null, errorMessage(result.error));
  fillMenus(result.value.items, q);
  const items = result.value.items
    .filter(function (p) {
      return matches(q, p);
    })
    .sort(function (a, b) {
      return a.start < b.start ? 1 : a.start > b.start ? -1 : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
    });
  const event = graphEvent(q);
  const mergeable = items.filter(function (p) {
    return (p.event || 'cpu') === event;
  }).length;
  shown.query = q;
  shown.count = mergeable;
  byId<HTMLButtonElement>('q-merge').disabled = mergeable === 0;
  byId<HTMLButtonElement>('q-diff').disabled = mergeable === 0;
  byId('q-summary').textContent =
    formatCount(items.length) +
    ' profile' +
    (items.length === 1 ? '' : 's') +
    (mergeable === items.length ? '' : ', ' + formatCount(mergeable) + ' of them ' + event);
  const rows = items.slice(0, STORED_SHOWN).map(function (p: StoredProfile) {
    const one = new URLSearchParams();
    one.set('namespace', p.namespace);
    one.set('pod', p.pod);
    one.set('container', p.container);
    if (p.schedule !== null) one.set('schedule', p.schedule);
    // Merges are of one event, cpu unless asked: an allocation profile's graph needs its own.
    one.set('event', p.event || 'cpu');
    // One profile: the range [start, start + 1 ms) of its pod and container.
    one.set('from', p.start);
    one.set('to', new Date(new Date(p.start).getTime() + 1).toISOString());
    const entry: GraphEntry = {
      key: 'stored:' + p.id,
      title: [p.namespace, p.pod, p.container].join('/'),
      url: 'v1/flamegraph?' + one.toString(),
      file: 'podflame-' + p.id + '.svg',
      note:
        'Stored profile ' + p.id + (p.schedule ? ' of schedule ' + p.schedule : '') + ', started ' + localTime(p.start),
    };
    return row(entry.key, [
      timeCell(p.start),
      targetCell(p.namespace, p.pod, p.container, p.containerId),
      el('td', { class: 'nowrap' }, [p.schedule === null ? el('span', { class: 'muted', text: 'none' }) : p.schedule]),
      eventCell(p.event),
      el('td', { class: 'num', text: p.durationSeconds + ' s' }),
      el('td', { class: 'num', text: frequency(p.event, p.frequencyHz) }),
      el('td', { class: 'num', text: weight(p.event, p.samples) }),
      warningsCell(p.warnings),
      graphButton(entry, null),
    ]);
  });
  showRows(
    s,
    rows,
    message([
      'No stored profiles of ' +
        q.label +
        (result.value.items.length > 0 ? ' match the filters' : '') +
        ': they appear after a schedule’s run (',
      { code: 'podflame history' },
      ' lists the whole cluster).',
    ]),
  );
  if (items.length > STORED_SHOWN) {
    s.state.className = 'state note';
    s.state.appendChild(
      message([
        'Showing the ' + STORED_SHOWN + ' newest of ' + formatCount(items.length) + ' stored profiles; the merged ',
        'graph and the diff take them all.',
      ]),
    );
  }
}

function showQueryError(text: string): void {
  const s = section('stored');
  shown.query = null;
  byId<HTMLButtonElement>('q-merge').disabled = true;
  byId<HTMLButtonElement>('q-diff').disabled = true;
  showRows(s, [], null, message([text]));
}

const OUTCOME_KIND: Record<ScheduleRunOutcome, string> = {
  ok: 'ok',
  partial: 'warn',
  failed: 'bad',
  no_targets: 'idle',
  skipped_overlap: 'idle',
};

function renderSchedules(result: Settled<ScheduleListResponse>): void {
  const s = section('schedules');
  if (result.error && noStore(result.error)) {
    return showRows(
      s,
      [],
      message([
        'No schedules: this agent runs without ',
        { code: '--data-dir' },
        ', so it cannot store scheduled profiles.',
      ]),
    );
  }
  if (result.error) return showRows(s, [], null, errorMessage(result.error));
  const rows = result.value.items.map(function (x) {
    const selects = [
      'namespace ' + x.namespace,
      x.pod ? 'pod ' + x.pod : '',
      x.labelSelector ? 'labels ' + x.labelSelector : '',
      x.container ? 'container ' + x.container : '',
    ]
      .filter(function (v) {
        return v;
      })
      .join(', ');
    let last = el('td', { class: 'muted', text: 'not yet' });
    if (x.lastRun) {
      last = el('td', { class: 'time', title: x.lastRun.startedAt }, [
        badge(
          x.lastRun.outcome.replace(/_/g, ' '),
          OUTCOME_KIND[x.lastRun.outcome],
          x.lastRun.error ? x.lastRun.error.message : undefined,
        ),
        ' ',
        localTime(x.lastRun.startedAt),
        el('div', {
          class: 'sub',
          text:
            relative(x.lastRun.startedAt) +
            ' · ' +
            x.lastRun.profiles +
            ' profile' +
            (x.lastRun.profiles === 1 ? '' : 's') +
            ' of ' +
            x.lastRun.targets +
            ' target' +
            (x.lastRun.targets === 1 ? '' : 's'),
        }),
      ]);
    }
    const c = x.counts;
    const counted: [number, string][] = [
      [c.ok, 'ok'],
      [c.partial, 'partial'],
      [c.failed, 'failed'],
      [c.noTargets, 'no targets'],
      [c.skipped, 'skipped'],
    ];
    const parts = counted
      .filter(function (p) {
        return p[0] > 0;
      })
      .map(function (p) {
        return p[0] + ' ' + p[1];
      });
    const name = el('td', { class: 'name nowrap' }, [
      el('div', { class: 'pod', text: x.name }),
      el('div', { class: 'sub' }, [
        x.source === 'api' ? 'from the API' : 'from the file',
        x.running ? ' · ' : '',
        x.running ? badge('running', 'run') : null,
      ]),
    ]);
    return row('schedule:' + x.namespace + '/' + x.name, [
      name,
      el('td', {}, [
        selects,
        el('div', {
          class: 'sub',
          text:
            (x.event && x.event !== 'cpu' ? x.event + ', ' : '') +
            x.durationSeconds +
            ' s' +
            (sampled(x.event) ? ' at ' + x.frequencyHz + ' Hz' : '') +
            (x.retention ? ', kept ' + x.retention : ''),
        }),
      ]),
      el('td', {}, [el('code', { text: x.cron }), x.timezone ? el('div', { class: 'sub', text: x.timezone }) : null]),
      last,
      timeCell(x.nextRun),
      el('td', {}, [
        number(c.runs) + ' run' + (c.runs === 1 ? '' : 's'),
        el('div', { class: 'sub', text: parts.join(' · ') }),
      ]),
      el('td', { class: 'num', text: number(c.profiles) }),
      x.lastError
        ? el('td', { class: 'error-cell', title: x.lastError.at }, [
            el('div', { text: x.lastError.code }),
            el('div', { class: 'sub', text: x.lastError.message }),
          ])
        : el('td', { class: 'muted', text: 'none' }),
    ]);
  });
  showRows(
    s,
    rows,
    message([
      'No schedules — add them with ',
      { code: '--schedules FILE' },
      ' or ',
      { code: 'PUT /v1/schedules/NAME' },
      '.',
    ]),
  );
}

// ---- refresh ------------------------------------------------------------------------------------------------------

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    function (value) {
      return { value: value };
    },
    function (error: Failure) {
      return { error: error };
    },
  );
}

function showBanner(errors: (Failure | undefined)[]): void {
  const banner = byId('banner');
  const unauthenticated = errors.some(function (e) {
    return e && e.status === 401;
  });
  const limited = errors.some(function (e) {
    return e && e.status === 429;
  });
  banner.textContent = '';
  if (unauthenticated) {
    banner.appendChild(
      message([
        storage(TOKEN_KEY) ? 'The agent refused this token: ' : 'The agent asks for a token: ',
        'paste a bearer token in the Token field (',
        { code: 'kubectl create token SERVICE_ACCOUNT' },
        ' with --auth kubernetes, a line of the --token-file with --auth token).',
      ]),
    );
  } else if (limited) {
    banner.appendChild(message(['The agent is rate-limiting this caller: turn auto-refresh off or wait a minute.']));
  }
  banner.hidden = !unauthenticated && !limited;
}

async function refresh(): Promise<void> {
  if (state.refreshing) {
    state.again = true;
    return;
  }
  state.refreshing = true;
  state.again = false;
  byId<HTMLButtonElement>('refresh').disabled = true;
  try {
    const read = readQuery();
    const range = read.query ? 'v1/profiles?' + new URLSearchParams({ from: read.query.from, to: read.query.to }) : '';
    const results = await Promise.all([
      settle(getJson<RecentProfilesResponse>('v1/profiles/recent')),
      // The range only: the filters apply here, so that their menus offer everything the range holds.
      range ? settle(getJson<ProfileListResponse>(range)) : null,
      settle(getJson<ScheduleListResponse>('v1/schedules')),
    ]);
    renderRecent(results[0]);
    if (read.query && results[1]) renderStored(read.query, results[1]);
    else showQueryError(read.error || '');
    renderSchedules(results[2]);
    showBanner(
      results.map(function (r) {
        return r ? r.error : undefined;
      }),
    );
    const node = results
      .map(function (r) {
        return r && r.value && r.value.node;
      })
      .filter(function (n) {
        return n;
      })[0];
    if (node) byId('node').textContent = 'node ' + node;
    byId('updated').textContent = 'updated ' + localTime(new Date().toISOString()).slice(11);
  } finally {
    state.refreshing = false;
    byId<HTMLButtonElement>('refresh').disabled = false;
  }
  if (state.again) void refresh();
}

// ---- flame graph viewer -----------------------------------------------------------------------------------------

function markSelected(): void {
  document.querySelectorAll('tr[data-key]').forEach(function (tr) {
    tr.className = state.viewing && tr.getAttribute('data-key') === state.viewing.key ? 'selected' : '';
  });
}

function releaseGraph(): void {
  if (state.graphAbort) state.graphAbort.abort();
  state.graphAbort = null;
  if (state.blobUrl) URL.revokeObjectURL(state.blobUrl);
  state.blobUrl = null;
}

/** The SVG document in the viewer's frame, and its drawn size (its width and height attributes), once loaded. */
function frameGraph(): { root: SVGSVGElement; width: number; height: number } | null {
  const doc = byId<HTMLIFrameElement>('viewer-frame').contentDocument;
  const root = doc && (doc.documentElement as unknown as SVGSVGElement | null);
  if (!root) return null;
  const width = parseFloat(root.getAttribute('width') as string);
  const height = parseFloat(root.getAttribute('height') as string);
  return isFinite(width) && isFinite(height) && width > 0 ? { root: root, width: width, height: height } : null;
}

/**
 * Scales the graph to the frame's width (the page's, whatever the window's) and the frame to the graph's height. The
 * SVG keeps its width and height attributes, which its viewer script reads to zoom; CSS sizes it, and its viewBox
 * scales what it draws. Run again when the window's width changes.
 */
function fitFrame(): void {
  const frame = byId<HTMLIFrameElement>('viewer-frame');
  const graph = frameGraph();
  if (!graph) return;
  // CSSOM, not a style attribute: the page's policy (inherited by the blob: document) allows no inline style.
  graph.root.style.width = '100%';
  graph.root.style.height = '100%';
  graph.root.style.display = 'block';
  const width = frame.clientWidth;
  frame.style.height = Math.ceil((width * graph.height) / graph.width) + 'px';
}

/**
 * Brings the opened graph into view at its root: flame graphs grow upwards from the root on their bottom line, so a
 * graph taller than the window shows its bottom (the root and the frames above it, up to where the window ends), and
 * a shorter one shows from its card's top.
 */
function scrollToRoot(): void {
  const viewer = byId('viewer');
  const frame = byId<HTMLIFrameElement>('viewer-frame');
  const top = viewer.getBoundingClientRect().top + window.scrollY;
  const frameBottom = frame.getBoundingClientRect().bottom + window.scrollY;
  const margin = 8;
  if (frameBottom - top + margin <= window.innerHeight) window.scrollTo(0, top - margin);
  else window.scrollTo(0, frameBottom - window.innerHeight + margin);
}

function onFrameLoad(): void {
  fitFrame();
  scrollToRoot();
}

async function showGraph(entry: GraphEntry): Promise<void> {
  releaseGraph();
  state.viewing = entry;
  markSelected();
  const viewer = byId('viewer');
  const frame = byId<HTMLIFrameElement>('viewer-frame');
  const note = byId('viewer-state');
  viewer.hidden = false;
  byId('viewer-title').textContent = entry.title;
  byId('viewer-note').textContent = entry.note;
  note.className = 'state';
  note.textContent = 'Loading the flame graph…';
  frame.hidden = true;
  byId('viewer-open').removeAttribute('href');
  byId('viewer-download').removeAttribute('href');
  viewer.scrollIntoView({ block: 'start' });
  const abort = new AbortController();
  state.graphAbort = abort;
  try {
    const svg = await (await request(entry.url, abort.signal)).text();
    if (state.viewing !== entry) return;
    const blobUrl = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
    state.blobUrl = blobUrl;
    frame.onload = onFrameLoad;
    frame.src = blobUrl;
    frame.hidden = false;
    byId<HTMLAnchorElement>('viewer-open').href = blobUrl;
    byId<HTMLAnchorElement>('viewer-download').href = blobUrl;
    byId('viewer-download').setAttribute('download', entry.file);
    note.textContent = 'Hover a frame for its details, click to zoom, Search (or Ctrl-F) to highlight.';
    note.className = 'state hint';
  } catch (err) {
    if (isAbort(err)) return;
    note.className = 'state error';
    note.textContent = '';
    note.appendChild(errorMessage(err as Failure));
  }
}

function closeGraph(): void {
  releaseGraph();
  state.viewing = null;
  byId('viewer').hidden = true;
  byId('viewer-frame').removeAttribute('src');
  markSelected();
}

// ---- controls ---------------------------------------------------------------------------------------------------

function showTokenState(): void {
  const input = byId<HTMLInputElement>('token');
  input.value = '';
  input.placeholder = storage(TOKEN_KEY) ? 'token kept for this tab' : 'bearer token (if asked)';
  byId<HTMLButtonElement>('token-clear').disabled = !storage(TOKEN_KEY);
}

/** Shows the custom range's inputs when asked for, filled with the range shown until then. */
function showCustom(menuId: string, boxId: string, fromId: string, toId: string, from: () => [Date, Date]): void {
  const custom = selected(menuId) === 'custom';
  byId(boxId).hidden = !custom;
  if (!custom) return;
  const fromInput = byId<HTMLInputElement>(fromId);
  const toInput = byId<HTMLInputElement>(toId);
  if (fromInput.value && toInput.value) return;
  const ends = from();
  fromInput.value = toLocalInput(ends[0]);
  toInput.value = toLocalInput(ends[1]);
}

function startQuery(): void {
  const rangeNow = function (): [Date, Date] {
    const q = shown.query;
    return q ? [new Date(q.from), new Date(q.to)] : [new Date(Date.now() - 86400e3), new Date()];
  };
  byId('q-range').addEventListener('change', function () {
    showCustom('q-range', 'q-custom', 'q-from', 'q-to', rangeNow);
    void refresh();
  });
  byId('q-base').addEventListener('change', function () {
    showCustom('q-base', 'q-base-custom', 'q-base-from', 'q-base-to', function (): [Date, Date] {
      const q = shown.query;
      const base = q ? baseRange(q) : null;
      return base && base.error === undefined ? [new Date(base.from), new Date(base.to)] : rangeNow();
    });
  });
  ['q-from', 'q-to', 'q-namespace', 'q-pod', 'q-schedule', 'q-event'].forEach(function (id) {
    byId(id).addEventListener('change', function () {
      // A pod belongs to a namespace: another namespace's choice of pod and schedule would select nothing.
      if (id === 'q-namespace') {
        byId<HTMLSelectElement>('q-pod').value = '';
        byId<HTMLSelectElement>('q-schedule').value = '';
      }
      void refresh();
    });
  });
  byId('query').addEventListener('submit', function (e) {
    e.preventDefault();
    void refresh();
  });
  byId('q-merge').addEventListener('click', function () {
    if (shown.query) void showGraph(mergedEntry(shown.query, shown.count));
  });
  byId('q-diff').addEventListener('click', function () {
    const q = shown.query;
    if (!q) return;
    const base = baseRange(q);
    if (base.error !== undefined) {
      byId('q-summary').textContent = base.error;
      return;
    }
    void showGraph(diffEntry(q, base));
  });
  const events = byId<HTMLSelectElement>('q-event');
  events.replaceChildren(
    el('option', { value: '', text: 'all' }),
    ...EVENTS.map(function (e) {
      return el('option', { value: e, text: e });
    }),
  );
}

function start(): void {
  byId('auto-every').textContent = '(' + REFRESH_MS / 1000 + ' s)';
  const auto = byId<HTMLInputElement>('auto-refresh');
  auto.checked = storage(AUTO_KEY) !== 'off';
  auto.addEventListener('change', function () {
    storage(AUTO_KEY, auto.checked ? '' : 'off');
  });
  byId('refresh').addEventListener('click', function () {
    void refresh();
  });
  byId('viewer-close').addEventListener('click', closeGraph);
  startQuery();
  window.addEventListener('resize', fitFrame);
  byId('token-form').addEventListener('submit', function (e) {
    e.preventDefault();
    const value = byId<HTMLInputElement>('token')
      .value.trim()
      .replace(/^bearer\s+/i, '');
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

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
