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

/** Reads `body` to its end, or refuses it with OUTPUT_TOO_LARGE (the stream destroyed) once it passes `maxBytes`. */
export async function readCappedBody(body: Readable, maxBytes: number, from: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > maxBytes) {
      body.destroy();
      throw answerTooLarge(from, maxBytes);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}

function answerTooLarge(from: string, maxBytes: number): PodflameError {
  return new PodflameError(
    'OUTPUT_TOO_LARGE',
    `${from}'s answer is larger than ${maxBytes} bytes, the most this client reads; it was not read further. ` +
      'Ask for a shorter capture (-d) or a lower frequency (-F), or raise the cap (--max-answer-bytes) if the agent ' +
      'is configured for profiles that large',
    { details: { maxAnswerBytes: maxBytes } },
  );
}
