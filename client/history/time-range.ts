/**
 * Time on the history commands' command lines, turned into absolute times once (so every agent is asked about the
 * same instants): `--since 1h`, `--from`/`--to`, and ranges `--base 2h..1h --target 1h..now`. A point is `now`, an
 * age (`90m`, `2h`, `7d`: that long ago), or an absolute time (`2025-11-27T09:00:00Z`, unix seconds, `now-2h`).
 */
import { PodflameError } from '../../shared/errors.js';
import { parseAgeSeconds, parseTimeParam } from '../../shared/history.js';

export interface TimeRange {
  /** ms since the epoch, inclusive. */
  from: number;
  /** ms since the epoch, exclusive. */
  to: number;
}

function usage(message: string, cause?: unknown): PodflameError {
  return new PodflameError('USAGE', message, cause === undefined ? {} : { cause });
}

// e.g. `now`, `2h`, `2025-11-27T09:00:00Z`, `1764234000`, `now-90m`
export function parseTimePoint(text: string, what: string, nowMs: number): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?(s|m|h|d|w)$/.test(t)) return nowMs - parseAgeSeconds(t, what) * 1000;
  try {
    return parseTimeParam(t, what, nowMs);
  } catch (err) {
    throw usage(
      `${what} must be now, an age such as 90m, 2h or 7d, or a time such as 2025-11-27T09:00:00Z, got '${text}'`,
      err,
    );
  }
}

/** `--since AGE`: from AGE ago to now. */
export function sinceRange(text: string, nowMs: number): TimeRange {
  let seconds: number;
  try {
    seconds = parseAgeSeconds(text, '--since');
  } catch (err) {
    throw usage(`--since must be an age such as 30m, 1h or 7d, got '${text}'`, err);
  }
  return { from: nowMs - seconds * 1000, to: nowMs };
}

// e.g. `2h..1h`, `1h..now`, `2025-11-27T08:00:00Z..2025-11-27T09:00:00Z`
export function parseRange(text: string, what: string, nowMs: number): TimeRange {
  const parts = text.split('..');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw usage(`${what} must be a range FROM..TO such as 2h..1h or 1h..now, got '${text}'`);
  }
  const range = {
    from: parseTimePoint(parts[0] as string, `${what} (start)`, nowMs),
    to: parseTimePoint(parts[1] as string, `${what} (end)`, nowMs),
  };
  if (range.from >= range.to) {
    throw usage(`${what} ${text} is empty or backwards: its start must come before its end (e.g. 2h..1h)`);
  }
  return range;
}

/** `--since` or `--from`/`--to` (not both kinds); `fallback` when neither is given. */
export function rangeFromFlags(
  flags: { since?: string; from?: string; to?: string },
  nowMs: number,
  fallback: TimeRange | undefined,
): Partial<TimeRange> | undefined {
  if (flags.since !== undefined && (flags.from !== undefined || flags.to !== undefined)) {
    throw usage('give either --since or --from/--to, not both');
  }
  if (flags.since !== undefined) return sinceRange(flags.since, nowMs);
  if (flags.from === undefined && flags.to === undefined) return fallback;
  const range: Partial<TimeRange> = {};
  if (flags.from !== undefined) range.from = parseTimePoint(flags.from, '--from', nowMs);
  if (flags.to !== undefined) range.to = parseTimePoint(flags.to, '--to', nowMs);
  if (range.from !== undefined && range.to !== undefined && range.from >= range.to) {
    throw usage('--from must come before --to');
  }
  return range;
}
