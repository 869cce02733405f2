/**
 * Bounds on an agent's answer as the client reads it, so that whatever answers at an agent's address (a hostile or
 * broken server on the way) cannot make the CLI hold gigabytes or wait for ever: the body is read chunk by chunk and
 * dropped once it passes its byte cap, and the whole answer, headers and body, has one deadline (undici's
 * bodyTimeout measures only the gap between two chunks, so a byte a second would never end).
 */
import type { Readable } from 'node:stream';
import { PodflameError } from '../../shared/errors.js';

/**
 * Bytes of a capture's answer read before it is refused: 64 MiB. A default agent keeps at most 32 MiB of stacks in a
 * profile (--max-profile-bytes, each stack its length + 16) and 100,000 of them (--max-stacks); its JSON answer adds
 * some 50 bytes of `{"stack":…,"count":…,"events":…}` to each (5 MB), so twice the stacks' bytes leaves room for
 * escapes and the SVG's markup. An agent configured for larger profiles needs a larger cap (`maxAnswerBytes`).
 */
export const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 ** 2;

/**
 * Bytes of a small JSON answer read before it is refused: 16 MiB, the default of every request that names no cap of
 * its own (/readyz, targets, a profile's status). An honest one is a few KiB (targets: a few hundred bytes per
 * container of the node), so 16 MiB is far above it and far below what would hurt the CLI. History answers (lists of
 * stored profiles, merged graphs) grow with the store and get a capture's cap (DEFAULT_MAX_ANSWER_BYTES).
 */
export const DEFAULT_MAX_JSON_ANSWER_BYTES = 16 * 1024 ** 2;

/** What to do about an answer over its cap: a capture's (the default), a history answer's, or a small JSON one's. */
export type TooLargeHint = 'capture' | 'history' | 'json';

const TOO_LARGE_ADVICE: Readonly<Record<TooLargeHint, string>> = {
  capture:
    'Ask for a shorter capture (-d) or a lower frequency (-F), or raise the cap (--max-answer-bytes) if the agent ' +
    'is configured for profiles that large',
  history: 'Ask about a shorter time range (--since, --from/--to) or fewer profiles (-n, -l, -c, --schedule)',
  json: 'No podflame agent answers that much here: check that a podflame agent is what answers at that address',
};

/** How much of a body has been read so far, for the deadline's message (too slow, or still coming). */
export interface BodyProgress {
  bytes: number;
}

/** Reads `body` to its end, or refuses it with OUTPUT_TOO_LARGE (the stream destroyed) once it passes `maxBytes`. */
export async function readCappedBody(
  body: Readable,
  maxBytes: number,
  from: string,
  hint: TooLargeHint = 'capture',
  progress: BodyProgress = { bytes: 0 },
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    progress.bytes += buffer.length;
    if (progress.bytes > maxBytes) {
      body.destroy();
      throw answerTooLarge(from, maxBytes, hint);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, progress.bytes);
}

function answerTooLarge(from: string, maxBytes: number, hint: TooLargeHint): PodflameError {
  return new PodflameError(
    'OUTPUT_TOO_LARGE',
    `${from}'s answer is larger than ${maxBytes} bytes, the most this client reads; it was not read further. ` +
      TOO_LARGE_ADVICE[hint],
    { details: { maxAnswerBytes: maxBytes } },
  );
}
