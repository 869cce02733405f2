/**
 * What reading a JFR chunk holds in the heap, counted as values are decoded: the file comes from the workload, so a
 * few bytes of it may ask for a struct, a frame or a long name each, and only a count kept during decoding can stop
 * it before the heap runs out. Costs are per decoded thing (entries × per-entry cost), rounded up from V8's layouts:
 * a prototype-less struct is a dictionary object, a string two bytes per char when any char is beyond Latin-1;
 * checked against heapUsed on crafted files of many frames and many stacks (test/helpers/crafted-jfr.ts): within
 * 10% of it.
 */
import { PodflameError } from '../errors.js';

/** A struct decoded from the pools: a dictionary-mode object, before its fields. */
export const STRUCT_HEAP_BYTES = 160;
/** Per field of a struct, per element of an array, per pool entry (its map slot). */
export const SLOT_HEAP_BYTES = 32;
/** An array or string header. */
export const HEADER_HEAP_BYTES = 32;
/** A metadata element (name, attribute map, children array) before its attributes. */
export const ELEMENT_HEAP_BYTES = 200;
/** JFR's own maximum `stackdepth`: a deeper stack keeps its leaf-side frames and is marked truncated, as JFR does. */
export const MAX_STACK_FRAMES = 2048;
/** Names kept from the file are cut here, as the perf path cuts symbols. */
export const MAX_STRING_CHARS = 4096;
/** How much counted growth passes between reports to `onGrow` and checks against the cap: cheap, yet fine-grained. */
const REPORT_STEP_BYTES = 256 * 1024;

export class DecodeHeap {
  /** Bytes counted since the last reset (the chunk being read). */
  bytes = 0;
  /** Set when an array was cut at MAX_STACK_FRAMES; read and cleared by the struct that holds it. */
  cutArray = false;
  private unreported = 0;

  constructor(
    private readonly maxBytes: number,
    /** Told the counted total (what the reader held before, plus this chunk) as it grows; may throw to stop it. */
    private readonly onGrow: ((chunkBytes: number) => void) | undefined,
  ) {}

  charge(n: number): void {
    this.bytes += n;
    this.unreported += n;
    if (this.unreported >= REPORT_STEP_BYTES) this.report();
  }

  /** Checks the cap and tells the listener now (the end of a chunk, the start of a costly step). */
  report(): void {
    this.unreported = 0;
    if (this.bytes > this.maxBytes) {
      throw new PodflameError(
        'PROFILE_TOO_LARGE',
        `reading this Flight Recorder chunk would hold more than ${mib(this.maxBytes)} MiB of heap (its constant ` +
          'pools, stack traces and names); record a shorter duration or fewer events, or check what wrote the file',
        { details: { maxHeapMb: mib(this.maxBytes), heldMb: mib(this.bytes) } },
      );
    }
    this.onGrow?.(this.bytes);
  }

  reset(): void {
    this.bytes = 0;
    this.unreported = 0;
    this.cutArray = false;
  }
}

function mib(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 10) / 10;
}
