/**
 * A finished profile's stacks as the agent keeps them: folded text (`stack count\n`, in byte order, as
 * serializeFolded writes it) in UTF-8, in a SharedArrayBuffer. Outside the JavaScript heap and counted exactly in
 * bytes; posted to the profile worker without a copy (a shared buffer is shared, not cloned), where a Map of 100,000
 * stacks would be cloned on the event loop's thread; and already the `folded` answer.
 */
import { parseFolded, sortBytewise, type FoldedStacks } from '../../shared/folded.js';

/** UTF-8 folded text, one `stack count` line per stack in byte order, backed by a SharedArrayBuffer. */
export type FoldedBytes = Uint8Array;

/**
 * The stacks as folded bytes, as serializeFolded writes them: measured first, then written line by line straight into
 * the shared memory, never as one string of the whole text (which, at --max-profile-bytes, is 32 MB of the worker's
 * heap for a moment, on top of the stacks themselves).
 */
export function toFoldedBytes(stacks: FoldedStacks): FoldedBytes {
  const keys = sortBytewise(stacks.keys());
  const counts = keys.map((k) => String(stacks.get(k)));
  let length = 0;
  for (let i = 0; i < keys.length; i++)
    length += Buffer.byteLength(keys[i] as string) + (counts[i] as string).length + 2;
  const bytes = new Uint8Array(new SharedArrayBuffer(length));
  const buf = foldedBuffer(bytes);
  let at = 0;
  for (let i = 0; i < keys.length; i++) {
    at += buf.write(keys[i] as string, at, 'utf8');
    buf[at++] = SPACE;
    at += buf.write(counts[i] as string, at, 'latin1');
    buf[at++] = NEWLINE;
  }
  return bytes;
}

const SPACE = 0x20;
const NEWLINE = 0x0a;

/** The text as a Buffer over the same memory (no copy). */
export function foldedBuffer(bytes: FoldedBytes): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The lines, `stack count`, in byte order; one string for the whole text, sliced line by line. */
export function* foldedBytesLines(bytes: FoldedBytes): Generator<string> {
  const text = foldedBuffer(bytes).toString('utf8');
  let start = 0;
  for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
    yield text.slice(start, nl);
    start = nl + 1;
  }
}

/** The stacks back as a Map (for the store, which keeps them by stack). */
export function parseFoldedBytes(bytes: FoldedBytes): FoldedStacks {
  return parseFolded(foldedBuffer(bytes).toString('utf8')).stacks;
}

/** The stack and the count of one line of `foldedBytesLines`. */
export function splitFoldedLine(line: string): { stack: string; count: number } {
  const space = line.lastIndexOf(' ');
  return { stack: line.slice(0, space), count: Number(line.slice(space + 1)) };
}
