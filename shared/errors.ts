/**
 * Every error podflame reports carries a stable string code (never matched by message), a message that says what
 * was expected, what was found and what to do, optional structured details, and the underlying cause.
 * The agent maps a code to an HTTP status; the client turns the JSON body back into the same class.
 */

export const ERROR_CODES = {
  // Usage and input
  USAGE: { status: 400, exitCode: 2 },
  INVALID_REQUEST: { status: 400, exitCode: 2 },
  INVALID_INPUT: { status: 400, exitCode: 1 },
  EMPTY_INPUT: { status: 422, exitCode: 1 },
  UNSUPPORTED_OPTION: { status: 400, exitCode: 2 },
  // `podflame NAME` where NAME is no command (client side): the message says what was meant, e.g. `podflame profile
  // NAME` for a pod's name. Details: command.
  UNKNOWN_COMMAND: { status: 400, exitCode: 2 },
  FILE_UNREADABLE: { status: 400, exitCode: 1 },
  // `-o FILE` that cannot be written: checked before any request or capture starts (client side). Details: path.
  FILE_UNWRITABLE: { status: 400, exitCode: 1 },
  BODY_TOO_LARGE: { status: 413, exitCode: 1 },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, exitCode: 2 },
  // A Flight Recorder file that is not one, is truncated, or contradicts itself. Details: offset (bytes from the
  // start of the input), chunk (its index).
  JFR_MALFORMED: { status: 422, exitCode: 1 },
  // Targets
  TARGET_NOT_FOUND: { status: 404, exitCode: 3 },
  TARGET_AMBIGUOUS: { status: 409, exitCode: 3 },
  TARGET_NOT_RUNNING: { status: 409, exitCode: 3 },
  CAPTURE_IN_PROGRESS: { status: 409, exitCode: 4 },
  ROUTE_NOT_FOUND: { status: 404, exitCode: 1 },
  PROFILE_NOT_FOUND: { status: 404, exitCode: 3 },
  PROFILE_NOT_READY: { status: 409, exitCode: 4 },
  // Capacity and availability
  TOO_MANY_CAPTURES: { status: 429, exitCode: 4 },
  RATE_LIMITED: { status: 429, exitCode: 4 },
  // A namespace's captures at once (`--namespace-max-concurrent`): goes away by itself, so 429 with Retry-After.
  TOO_MANY_NAMESPACE_CAPTURES: { status: 429, exitCode: 4 },
  // A namespace's standing share (`--namespace-max-schedules`): waiting does not help, so 403, as Kubernetes
  // answers a ResourceQuota refusal. Details: quota, limit, namespace.
  QUOTA_EXCEEDED: { status: 403, exitCode: 7 },
  // History merges and diffs take turns (memory follows their stacks); beyond the few waiting, 503 with Retry-After.
  // Details: running, waiting, retryAfterSeconds.
  TOO_MANY_MERGES: { status: 503, exitCode: 4 },
  // The caller of a history merge went away while it waited for its turn: it was never started (no one sees it).
  MERGE_ABORTED: { status: 499, exitCode: 6 },
  DOCKER_UNAVAILABLE: { status: 503, exitCode: 5 },
  CAPTURE_IMAGE_MISSING: { status: 503, exitCode: 5 },
  CAPTURE_TOOLS_MISSING: { status: 503, exitCode: 5 },
  HOST_PROC_UNAVAILABLE: { status: 503, exitCode: 5 },
  AGENT_UNREACHABLE: { status: 502, exitCode: 5 },
  AGENT_NOT_READY: { status: 503, exitCode: 5 },
  // Capture
  CAPTURE_FAILED: { status: 500, exitCode: 6 },
  CAPTURE_TIMEOUT: { status: 504, exitCode: 6 },
  CAPTURE_ABORTED: { status: 499, exitCode: 6 },
  NO_SAMPLES: { status: 422, exitCode: 6 },
  // alloc, lock or wall asked of a target none of whose JVMs can record it with Flight Recorder (no JVM, JDK 8 before
  // update 272, -XX:-FlightRecorder, attach disabled): the message names the JDK and what to change.
  EVENT_UNSUPPORTED: { status: 422, exitCode: 6 },
  OUTPUT_TOO_LARGE: { status: 507, exitCode: 6 },
  PROFILE_TOO_LARGE: { status: 507, exitCode: 6 },
  // A day's stack dictionary in the node-local store is at its cap (`--store-max-dictionary-bytes`): the profile is
  // not stored. Details: block, limit, bytes, adding. Frees itself as retention removes that day's profiles.
  STORE_DICTIONARY_FULL: { status: 507, exitCode: 6 },
  // A fan-out wrote a graph of the pods that could be profiled, but not all of them could (client side)
  PARTIAL_CAPTURE: { status: 207, exitCode: 8 },
  // Access
  UNAUTHENTICATED: { status: 401, exitCode: 7 },
  FORBIDDEN: { status: 403, exitCode: 7 },
  // A request a web page could have made for someone else (DNS rebinding, a cross-site form or fetch)
  HOST_NOT_ALLOWED: { status: 403, exitCode: 7 },
  FOREIGN_ORIGIN: { status: 403, exitCode: 7 },
  // A `/v1` request a browser says another site's page started (Sec-Fetch-Site cross-site or same-site), e.g. an
  // <img> or a no-cors fetch, which carry no Origin. Details: secFetchSite.
  CROSS_SITE_REQUEST: { status: 403, exitCode: 7 },
  // The client would send a bearer token over plain HTTP (client side; refused unless explicitly allowed)
  INSECURE_TRANSPORT: { status: 400, exitCode: 7 },
  // Kubernetes lookups (client side)
  POD_NOT_FOUND: { status: 404, exitCode: 3 },
  POD_NOT_RUNNING: { status: 409, exitCode: 3 },
  CONTAINER_REQUIRED: { status: 400, exitCode: 3 },
  NO_AGENT_ON_NODE: { status: 503, exitCode: 5 },
  KUBERNETES_API_ERROR: { status: 502, exitCode: 5 },
  // Continuous profiling (stored profiles and schedules)
  NO_STORED_PROFILES: { status: 404, exitCode: 3 },
  SCHEDULE_NOT_FOUND: { status: 404, exitCode: 3 },
  SCHEDULE_READ_ONLY: { status: 409, exitCode: 2 },
  // A schedule named without its namespace (`GET|DELETE /v1/schedules/:name`, a history query by schedule) that is
  // the name of schedules in several namespaces the caller may see: details schedule, namespaces. Add the namespace.
  SCHEDULE_AMBIGUOUS: { status: 409, exitCode: 2 },
  // A merge or diff would add up profiles of different events (cpu samples with allocated bytes): details base, target.
  EVENT_MISMATCH: { status: 400, exitCode: 2 },
  // Configuration
  CONFIG_INVALID: { status: 500, exitCode: 2 },
  INTERNAL: { status: 500, exitCode: 1 },
} as const satisfies Record<string, { status: number; exitCode: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface PodflameErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class PodflameError extends Error {
  override readonly name = 'PodflameError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: PodflameErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].status;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exitCode;
  }

  /** The wire shape of an agent error answer: `{"error": {"code", "message", "details"}}`. */
  toJSON(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** Rebuilds the error an agent sent; unknown codes become INTERNAL with the original code kept in details. */
export function errorFromBody(body: unknown, fallbackMessage: string): PodflameError {
  const e = (body as Partial<ErrorBody> | null)?.error;
  if (e && typeof e.message === 'string') {
    if (isErrorCode(e.code)) return new PodflameError(e.code, e.message, { details: e.details });
    return new PodflameError('INTERNAL', e.message, { details: { ...e.details, remoteCode: e.code } });
  }
  return new PodflameError('INTERNAL', fallbackMessage);
}

/** Wraps anything thrown into a PodflameError, keeping the original as the cause. */
export function asPodflameError(err: unknown, code: ErrorCode, message: string): PodflameError {
  if (err instanceof PodflameError) return err;
  return new PodflameError(code, `${message}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
