/**
 * Graphs over time, built the same way on an agent (its own stored profiles) and in the client (the merge of every
 * agent's folded answer): a merged flame graph as SVG, folded text or pprof, and a differential graph of a base
 * range against a target range, normalized, as SVG or as difffolded's two-column text.
 */
import {
  linesToUtf8,
  serializeFolded,
  sortBytewise,
  totalSamples,
  type EventCounts,
  type FoldedStacks,
} from './folded.js';
import { renderFlameGraph } from './render/index.js';
import { diffFolded, serializeDiff } from './diff/diff-folded.js';
import { toPprof } from './export/pprof.js';
import type { DiffFormat, HistoryFormat, StoredProfile } from './history.js';
import { PodflameError } from './errors.js';
import { countName, DEFAULT_PROFILE_EVENT, describeTotal, type ProfileEvent } from './profile-events.js';

export interface GraphAnswer {
  contentType: string;
  body: string | Buffer;
}

function* foldedLines(stacks: FoldedStacks): Generator<string> {
  for (const stack of sortBytewise(stacks.keys())) yield `${stack} ${stacks.get(stack)}`;
}

/** What was merged, for titles and pprof. */
export interface MergeSummary {
  /** The one event of the merged profiles (a merge never mixes events); cpu for an empty merge. */
  event: ProfileEvent;
  profiles: number;
  /** Sum of the profiles' counts, in the event's unit. */
  samples: number;
  /** Earliest start and latest end of the merged profiles, ms since the epoch. */
  fromMs: number;
  toMs: number;
  /** The sampling frequency of most samples (profiles taken at other frequencies are still counted as samples). */
  frequencyHz: number;
  /** True when the profiles were not all taken at one frequency. */
  mixedFrequencies: boolean;
  pods: number;
  nodes: number;
}

/** A summary of merged profiles; EVENT_MISMATCH when they are not all of one event (their counts would not add up). */
export function summarize(items: readonly StoredProfile[]): MergeSummary {
  const events = [...new Set(items.map((p) => p.event))];
  if (events.length > 1) {
    throw new PodflameError(
      'EVENT_MISMATCH',
      `cannot merge profiles of different events (${events.join(', ')}): their counts are in different units; ask for one event`,
      { details: { events } },
    );
  }
  const byFrequency = new Map<number, number>();
  let fromMs = Infinity;
  let toMs = -Infinity;
  let samples = 0;
  for (const p of items) {
    const start = Date.parse(p.start);
    fromMs = Math.min(fromMs, start);
    toMs = Math.max(toMs, start + p.durationSeconds * 1000);
    samples += p.samples;
    byFrequency.set(p.frequencyHz, (byFrequency.get(p.frequencyHz) ?? 0) + p.samples);
  }
  const frequencies = [...byFrequency.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return {
    event: events[0] ?? DEFAULT_PROFILE_EVENT,
    profiles: items.length,
    samples,
    fromMs: Number.isFinite(fromMs) ? fromMs : 0,
    toMs: Number.isFinite(toMs) ? toMs : 0,
    frequencyHz: frequencies[0]?.[0] ?? 99,
    mixedFrequencies: frequencies.length > 1,
    pods: new Set(items.map((p) => `${p.namespace}/${p.pod}`)).size,
    nodes: new Set(items.map((p) => p.node)).size,
  };
}

function minute(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

/**
 * e.g. `12 profiles of 3 pods on 2 nodes, 2025-11-27 09:00 – 10:00 UTC, 5432 samples` (cpu, as before events
 * existed) or `…, alloc, 1.2 GB allocated`, `…, lock, 3.4 s blocked`.
 */
export function describeMerge(s: MergeSummary): string {
  const span = `${minute(s.fromMs)} – ${minute(s.toMs).slice(11)} UTC`;
  const where = `${s.profiles} profile${s.profiles === 1 ? '' : 's'} of ${s.pods} pod${s.pods === 1 ? '' : 's'} on ${s.nodes} node${s.nodes === 1 ? '' : 's'}`;
  const total = s.event === 'cpu' ? `${s.samples} samples` : `${s.event}, ${describeTotal(s.event, s.samples)}`;
  // Only sampled events have a frequency: the weights of alloc and lock do not depend on one.
  const mixed = s.mixedFrequencies && (s.event === 'cpu' || s.event === 'wall');
  return `${where}, ${span}, ${total}${mixed ? ' (mixed sampling frequencies)' : ''}`;
}

/** The one event of a differential graph; EVENT_MISMATCH naming both when its sides differ. */
export function diffEvent(base: ProfileEvent, target: ProfileEvent): ProfileEvent {
  if (base !== target) {
    throw new PodflameError(
      'EVENT_MISMATCH',
      `a differential graph compares one event, but the base is ${base} and the target is ${target}: ask for the same event on both sides`,
      { details: { base, target } },
    );
  }
  return base;
}

export interface MergedGraphOptions {
  /** What the counts are: names the SVG's unit and pprof's sample types. Default cpu. */
  event?: ProfileEvent;
  title: string;
  subtitle: string;
  frequencyHz: number;
  durationSeconds: number;
  startTimeMs: number;
  /** The SVG's most frames (RenderOptions.maxFrames). Default unset: no bound. */
  maxFrames?: number;
  /** RenderOptions.beforeDraw. Default none. */
  beforeDraw?: (frames: number) => void;
  /**
   * The merged stacks' event counts (a lock profile's contentions), for pprof's `contentions/count`; the other
   * formats draw or write the weights alone. Default none: pprof has the weights alone.
   */
  eventCounts?: EventCounts;
  /**
   * Answer text formats (folded, SVG) as UTF-8 bytes instead of a string, written without one string of the whole
   * folded text (the agent's profile worker hands the bytes over to its main thread without a copy). Default false.
   */
  bytes?: boolean;
}

export function renderMergedGraph(format: HistoryFormat, stacks: FoldedStacks, o: MergedGraphOptions): GraphAnswer {
  const event = o.event ?? DEFAULT_PROFILE_EVENT;
  switch (format) {
    case 'folded':
      return {
        contentType: 'text/plain; charset=utf-8',
        body: o.bytes === true ? linesToUtf8([...foldedLines(stacks)]) : serializeFolded(stacks),
      };
    case 'pprof':
      return {
        contentType: 'application/octet-stream',
        body: toPprof(
          stacks,
          { event, frequencyHz: o.frequencyHz, durationSeconds: o.durationSeconds, startTimeMs: o.startTimeMs },
          o.eventCounts,
        ),
      };
    case 'svg': {
      const svg = renderFlameGraph(foldedLines(stacks), {
        colors: 'java',
        countname: countName(event),
        title: o.title,
        subtitle: o.subtitle,
        maxFrames: o.maxFrames,
        beforeDraw: o.beforeDraw,
      }).svg;
      return { contentType: 'image/svg+xml; charset=utf-8', body: o.bytes === true ? utf8(svg) : svg };
    }
  }
}

export interface DiffGraphOptions {
  /** What both sides count: names the SVG's unit. Default cpu. */
  event?: ProfileEvent;
  title: string;
  subtitle: string;
  /** Scale the base counts to the target's total (difffolded `-n`). Default true. */
  normalize?: boolean;
  /** The SVG's most frames (RenderOptions.maxFrames). Default unset: no bound. */
  maxFrames?: number;
  /** RenderOptions.beforeDraw. Default none. */
  beforeDraw?: (frames: number) => void;
  /**
   * The merged stacks' event counts (a lock profile's contentions), for pprof's `contentions/count`; the other
   * formats draw or write the weights alone. Default none: pprof has the weights alone.
   */
  eventCounts?: EventCounts;
  /**
   * Answer text formats (folded, SVG) as UTF-8 bytes instead of a string, written without one string of the whole
   * folded text (the agent's profile worker hands the bytes over to its main thread without a copy). Default false.
   */
  bytes?: boolean;
}

/**
 * base → target: frames that grew are red, those that shrank blue (flamegraph.pl's differential colouring, drawn
 * with the target's widths). Normalized by default, so that ranges of different lengths compare by share.
 */
export function renderDiffGraph(
  format: DiffFormat,
  base: FoldedStacks,
  target: FoldedStacks,
  o: DiffGraphOptions,
): GraphAnswer {
  const diff = diffFolded(foldedLines(base), foldedLines(target), { normalize: o.normalize ?? true });
  if (format === 'folded') {
    return {
      contentType: 'text/plain; charset=utf-8',
      body: o.bytes === true ? linesToUtf8(diff.stacks.map((s) => s.line)) : serializeDiff(diff),
    };
  }
  // The lines serializeDiff would join, without the text: a week's diff is megabytes of it.
  const svg = renderFlameGraph(
    diff.stacks.map((s) => s.line),
    {
      countname: countName(o.event ?? DEFAULT_PROFILE_EVENT),
      title: o.title,
      subtitle: o.subtitle,
      maxFrames: o.maxFrames,
      beforeDraw: o.beforeDraw,
    },
  ).svg;
  return { contentType: 'image/svg+xml; charset=utf-8', body: o.bytes === true ? utf8(svg) : svg };
}

/** A string's UTF-8 in a buffer of its own (Buffer.from may return a slice of Node's shared pool). */
function utf8(text: string): Buffer {
  const encoded = new TextEncoder().encode(text);
  return Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
}

/** Sum of counts, for headers. */
export function samplesOf(stacks: FoldedStacks): number {
  return totalSamples(stacks);
}
