/**
 * Turns a finished profile into the answer a caller asked for: an SVG (Java palette, titled with the target and
 * subtitled with node, duration, frequency, sample count and what makes the graph incomplete), folded text, or JSON.
 * `ProfileRenderer` is the one place the agent renders captured profiles: through a backend (the agent's profile
 * worker, off the event loop), keeping profiles' SVGs once drawn (up to a byte bound, least recently used dropped),
 * and recording how long the first rendering took.
 */
import { countName, describeTotal } from '../../shared/profile-events.js';
import type { z } from 'zod';
import type {
  CaptureWarning,
  OutputFormat,
  ProfileJson,
  ProfileMetadata,
  RenderRequestSchema,
} from '../../shared/api.js';
import { compareBytes, type EventCounts, type FoldedStacks } from '../../shared/folded.js';
import { renderFlameGraph } from '../../shared/render/flamegraph.js';
import type { RenderOptions } from '../../shared/render/options.js';
import { targetTitle } from '../targets/resolve.js';
import { foldedBuffer, foldedBytesLines, splitFoldedLine, type FoldedBytes } from './folded-bytes.js';

/** The request's `render` options plus its `title`. */
export type RenderRequest = z.infer<typeof RenderRequestSchema>;

/** An answer as sent: its bytes (UTF-8), never a string the event loop's thread would have to encode. */
export interface RenderedProfile {
  contentType: string;
  body: Buffer;
}

/** An answer as drawn, before it is encoded. */
export interface ProfileAnswer {
  contentType: string;
  body: string;
}

/** Short subtitle phrases for the warnings the capture script reports; anything else shows its code. */
const WARNING_PHRASES: Readonly<Record<string, string>> = {
  NO_PRESERVE_FRAME_POINTER: 'PreserveFramePointer off: stacks truncated',
  JDK_TOO_OLD: 'JDK < 8: JIT frames unnamed',
  DYNAMIC_AGENT_LOADED: 'JVM logged a dynamic-agent notice',
  INLINING_IMPRECISE: 'DebugNonSafepoints off: some inlined frames merged into callers',
  JIT_NAMES_INCOMPLETE: 'some JIT frames unnamed',
  ATTACH_FAILED: 'JVM attach failed: JIT frames unnamed',
  PERFMAP_FAILED: 'no perf map: JIT frames unnamed',
  TARGET_EXITED: 'a process exited during the capture',
  NO_JVM: 'no JVM found',
  UNRECOGNIZED_LINES: 'some perf script lines not understood',
  UNKNOWN_STACKS: 'some stacks predate the recording',
  EVENT_UNSUPPORTED: 'a JVM could not record the event',
};

function warningPhrases(warnings: readonly CaptureWarning[]): string[] {
  return [...new Set(warnings.map((w) => WARNING_PHRASES[w.code] ?? w.code.toLowerCase().replaceAll('_', ' ')))];
}

export function profileSubtitle(m: ProfileMetadata): string {
  const parts = [
    `node ${m.node}`,
    ...(m.event === 'cpu'
      ? [`${m.durationSeconds} s at ${m.frequencyHz} Hz`, `${m.samples} ${m.samples === 1 ? 'sample' : 'samples'}`]
      : // The event and its unit: a frame's width is bytes allocated, time blocked or thread samples, not CPU.
        [`${m.event}, ${describeTotal(m.event, m.samples)} in ${m.durationSeconds} s`]),
    ...(m.jitResolved === null ? [] : [`${Math.floor(m.jitResolved * 1000) / 10}% JIT frames named`]),
    // Said on the graph: stacks with inlined frames are deeper than the same code captured without them.
    ...(m.java.inlined ? ['inlined frames'] : []),
  ];
  const problems = warningPhrases(m.warnings);
  return parts.join(', ') + (problems.length > 0 ? ` — ${problems.join('; ')}` : '');
}

function* foldedLines(stacks: FoldedStacks): Generator<string> {
  for (const stack of [...stacks.keys()].sort(compareBytes)) yield `${stack} ${stacks.get(stack)}`;
}

export function renderProfileSvg(m: ProfileMetadata, stacks: FoldedStacks, render: RenderRequest): string {
  return drawProfileSvg(m, foldedLines(stacks), render);
}

/**
 * The most frames a profile's graph draws (issue #13, N4): at some 400 bytes each, an SVG of about 20 MB, and what
 * drawing it holds in the profile worker's heap bounded with it. The widest request the API allows (width 10000 at
 * the minwidth floor) drew 136,000 frames of 20,000 stacks, a 54.5 MB SVG; beyond the bound the narrowest frames are
 * left out, and the subtitle says so.
 */
export const MAX_DRAWN_FRAMES = 50_000;

function drawProfileSvg(
  m: ProfileMetadata,
  lines: Iterable<string>,
  render: RenderRequest,
  beforeDraw?: (frames: number) => void,
): string {
  const options: Partial<RenderOptions> = {
    colors: 'java',
    countname: countName(m.event),
    ...(render as Partial<RenderOptions>),
    title: render.title ?? targetTitle(m.target),
    subtitle: render.subtitle ?? profileSubtitle(m),
    maxFrames: MAX_DRAWN_FRAMES,
    beforeDraw,
  };
  return renderFlameGraph(lines, options).svg;
}

/** `eventCounts`: each stack's events (a lock profile's contentions), as `events` beside its count. */
function profileJson(m: ProfileMetadata, folded: FoldedBytes, eventCounts: EventCounts | undefined): ProfileJson {
  const stacks = [...foldedBytesLines(folded)].map(splitFoldedLine);
  if (eventCounts === undefined) return { ...m, stacks };
  return { ...m, stacks: stacks.map((s) => ({ ...s, events: eventCounts.get(s.stack) ?? 0 })) };
}

const CONTENT_TYPES: Readonly<Record<OutputFormat, string>> = {
  svg: 'image/svg+xml; charset=utf-8',
  folded: 'text/plain; charset=utf-8',
  json: 'application/json; charset=utf-8',
};

/**
 * The answer for `format`; pure, so it runs in the profile worker's thread as well as here. `beforeDraw`: as
 * RenderOptions.beforeDraw, for an SVG; `eventCounts`: the profile's events per stack, for JSON (RenderableProfile).
 */
export function renderProfile(
  format: OutputFormat,
  m: ProfileMetadata,
  folded: FoldedBytes,
  render: RenderRequest,
  beforeDraw?: (frames: number) => void,
  eventCounts?: EventCounts,
): ProfileAnswer {
  const contentType = CONTENT_TYPES[format];
  switch (format) {
    case 'svg':
      // The folded bytes are in byte order already, as the renderer wants them.
      return { contentType, body: drawProfileSvg(m, foldedBytesLines(folded), render, beforeDraw) };
    case 'folded':
      return { contentType, body: foldedBuffer(folded).toString('utf8') };
    case 'json':
      return { contentType, body: JSON.stringify(profileJson(m, folded, eventCounts)) };
  }
}

/** What rendering needs of a profile record (profile-registry's ProfileRecord fits it). */
export interface RenderableProfile {
  metadata: ProfileMetadata;
  folded?: FoldedBytes;
  render: RenderRequest;
  /**
   * Events per stack, when the collapser counted them (a lock profile's contentions): in the JSON answer, from which
   * a client makes pprof's `contentions/count` as the store's answers have it.
   */
  eventCounts?: EventCounts;
}

/** Where rendering runs: the agent's ProfileWorker (its own thread) fits this by shape. */
export interface ProfileRenderBackend {
  renderProfile(
    format: OutputFormat,
    metadata: ProfileMetadata,
    folded: FoldedBytes,
    render: RenderRequest,
    eventCounts?: EventCounts,
  ): Promise<RenderedProfile>;
}

/** Rendering in the caller's own thread (the default, for tests and tools). */
export const IN_PROCESS_RENDERER: ProfileRenderBackend = {
  renderProfile: async (format, metadata, folded, render, eventCounts) => {
    const answer = renderProfile(format, metadata, folded, render, undefined, eventCounts);
    return { contentType: answer.contentType, body: Buffer.from(answer.body, 'utf8') };
  },
};

export interface ProfileRendererOptions {
  /** Default IN_PROCESS_RENDERER; the agent gives its profile worker. */
  backend?: ProfileRenderBackend;
  /** Bytes of SVG (UTF-8, as sent) kept for later answers, least recently used dropped first. Default 32 MiB. */
  maxCachedBytes?: number;
}

export const DEFAULT_SVG_CACHE_BYTES = 32 << 20;

/** Renders finished profiles; SVGs are kept once drawn, within a byte bound. */
export class ProfileRenderer {
  readonly #backend: ProfileRenderBackend;
  readonly #maxCachedBytes: number;
  /**
   * By profile id (not by record: that would keep an evicted profile's stacks alive), in use order, least recent
   * first (a Map iterates in insertion order; a hit is moved to the end).
   */
  readonly #svgs = new Map<string, Buffer>();
  #cachedBytes = 0;

  constructor(options: ProfileRendererOptions = {}) {
    this.#backend = options.backend ?? IN_PROCESS_RENDERER;
    this.#maxCachedBytes = options.maxCachedBytes ?? DEFAULT_SVG_CACHE_BYTES;
  }

  /** The body for `format` of a finished (`done`) record, with the options its request gave. */
  async render(record: RenderableProfile, format: OutputFormat): Promise<RenderedProfile> {
    const m = record.metadata;
    const folded = record.folded ?? new Uint8Array(0);
    // The kept bytes are the folded answer: nothing to draw, copy or encode.
    if (format === 'folded') {
      if (m.timings && m.timings.render === undefined) m.timings.render = 0;
      return { contentType: CONTENT_TYPES.folded, body: foldedBuffer(folded) };
    }
    const cached = format === 'svg' ? this.#svgs.get(m.id) : undefined;
    if (cached !== undefined) {
      this.#svgs.delete(m.id);
      this.#svgs.set(m.id, cached);
      return { contentType: CONTENT_TYPES.svg, body: cached };
    }
    const t = performance.now();
    // Counts only where the answer has them: a Map sent to the worker thread is copied.
    const counts = format === 'json' ? record.eventCounts : undefined;
    const rendered = await this.#backend.renderProfile(format, m, folded, record.render, counts);
    if (format === 'svg') this.#keep(record, rendered.body);
    // The first answer's rendering is the one a caller waited for: later ones come from the cache or are cheaper.
    if (m.timings && m.timings.render === undefined) m.timings.render = Math.round(performance.now() - t);
    return rendered;
  }

  #keep(record: RenderableProfile, svg: Buffer): void {
    const id = record.metadata.id;
    if (svg.length > this.#maxCachedBytes || this.#svgs.has(id)) return;
    this.#svgs.set(id, svg);
    this.#cachedBytes += svg.length;
    for (const [oldest, body] of this.#svgs) {
      if (this.#cachedBytes <= this.#maxCachedBytes) break;
      this.#svgs.delete(oldest);
      this.#cachedBytes -= body.length;
    }
  }
}
