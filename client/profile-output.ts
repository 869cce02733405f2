/**
 * Turns (merged) folded stacks into the format the user asked for: an SVG flame graph from the shared renderer
 * (Java palette, as the agent renders), or one of the shared export formats (folded, pprof, speedscope, JSON tree).
 */
import { countName, type ProfileEvent } from '../shared/profile-events.js';
import { exportProfile } from '../shared/export/index.js';
import { compareBytes, type EventCounts, type FoldedStacks } from '../shared/folded.js';
import { renderFlameGraph } from '../shared/render/index.js';

export const PROFILE_FORMATS = ['svg', 'folded', 'pprof', 'speedscope', 'json'] as const;
export type ProfileFormat = (typeof PROFILE_FORMATS)[number];

export interface FormatOptions {
  /** SVG title and speedscope profile name. */
  title: string;
  /** SVG subtitle (e.g. how many pods, duration, frequency); default none. */
  subtitle?: string;
  /** What the counts are (cpu samples, alloc bytes, ...): pprof's sample types, speedscope's unit. Default cpu. */
  event?: ProfileEvent;
  /** Sampling frequency of the capture: pprof's period and speedscope's weights depend on it. */
  frequencyHz: number;
  durationSeconds: number;
}

export interface FormattedProfile {
  format: ProfileFormat;
  contentType: string;
  extension: string;
  body: Buffer;
}

/** `eventCounts`: each stack's events (a lock profile's contentions), for pprof (shared/export `exportProfile`). */
export function formatProfile(
  stacks: FoldedStacks,
  format: ProfileFormat,
  options: FormatOptions,
  eventCounts?: EventCounts,
): FormattedProfile {
  if (format === 'svg')
    return { format, contentType: 'image/svg+xml', extension: 'svg', body: renderSvg(stacks, options) };
  const exported = exportProfile(
    stacks,
    format,
    {
      ...(options.event !== undefined ? { event: options.event } : {}),
      frequencyHz: options.frequencyHz,
      durationSeconds: options.durationSeconds,
      name: options.title,
    },
    eventCounts,
  );
  return { format, contentType: exported.contentType, extension: exported.extension, body: exported.body };
}

function* foldedLines(stacks: FoldedStacks): Generator<string> {
  for (const stack of [...stacks.keys()].sort(compareBytes)) yield `${stack} ${stacks.get(stack)}`;
}

/** The Java palette, as the agent renders a single pod's graph, so merged and single graphs look alike. */
function renderSvg(stacks: FoldedStacks, options: FormatOptions): Buffer {
  const { svg } = renderFlameGraph(foldedLines(stacks), {
    colors: 'java',
    countname: countName(options.event ?? 'cpu'),
    title: options.title,
    ...(options.subtitle !== undefined ? { subtitle: options.subtitle } : {}),
  });
  return Buffer.from(svg);
}
