/**
 * Graphs over time, built the same way on an agent (its own stored profiles) and in the client (the merge of every
 * agent's folded answer): a merged flame graph as SVG, folded text or pprof, and a differential graph of a base
 * range against a target range, normalized, as SVG or as difffolded's two-column text.
 */
import { serializeFolded, sortBytewise, totalSamples, type FoldedStacks } from './folded.js';
import { renderFlameGraph } from './render/index.js';
import { diffFolded, serializeDiff } from './diff/diff-folded.js';
import { toPprof } from './export/pprof.js';
import type { DiffFormat, HistoryFormat, StoredProfile } from './history.js';

export interface GraphAnswer {
  contentType: string;
  body: string | Buffer;
}

function* foldedLines(stacks: FoldedStacks): Generator<string> {
  for (const stack of sortBytewise(stacks.keys())) yield `${stack} ${stacks.get(stack)}`;
}

/** What was merged, for titles and pprof. */
export interface MergeSummary {
  profiles: number;
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

export function summarize(items: readonly StoredProfile[]): MergeSummary {
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

/** e.g. `12 profiles of 3 pods on 2 nodes, 2025-11-27 09:00 – 10:00 UTC, 5432 samples` */
export function describeMerge(s: MergeSummary): string {
  const span = `${minute(s.fromMs)} – ${minute(s.toMs).slice(11)} UTC`;
  const where = `${s.profiles} profile${s.profiles === 1 ? '' : 's'} of ${s.pods} pod${s.pods === 1 ? '' : 's'} on ${s.nodes} node${s.nodes === 1 ? '' : 's'}`;
  return `${where}, ${span}, ${s.samples} samples${s.mixedFrequencies ? ' (mixed sampling frequencies)' : ''}`;
}

export interface MergedGraphOptions {
  title: string;
  subtitle: string;
  frequencyHz: number;
  durationSeconds: number;
  startTimeMs: number;
}

export function renderMergedGraph(format: HistoryFormat, stacks: FoldedStacks, o: MergedGraphOptions): GraphAnswer {
  switch (format) {
    case 'folded':
      return { contentType: 'text/plain; charset=utf-8', body: serializeFolded(stacks) };
    case 'pprof':
      return {
        contentType: 'application/octet-stream',
        body: toPprof(stacks, {
          frequencyHz: o.frequencyHz,
          durationSeconds: o.durationSeconds,
          startTimeMs: o.startTimeMs,
        }),
      };
    case 'svg':
      return {
        contentType: 'image/svg+xml; charset=utf-8',
        body: renderFlameGraph(foldedLines(stacks), {
          colors: 'java',
          countname: 'samples',
          title: o.title,
          subtitle: o.subtitle,
        }).svg,
      };
  }
}

export interface DiffGraphOptions {
  title: string;
  subtitle: string;
  /** Scale the base counts to the target's total (difffolded `-n`). Default true. */
  normalize?: boolean;
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
  if (format === 'folded') return { contentType: 'text/plain; charset=utf-8', body: serializeDiff(diff) };
  // The lines serializeDiff would join, without the text: a week's diff is megabytes of it.
  return {
    contentType: 'image/svg+xml; charset=utf-8',
    body: renderFlameGraph(
      diff.stacks.map((s) => s.line),
      { countname: 'samples', title: o.title, subtitle: o.subtitle },
    ).svg,
  };
}

/** Sum of counts, for headers. */
export function samplesOf(stacks: FoldedStacks): number {
  return totalSamples(stacks);
}
