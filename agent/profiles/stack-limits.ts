/**
 * The bound on what one profile holds in the agent's memory: at most `maxStacks` distinct stacks and `maxBytes` of
 * their text. A profile beyond either keeps its largest stacks (by count) and sums the rest under one DROPPED_FRAME
 * stack, so that totals and shares stay true and the graph shows how much was dropped.
 */
import { compareBytes, totalSamples, type EventCounts, type FoldedStacks } from '../../shared/folded.js';
import {
  FoldedWriter,
  foldedLength,
  sortStacks,
  stackLength,
  stackText,
  type InternedStacks,
  type StackRecord,
} from '../../shared/collapse/interned-stacks.js';
import { PodflameError } from '../../shared/errors.js';
import { foldedBuffer, toFoldedBytes, type FoldedBytes } from './folded-bytes.js';

export interface StackLimits {
  /** Distinct stacks kept (`--max-stacks`). */
  maxStacks: number;
  /** Bytes of stack text kept, each stack counted as its UTF-8 length plus 16 (`--max-profile-bytes`). */
  maxBytes: number;
}

/** `--max-stacks`' default: distinct stacks one profile keeps. */
export const DEFAULT_MAX_STACKS = 100_000;

/** The root frame under which the dropped stacks' samples are counted. */
export const DROPPED_FRAME = '[dropped stacks]';

/** Bytes one stack is counted as: its text and what a Map entry and its count cost beyond it. */
export const STACK_OVERHEAD_BYTES = 16;

export interface LimitedStacks {
  stacks: FoldedStacks;
  droppedStacks: number;
  droppedSamples: number;
}

/**
 * Bytes one stack is counted as: its UTF-8 text, as the agent keeps it (folded-bytes.ts: the line's count, space and
 * newline fit in STACK_OVERHEAD_BYTES), so a profile never holds more bytes than it is counted as.
 */
export function stackBytes(stack: string): number {
  return Buffer.byteLength(stack, 'utf8') + STACK_OVERHEAD_BYTES;
}

/** Bytes a profile's stacks are counted as (`stackBytes` each). */
export function stacksBytes(stacks: FoldedStacks): number {
  let bytes = 0;
  for (const stack of stacks.keys()) bytes += stackBytes(stack);
  return bytes;
}

/** `stacks` within `limits`: unchanged when they fit, else the largest ones and the rest summed as DROPPED_FRAME. */
export function limitStacks(stacks: FoldedStacks, limits: StackLimits): LimitedStacks {
  if (stacks.size <= limits.maxStacks && stacksBytes(stacks) <= limits.maxBytes) {
    return { stacks, droppedStacks: 0, droppedSamples: 0 };
  }
  // Largest first; equal counts in byte order, so that the same profile always keeps the same stacks.
  const ordered = [...stacks.entries()].sort((a, b) => b[1] - a[1] || compareBytes(a[0], b[0]));
  const kept: FoldedStacks = new Map();
  // Room for the remainder's own stack.
  let bytes = DROPPED_FRAME.length + STACK_OVERHEAD_BYTES;
  let droppedStacks = 0;
  let droppedSamples = 0;
  for (const [stack, count] of ordered) {
    const cost = stackBytes(stack);
    if (kept.size < limits.maxStacks - 1 && bytes + cost <= limits.maxBytes) {
      kept.set(stack, count);
      bytes += cost;
    } else {
      droppedStacks++;
      droppedSamples += count;
    }
  }
  if (droppedSamples > 0) kept.set(DROPPED_FRAME, (kept.get(DROPPED_FRAME) ?? 0) + droppedSamples);
  return { stacks: kept, droppedStacks, droppedSamples };
}

/** A profile's stacks within its limits, as the agent keeps them (folded-bytes.ts). */
export interface LimitedFolded {
  folded: FoldedBytes;
  /** The sum of `folded`'s counts. */
  foldedSamples: number;
  droppedStacks: number;
  droppedSamples: number;
  /**
   * Per kept stack, how many events made up its count (a lock profile's contentions), the dropped stacks' summed
   * under DROPPED_FRAME as their weights are; absent when the collapser counted none (every event but lock).
   */
  eventCounts?: EventCounts;
}

/** `limitStacks`, as folded bytes; `eventCounts`, when given, kept for the same stacks. */
export function limitFolded(stacks: FoldedStacks, limits: StackLimits, eventCounts?: EventCounts): LimitedFolded {
  const limited = limitStacks(stacks, limits);
  return {
    folded: toFoldedBytes(limited.stacks),
    foldedSamples: totalSamples(limited.stacks),
    droppedStacks: limited.droppedStacks,
    droppedSamples: limited.droppedSamples,
    ...(eventCounts !== undefined ? { eventCounts: limitEventCounts(eventCounts, limited.stacks) } : {}),
  };
}

/**
 * The event counts of the stacks `limitStacks` kept; those of the stacks it dropped summed under DROPPED_FRAME, as
 * their weights are (a kept stack of that very name adds them to its own).
 */
export function limitEventCounts(eventCounts: EventCounts, kept: FoldedStacks): EventCounts {
  const out: EventCounts = new Map();
  let dropped = 0;
  for (const [stack, n] of eventCounts) {
    if (kept.has(stack)) out.set(stack, (out.get(stack) ?? 0) + n);
    else dropped += n;
  }
  if (dropped > 0) out.set(DROPPED_FRAME, (out.get(DROPPED_FRAME) ?? 0) + dropped);
  return out;
}

/**
 * `limitFolded` on stacks as the collapser interns them (`SortedCollapseResult.decodedStacks()`: UTF-8 texts without
 * `;`, none repeated), with the same result byte for byte, but without a string per stack: the stacks are sorted and
 * measured as id sequences (interned-stacks.ts), chosen as `limitStacks` chooses them — largest count first, equal
 * counts in byte order, each kept while it fits — and only the kept ones are written, straight into shared memory.
 * Beyond the limits the full set of stack strings would be the largest thing the worker ever held, many times the
 * size of the distinct frames (issue #13, N1).
 */
export function limitInterned(stacks: InternedStacks, limits: StackLimits): LimitedFolded {
  const { texts } = stacks;
  const sorted = sortStacks(stacks);
  const n = sorted.length;
  const costs = new Float64Array(n);
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    costs[i] = stackLength(texts, sorted[i] as StackRecord) + STACK_OVERHEAD_BYTES;
    bytes += costs[i] as number;
  }
  let foldedSamples = 0;
  for (const r of sorted) foldedSamples += r.count;
  if (n <= limits.maxStacks && bytes <= limits.maxBytes) {
    return { folded: writeFolded(texts, sorted), foldedSamples, droppedStacks: 0, droppedSamples: 0 };
  }
  // Largest first; equal counts in byte order (their place in `sorted`), as limitStacks orders them.
  const order: number[] = [];
  for (let i = 0; i < n; i++) order.push(i);
  order.sort((a, b) => (sorted[b] as StackRecord).count - (sorted[a] as StackRecord).count || a - b);
  const kept = new Uint8Array(n);
  let keptStacks = 0;
  let keptBytes = DROPPED_FRAME.length + STACK_OVERHEAD_BYTES;
  let droppedStacks = 0;
  let droppedSamples = 0;
  for (const i of order) {
    const cost = costs[i] as number;
    if (keptStacks < limits.maxStacks - 1 && keptBytes + cost <= limits.maxBytes) {
      kept[i] = 1;
      keptStacks++;
      keptBytes += cost;
    } else {
      droppedStacks++;
      droppedSamples += (sorted[i] as StackRecord).count;
    }
  }
  const lines: StackRecord[] = [];
  for (let i = 0; i < n; i++) if (kept[i] === 1) lines.push(sorted[i] as StackRecord);
  if (droppedSamples === 0) return { folded: writeFolded(texts, lines), foldedSamples, droppedStacks, droppedSamples };
  // The remainder's line, in its place in byte order; added to a kept stack of that very name (a thread so named).
  const droppedId = texts.length;
  const withDropped = [...texts, DROPPED_FRAME];
  let lo = 0;
  let hi = lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // Byte strings: comparing them compares bytes.
    if (stackText(texts, lines[mid] as StackRecord) < DROPPED_FRAME) lo = mid + 1;
    else hi = mid;
  }
  const at = lines[lo];
  if (at !== undefined && stackText(texts, at) === DROPPED_FRAME) {
    lines[lo] = { tokens: at.tokens, count: at.count + droppedSamples };
  } else {
    lines.splice(lo, 0, { tokens: Int32Array.of(droppedId), count: droppedSamples });
  }
  return { folded: writeFolded(withDropped, lines), foldedSamples, droppedStacks, droppedSamples };
}

/** Sorted records as folded bytes in shared memory, written in place: the length is known before a byte is. */
function writeFolded(texts: readonly string[], sorted: readonly StackRecord[]): FoldedBytes {
  const bytes = new Uint8Array(new SharedArrayBuffer(foldedLength(texts, sorted)));
  const written = new FoldedWriter(texts, sorted).fillInto(foldedBuffer(bytes), 0);
  if (written !== bytes.length) {
    throw new PodflameError('INTERNAL', `the folded stacks took ${written} bytes, ${bytes.length} were counted`);
  }
  return bytes;
}
