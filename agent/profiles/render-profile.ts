/**
 * Turns a finished profile into the answer a caller asked for: an SVG (Java palette, titled with the target and
 * subtitled with node, duration, frequency, sample count and what makes the graph incomplete), folded text, or JSON.
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
import { targetTitle } from '../targets/resolve.js';
import { renderSvg } from './pipeline.js';

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

export function renderProfileSvg(m: ProfileMetadata, stacks: FoldedStacks, render: RenderRequest): string {
  return renderSvg(stacks, {
    colors: 'java',
    countname: 'samples',
    ...render,
    title: render.title ?? targetTitle(m.target),
    subtitle: render.subtitle ?? profileSubtitle(m),
  });
}

export function profileJson(m: ProfileMetadata, stacks: FoldedStacks): ProfileJson {
  const keys = [...stacks.keys()].sort(compareBytes);
  return { ...m, stacks: keys.map((stack) => ({ stack, count: stacks.get(stack) as number })) };
}

/** The body for `format`; `svg` is taken from the cache when given. */
export function renderProfile(
  format: OutputFormat,
  m: ProfileMetadata,
  stacks: FoldedStacks,
  render: RenderRequest,
  cachedSvg?: string,
): RenderedProfile {
  switch (format) {
    case 'svg':
      return { contentType: 'image/svg+xml; charset=utf-8', body: cachedSvg ?? renderProfileSvg(m, stacks, render) };
    case 'folded':
      return { contentType: 'text/plain; charset=utf-8', body: serializeFolded(stacks) };
    case 'json':
      return { contentType: 'application/json; charset=utf-8', body: JSON.stringify(profileJson(m, stacks)) };
  }
}
