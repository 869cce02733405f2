/**
 * A finished capture as the agent answers it: the body in the requested format plus what its headers say. The
 * transport decodes every capture's answer here, whichever way the agent was reached.
 */
import { HEADERS, type CaptureWarning } from '../../shared/api.js';

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
