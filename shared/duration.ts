/**
 * Durations as people type them on a command line or in an environment variable: `30` (seconds), `30s`, `2m`, `1h`,
 * `1500ms`. Used by the CLI (`-d 2m`) and the agent's configuration (`--request-timeout 1m`).
 */
import { PodflameError } from './errors.js';

const UNIT_SECONDS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600 };

// e.g. `30`, `30s`, `2m`, `1.5h`, `1500ms`
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** Parses a duration into seconds; throws USAGE naming `what` (e.g. "--duration") when the text is not one. */
export function parseDurationSeconds(text: string, what: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) {
    throw new PodflameError('USAGE', `${what} must be a duration such as 30, 30s, 2m or 1h, got '${text}'`);
  }
  return Number(m[1]) * (UNIT_SECONDS[m[2] ?? 's'] as number);
}
