/**
 * A capture's stdout turned into folded stacks, whatever it recorded: `perf script` text for cpu (the Java-aware
 * collapser), the JVMs' Flight Recorder files for alloc, lock and wall (shared/jfr). Fed chunk by chunk, in the
 * profile worker or in the caller's thread, with the same counters either way.
 */
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import type { FoldedStacks } from '../../shared/folded.js';
import { JfrReader } from '../../shared/jfr/jfr-reader.js';
import type { ProfileEvent } from '../../shared/profile-events.js';

export interface EventCollapseResult {
  stacks: FoldedStacks;
  /** The sum of the stacks' weights, in the event's unit (samples for cpu and wall, bytes, nanoseconds). */
  samples: number;
  jitFrames: number;
  jitFramesResolved: number;
  unrecognizedLines: number;
  warnings: string[];
}

export interface EventCollapser {
  push(chunk: Uint8Array): void;
  finish(): EventCollapseResult;
}

export function createEventCollapser(event: ProfileEvent): EventCollapser {
  return event === 'cpu' ? perfCollapser() : flightRecordingCollapser(event);
}

function perfCollapser(): EventCollapser {
  const collapser = new PerfCollapser({ java: true });
  return {
    push: (chunk) => collapser.push(chunk),
    finish: () => {
      const r = collapser.finish();
      return {
        stacks: r.stacks,
        samples: r.samples,
        jitFrames: r.jitFrames,
        jitFramesResolved: r.jitFramesResolved,
        unrecognizedLines: r.unrecognizedLines,
        warnings: [...r.warnings],
      };
    },
  };
}

function flightRecordingCollapser(event: Exclude<ProfileEvent, 'cpu'>): EventCollapser {
  const reader = new JfrReader();
  let bytes = 0;
  return {
    push: (chunk) => {
      bytes += chunk.length;
      reader.push(chunk);
    },
    finish: () => {
      // Nothing at all: the capture failed before any recording was read, and its exit says why (EVENT_UNSUPPORTED,
      // NO_SAMPLES); an empty profile lets that reason through instead of "not a JFR file".
      if (bytes === 0) {
        return {
          stacks: new Map(),
          samples: 0,
          jitFrames: 0,
          jitFramesResolved: 0,
          unrecognizedLines: 0,
          warnings: [],
        };
      }
      const profile = reader.finish();
      const stacks = profile.stacks[event];
      let samples = 0;
      for (const weight of stacks.values()) samples += weight;
      const warnings: string[] = [];
      if (profile.unresolvedStacks > 0) {
        warnings.push(
          `${profile.unresolvedStacks} stack traces of the recording were missing from its constant pools; their ` +
            'weight is counted under [unknown stack]',
        );
      }
      // Flight Recorder names every Java frame itself: no JIT map is involved, so there is no share to report.
      return { stacks, samples, jitFrames: 0, jitFramesResolved: 0, unrecognizedLines: 0, warnings };
    },
  };
}
