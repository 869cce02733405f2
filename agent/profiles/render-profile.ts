/**
 * Turns a finished profile into the answer a caller asked for: an SVG (Java palette, titled with the target and
 * subtitled with node, duration, frequency, sample count and what makes the graph incomplete), folded text, or JSON.
 * `ProfileRenderer` is the one place the agent renders captured profiles: through a backend (the agent's profile
 * worker, off the event loop), keeping profiles' SVGs once drawn (up to a byte bound, least recently used dropped),
 * and recording how long the first rendering took.
 */
import type { z } from 'zod';
import type {
  CaptureWarning,
  OutputFormat,
  ProfileJson,
  ProfileMetadata,
  RenderRequestSchema,
} from '../../shared/api.js';
import { compareBytes, serializeFolded, type FoldedStacks } from '../../shared/folded.js';
import { renderFlameGraph } from '../../shared/render/flamegraph.js';
import type { RenderOptions } from '../../shared/render/options.js';
import { targetTitle } from '../targets/resolve.js';

/** The request's `render` options plus its `title`. */
export type RenderRequest = z.infer<typeof RenderRequestSchema>;

export interface RenderedProfile {
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
};

function warningPhrases(warnings: readonly CaptureWarning[]): string[] {
  return [...new Set(warnings.map((w) => WARNING_PHRASES[w.code] ?? w.code.toLowerCase().replaceAll('_', ' ')))];
}

export function profileSubtitle(m: ProfileMetadata): string {
  const parts = [
    `node ${m.node}`,
    `${m.durationSeconds} s at ${m.frequencyHz} Hz`,
    `${m.samples} samples`,
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
  const options: Partial<RenderOptions> = {
    colors: 'java',
    countname: 'samples',
    ...(render as Partial<RenderOptions>),
    title: render.title ?? targetTitle(m.target),
    subtitle: render.subtitle ?? profileSubtitle(m),
  };
  return renderFlameGraph(foldedLines(stacks), options).svg;
}

export function profileJson(m: ProfileMetadata, stacks: FoldedStacks): ProfileJson {
  const keys = [...stacks.keys()].sort(compareBytes);
  return { ...m, stacks: keys.map((stack) => ({ stack, count: stacks.get(stack) as number })) };
}

/** The answer for `format`; pure, so it runs in the profile worker's thread as well as here. */
export function renderProfile(
  format: OutputFormat,
  m: ProfileMetadata,
  stacks: FoldedStacks,
  render: RenderRequest,
): RenderedProfile {
  switch (format) {
    case 'svg':
      return { contentType: 'image/svg+xml; charset=utf-8', body: renderProfileSvg(m, stacks, render) };
    case 'folded':
      return { contentType: 'text/plain; charset=utf-8', body: serializeFolded(stacks) };
    case 'json':
      return { contentType: 'application/json; charset=utf-8', body: JSON.stringify(profileJson(m, stacks)) };
  }
}

/** What rendering needs of a profile record (profile-registry's ProfileRecord fits it). */
export interface RenderableProfile {
  metadata: ProfileMetadata;
  stacks?: FoldedStacks;
  render: RenderRequest;
}

/** Where rendering runs: the agent's ProfileWorker (its own thread) fits this by shape. */
export interface ProfileRenderBackend {
  renderProfile(
    format: OutputFormat,
    metadata: ProfileMetadata,
    stacks: FoldedStacks,
    render: RenderRequest,
  ): Promise<RenderedProfile>;
}

/** Rendering in the caller's own thread (the default, for tests and tools). */
export const IN_PROCESS_RENDERER: ProfileRenderBackend = {
  renderProfile: async (format, metadata, stacks, render) => renderProfile(format, metadata, stacks, render),
};

export interface ProfileRendererOptions {
  /** Default IN_PROCESS_RENDERER; the agent gives its profile worker. */
  backend?: ProfileRenderBackend;
  /** Bytes of SVG kept for later answers, least recently used dropped first. Default 32 MiB. */
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
  readonly #svgs = new Map<string, string>();
  #cachedBytes = 0;

  constructor(options: ProfileRendererOptions = {}) {
    this.#backend = options.backend ?? IN_PROCESS_RENDERER;
    this.#maxCachedBytes = options.maxCachedBytes ?? DEFAULT_SVG_CACHE_BYTES;
  }

  /** The body for `format` of a finished (`done`) record, with the options its request gave. */
  async render(record: RenderableProfile, format: OutputFormat): Promise<RenderedProfile> {
    const m = record.metadata;
    const cached = format === 'svg' ? this.#svgs.get(m.id) : undefined;
    if (cached !== undefined) {
      this.#svgs.delete(m.id);
      this.#svgs.set(m.id, cached);
      return { contentType: 'image/svg+xml; charset=utf-8', body: cached };
    }
    const t = performance.now();
    const stacks = record.stacks ?? new Map<string, number>();
    const rendered = await this.#backend.renderProfile(format, m, stacks, record.render);
    if (format === 'svg') this.#keep(record, rendered.body);
    // The first answer's rendering is the one a caller waited for: later ones come from the cache or are cheaper.
    if (m.timings && m.timings.render === undefined) m.timings.render = Math.round(performance.now() - t);
    return rendered;
  }

  #keep(record: RenderableProfile, svg: string): void {
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
