/**
 * Which capture options mean something for which event, in one place for the agent's request validation and the
 * CLI: `inlined` names the methods the JIT inlined in perf's JIT map, so it is for cpu alone (Flight Recorder names
 * inlined frames itself); the sampling frequency is perf's for cpu and Flight Recorder's thread-sampling period for
 * wall, and alloc and lock have none (their events are weighted by bytes and time, not sampled at a frequency).
 */
import type { ProfileEvent } from './profile-events.js';

/** HotSpot's Flight Recorder samples a thread at most every 10 ms, whatever period its settings ask for. */
export const JFR_MIN_SAMPLE_PERIOD_MS = 10;

/** The highest frequency a wall capture can honour: one sample every JFR_MIN_SAMPLE_PERIOD_MS. */
export const WALL_MAX_FREQUENCY_HZ = 1000 / JFR_MIN_SAMPLE_PERIOD_MS;

/**
 * The sampling period a wall capture asks Flight Recorder for, in whole milliseconds, as the capture script writes
 * it into the recording's settings: the frequency's period rounded to the nearest ms, at least 10 ms (99 Hz → 10 ms,
 * 30 Hz → 33 ms).
 */
export function wallSamplePeriodMs(frequencyHz: number): number {
  return Math.max(JFR_MIN_SAMPLE_PERIOD_MS, Math.round(1000 / frequencyHz));
}

/** Whether the event is sampled at a frequency (cpu: perf's; wall: Flight Recorder's period); alloc and lock are not. */
export function takesFrequency(event: ProfileEvent): boolean {
  return event === 'cpu' || event === 'wall';
}

/** What a request asked for besides its event: only what the caller gave (`frequencyHz` absent: not given). */
export interface EventOptionsAsked {
  inlined?: boolean;
  frequencyHz?: number;
}

/** The problems of these options with this event, each a sentence naming the field as `names` spells it; [] when none. */
export function eventOptionProblems(
  event: ProfileEvent,
  asked: EventOptionsAsked,
  names: { inlined: string; frequencyHz: string },
): string[] {
  const problems: string[] = [];
  if (asked.inlined === true && event !== 'cpu') {
    problems.push(
      `${names.inlined} is for the cpu event only (it names inlined methods in perf's JIT map); ` +
        `Flight Recorder names inlined frames itself in ${event} profiles: leave it out`,
    );
  }
  const hz = asked.frequencyHz;
  if (hz !== undefined && !takesFrequency(event)) {
    problems.push(
      `${names.frequencyHz} does not apply to ${event}: its Flight Recorder events are weighted by ` +
        `${event === 'alloc' ? 'bytes allocated' : 'time blocked'}, not sampled at a frequency; leave it out`,
    );
  }
  if (hz !== undefined && event === 'wall' && hz > WALL_MAX_FREQUENCY_HZ) {
    problems.push(
      `${names.frequencyHz} is at most ${WALL_MAX_FREQUENCY_HZ} Hz for wall, got ${hz}: Flight Recorder samples ` +
        `each thread at most every ${JFR_MIN_SAMPLE_PERIOD_MS} ms`,
    );
  }
  return problems;
}
