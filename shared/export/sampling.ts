import { PodflameError } from '../errors.js';

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
