/**
 * Request validation with messages a person can act on: which field, what was expected, what was sent. zod's own
 * messages name neither the field nor, for the target's two shapes, which shape was meant.
 */
import type { ZodError, ZodIssue } from 'zod';
import { ProfileRequestSchema, type ValidProfileRequest } from '../../shared/api.js';
import { PodflameError } from '../../shared/errors.js';
import { eventOptionProblems } from '../../shared/event-options.js';

const TARGET_SHAPES = 'target must be {"podUid": "...", "container": "..."} or {"containerId": "..."}';

function fieldPath(path: readonly (string | number)[]): string {
  return path.length === 0 ? 'request body' : path.join('.');
}

/** For a union (the target), the branch with the fewest issues is the one the caller meant. */
function flatten(issues: readonly ZodIssue[]): ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union') return [issue];
    const branches = issue.unionErrors.map((e) => flatten(e.issues));
    const best = branches.reduce((a, b) => (b.length < a.length ? b : a), branches[0] ?? []);
    return best.length > 0 ? best : [issue];
  });
}

function describe(issue: ZodIssue, body: unknown): string {
  const where = fieldPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `'${k}'`).join(', ');
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${keys} in ${where}`;
  }
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return `${where} is required`;
  if (issue.code === 'invalid_type' && issue.path.length === 0) {
    return `the request body must be a JSON object, got ${issue.received}`;
  }
  const sent = issue.path.reduce<unknown>(
    (v, k) => (v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined),
    body,
  );
  const shown = sent === undefined || issue.code === 'invalid_enum_value' ? '' : `, got ${quoted(sent)}`;
  return `${where}: ${issue.message}${shown}`;
}

/** What was sent, as JSON, cut at 80 characters; a value nested too deeply for JSON.stringify is named instead. */
function quoted(value: unknown): string {
  try {
    return String(JSON.stringify(value)).slice(0, 80);
  } catch {
    // A 64 KiB body of `[[[[...` overflows the stack: that is the caller's malformed request, not an agent error.
    return `${Array.isArray(value) ? 'an array' : 'a value'} nested too deeply to show`;
  }
}

function targetShapeMissing(body: unknown): boolean {
  const target = (body as { target?: unknown } | null)?.target;
  return (
    target !== null &&
    typeof target === 'object' &&
    !Array.isArray(target) &&
    !('containerId' in target) &&
    !('podUid' in target) &&
    !('container' in target)
  );
}

export function invalidRequest(error: ZodError, body: unknown): PodflameError {
  const issues = flatten(error.issues);
  const messages = targetShapeMissing(body)
    ? [TARGET_SHAPES, ...issues.filter((i) => i.path[0] !== 'target').map((i) => describe(i, body))]
    : issues.map((i) => describe(i, body));
  return new PodflameError('INVALID_REQUEST', `invalid request: ${[...new Set(messages)].join('; ')}`, {
    details: { issues: issues.map((i) => ({ path: fieldPath(i.path), code: i.code, message: describe(i, body) })) },
  });
}

/** Validates a `POST /v1/profiles` body (already parsed JSON); throws INVALID_REQUEST (400). */
export function parseProfileRequest(body: unknown): ValidProfileRequest {
  if (body === undefined) {
    throw new PodflameError(
      'INVALID_REQUEST',
      'the request needs a JSON body such as {"target": {"containerId": "..."}, "durationSeconds": 30}',
    );
  }
  const parsed = ProfileRequestSchema.safeParse(body);
  if (!parsed.success) throw invalidRequest(parsed.error, body);
  // The schema fills in frequencyHz's default: whether the caller gave one is read from the body itself.
  const given = (body as { frequencyHz?: unknown }).frequencyHz !== undefined;
  const problems = eventOptionProblems(
    parsed.data.event,
    {
      ...(parsed.data.java?.inlined !== undefined ? { inlined: parsed.data.java.inlined } : {}),
      ...(given ? { frequencyHz: parsed.data.frequencyHz } : {}),
    },
    { inlined: 'java.inlined', frequencyHz: 'frequencyHz' },
  );
  if (problems.length > 0) {
    throw new PodflameError('INVALID_REQUEST', `invalid request: ${problems.join('; ')}`, {
      details: { event: parsed.data.event },
    });
  }
  return parsed.data;
}
