/**
 * An event's weight as the graph counts it, bounded: the file comes from the workload, and a crafted chunk (a clock
 * of one tick per second, a duration of 2^62 ticks, a weight beyond 2^53) must not give a weight no recording can
 * hold, nor one that JavaScript numbers cannot add exactly. What is cut or left out is counted, for a warning.
 *
 * - A duration (`lock`) is at most the recording's span that the event can lie in: from the start of the input's
 *   first chunk to the end of the event's own chunk (an event is written to the chunk in which it ends; a wait may
 *   have begun in an earlier chunk of the same recording).
 * - A wait (a lock's time blocked, a wall graph's waiting thread: event-plan.ts `sinceRecording`) counts from the
 *   recording's start only: a thread that parked or went to sleep before the capture began waited in it for the
 *   rest of its wait, not for all of it (a cold user saw "6.3 s blocked in 2 s"). An event type without a
 *   `startTime` is bounded by the span alone.
 * - Given a window (the capture's requested duration from the recording's start: jfr-reader.ts `windowNanos`), a
 *   wait counts up to the window's end only, and a wait or sample that began after it counts nothing: the recording
 *   runs on until its dump completes, seconds later under load, while the graph stands for the requested duration.
 * - Any weight, and any sum of weights, is at most Number.MAX_SAFE_INTEGER (above it, adding 1 is lost).
 * - A negative weight (a clock that went back) or one that is not a number would subtract from other events or
 *   poison every sum: left out.
 */
export interface WeightCounts {
  /** Events or sums whose weight was cut to its bound. */
  clampedWeights: number;
  /** Events left out for a negative or not-a-number weight. */
  rejectedWeights: number;
}

export function noWeightCounts(): WeightCounts {
  return { clampedWeights: 0, rejectedWeights: 0 };
}

/** How one chunk's raw weights become graph weights. */
export interface WeightBounds {
  /** The weight is in ticks of the chunk's clock: nanoseconds per tick; undefined: the weight is taken as written. */
  nanosPerTick: number | undefined;
  /** The longest a duration may be, in nanoseconds. */
  maxDurationNanos: number;
  /** When the recording began, on the chunk's clock (ticks; earlier than the chunk's start for a later chunk). */
  recordingStartTicks: number;
  /**
   * When the graph's window ends, on the chunk's clock (ticks): a wait's time after it is left out, a sample or wait
   * after it is not counted. Infinity: no window (the whole recording).
   */
  windowEndTicks: number;
}

/**
 * A wait's duration `raw` (ticks) without its part before the recording began nor its part after the window's end;
 * `startTicks`: the event's start on the chunk's clock. A negative or not-a-number duration comes back as it is, for
 * boundedWeight to leave out.
 */
export function ticksWithinRecording(raw: number, startTicks: number, bounds: WeightBounds): number {
  if (!(raw >= 0)) return raw;
  const afterWindow = Math.max(0, startTicks + raw - bounds.windowEndTicks);
  // Without a window (Infinity) afterWindow is 0 and the sum is the one the goldens were made with.
  return Math.max(0, raw - Math.max(0, bounds.recordingStartTicks - startTicks) - afterWindow);
}

/** Whether an event that began at `startTicks` began after the window's end (it counts nothing). */
export function startsAfterWindow(startTicks: number, bounds: WeightBounds): boolean {
  return startTicks > bounds.windowEndTicks;
}

/** The weight to count, or undefined when the event is left out (counted in `counts`). */
export function boundedWeight(raw: number, bounds: WeightBounds, counts: WeightCounts): number | undefined {
  if (!(raw >= 0)) {
    counts.rejectedWeights++;
    return undefined;
  }
  let weight = raw;
  let max = Number.MAX_SAFE_INTEGER;
  if (bounds.nanosPerTick !== undefined) {
    weight = Math.trunc(raw * bounds.nanosPerTick);
    max = Math.min(max, bounds.maxDurationNanos);
  }
  if (weight > max) {
    counts.clampedWeights++;
    return max;
  }
  return weight;
}

/** Adds `weight` to `key`'s sum, which stops at Number.MAX_SAFE_INTEGER (counted in `counts`). */
export function addWeight<K>(sums: Map<K, number>, key: K, weight: number, counts: WeightCounts): void {
  const sum = (sums.get(key) ?? 0) + weight;
  if (sum > Number.MAX_SAFE_INTEGER) {
    counts.clampedWeights++;
    sums.set(key, Number.MAX_SAFE_INTEGER);
  } else {
    sums.set(key, sum);
  }
}
