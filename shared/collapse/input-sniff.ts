/**
 * What an input file holds, from its first bytes: gzip (read through gunzip, as `perf script | gzip > perf.txt.gz`
 * is a common way to keep a capture), binary (refused: `perf.data` itself, a core file, an image), or text.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { PodflameError } from '../errors.js';

/** RFC 1952: every gzip member starts with ID1 ID2 = 1f 8b. */
export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/**
 * How far into a text a NUL byte is looked for: git calls a file binary when its first 8000 bytes hold one
 * (`buffer_is_binary`), and `perf script` text never does (names come from C strings).
 */
export const BINARY_SNIFF_BYTES = 8000;

/** Throws INVALID_INPUT when `head` (the first bytes of `name`, `seen` bytes already checked before it) holds a NUL. */
export function rejectBinary(head: Uint8Array, name: string, seen = 0): void {
  if (seen >= BINARY_SNIFF_BYTES) return;
  const at = head.subarray(0, BINARY_SNIFF_BYTES - seen).indexOf(0);
  if (at < 0) return;
  // perf.data starts with the magic "PERFILE2" (tools/perf/util/header.c), then NUL bytes: say so by name.
  const perfData = seen === 0 && Buffer.from(head.subarray(0, 8)).toString('latin1') === 'PERFILE2';
  const what = perfData ? 'a perf.data file' : `binary (a NUL byte at offset ${seen + at})`;
  throw new PodflameError(
    'INVALID_INPUT',
    `${name} is ${what}, not the text perf script prints: ` +
      `run perf script -i ${perfData ? name : 'perf.data'} > perf.txt and collapse perf.txt`,
    { details: { input: name, offset: seen + at } },
  );
}

/**
 * The text of an input given as chunks: gunzipped when it starts with gzip's magic bytes, and refused when binary
 * (rejectBinary). A gzip stream that is cut short or corrupt is INVALID_INPUT, not a read error.
 */
export async function* textChunks(
  input: AsyncIterable<Buffer | Uint8Array | string>,
  name: string,
): AsyncGenerator<Buffer> {
  const it = input[Symbol.asyncIterator]();
  // Enough bytes to tell gzip from text (a chunk may be a single byte).
  let head = Buffer.alloc(0);
  let done = false;
  while (head.length < 2 && !done) {
    const next = await it.next();
    if (next.done === true) done = true;
    else head = Buffer.concat([head, toBuffer(next.value)]);
  }
  const rest: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        if (done) return { done: true, value: undefined };
        const next = await it.next();
        return next.done === true ? next : { done: false, value: toBuffer(next.value) };
      },
    }),
  };
  const text = isGzip(head) ? gunzipped(head, rest, name) : concatenated(head, rest);
  let seen = 0;
  for await (const chunk of text) {
    rejectBinary(chunk, name, seen);
    seen += chunk.length;
    yield chunk;
  }
}

async function* concatenated(head: Buffer, rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  yield* rest;
}

async function* gunzipped(head: Buffer, rest: AsyncIterable<Buffer>, name: string): AsyncGenerator<Buffer> {
  const source = Readable.from(concatenated(head, rest));
  const gunzip = source.pipe(createGunzip());
  // pipe() does not pass a read error on: without this the loop below would wait for ever.
  source.once('error', (err) => gunzip.destroy(err));
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw new PodflameError(
        'INVALID_INPUT',
        `${name} starts as gzip but cannot be decompressed (${(err as Error).message}): was it cut short? ` +
          `check it with gzip -t`,
        { cause: err, details: { input: name } },
      );
    }
    throw err;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}

function toBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
