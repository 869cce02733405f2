/**
 * The fields of a `perf script` event line, scanned by hand:
 *
 *     java 22240   919.993501:    1001001 cpu-clock:ppp:       (comm TID time: period event:)
 *     java 24636/25607 [000] 4794564.109216: cycles:           (comm PID/TID [cpu] time: event:)
 *
 * stackcollapse-perf.pl reads them with regular expressions whose lazy comm (`.+?`) is followed by whitespace and a
 * number, so they backtrack over the rest of the line for every whitespace char in it: quadratic, and one event line
 * of 100 KB of spaces held the agent for a minute (issue #13, finding 2). Each scan here returns what its pattern
 * captures (quoted above it; test/collapse/hostile-names.test.ts holds the scans to the patterns on random lines)
 * and reads each char a bounded number of times. Strings are byte strings, and whitespace is perl's `\s` on bytes
 * (see tidy.ts).
 */
import { isPerlSpace } from './tidy.js';

/** What an event line's comm-and-number pattern captures. */
export interface EventLineFields {
  /** The comm (the thread's name), e.g. `C2 CompilerThre`. */
  comm: string;
  /** The first number after it: the TID, or the PID when `second` is set. */
  first: string;
  /** The number after `/` (`PID/TID`), when there is one. */
  second: string | undefined;
}

/** The end of an event line: the sample's period, when perf printed one, and the event's name. */
export interface EventPeriodAndName {
  period: string | undefined;
  event: string;
}

const SLASH = 0x2f;
const COLON = 0x3a;
const DOT = 0x2e;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** The index of the first char from `from` on that is not perl whitespace (the length when there is none). */
function spacesEnd(s: string, from: number): number {
  let i = from;
  while (i < s.length && isPerlSpace(s.charCodeAt(i))) i++;
  return i;
}

/** The index of the first char from `from` on that is not an ASCII digit. */
function digitsEnd(s: string, from: number): number {
  let i = from;
  while (i < s.length && isDigit(s.charCodeAt(i))) i++;
  return i;
}

/**
 * stackcollapse-perf.pl's `/^(\S.+?)\s+(\d+)\/*(\d+)*\s+/` (perl's `(\d+)*` captures as `(\d+)?` does), or undefined
 * where it does not match. The comm is the SHORTEST prefix of at least two chars followed by whitespace and a number
 * (`C2 CompilerThre 22240 …`: `C2` is followed by a word, so the comm is `C2 CompilerThre`); a second number after
 * `/` makes the first one the PID.
 *
 * Worked out: what may follow a whitespace run does not depend on where in the run the comm ends (the pattern's
 * `\s+` then takes the rest of the run, and every later part is a maximal run of its class, or the match fails), so
 * each run is tried once, ending the comm at its first char that leaves it two chars long.
 */
export function parseEventLine(line: string): EventLineFields | undefined {
  if (line.length === 0 || isPerlSpace(line.charCodeAt(0))) return undefined;
  let i = 1;
  while (i < line.length) {
    if (!isPerlSpace(line.charCodeAt(i))) {
      i++;
      continue;
    }
    const runStart = i;
    i = spacesEnd(line, i);
    if (i <= 2) continue; // the run is the line's second char alone: the comm would be one char
    const firstEnd = digitsEnd(line, i);
    if (firstEnd === i) continue;
    let slashesEnd = firstEnd;
    while (slashesEnd < line.length && line.charCodeAt(slashesEnd) === SLASH) slashesEnd++;
    const secondEnd = digitsEnd(line, slashesEnd);
    if (secondEnd < line.length && isPerlSpace(line.charCodeAt(secondEnd))) {
      return {
        comm: line.slice(0, Math.max(runStart, 2)),
        first: line.slice(i, firstEnd),
        second: secondEnd > slashesEnd ? line.slice(slashesEnd, secondEnd) : undefined,
      };
    }
    // Digits and slashes are not whitespace: the next run starts after them, so they are not read again.
    i = secondEnd;
  }
  return undefined;
}

/**
 * Java mode's event line: `/^(\S.*?)\s+(\d+)(?:\/(\d+))?\s+(?:\[\d+\]\s+)?\d+\.\d+:/`, or undefined where it does not
 * match. JVM thread names often end in a number (`Stream Worker 1 18944  2840.533046: …`); perl's pattern takes the
 * first number after the shortest name as the TID (comm `Stream Worker`, TID 1). Anchoring on the timestamp (after an
 * optional `[cpu]`) keeps the whole thread name. As in parseEventLine, each whitespace run is tried once, and what
 * follows it is read as maximal runs; a failed try reads at most up to the timestamp's end, past two more runs, so
 * each char is read a bounded number of times.
 */
export function parseJavaEventLine(line: string): EventLineFields | undefined {
  if (line.length === 0 || isPerlSpace(line.charCodeAt(0))) return undefined;
  let i = 1;
  while (i < line.length) {
    if (!isPerlSpace(line.charCodeAt(i))) {
      i++;
      continue;
    }
    const runStart = i;
    i = spacesEnd(line, i);
    const fields = javaTidAndTime(line, i);
    if (fields !== undefined) return { comm: line.slice(0, runStart), ...fields };
  }
  return undefined;
}

/** After the comm's whitespace: `TID` or `PID/TID`, whitespace, an optional `[cpu]` and whitespace, `secs.micros:`. */
function javaTidAndTime(line: string, from: number): { first: string; second: string | undefined } | undefined {
  const firstEnd = digitsEnd(line, from);
  if (firstEnd === from) return undefined;
  let second: string | undefined;
  let at = firstEnd;
  if (line.charCodeAt(at) === SLASH) {
    const secondEnd = digitsEnd(line, at + 1);
    if (secondEnd === at + 1) return undefined;
    second = line.slice(at + 1, secondEnd);
    at = secondEnd;
  }
  const afterSpaces = spacesEnd(line, at);
  if (afterSpaces === at) return undefined;
  at = afterSpaces;
  if (line.charCodeAt(at) === OPEN_BRACKET) {
    const cpuEnd = digitsEnd(line, at + 1);
    if (cpuEnd === at + 1 || line.charCodeAt(cpuEnd) !== CLOSE_BRACKET) return undefined;
    at = spacesEnd(line, cpuEnd + 1);
    if (at === cpuEnd + 1) return undefined;
  }
  const secondsEnd = digitsEnd(line, at);
  if (secondsEnd === at || line.charCodeAt(secondsEnd) !== DOT) return undefined;
  const fractionEnd = digitsEnd(line, secondsEnd + 1);
  if (fractionEnd === secondsEnd + 1 || line.charCodeAt(fractionEnd) !== COLON) return undefined;
  return { first: line.slice(from, firstEnd), second };
}

/**
 * `/:\s*(\d+)?\s+(\S+):\s*$/`: `…:    1001001 cpu-clock:ppp: ` → period 1001001, event `cpu-clock:ppp`, or undefined
 * where it does not match. The line ends with the event's name and `:` (then only whitespace): its last word but
 * that `:`. Before the whitespace in front of the word stands `:`, or the period, optionally preceded by whitespace,
 * and `:` before that. Read backwards from the end, once.
 */
export function parseEventPeriodAndName(line: string): EventPeriodAndName | undefined {
  let end = line.length;
  while (end > 0 && isPerlSpace(line.charCodeAt(end - 1))) end--;
  if (end < 2 || line.charCodeAt(end - 1) !== COLON) return undefined;
  let wordStart = end - 1;
  while (wordStart > 0 && !isPerlSpace(line.charCodeAt(wordStart - 1))) wordStart--;
  if (wordStart === 0 || wordStart === end - 1) return undefined;
  const event = line.slice(wordStart, end - 1);
  let spacesStart = wordStart;
  while (spacesStart > 0 && isPerlSpace(line.charCodeAt(spacesStart - 1))) spacesStart--;
  if (spacesStart > 0 && line.charCodeAt(spacesStart - 1) === COLON) return { period: undefined, event };
  let periodStart = spacesStart;
  while (periodStart > 0 && isDigit(line.charCodeAt(periodStart - 1))) periodStart--;
  if (periodStart === spacesStart) return undefined;
  let colon = periodStart;
  while (colon > 0 && isPerlSpace(line.charCodeAt(colon - 1))) colon--;
  if (colon === 0 || line.charCodeAt(colon - 1) !== COLON) return undefined;
  return { period: line.slice(periodStart, spacesStart), event };
}
