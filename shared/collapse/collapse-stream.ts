/**
 * Thin I/O around PerfCollapser: feed it a stream (stdin, a Docker capture's stdout, a gunzip stream) or files.
 * The collapser itself never does I/O, so it can be fed from anywhere.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { asPodflameError, PodflameError } from '../errors.js';
import { fileErrorReason } from '../file-error.js';
import type { CollapseOptions } from './options.js';
import type { CollapseResult } from './collapse-result.js';
import { PerfCollapser } from './perf-collapser.js';

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
 * continue into the next file). Fails with FILE_UNREADABLE naming the file that cannot be read.
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
      await feed(collapser, options.stdin, options.signal);
      collapser.endOfFile();
      continue;
    }
    try {
      readFileInto(collapser, path, options.signal);
    } catch (err) {
      if (err instanceof PodflameError) throw err;
      throw new PodflameError('FILE_UNREADABLE', `cannot read ${path}: ${fileErrorReason(err)}; check the path`, {
        cause: err,
        details: { path, code: (err as NodeJS.ErrnoException).code },
      });
    }
    collapser.endOfFile();
  }
  return collapser.finish();
}

function readFileInto(collapser: PerfCollapser, path: string, signal: AbortSignal | undefined): void {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(FILE_CHUNK_BYTES);
    for (;;) {
      throwIfAborted(signal);
      const bytes = readSync(fd, buffer, 0, buffer.length, null);
      if (bytes === 0) break;
      // push() decodes the bytes at once, so the buffer can be reused.
      collapser.push(buffer.subarray(0, bytes));
    }
  } finally {
    closeSync(fd);
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
