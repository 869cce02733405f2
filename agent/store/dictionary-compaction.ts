/**
 * Compaction of a block's stack dictionary: the lines of stacks no committed profile refers to any more (their
 * profiles were removed, or a write failed after its lines were appended), and of frames only such stacks used, are
 * replaced by `-s N`/`-f N` runs (stack-dictionary.ts). IDs keep their places, so no data file or rollup changes:
 * an all-new-stacks profile's thousand lines become one short line once it is gone.
 *
 * Crash safety: the new file is written beside the old one and renamed over it (durable-file.ts), so the dictionary
 * on disk is the old one or the new one, never a mix; both name every stack a committed profile refers to (the
 * profiles whose stacks are dropped were removed, marker first and durably, before compaction ran). Two passes over
 * the file as a stream: memory is a bit per frame ID and the caller's live set, never the dictionary's text.
 */
import { createReadStream } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { writeFileDurableFrom } from './durable-file.js';
import { parseReclaimedRun } from './stack-dictionary.js';

export interface CompactionResult {
  /** Bytes of the new file. */
  bytes: number;
  /** Stack and frame IDs whose lines this compaction reclaimed (not those reclaimed before). */
  stacks: number[];
  frames: number[];
}

/** Bits indexed by ID, grown as needed. */
class BitSet {
  #bits = new Uint8Array(1024);

  set(id: number): void {
    if (id >= this.#bits.length * 8) {
      let length = this.#bits.length;
      while (length * 8 <= id) length *= 2;
      const grown = new Uint8Array(length);
      grown.set(this.#bits);
      this.#bits = grown;
    }
    this.#bits[id >> 3]! |= 1 << (id & 7);
  }

  has(id: number): boolean {
    return id < this.#bits.length * 8 && (this.#bits[id >> 3]! & (1 << (id & 7))) !== 0;
  }
}

function lines(path: string, bytes: number): AsyncIterable<string> {
  // Only the whole lines the store knows of: nothing is appended during a compaction (it runs in the write queue).
  return createInterface({ input: createReadStream(path, { start: 0, end: bytes - 1 }), crlfDelay: Infinity });
}

/**
 * Rewrites the dictionary at `path` (its first `bytes` bytes) keeping the stacks `isLive` and their frames; undefined
 * when nothing is left to reclaim (the file is not rewritten).
 */
export async function compactDictionary(
  path: string,
  bytes: number,
  isLive: (stackId: number) => boolean,
): Promise<CompactionResult | undefined> {
  if (bytes === 0) return undefined;
  const liveFrames = new BitSet();
  let stackId = 0;
  let reclaimable = false;
  for await (const line of lines(path, bytes)) {
    const run = parseReclaimedRun(line);
    if (run) {
      if (run.kind === 's') stackId += run.count;
    } else if (line.startsWith('s ')) {
      if (isLive(stackId)) {
        for (const id of line.slice(2).split(',')) liveFrames.set(parseInt(id, 36));
      } else {
        reclaimable = true;
      }
      stackId++;
    }
  }
  if (!reclaimable) return undefined;

  const result: CompactionResult = { bytes: 0, stacks: [], frames: [] };
  async function* rewritten(): AsyncIterable<Buffer> {
    let out: string[] = [];
    let outLength = 0;
    let run: { kind: 'f' | 's'; count: number } | undefined;
    const emit = (line: string) => {
      out.push(line);
      outLength += line.length + 1;
    };
    const endRun = () => {
      if (run) emit(`-${run.kind} ${run.count}`);
      run = undefined;
    };
    const reclaim = (kind: 'f' | 's', count: number) => {
      if (run && run.kind !== kind) endRun();
      if (run) run.count += count;
      else run = { kind, count };
    };
    let s = 0;
    let f = 0;
    for await (const line of lines(path, bytes)) {
      const old = parseReclaimedRun(line);
      if (old) {
        reclaim(old.kind, old.count);
        if (old.kind === 's') s += old.count;
        else f += old.count;
      } else if (line.startsWith('s ')) {
        if (isLive(s)) {
          endRun();
          emit(line);
        } else {
          reclaim('s', 1);
          result.stacks.push(s);
        }
        s++;
      } else {
        if (liveFrames.has(f)) {
          endRun();
          emit(line);
        } else {
          reclaim('f', 1);
          result.frames.push(f);
        }
        f++;
      }
      if (outLength >= 64 * 1024) {
        yield Buffer.from(`${out.join('\n')}\n`, 'utf8');
        out = [];
        outLength = 0;
      }
    }
    endRun();
    if (out.length > 0) yield Buffer.from(`${out.join('\n')}\n`, 'utf8');
  }
  result.bytes = await writeFileDurableFrom(dirname(path), basename(path), rewritten());
  return result;
}
