/**
 * The cap on what a history query's merge may build (issue #13, A3): the distinct stacks of its answer, counted one
 * by one as the merge names them, in number and in bytes. Past the cap the merge stops where it is, with
 * PROFILE_TOO_LARGE, before any of it is copied into the profile worker: the merged stacks go to that thread whole,
 * so a merge it could never answer would otherwise cost their bytes twice more (the packed copy on the main thread,
 * the Map unpacked in the worker's heap) and run the worker out of memory only then, many seconds later.
 * A diff counts both of its sides in one budget: both are cloned.
 */
import { PodflameError } from '../../shared/errors.js';

export interface MergeLimits {
  /** Distinct stacks an answer (a diff: both sides together) may hold. */
  maxStacks: number;
  /** Bytes of those stacks, each counted as `mergeStackBytes`. */
  maxBytes: number;
}

/**
 * What a distinct stack of a merge costs beyond its text, measured for short stacks (issue #13, F1: a day of 820,000
 * two-frame stacks of 11 chars): the profile worker holding them (a cloned Map) and answering needs 220 bytes of old
 * generation per stack in folded, 250 in SVG (the smallest heap that completes, 200,000 stacks); the merged Map's entry
 * on the main thread 37 more (its key is the dictionary's string; the serialized copy posted is the text and 4).
 * The old price, 48, fitted long stacks, whose text dominates, and let that day through at 49 MB: its SVG then took
 * the worker's whole heap and the agent to a 610 MB peak even one merge at a time. At 200 it is refused at 96 MiB
 * (some 480,000 such stacks); a stack of 1 KB costs 13% more than before.
 */
export const MERGE_STACK_ENTRY_BYTES = 200;

/** The bytes the merge cap counts for one distinct stack: its UTF-8 text and MERGE_STACK_ENTRY_BYTES. */
export function mergeStackBytes(stack: string): number {
  return Buffer.byteLength(stack, 'utf8') + MERGE_STACK_ENTRY_BYTES;
}

/**
 * The default cap for a profile worker of `workerHeapBytes` (`--worker-heap`) and `--max-stacks`:
 * - bytes, half the worker's heap. The stacks are cloned into that heap, where the cheapest answer (folded) needs
 *   1.5 bytes of it per byte of stacks (render-heap.ts) beside the thread's own modules: a merge beyond about half
 *   the heap could not be answered in any format anyway. And what the merge itself costs is then bounded: at the
 *   default 192 MiB heap, 96 MiB of stacks, packed once on the main thread and handed over, beside the
 *   worker's 192 + 12 MiB, within the manifests' memory limit together with the agent's own ~100 MiB and a day's
 *   dictionary, one merge at a time (server/merge-gate.ts).
 * - stacks, ten profiles' worth at `--max-stacks` each, all distinct.
 */
export function defaultMergeLimits(workerHeapBytes: number, maxProfileStacks: number): MergeLimits {
  return { maxStacks: 10 * maxProfileStacks, maxBytes: Math.floor(workerHeapBytes / 2) };
}

const MiB = 1024 * 1024;

/** Counts the distinct stacks a query's merges add; throws PROFILE_TOO_LARGE past the limits. */
export class MergeBudget {
  readonly limits: MergeLimits;
  #stacks = 0;
  #bytes = 0;

  constructor(limits: MergeLimits) {
    if (!(limits.maxStacks > 0) || !(limits.maxBytes > 0)) {
      throw new PodflameError('CONFIG_INVALID', 'a merge cap must allow some stacks and bytes', {
        details: { maxStacks: limits.maxStacks, maxBytes: limits.maxBytes },
      });
    }
    this.limits = limits;
  }

  /** Distinct stacks counted so far. */
  get stacks(): number {
    return this.#stacks;
  }

  /** Bytes counted so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Counts one more distinct stack of an answer; PROFILE_TOO_LARGE when it goes past the cap. */
  add(stack: string): void {
    this.#stacks++;
    this.#bytes += mergeStackBytes(stack);
    if (this.#stacks > this.limits.maxStacks || this.#bytes > this.limits.maxBytes) throw this.#tooLarge();
  }

  #tooLarge(): PodflameError {
    const { maxStacks, maxBytes } = this.limits;
    const which =
      this.#stacks > maxStacks
        ? `more than ${maxStacks} distinct stacks`
        : `more than ${mib(maxBytes)} MiB of distinct stacks`;
    return new PodflameError(
      'PROFILE_TOO_LARGE',
      `the stored profiles this query selects add up to ${which}, the agent's cap for one merged or differential ` +
        `graph (${maxStacks} stacks, ${mib(maxBytes)} MiB, both sides of a diff together, set by --worker-heap); ` +
        'narrow the time range or filter (namespace, pod, container, labelSelector, schedule)',
      {
        details: {
          maxMergeStacks: maxStacks,
          maxMergeBytes: maxBytes,
          countedStacks: this.#stacks,
          countedBytes: this.#bytes,
        },
      },
    );
  }
}

function mib(bytes: number): string {
  const m = bytes / MiB;
  return Number.isInteger(m) ? String(m) : m.toFixed(1);
}
