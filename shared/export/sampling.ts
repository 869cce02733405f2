import { PodflameError } from '../errors.js';
import { wallSamplePeriodMs } from '../event-options.js';
import type { ProfileEvent } from '../profile-events.js';

/** How the samples behind a folded profile were taken; exporters turn counts into CPU time with it. */
export interface SamplingOptions {
  /**
   * perf's sampling frequency (`-F`, Hz). Each sample stands for 1e9/Hz ns of CPU time, so a stack's CPU time is
   * count × period. Default 99 (the agent's default frequency).
   */
  frequencyHz: number;
}

export const DEFAULT_SAMPLING_OPTIONS: Readonly<SamplingOptions> = Object.freeze({ frequencyHz: 99 });

/** Nanoseconds per sample at this frequency, rounded to a whole nanosecond (99 Hz → 10,101,010 ns). */
export function samplingPeriodNanos(frequencyHz: number): number {
  return Math.round(1e9 / frequencyHz);
}

/**
 * Nanoseconds each sample of a profile of this event stands for: perf's 1e9/Hz for cpu; for wall, the period
 * Flight Recorder was asked to sample at (whole ms, at least 10: 99 Hz → 10,000,000 ns).
 */
export function eventPeriodNanos(event: ProfileEvent, frequencyHz: number): number {
  return event === 'wall' ? wallSamplePeriodMs(frequencyHz) * 1_000_000 : samplingPeriodNanos(frequencyHz);
}

export function validateFrequency(frequencyHz: number): number {
  if (!Number.isFinite(frequencyHz) || frequencyHz <= 0) {
    throw new PodflameError(
      'INVALID_INPUT',
      `sampling frequency must be a positive number of Hz (e.g. 99), got ${String(frequencyHz)}`,
    );
  }
  return frequencyHz;
}

/** Frames of a folded stack, root first (`java;main;Hot.fib_[j]` → `java`, `main`, `Hot.fib_[j]`). */
export function framesOf(stack: string): string[] {
  return stack.split(';');
}
