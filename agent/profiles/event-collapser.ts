/**
 * A capture's stdout turned into folded stacks within the profile's limits, whatever it recorded: `perf script` text
 * for cpu (the Java-aware collapser), the JVMs' Flight Recorder files for alloc, lock and wall (shared/jfr). Fed chunk
 * by chunk, in the profile worker or in the caller's thread, with the same result either way; each collapser says
 * how much heap it holds, so that the worker can stop the one that would take its last bytes.
 */
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { JfrReader, type JfrProfile } from '../../shared/jfr/jfr-reader.js';
import { UNKNOWN_STACK } from '../../shared/jfr/stack-names.js';
import type { ProfileEvent } from '../../shared/profile-events.js';
import { DEFAULT_SAMPLING_OPTIONS, eventPeriodNanos } from '../../shared/export/sampling.js';
import { limitFolded, limitInterned, type LimitedFolded, type StackLimits } from './stack-limits.js';

/** What a collapse gives back: its stacks within the limits, as folded bytes, and what the collapser counted. */
export interface LimitedCollapse extends LimitedFolded {
  /** The sum of the stacks' weights, in the event's unit (samples for cpu and wall, bytes, nanoseconds). */
  samples: number;
  jitFrames: number;
  jitFramesResolved: number;
  unrecognizedLines: number;
  warnings: string[];
}

export interface EventCollapser {
  push(chunk: Uint8Array): void;
  /**
   * An estimate of the heap the collapse holds now plus what `finish` will allocate beyond it, in bytes: counted
   * from sizes after each chunk, cheap enough to ask every time.
   */
  heapBytes(): number;
  finish(limits: StackLimits): LimitedCollapse;
}

/**
 * Frame names the perf collapser remembers for the same symbol at other addresses. A real capture has some 15,000
 * distinct stack lines, fewer distinct symbols, so this keeps them all; the CLI's default (200,000) would let a
 * workload of distinct names make the cache alone tens of MB of the profile worker's heap.
 */
const AGENT_FRAME_CACHE_LIMIT = 20_000;

/** Heap per stack of limitStacks' sorted entries ([stack, count] arrays and the array of them). */
const LIMIT_ENTRY_HEAP_BYTES = 64;

export interface EventCollapserOptions {
  /**
   * Told heapBytes() while a push is still decoding (a JFR chunk is decoded whole within one push, and a crafted one
   * may ask for far more heap than its bytes): may throw to stop the collapse there. Default: none.
   */
  onGrow?: (heapBytes: number) => void;
  /** The capture's sampling frequency: for wall, its Flight Recorder period, which waits are counted in. Default 99. */
  frequencyHz?: number;
  /**
   * The capture's requested duration: a Flight Recorder graph covers that long from the recording's start (the
   * recording runs on until its dump completes; jfr-reader.ts `windowNanos`). Default: the whole recording.
   */
  durationSeconds?: number;
}

export function createEventCollapser(event: ProfileEvent, options: EventCollapserOptions = {}): EventCollapser {
  return event === 'cpu' ? perfCollapser() : flightRecordingCollapser(event, options);
}

function perfCollapser(): EventCollapser {
  const collapser = new PerfCollapser({ java: true, frameCacheLimit: AGENT_FRAME_CACHE_LIMIT });
  return {
    push: (chunk) => collapser.push(chunk),
    heapBytes: () => collapser.heapBytes(),
    finish: (limits) => {
      const r = collapser.finish();
      // Chosen and written from the interned stacks: no string per stack, whatever the profile's size.
      return {
        ...limitInterned(r.decodedStacks(), limits),
        samples: r.samples,
        jitFrames: r.jitFrames,
        jitFramesResolved: r.jitFramesResolved,
        unrecognizedLines: r.unrecognizedLines,
        warnings: [...r.warnings],
      };
    },
  };
}

function flightRecordingCollapser(
  event: Exclude<ProfileEvent, 'cpu'>,
  { onGrow, frequencyHz = DEFAULT_SAMPLING_OPTIONS.frequencyHz, durationSeconds }: EventCollapserOptions,
): EventCollapser {
  // Only the event asked for: the recording's other kinds would be stacks held for nothing, and a park is a lock
  // capture's time blocked but a wall capture's waiting thread.
  const reader: JfrReader = new JfrReader({
    kinds: [event],
    wallPeriodNanos: eventPeriodNanos('wall', frequencyHz),
    ...(durationSeconds === undefined ? {} : { windowNanos: Math.round(durationSeconds * 1e9) }),
    ...(onGrow === undefined ? {} : { onHeap: () => onGrow(heapBytes()) }),
  });
  // limitStacks sorts the stacks' entries: an array entry and a pair per stack beyond what the reader holds.
  const heapBytes = (): number => reader.heapBytes() + reader.stackCount() * LIMIT_ENTRY_HEAP_BYTES;
  let bytes = 0;
  return {
    push: (chunk) => {
      bytes += chunk.length;
      reader.push(chunk);
    },
    heapBytes,
    finish: (limits) => {
      const counters = { jitFrames: 0, jitFramesResolved: 0, unrecognizedLines: 0 };
      // Nothing at all: the capture failed before any recording was read, and its exit says why (EVENT_UNSUPPORTED,
      // NO_SAMPLES); an empty profile lets that reason through instead of "not a JFR file".
      if (bytes === 0) return { ...limitFolded(new Map(), limits), samples: 0, ...counters, warnings: [] };
      const profile = reader.finish();
      const stacks = profile.stacks[event];
      let samples = 0;
      for (const weight of stacks.values()) samples += weight;
      const warnings: string[] = [];
      if (profile.unresolvedStacks > 0) warnings.push(unknownStacksWarning(profile.unresolvedStacks, stacks));
      warnings.push(...weightWarnings(profile));
      // Flight Recorder names every Java frame itself: no JIT map is involved, so there is no share to report.
      // A lock stack's contentions beside its nanoseconds (pprof's contentions/count, Pyroscope's lock_count).
      const eventCounts = event === 'lock' ? profile.counts.lock : undefined;
      return { ...limitFolded(stacks, limits, eventCounts), samples, ...counters, warnings };
    },
  };
}

/**
 * Starts the warning the pipeline reports as `UNKNOWN_STACKS` (agent/profiles/pipeline.ts): its code is read from
 * these words.
 */
export const UNKNOWN_STACKS_WARNING = /^\d+ of the recording's stack traces .*could not be named/;

/**
 * Why some weight is under `[unknown stack]`, and how much: the JVM writes a stack trace once, in the chunk where it
 * first occurs, so a trace first written before this recording (a wait already in progress when it began, or a stack
 * seen by another recording of the same JVM in a chunk no longer on disk) has no name in it.
 */
function unknownStacksWarning(traces: number, stacks: ReadonlyMap<string, number>): string {
  let total = 0;
  let unknown = 0;
  for (const [stack, weight] of stacks) {
    total += weight;
    if (stack === UNKNOWN_STACK || stack.endsWith(`;${UNKNOWN_STACK}`)) unknown += weight;
  }
  const share = total > 0 ? ` (${((100 * unknown) / total).toFixed(unknown === total ? 0 : 1)}% of its weight)` : '';
  return (
    `${traces} of the recording's stack traces${share} could not be named: the JVM wrote ` +
    `${traces === 1 ? 'it' : 'them'} before this capture began (a wait already in progress, or a stack another ` +
    'recording of the JVM ' +
    'saw first); their weight is under [unknown stack], and a longer capture makes its share smaller.'
  );
}

/** Weights of the recording that could not be taken as written (shared/jfr/event-weights.ts), in words. */
function weightWarnings(profile: JfrProfile): string[] {
  const out: string[] = [];
  if (profile.clampedWeights > 0) {
    out.push(
      `${profile.clampedWeights} weights of the recording were beyond what it can hold (a duration longer than ` +
        'the recording, or bytes or nanoseconds beyond 2^53) and were cut to that bound; check what wrote the file',
    );
  }
  if (profile.rejectedWeights > 0) {
    out.push(
      `${profile.rejectedWeights} events of the recording had a negative weight and were left out; check what ` +
        'wrote the file',
    );
  }
  return out;
}
