/*
 * podflame's flame graph viewer, in the manner of flamegraph.pl's: the same page elements (`#frames`, `#details`,
 * `#unzoom`, `#search`, `#ignorecase`, `#matched`, a `<title>` in each frame) and URL state (`?x=&y=` zoomed frame,
 * `&s=` search term), so links and habits carry over.
 * - Hover a frame: its details (name, count, share) under the graph.
 * - Click a frame: zoom into it (ancestors dimmed with class `parent`, unrelated frames get class `hide`); click an
 *   ancestor or "Reset Zoom" to go back.
 * - "Search" (or Ctrl-F / F3): a regular expression over function names; matches turn to the search colour and
 *   "Matched: N%" shows their share (nested matches counted once); "ic" (or Ctrl-I) toggles case-insensitive matching.
 */
'use strict';
import type { ViewerConfig } from './config.js';

/** The renderer's settings for this graph: viewer-script.ts writes them in place of `__CONFIG__`. */
declare const __CONFIG__: ViewerConfig;

const fg: ViewerConfig = __CONFIG__;

/** A frame's group (`<g>`, or `<a>` with --nameattr href) carries its index in fgState.frames. */
interface FrameElement extends Element {
  fgIndex?: number;
}

interface Frame {
  g: FrameElement;
  rect: SVGRectElement;
  text: SVGTextElement;
  /** The `<title>`: name, samples and share. */
  title: string;
  name: string;
  x: number;
  width: number;
  y: number;
  /** The attributes as written, to restore them exactly and to match URL state. */
  xText: string;
  yText: string;
  widthText: string;
  fill: string;
}

interface ViewerState {
  frames: Frame[];
  details: Node;
  searchBtn: Element;
  caseBtn: Element;
  unzoomBtn: Element;
  matched: Element;
  fullWidth: number;
  zoomed: Frame | null;
  term: string | null;
  ignoreCase: boolean;
}

type Params = Record<string, string>;

// Filled in by init(): the document is complete when its onload calls it.
let fgState: ViewerState;

function fgElement(id: string): Element {
  const node = document.getElementById(id);
  if (!node) throw new Error(`flame graph viewer: no #${id} in the document`);
  return node;
}

function fgFirstChild(node: Node): Node {
  if (!node.firstChild) throw new Error('flame graph viewer: an empty text element');
  return node.firstChild;
}

function fgAttr(node: Element, name: string): string {
  return node.getAttribute(name) ?? '';
}

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- the document's onload attribute calls it
function init(_evt: Event): void {
  const s: ViewerState = {
    frames: [],
    details: fgFirstChild(fgElement('details')),
    searchBtn: fgElement('search'),
    caseBtn: fgElement('ignorecase'),
    unzoomBtn: fgElement('unzoom'),
    matched: fgElement('matched'),
    fullWidth: parseFloat(fgAttr(document.documentElement, 'width')) - 2 * fg.xpad,
    zoomed: null,
    term: null,
    ignoreCase: false,
  };
  fgState = s;
  const groups = fgElement('frames').children;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i] as FrameElement;
    const rect = g.querySelector('rect'),
      text = g.querySelector('text'),
      title = g.querySelector('title');
    if (!rect || !text || !title) continue;
    const label = title.textContent ?? '';
    g.fgIndex = s.frames.length;
    s.frames.push({
      g: g,
      rect: rect,
      text: text,
      title: label,
      name: label.replace(/ \([^(]*\)$/, ''),
      x: parseFloat(fgAttr(rect, 'x')),
      width: parseFloat(fgAttr(rect, 'width')),
      y: parseFloat(fgAttr(rect, 'y')),
      xText: fgAttr(rect, 'x'),
      yText: fgAttr(rect, 'y'),
      widthText: fgAttr(rect, 'width'),
      fill: fgAttr(rect, 'fill'),
    });
  }
  window.addEventListener('click', fgOnClick, false);
  window.addEventListener(
    'mouseover',
    function (e) {
      const f = fgFrameOf(e.target);
      if (f) s.details.nodeValue = fg.nametype + ' ' + f.title;
    },
    false,
  );
  window.addEventListener(
    'mouseout',
    function (e) {
      if (fgFrameOf(e.target)) s.details.nodeValue = ' ';
    },
    false,
  );
  window.addEventListener(
    'keydown',
    function (e) {
      // keyCode, not key: older SVG viewers know only this one. 114 is F3, 70 is F, 73 is I.
      if (e.keyCode === 114 || (e.ctrlKey && e.keyCode === 70)) {
        e.preventDefault();
        fgSearchPrompt();
      } else if (e.ctrlKey && e.keyCode === 73) {
        e.preventDefault();
        fgToggleIgnoreCase();
      }
    },
    false,
  );
  const params = fgGetParams();
  if (params.x !== undefined && params.y !== undefined) {
    for (let j = 0; j < s.frames.length; j++) {
      const f = s.frames[j] as Frame;
      if (f.xText === params.x && f.yText === params.y) {
        fgZoom(f);
        break;
      }
    }
  }
  if (params.s) fgSearch(params.s);
}

/** The frame (an entry of fgState.frames) an event target belongs to, if any. */
function fgFrameOf(target: EventTarget | null): Frame | null {
  let node = target as (Node & { id?: string; fgIndex?: number }) | null;
  while (node && node.parentNode) {
    if ((node.parentNode as Element).id === 'frames') {
      return node.fgIndex === undefined ? null : (fgState.frames[node.fgIndex] ?? null);
    }
    node = node.parentNode;
  }
  return null;
}

function fgOnClick(e: MouseEvent): void {
  const f = fgFrameOf(e.target);
  if (f) {
    // A frame with a link (--nameattr href) follows it; Ctrl-click zooms instead.
    if (f.g.nodeName === 'a') {
      if (!e.ctrlKey) return;
      e.preventDefault();
    }
    // The root, or an ancestor at full width: back to the whole graph.
    if (f.width >= fgState.fullWidth - 0.0001) {
      fgClearZoom();
      return;
    }
    fgZoom(f);
    const params = fgGetParams();
    params.x = f.xText;
    params.y = f.yText;
    fgSetParams(params);
    return;
  }
  const id = e.target && (e.target as Element).id;
  if (id === 'unzoom') fgClearZoom();
  else if (id === 'search') fgSearchPrompt();
  else if (id === 'ignorecase') fgToggleIgnoreCase();
}

/** URL state: ?x=<frame x>&y=<frame y> for the zoomed frame, s=<search term>. */
function fgGetParams(): Params {
  const params: Params = {};
  const parts = window.location.search.substr(1).split('&');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const value = part.substr(eq + 1);
    if (value === '') continue;
    try {
      params[part.substr(0, eq)] = decodeURIComponent(value);
    } catch {
      // a bad escape: that parameter is ignored
    }
  }
  return params;
}

function fgSetParams(params: Params): void {
  const query: string[] = [];
  for (const key in params) {
    if (Object.prototype.hasOwnProperty.call(params, key)) {
      query.push(key + '=' + encodeURIComponent(params[key] as string));
    }
  }
  let url = (window.location.href.split('?')[0] as string).split('#')[0] as string;
  if (query.length) url += '?' + query.join('&');
  try {
    history.replaceState(null, '', url);
  } catch {
    // e.g. file: URLs in some viewers
  }
}

/** Fits the label to the frame's current width, cutting it with ".." as flamegraph.pl does. */
function fgUpdateText(f: Frame): void {
  const x = parseFloat(fgAttr(f.rect, 'x'));
  const w = parseFloat(fgAttr(f.rect, 'width')) - 3;
  const t = f.text;
  t.setAttribute('x', (x + 3).toFixed(2));
  const label = f.name.replace(/_\[[kwij]\]$/, '');
  if (w < 2 * fg.fontsize * fg.fontwidth) {
    t.textContent = '';
    return;
  }
  t.textContent = label;
  if (/^ *$/.test(label)) return;
  const full = t.getSubStringLength(0, label.length);
  if (full <= w) return;
  // Measured on the full label: the first n + 2 characters stand in for n characters and "..".
  for (let n = Math.min(label.length - 2, Math.floor((label.length * w) / full)); n > 0; n--) {
    if (t.getSubStringLength(0, n + 2) <= w) {
      t.textContent = label.substring(0, n) + '..';
      return;
    }
  }
  t.textContent = '';
}

function fgResetGeometry(): void {
  const frames = fgState.frames;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as Frame;
    f.g.classList.remove('parent');
    f.g.classList.remove('hide');
    f.rect.setAttribute('x', f.xText);
    f.rect.setAttribute('width', f.widthText);
  }
}

function fgZoom(target: Frame): void {
  const s = fgState;
  // A frame drawn 0.0 px wide (a URL pointing at one) cannot be magnified.
  if (!(target.width > 0)) return;
  fgResetGeometry();
  const xmin = target.x,
    xmax = target.x + target.width,
    ymin = target.y;
  const ratio = s.fullWidth / target.width;
  const fudge = 0.0001;
  for (let i = 0; i < s.frames.length; i++) {
    const f = s.frames[i] as Frame;
    const above = fg.inverted ? f.y < ymin : f.y > ymin;
    if (above) {
      if (f.x <= xmin + fudge && f.x + f.width + fudge >= xmax) {
        f.g.classList.add('parent');
        f.rect.setAttribute('x', String(fg.xpad));
        f.rect.setAttribute('width', String(s.fullWidth));
      } else {
        f.g.classList.add('hide');
      }
    } else if (f.x < xmin - fudge || f.x + fudge >= xmax) {
      f.g.classList.add('hide');
    } else {
      f.rect.setAttribute('x', String(fg.xpad + (f.x - xmin) * ratio));
      f.rect.setAttribute('width', String(f.width * ratio));
    }
  }
  s.zoomed = target;
  for (let j = 0; j < s.frames.length; j++) {
    const f = s.frames[j] as Frame;
    if (!f.g.classList.contains('hide')) fgUpdateText(f);
  }
  s.unzoomBtn.classList.remove('hide');
  fgSearch();
}

function fgClearZoom(): void {
  const s = fgState;
  fgResetGeometry();
  s.zoomed = null;
  for (let i = 0; i < s.frames.length; i++) fgUpdateText(s.frames[i] as Frame);
  s.unzoomBtn.classList.add('hide');
  const params = fgGetParams();
  delete params.x;
  delete params.y;
  fgSetParams(params);
  fgSearch();
}

function fgToggleIgnoreCase(): void {
  const s = fgState;
  s.ignoreCase = !s.ignoreCase;
  if (s.ignoreCase) s.caseBtn.classList.add('show');
  else s.caseBtn.classList.remove('show');
  fgSearch();
}

function fgSearchPrompt(): void {
  const s = fgState;
  if (s.term !== null) {
    fgResetSearch();
    return;
  }
  const term = prompt(
    'Enter a search term (regexp allowed, eg: ^ext4_)' +
      (s.ignoreCase ? ', ignoring case' : '') +
      '\nPress Ctrl-i to toggle case sensitivity',
    '',
  );
  if (term !== null && term !== '') fgSearch(term);
}

function fgClearHighlight(): void {
  const frames = fgState.frames;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as Frame;
    f.rect.setAttribute('fill', f.fill);
  }
}

function fgResetSearch(): void {
  const s = fgState;
  s.term = null;
  fgClearHighlight();
  s.searchBtn.classList.remove('show');
  fgFirstChild(s.searchBtn).nodeValue = 'Search';
  s.matched.classList.add('hide');
  fgFirstChild(s.matched).nodeValue = ' ';
  const params = fgGetParams();
  delete params.s;
  fgSetParams(params);
}

/** Highlights the frames whose function name matches and shows their share of the visible graph. */
function fgSearch(term?: string): void {
  const s = fgState;
  if (term !== undefined) s.term = term;
  if (s.term === null) return;
  fgClearHighlight();
  let re: RegExp;
  try {
    re = new RegExp(s.term, s.ignoreCase ? 'i' : '');
  } catch {
    s.matched.classList.remove('hide');
    fgFirstChild(s.matched).nodeValue = 'Invalid regexp';
    return;
  }
  const spans: [number, number][] = [];
  let maxWidth = 0;
  for (let i = 0; i < s.frames.length; i++) {
    const f = s.frames[i] as Frame;
    if (f.g.classList.contains('hide')) continue;
    const x = parseFloat(fgAttr(f.rect, 'x')),
      w = parseFloat(fgAttr(f.rect, 'width'));
    if (w > maxWidth) maxWidth = w;
    if (re.test(f.name)) {
      f.rect.setAttribute('fill', fg.searchcolor);
      spans.push([x, w]);
    }
  }
  // Nested matches overlap their ancestors: count the union of [x, x + w) spans once.
  spans.sort(function (a, b) {
    return a[0] - b[0] || b[1] - a[1];
  });
  let covered = 0,
    end = -Infinity;
  const fudge = 0.0001;
  for (let k = 0; k < spans.length; k++) {
    const span = spans[k] as [number, number];
    const sx = span[0],
      se = span[0] + span[1];
    if (sx >= end - fudge) {
      covered += se - sx;
      end = se;
    } else if (se > end) {
      covered += se - end;
      end = se;
    }
  }
  const pct = maxWidth > 0 ? (100 * covered) / maxWidth : 0;
  const params = fgGetParams();
  params.s = s.term;
  fgSetParams(params);
  s.searchBtn.classList.add('show');
  fgFirstChild(s.searchBtn).nodeValue = 'Reset Search';
  s.matched.classList.remove('hide');
  fgFirstChild(s.matched).nodeValue = 'Matched: ' + (Math.abs(pct - 100) < 0.0001 ? '100' : pct.toFixed(1)) + '%';
}
