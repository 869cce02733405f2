/**
 * A merge's stacks on their way to the profile worker as three buffers handed over (transferred) with the job, instead
 * of a Map cloned by postMessage: a structured clone of 135,000 stacks (47 MB of text) ran on the agent's main thread
 * in one piece, 450–860 ms during which /healthz waited (issue #13, cold attacker F3). Packing runs in turns of
 * 10 ms; the worker unpacks them into the same Map, same order.
 */
import type { FoldedStacks } from '../../shared/folded.js';
import { Turns } from '../../shared/turns.js';

/** Stacks (or any stack → number map) as bytes: the UTF-8 text of every stack, where each ends, and its number. */
export interface PackedStacks {
  /** The stacks' UTF-8 bytes one after another; only the first `ends[ends.length - 1]` bytes are used. */
  text: Uint8Array;
  /** Byte offset in `text` where each stack ends (the next begins there). */
  ends: Uint32Array;
  /** Each stack's count. */
  counts: Float64Array;
}

/** Slack allocated beyond the stacks' length in UTF-16 units, for the few that take more bytes in UTF-8. */
const SLACK_BYTES = 64 * 1024;

/**
 * Packs `stacks` in their order, letting the event loop in every 10 ms; stops at a turn with `signal`'s reason once
 * it is aborted (the caller went away).
 */
export async function packStacks(stacks: ReadonlyMap<string, number>, signal?: AbortSignal): Promise<PackedStacks> {
  const turns = new Turns(signal);
  let chars = 0;
  for (const stack of stacks.keys()) {
    chars += stack.length;
    if (turns.due()) await turns.yield();
  }
  // ASCII (nearly every Java or native frame) is one byte a character: the buffer is then never grown.
  let text = Buffer.allocUnsafeSlow(chars + SLACK_BYTES);
  const ends = new Uint32Array(stacks.size);
  const counts = new Float64Array(stacks.size);
  let at = 0;
  let i = 0;
  for (const [stack, count] of stacks) {
    if (text.length - at < 3 * stack.length) {
      const needed = at + Buffer.byteLength(stack, 'utf8');
      if (needed > text.length) {
        const grown = Buffer.allocUnsafeSlow(Math.max(needed, Math.ceil(text.length * 1.25)));
        text.copy(grown, 0, 0, at);
        text = grown;
      }
    }
    at += text.write(stack, at, 'utf8');
    ends[i] = at;
    counts[i] = count;
    i++;
    if (turns.due()) await turns.yield();
  }
  return { text, ends, counts };
}

/** The buffers to hand over with a job carrying `packed` (each is then unusable on this side). */
export function packedBuffers(...packed: (PackedStacks | undefined)[]): ArrayBuffer[] {
  return packed.flatMap((p) => (p ? [p.text.buffer, p.ends.buffer, p.counts.buffer] : [])) as ArrayBuffer[];
}

/** The bytes of text the stacks take (the buffer may be longer). */
export function packedTextBytes(packed: PackedStacks): number {
  return packed.ends.length === 0 ? 0 : (packed.ends[packed.ends.length - 1] as number);
}

/** The stacks again, in the order they were packed (in the worker). */
export function unpackStacks(packed: PackedStacks): FoldedStacks {
  const text = Buffer.from(packed.text.buffer, packed.text.byteOffset, packed.text.byteLength);
  const stacks: FoldedStacks = new Map();
  let start = 0;
  for (let i = 0; i < packed.ends.length; i++) {
    const end = packed.ends[i] as number;
    stacks.set(text.toString('utf8', start, end), packed.counts[i] as number);
    start = end;
  }
  return stacks;
}
