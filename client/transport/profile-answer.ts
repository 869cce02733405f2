/**
 * A finished capture as the agent answers it: the body in the requested format plus what its headers say. The
 * transport decodes every capture's answer here, whichever way the agent was reached.
 */
import { HEADERS, type CaptureWarning, type OutputFormat, type ProfileJson } from '../../shared/api.js';
import { PodflameError } from '../../shared/errors.js';
import type { EventCounts, FoldedStacks } from '../../shared/folded.js';
import { terminalSafe } from '../../shared/terminal-safe.js';

export interface ProfileAnswer {
  body: Buffer;
  contentType: string | undefined;
  profileId: string | undefined;
  samples: number | undefined;
  warnings: CaptureWarning[];
  /** The node the agent says it runs on (X-Podflame-Node). */
  node: string | undefined;
  /** Share of JIT frames named; null when there were none (or the agent did not say). */
  jitResolved: number | null;
}

// e.g. X-Podflame-Warnings: %5B%7B%22code%22%3A%22NO_PRESERVE_FRAME_POINTER%22%2C...%7D%5D
/** Decodes the X-Podflame-Warnings header (URI-encoded JSON array); a garbled header is reported as one warning. */
export function decodeWarningsHeader(value: string | undefined): CaptureWarning[] {
  if (value === undefined || value === '') return [];
  try {
    const parsed: unknown = JSON.parse(decodeURIComponent(value));
    if (Array.isArray(parsed)) {
      // Printed as they come to a terminal (the CLI's stderr): an agent's text made safe here, once for every caller.
      return parsed
        .filter(
          (w): w is CaptureWarning =>
            w !== null && typeof w === 'object' && typeof w.code === 'string' && typeof w.message === 'string',
        )
        .map((w) => ({ code: terminalSafe(w.code, 100), message: terminalSafe(w.message, 4000) }));
    }
  } catch {
    // fall through
  }
  return [
    {
      code: 'WARNINGS_UNREADABLE',
      message: `the agent's warnings header could not be read: ${terminalSafe(value, 200)}`,
    },
  ];
}

/** A header an agent sets that the CLI prints (the profile's id, the node): terminal-safe, bounded. */
function safeHeader(value: string | undefined): string | undefined {
  return value === undefined ? undefined : terminalSafe(value, 253);
}

function numberOrUndefined(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** The media type an agent answers each format with (agent/profiles/render-profile.ts), charset aside. */
const MEDIA_TYPES: Readonly<Record<OutputFormat, string>> = {
  svg: 'image/svg+xml',
  folded: 'text/plain',
  json: 'application/json',
};

/**
 * Why an answer's Content-Type does not fit the format asked for, or undefined when it does: what answered then is
 * not an agent doing what was asked, and its body must not be written out as if it were (`--format folded` writing
 * JSON, or HTML).
 */
export function contentTypeProblem(format: OutputFormat, contentType: string | undefined): string | undefined {
  const expected = MEDIA_TYPES[format];
  const got = contentType?.split(';')[0]?.trim().toLowerCase();
  if (got === expected) return undefined;
  return (
    `answered ${got ? `Content-Type ${got}` : 'without a Content-Type'} to a request for --format ${format} ` +
    `(${expected} expected): check that the URL is a podflame agent's`
  );
}

/** Builds the answer from a 2xx response's body and (lower-cased) headers. */
export function profileAnswerFrom(body: Buffer, headers: Record<string, string | undefined>): ProfileAnswer {
  return {
    body,
    contentType: headers['content-type'],
    profileId: safeHeader(headers[HEADERS.profileId]),
    samples: numberOrUndefined(headers[HEADERS.samples]),
    warnings: decodeWarningsHeader(headers[HEADERS.warnings]),
    node: safeHeader(headers[HEADERS.node]),
    jitResolved: numberOrUndefined(headers[HEADERS.jitResolved]) ?? null,
  };
}

/** A capture's stacks as its JSON answer (`format: "json"`) gives them. */
export interface AnsweredStacks {
  stacks: FoldedStacks;
  /** Each stack's events (a lock profile's contentions); absent when the agent counted none, or predates them. */
  eventCounts?: EventCounts;
}

// e.g. {"id":"…","event":"lock","samples":2012345678,…,"stacks":[{"stack":"java.lang.Thread.run_[j];…","count":2012345678,"events":41}]}
/** The stacks (and events per stack) of a profile's JSON answer; CAPTURE_FAILED when the body is not one. */
export function stacksOfProfileJson(body: Buffer): AnsweredStacks {
  let parsed: Partial<ProfileJson> | undefined;
  try {
    parsed = JSON.parse(body.toString('utf8')) as Partial<ProfileJson>;
  } catch (err) {
    throw notProfileJson(`it is not JSON (${(err as Error).message})`, err);
  }
  if (!Array.isArray(parsed?.stacks)) throw notProfileJson('it has no stacks list');
  const stacks: FoldedStacks = new Map();
  const eventCounts: EventCounts = new Map();
  for (const [index, entry] of (parsed.stacks as unknown[]).entries()) {
    const { stack, count, events } = (entry ?? {}) as { stack?: unknown; count?: unknown; events?: unknown };
    if (typeof stack !== 'string' || typeof count !== 'number') {
      throw notProfileJson(`stack entry ${index} is not {stack, count}: ${describeShallow(entry)}`);
    }
    if (!isCount(count)) throw notProfileJson(`stack entry ${index} has count ${count}, not a whole number ≥ 0`);
    if (events !== undefined && !isCount(events)) {
      throw notProfileJson(`stack entry ${index} has events ${describeShallow(events)}, not a whole number ≥ 0`);
    }
    const sum = (stacks.get(stack) ?? 0) + count;
    if (!Number.isSafeInteger(sum)) throw notProfileJson(`the counts of stack entry ${index} add up beyond 2^53`);
    stacks.set(stack, sum);
    if (typeof events === 'number') eventCounts.set(stack, (eventCounts.get(stack) ?? 0) + events);
  }
  // An agent gives events for every stack of a profile that counted them, or for none.
  return eventCounts.size > 0 ? { stacks, eventCounts } : { stacks };
}

/** A count as the agent writes one: a whole number, at least 0, exact in a double (1e308 and -1 are not). */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * A value named in an error without walking into it: JSON.stringify recurses, and an entry nested a million arrays
 * deep (which JSON.parse, iterative, reads) would overflow the stack.
 */
function describeShallow(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(JSON.stringify(value) ?? value).slice(0, 200);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `an object with keys ${Object.keys(value).slice(0, 10).join(', ')}`;
}

function notProfileJson(why: string, cause?: unknown): PodflameError {
  return new PodflameError(
    'CAPTURE_FAILED',
    `the agent's JSON answer could not be read as a profile: ${why}; check that the URL is a podflame agent's, and ` +
      'ask for --format folded to see its stacks as they are',
    cause === undefined ? {} : { cause },
  );
}
