/**
 * The bound on what one profile holds in the agent's memory: at most `maxStacks` distinct stacks and `maxBytes` of
 * their text. A profile beyond either keeps its largest stacks (by count) and sums the rest under one DROPPED_FRAME
 * stack, so that totals and shares stay true and the graph shows how much was dropped.
 */
import { compareBytes, type FoldedStacks } from '../../shared/folded.js';

export interface StackLimits {
  /** Distinct stacks kept (`--max-stacks`). */
  maxStacks: number;
  /** Bytes of stack text kept, each stack counted as its UTF-8 length plus 16 (`--max-profile-bytes`). */
  maxBytes: number;
}

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
