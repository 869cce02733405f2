/**
 * A finished capture as the agent answers it: the body in the requested format plus what its headers say. The
 * transport decodes every capture's answer here, whichever way the agent was reached.
 */
import { HEADERS, type CaptureWarning, type ProfileJson } from '../../shared/api.js';
import { PodflameError } from '../../shared/errors.js';
import type { EventCounts, FoldedStacks } from '../../shared/folded.js';

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
      return parsed.filter(
        (w): w is CaptureWarning =>
          w !== null && typeof w === 'object' && typeof w.code === 'string' && typeof w.message === 'string',
      );
    }
  } catch {
    // fall through
  }
  return [
    { code: 'WARNINGS_UNREADABLE', message: `the agent's warnings header could not be read: ${value.slice(0, 200)}` },
  ];
}

function numberOrUndefined(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** Builds the answer from a 2xx response's body and (lower-cased) headers. */
export function profileAnswerFrom(body: Buffer, headers: Record<string, string | undefined>): ProfileAnswer {
  return {
    body,
    contentType: headers['content-type'],
    profileId: headers[HEADERS.profileId],
    samples: numberOrUndefined(headers[HEADERS.samples]),
    warnings: decodeWarningsHeader(headers[HEADERS.warnings]),
    node: headers[HEADERS.node],
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
  for (const entry of parsed.stacks as unknown[]) {
    const { stack, count, events } = (entry ?? {}) as { stack?: unknown; count?: unknown; events?: unknown };
    if (typeof stack !== 'string' || typeof count !== 'number') {
      throw notProfileJson(`a stack entry is not {stack, count}: ${JSON.stringify(entry)?.slice(0, 200)}`);
    }
    stacks.set(stack, (stacks.get(stack) ?? 0) + count);
    if (typeof events === 'number') eventCounts.set(stack, (eventCounts.get(stack) ?? 0) + events);
  }
  // An agent gives events for every stack of a profile that counted them, or for none.
  return eventCounts.size > 0 ? { stacks, eventCounts } : { stacks };
}

function notProfileJson(why: string, cause?: unknown): PodflameError {
  return new PodflameError(
    'CAPTURE_FAILED',
    `the agent's JSON answer could not be read as a profile: ${why}; check that the URL is a podflame agent's, and ` +
      'ask for --format folded to see its stacks as they are',
    cause === undefined ? {} : { cause },
  );
}
