/**
 * The agent's use of the shared pipeline: the capture's stream into the shared streaming collapser for its event
 * (`perf script` in Java mode for cpu, with the JIT's `_[j]`-style annotations the Java palette colours by; Flight
 * Recorder files for alloc, lock, wall: event-collapser.ts) — in the profile worker's thread on the agent — bounded in bytes and timed, its stacks within the agent's limits, with what the collapser skipped and what
 * the limits dropped said as warnings. Kept in one place so the capture service deals in folded stacks only.
 */
import type { Readable } from 'node:stream';
import { DEFAULT_PROFILE_EVENT, EVENT_KINDS, type ProfileEvent } from '../../shared/profile-events.js';
import { createEventCollapser, UNKNOWN_STACKS_WARNING, type LimitedCollapse } from './event-collapser.js';
import { checkMinwidthFloor, resolveRenderOptions, type RenderOptions } from '../../shared/render/options.js';
import type { CaptureWarning } from '../../shared/api.js';
import { PodflameError } from '../../shared/errors.js';
import type { FoldedBytes } from './folded-bytes.js';
import type { EventCounts } from '../../shared/folded.js';
import { DROPPED_FRAME, type StackLimits } from './stack-limits.js';

export interface CollapsedCapture {
  /** The stacks kept, as the registry keeps them. */
  folded: FoldedBytes;
  /** The sum of `folded`'s counts. */
  foldedSamples: number;
  /** Per stack, how many events made up its count (a lock capture's contentions); absent for other events. */
  eventCounts?: EventCounts;
  /** Samples the collapser counted (each sample counts 1: the capture's perf script has no period field). */
  samples: number;
  jitFrames: number;
  jitFramesResolved: number;
  /** Lines of perf script the collapser did not understand and skipped (also said in `warnings`). */
  unrecognizedLines: number;
  /** Stacks beyond the limits, and their samples (counted under DROPPED_FRAME; also said in `warnings`). */
  droppedStacks: number;
  droppedSamples: number;
  warnings: CaptureWarning[];
  /** Bytes of perf script read. */
  bytes: number;
  /** When the first byte arrived (performance.now()), or undefined when none did. */
  firstByteAt: number | undefined;
  /** ms spent inside the collapser. */
  collapseMs: number;
}

export interface CollapseCaptureOptions {
  /** Stop with OUTPUT_TOO_LARGE beyond this many bytes. */
  maxBytes: number;
  /**
   * Called once when the bytes bound is crossed or the collapse outgrew the profile worker's heap, before the stream
   * is abandoned (e.g. to abort the capture).
   */
  onTooLarge: (error: PodflameError) => void;
  /** What one profile may hold (`--max-stacks`, `--max-profile-bytes`). */
  limits: StackLimits;
  /** Where the collapsing runs. Default: in this thread (IN_PROCESS_COLLAPSER). */
  collapser?: CaptureCollapser;
  /** What the capture recorded: perf script for cpu, Flight Recorder files for the others. Default cpu. */
  event?: ProfileEvent;
  /** The frequency the capture sampled at (for wall, the period its waits are counted in). Default 99. */
  frequencyHz?: number;
  /** The capture's requested duration, which a Flight Recorder graph covers from the recording's start. Default: all. */
  durationSeconds?: number;
}

/** What a collapser gives back for a capture: its stacks, within the limits, as folded bytes. */
export type { LimitedCollapse } from './event-collapser.js';

/** Collapses perf script (Java-aware) and limits the stacks; the agent's ProfileWorker is one, in its own thread. */
export interface CaptureCollapser {
  collapse(
    input: AsyncIterable<Buffer>,
    limits: StackLimits,
    event?: ProfileEvent,
    frequencyHz?: number,
    durationSeconds?: number,
  ): Promise<LimitedCollapse>;
}

/** The collapser in the caller's own thread (the capture service's default, for tests and tools). */
export const IN_PROCESS_COLLAPSER: CaptureCollapser = {
  async collapse(input, limits, event = DEFAULT_PROFILE_EVENT, frequencyHz, durationSeconds) {
    const collapser = createEventCollapser(event, {
      ...(frequencyHz === undefined ? {} : { frequencyHz }),
      ...(durationSeconds === undefined ? {} : { durationSeconds }),
    });
    for await (const chunk of input) collapser.push(chunk);
    return collapser.finish(limits);
  },
};

/** The collapser's warning about skipped lines starts so (shared/collapse/perf-collapser.ts). */
const SKIPPED_LINES_WARNING = /^skipped \d+ unrecognized line/;

/** Collapses a capture's stdout as it streams; rejects if the stream fails (the caller decides what that means). */
export async function collapseCaptureStream(
  stdout: Readable,
  options: CollapseCaptureOptions,
): Promise<CollapsedCapture> {
  const event = options.event ?? DEFAULT_PROFILE_EVENT;
  let bytes = 0;
  let firstByteAt: number | undefined;
  let collapseMs = 0;
  let streamEndedAt = 0;
  // Counts and bounds the bytes on their way in; the time between handing a chunk over and being asked for the next
  // is the collapser's.
  async function* bounded(): AsyncGenerator<Buffer> {
    for await (const chunk of stdout as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      firstByteAt ??= performance.now();
      bytes += buf.length;
      if (bytes > options.maxBytes) {
        const what = EVENT_KINDS[event].source === 'perf' ? 'perf script' : 'Flight Recorder recordings';
        const error = new PodflameError(
          'OUTPUT_TOO_LARGE',
          `the capture wrote more than ${options.maxBytes} bytes of ${what} (the agent's --max-output-bytes); ` +
            'use a shorter duration or a lower frequency',
          { details: { maxOutputBytes: options.maxBytes } },
        );
        options.onTooLarge(error);
        throw error;
      }
      const handedOver = performance.now();
      yield buf;
      collapseMs += performance.now() - handedOver;
    }
    streamEndedAt = performance.now();
  }
  let result: LimitedCollapse;
  try {
    result = await (options.collapser ?? IN_PROCESS_COLLAPSER).collapse(
      bounded(),
      options.limits,
      event,
      options.frequencyHz,
      options.durationSeconds,
    );
  } catch (err) {
    // The profile worker stopped this collapse to keep its heap for the others: stop the capture too, at once.
    if (err instanceof PodflameError && err.code === 'PROFILE_TOO_LARGE') options.onTooLarge(err);
    throw err;
  }
  collapseMs += performance.now() - streamEndedAt;
  const warnings: CaptureWarning[] = result.warnings.map((message) => ({
    code:
      result.unrecognizedLines > 0 && SKIPPED_LINES_WARNING.test(message)
        ? 'UNRECOGNIZED_LINES'
        : UNKNOWN_STACKS_WARNING.test(message)
          ? 'UNKNOWN_STACKS'
          : 'COLLAPSE',
    message,
  }));
  if (result.droppedStacks > 0) {
    warnings.push({
      code: 'PROFILE_TOO_LARGE',
      message:
        `the profile had more than the agent keeps (${options.limits.maxStacks} distinct stacks, ` +
        `${options.limits.maxBytes} bytes of stacks: its --max-stacks and --max-profile-bytes); the largest were ` +
        `kept, ${result.droppedStacks} smaller stacks with ${result.droppedSamples} ${EVENT_KINDS[event].unit} are ` +
        'counted as ' +
        `${JSON.stringify(DROPPED_FRAME)}`,
    });
  }
  return {
    folded: result.folded,
    foldedSamples: result.foldedSamples,
    ...(result.eventCounts !== undefined ? { eventCounts: result.eventCounts } : {}),
    samples: result.samples,
    jitFrames: result.jitFrames,
    jitFramesResolved: result.jitFramesResolved,
    unrecognizedLines: result.unrecognizedLines,
    droppedStacks: result.droppedStacks,
    droppedSamples: result.droppedSamples,
    warnings,
    bytes,
    firstByteAt,
    collapseMs,
  };
}

/**
 * Throws INVALID_REQUEST for options the renderer would refuse (an unknown palette, ...) or the agent does (a
 * `minwidth` below its floor), before a capture runs.
 */
export function checkRenderOptions(options: Readonly<Record<string, unknown>>): void {
  const resolved = resolveRenderOptions(options as Partial<RenderOptions>);
  checkMinwidthFloor(resolved.minwidth);
}
