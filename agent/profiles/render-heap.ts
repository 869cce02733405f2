/**
 * What drawing an answer needs of the profile worker's heap, in two parts: reading the stacks (estimated before the
 * render starts, from their bytes and the format) and drawing the SVG (once the frames to draw are known, before any
 * is drawn). The profile worker refuses a render that would not fit beside the captures being collapsed
 * (collapse-budget.ts), so that a large graph fails alone instead of running the shared heap out. Fitted to the old
 * generation renders needed (the smallest --max-old-space-size that completes) and rounded up: a 32 MB profile drawn
 * at width 1200 (4,500 frames) needed 32 MiB beyond the thread's own, at width 10000 (22,600 frames) 40 MiB, and
 * 20,000 stacks of 1.1 KB at width 10000 (50,000 frames, the bound) 48 MiB.
 */
import { isAscii } from 'node:buffer';
import type { WorkerRequest } from './profile-worker.js';
import { packedTextBytes, type PackedStacks } from './packed-stacks.js';

export type RenderJob = Extract<WorkerRequest, { kind: 'render-profile' | 'render-merged' | 'render-diff' }>;

/**
 * Heap per byte of a profile's folded text drawn as SVG: its lines (slices of one string, which Node keeps outside
 * the heap when it is ASCII) and the frame tree; text that is not ASCII is a string of two bytes a char in the heap.
 */
const SVG_PER_FOLDED_BYTE = 1.25;
const NOT_ASCII_PER_FOLDED_BYTE = 2;
/** Heap per frame drawn: its pieces of SVG and their share of the joined document (measured: 560 bytes). */
const SVG_PER_FRAME = 700;
/** Heap per byte of folded text for a JSON answer: a string and an object per stack, then the JSON text. */
const JSON_PER_FOLDED_BYTE = 2;
/**
 * A merge's or a diff's stacks are in the heap once unpacked (a Map: 1 byte a char of ASCII names); then as
 * lines, parsed and as a tree for an SVG (measured: 1.45 bytes a char), as sorted keys and text for folded (0.35), as
 * the profile's tables for pprof (3.4). Per char of the stacks, the Map's share included.
 */
const MERGED_PER_CHAR: Readonly<Record<'svg' | 'folded' | 'pprof', number>> = { svg: 2.75, folded: 1.5, pprof: 4.5 };
/** A diff adds the lines of both sides and of the diff. */
const DIFF_PER_CHAR = 1;
/** A stack's line beyond its chars (the count, a Map entry). */
const STACK_ENTRY_CHARS = 48;

/** An estimate, in bytes, of the heap the render job allocates to read its stacks (and, but for an SVG, to answer). */
export function renderHeapBytes(job: RenderJob): number {
  switch (job.kind) {
    case 'render-profile': {
      const folded = job.folded.byteLength;
      const text = isAscii(job.folded) ? 0 : NOT_ASCII_PER_FOLDED_BYTE * folded;
      if (job.format === 'folded') return text;
      return (job.format === 'json' ? JSON_PER_FOLDED_BYTE : SVG_PER_FOLDED_BYTE) * folded + text;
    }
    case 'render-merged':
      // A lock graph's event counts are a second Map of the same stacks, with strings of their own once unpacked.
      return MERGED_PER_CHAR[job.format] * stackChars(job.stacks) + (job.eventCounts ? stackChars(job.eventCounts) : 0);
    case 'render-diff': {
      const chars = stackChars(job.base) + stackChars(job.target);
      return (MERGED_PER_CHAR[job.format === 'svg' ? 'svg' : 'folded'] + DIFF_PER_CHAR) * chars;
    }
  }
}

/** An estimate, in bytes, of the heap drawing `frames` frames takes beyond reading the stacks. */
export function drawHeapBytes(frames: number): number {
  return SVG_PER_FRAME * frames;
}

/** The stacks' chars from their UTF-8 bytes: as many for ASCII, more (an overestimate) for the rest. */
function stackChars(stacks: PackedStacks): number {
  return packedTextBytes(stacks) + stacks.ends.length * STACK_ENTRY_CHARS;
}
