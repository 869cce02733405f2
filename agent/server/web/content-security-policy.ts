/**
 * The agent's Content-Security-Policies, built once per app from the same hashes:
 *
 * - The web page's (`GET /` and its files). The page runs only its own script file (`script-src 'self'`), fetches
 *   only from the agent (`connect-src 'self'`), and shows flame graphs as `blob:` documents in an iframe: the page
 *   fetches each SVG with the caller's token (an iframe pointing at the API could not send it) and hands the bytes
 *   to the frame. A `blob:` document inherits the policy of the page that made it, so the policy also allows, by
 *   hash and nothing else, the inline parts of the agent's own SVGs that keep them interactive: the viewer script,
 *   its `onload="init(evt)"` handler and the style sheet.
 * - A flame graph's, for SVG answers under `/v1` opened directly: the same hashes and nothing else, so the viewer
 *   runs and anything an escaping bug let a workload's frame names inject does not.
 * - Every other `/v1` answer's: nothing at all may run or load.
 *
 * The hashes are taken from SVGs rendered at start-up by the same functions the routes render with, so they follow
 * any change of the renderer.
 */
import { createHash } from 'node:crypto';
import type { ProfileMetadata } from '../../../shared/api.js';
import { renderDiffGraph, renderMergedGraph } from '../../../shared/history-graphs.js';
import { renderProfileSvg } from '../../profiles/render-profile.js';

/** The inline code of one SVG document, as the browser hashes it (decoded text, CDATA markers removed). */
export interface InlineCode {
  scripts: string[];
  styles: string[];
  /** Values of `on…` attributes (event handlers). */
  handlers: string[];
}

// Only these five appear in what the renderer escapes (shared/render/xml.ts).
const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos);/g, (_m, name: string) => ENTITIES[name] as string);
}

/** The element's text content: CDATA sections as they are, other text decoded. */
function textContent(inner: string): string {
  return inner
    .split(/(<!\[CDATA\[[\s\S]*?\]\]>)/)
    .map((part) => (part.startsWith('<![CDATA[') ? part.slice(9, -3) : decodeXml(part)))
    .join('');
}

/**
 * Reads the inline code of an SVG as the agent renders it. Example of what it finds:
 *   <svg version="1.1" width="1200" height="150" onload="init(evt)" ...>
 *   <style type="text/css">\n\ttext { font-family:Verdana; ... }\n</style>
 *   <script type="text/ecmascript">\n<![CDATA[\n(a comment)\n'use strict';\nvar fg = ...]]>\n</script>
 */
export function inlineCodeOf(svg: string): InlineCode {
  const all = (re: RegExp): string[] => [...svg.matchAll(re)].map((m) => textContent(m[1] as string));
  return {
    scripts: all(/<script\b[^>]*>([\s\S]*?)<\/script>/g),
    styles: all(/<style\b[^>]*>([\s\S]*?)<\/style>/g),
    // Attribute values: the renderer writes them in double quotes, escaped.
    handlers: [...svg.matchAll(/\son[a-z]+="([^"]*)"/g)].map((m) => decodeXml(m[1] as string)),
  };
}

/** A CSP hash source: `'sha256-…'` over the UTF-8 bytes. */
export function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * One small graph from each renderer the agent serves SVG from: on-demand profiles (upright and inverted: the viewer
 * script differs), merged stored profiles and differential graphs. Request options beyond these (width, colours,
 * titles) change no inline code: test/web checks that.
 */
export function agentFlameGraphSamples(): string[] {
  const stacks = new Map([
    ['java;Main.main;Hot.work', 3],
    ['java;Main.main;Hot.idle', 1],
  ]);
  const meta: ProfileMetadata = {
    id: 'csp-sample',
    status: 'done',
    node: 'node',
    target: { containerId: '0123456789ab' },
    startedAt: '2025-11-27T04:00:00.000Z',
    durationSeconds: 1,
    event: 'cpu',
    frequencyHz: 99,
    java: { inlined: false },
    samples: 4,
    jitResolved: null,
    warnings: [],
  };
  const merged = { title: 't', subtitle: 's', frequencyHz: 99, durationSeconds: 1, startTimeMs: 0 };
  return [
    renderProfileSvg(meta, stacks, {}),
    renderProfileSvg(meta, stacks, { inverted: true }),
    String(renderMergedGraph('svg', stacks, merged).body),
    String(renderDiffGraph('svg', stacks, stacks, { title: 't', subtitle: 's' }).body),
  ];
}

function uniqueHashes(texts: Iterable<string>): string[] {
  return [...new Set([...texts].map(cspHash))].sort();
}

/** CSP hash sources of the inline code of the agent's SVGs. */
interface FlameGraphHashes {
  scripts: string[];
  handlers: string[];
  styles: string[];
}

function flameGraphHashes(flameGraphs: readonly string[]): FlameGraphHashes {
  const code = flameGraphs.map(inlineCodeOf);
  return {
    scripts: uniqueHashes(code.flatMap((c) => c.scripts)),
    handlers: uniqueHashes(code.flatMap((c) => c.handlers)),
    styles: uniqueHashes(code.flatMap((c) => c.styles)),
  };
}

// Nothing may change where the document's relative URLs, forms or framing lead.
const NO_BASE_FORMS_OR_FRAMING = ["base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"];

/** The graphs' inline code: 'unsafe-hashes' lets hashes match event handler attributes; only the hashed ones run. */
function graphScripts(h: FlameGraphHashes): string[] {
  return [...(h.handlers.length > 0 ? ["'unsafe-hashes'"] : []), ...h.handlers, ...h.scripts];
}

/** A directive; one without sources allows nothing, and says so. */
function directive(name: string, sources: string[]): string {
  return [name, ...(sources.length > 0 ? sources : ["'none'"])].join(' ');
}

/** The three policies, for answers of each kind. */
export interface ContentSecurityPolicies {
  /** `GET /` and its assets. */
  page: string;
  /** SVG answers under `/v1`: the agent's flame graphs, interactive when opened directly. */
  flameGraph: string;
  /** Every other `/v1` answer (JSON, folded text, errors; an HTML answer, were there one). */
  api: string;
}

/** The agent's policies, allowing the inline code of `flameGraphs` (default: the agent's own). */
export function contentSecurityPolicies(
  flameGraphs: readonly string[] = agentFlameGraphSamples(),
): ContentSecurityPolicies {
  const h = flameGraphHashes(flameGraphs);
  const page = [
    "default-src 'none'",
    directive('script-src', ["'self'", ...graphScripts(h)]),
    directive('style-src', ["'self'", ...h.styles]),
    "connect-src 'self'",
    "img-src 'self' data:",
    'frame-src blob:',
    ...NO_BASE_FORMS_OR_FRAMING,
  ];
  const flameGraph = [
    "default-src 'none'",
    directive('script-src', graphScripts(h)),
    directive('style-src', h.styles),
    ...NO_BASE_FORMS_OR_FRAMING,
  ];
  return {
    page: page.join('; '),
    flameGraph: flameGraph.join('; '),
    api: ["default-src 'none'", ...NO_BASE_FORMS_OR_FRAMING].join('; '),
  };
}
