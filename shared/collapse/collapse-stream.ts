/**
 * Thin I/O around PerfCollapser: feed it a stream (stdin, a Docker capture's stdout, a gunzip stream) or files.
 * The collapser itself never does I/O, so it can be fed from anywhere.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { asPodflameError, PodflameError } from '../errors.js';
import { fileErrorReason } from '../file-error.js';
import type { CollapseOptions } from './options.js';
import type { CollapseResult } from './collapse-result.js';
import { PerfCollapser } from './perf-collapser.js';
import { isGzip, rejectBinary, textChunks } from './input-sniff.js';

/** Read size for files: one buffer, reused for every read (the collapser keeps no reference to a chunk). */
const FILE_CHUNK_BYTES = 64 << 10;

export interface CollapseStreamOptions extends Partial<CollapseOptions> {
  /** Stops reading and rejects with CAPTURE_ABORTED when aborted. Default none. */
  signal?: AbortSignal | undefined;
}

export interface CollapseFilesOptions extends CollapseStreamOptions {
  /** What the path `-` reads (the CLI passes its stdin). Default none: `-` is then an ordinary file name. */
  stdin?: AsyncIterable<Buffer | Uint8Array | string> | undefined;
}

/** Collapses one stream of `perf script` text (Buffers, or strings decoded as UTF-8). */
export async function collapseStream(
  input: AsyncIterable<Buffer | Uint8Array | string>,
  options: CollapseStreamOptions = {},
): Promise<CollapseResult> {
  const collapser = new PerfCollapser(options);
  await feed(collapser, input, options.signal);
  return collapser.finish();
}

/**
 * Collapses files one after the other into one result, as `stackcollapse-perf.pl FILE...` does (a sample may even
 * continue into the next file). Fails with FILE_UNREADABLE naming the file that cannot be read. Unlike perl, a gzip
 * file (or stdin) is read through gunzip, and a binary one, or one of which no line is perf script output, fails with
 * INVALID_INPUT instead of becoming junk "stacks" (input-sniff.ts).
 *
 * Files are read with blocking `readSync` calls, 64 KiB at a time into one reused buffer: for a one-shot CLI this
 * costs less than half of what a read stream's machinery does (threadpool round trips, promises per chunk), and memory
 * stays one chunk. A server collapsing while it serves requests uses `collapseStream` instead.
 */
export async function collapseFiles(
  paths: readonly string[],
  options: CollapseFilesOptions = {},
): Promise<CollapseResult> {
  const collapser = new PerfCollapser(options);
  for (const path of paths) {
    if (path === '-' && options.stdin !== undefined) {
      await feed(collapser, textChunks(options.stdin, 'stdin'), options.signal);
      collapser.endOfFile();
      continue;
    }
    try {
      await readFileInto(collapser, path, options.signal);
    } catch (err) {
      if (err instanceof PodflameError) throw err;
      throw new PodflameError('FILE_UNREADABLE', `cannot read ${path}: ${fileErrorReason(err)}; check the path`, {
        cause: err,
        details: { path, code: (err as NodeJS.ErrnoException).code },
      });
    }
    collapser.endOfFile();
  }
  const result = collapser.finish();
  rejectUnrecognized(result, paths);
  return result;
}

/**
 * Nothing parsed: every line that was not blank or a comment was unrecognized, and no sample was dropped by the event
 * filter either. Skipping such lines one by one would print an empty profile and exit 0 on a file that is something
 * else entirely (folded stacks, a log, the wrong file).
 */
function rejectUnrecognized(result: CollapseResult, paths: readonly string[]): void {
  if (result.samples > 0 || result.droppedEventSamples > 0 || result.unrecognizedLines === 0) return;
  const first = result.firstUnrecognizedLine ?? '';
  const input = paths.length === 1 ? (paths[0] === '-' ? 'stdin' : paths[0]) : 'the input';
  const already = /^\S.* \d+$/.test(first)
    ? 'it looks like folded stacks already: draw them with podflame render'
    : 'give the text perf script prints, e.g. perf script -i perf.data > perf.txt';
  throw new PodflameError(
    'INVALID_INPUT',
    `${input} is not perf script output: no line is part of a sample (${result.unrecognizedLines} unrecognized, ` +
      `the first: ${JSON.stringify(first.slice(0, 80))}); ${already}`,
    { details: { unrecognizedLines: result.unrecognizedLines } },
  );
}

async function readFileInto(collapser: PerfCollapser, path: string, signal: AbortSignal | undefined): Promise<void> {
  const fd = openSync(path, 'r');
  let closed = false;
  try {
    const buffer = Buffer.allocUnsafe(FILE_CHUNK_BYTES);
    let first = true;
    for (;;) {
      throwIfAborted(signal);
      const bytes = readSync(fd, buffer, 0, buffer.length, null);
      if (bytes === 0) break;
      const chunk = buffer.subarray(0, bytes);
      if (first) {
        first = false;
        if (isGzip(chunk)) {
          closeSync(fd);
          closed = true;
          await feed(collapser, textChunks(createReadStream(path), path), signal);
          return;
        }
        rejectBinary(chunk, path);
      }
      // push() decodes the bytes at once, so the buffer can be reused.
      collapser.push(chunk);
    }
  } finally {
    if (!closed) closeSync(fd);
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw asPodflameError(signal.reason, 'CAPTURE_ABORTED', 'collapsing was aborted');
}

async function feed(
  collapser: PerfCollapser,
  input: AsyncIterable<Buffer | Uint8Array | string>,
  signal: AbortSignal | undefined,
): Promise<void> {
  for await (const chunk of input) {
    throwIfAborted(signal);
    collapser.push(chunk);
  }
}
