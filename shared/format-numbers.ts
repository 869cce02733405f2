/**
 * How podflame writes numbers for people, in one place: bytes (decimal units, as `du --si` and Pyroscope write them),
 * durations and counts. The graphs' subtitles (profile-events.ts) and the agent's web page (agent/server/web/browser,
 * which bundles this module into its script) both call these, so a total reads the same everywhere. No imports: the
 * browser build inlines this file as it is.
 */

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;

/** `512 B`, `1.2 KB`, `3.4 GB`: powers of 1000, one decimal past bytes. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** `340 ms` below a second, else seconds with one decimal (`2.5 s`, `75.0 s`): blocked time, a capture's length. */
export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return `${seconds.toFixed(1)} s`;
}

/** `12,345`: a whole number with thousands separators, the same in every locale. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
