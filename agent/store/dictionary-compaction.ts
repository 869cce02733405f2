/**
 * Compaction of a block's stack dictionary: the lines of stacks no committed profile refers to any more (their
 * profiles were removed, or a write failed after its lines were appended), and of frames only such stacks used, are
 * replaced by `-s N`/`-f N` runs (stack-dictionary.ts). IDs keep their places, so no data file or rollup changes:
 * an all-new-stacks profile's thousand lines become one short line once it is gone.
 *
 * Crash safety: the new file is written beside the old one and renamed over it (durable-file.ts), so the dictionary
 * on disk is the old one or the new one, never a mix; both name every stack a committed profile refers to (the
 * profiles whose stacks are dropped were removed, marker first and durably, before compaction ran). Two passes over
 * the file as a stream: memory is an owner per frame ID and the caller's owners of stacks, never the dictionary's text.
 *
 * The same passes tell who is charged for each line kept (issue #13, F2): a stack's line is its owner's (the caller's
 * choice, profile-store.ts: the first stored profile that uses it), a frame's line the owner of the first kept stack
 * that uses it. So a line stays charged to someone for as long as anyone uses it, whoever added it.
 */
import { createReadStream } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { writeFileDurableFrom } from './durable-file.js';
import { parseReclaimedRun } from './stack-dictionary.js';

export interface CompactionResult {
  /** Bytes of the file, rewritten or not. */
  bytes: number;
  /** Stack and frame IDs whose lines this compaction reclaimed (not those reclaimed before); none: not rewritten. */
  stacks: number[];
  frames: number[];
  /** By owner (`ownerOf`'s numbers), bytes of the kept lines charged to it; owners without any are 0 or absent. */
  charges: number[];
}

/** Not owned: the line is not used and is reclaimed. */
export const NO_OWNER = -1;

/** An owner per ID, NO_OWNER until set, grown as needed. */
export class Owners {
  #owners = new Int32Array(1024).fill(NO_OWNER);

  set(id: number, owner: number): void {
    if (id >= this.#owners.length) {
      let length = this.#owners.length;
      while (length <= id) length *= 2;
      const grown = new Int32Array(length).fill(NO_OWNER);
      grown.set(this.#owners);
      this.#owners = grown;
    }
    this.#owners[id] = owner;
  }

  get(id: number): number {
    return id < this.#owners.length ? this.#owners[id]! : NO_OWNER;
  }
}

function lines(path: string, bytes: number): AsyncIterable<string> {
  // Only the whole lines the store knows of: nothing is appended during a compaction (it runs in the write queue).
  return createInterface({ input: createReadStream(path, { start: 0, end: bytes - 1 }), crlfDelay: Infinity });
}

/** Bytes a line takes in the file, its newline included: what `StackDictionary.pendingBytes` charged for it. */
function lineBytes(line: string): number {
  return Buffer.byteLength(line, 'utf8') + 1;
}

/**
 * Rewrites the dictionary at `path` (its first `bytes` bytes) keeping the stacks that have an owner (`ownerOf`, a
 * number ≥ 0) and their frames, and tells each owner's charge; the file is left as it is when nothing is left to
 * reclaim.
 */
export async function compactDictionary(
  path: string,
  bytes: number,
  ownerOf: (stackId: number) => number,
): Promise<CompactionResult> {
  const result: CompactionResult = { bytes, stacks: [], frames: [], charges: [] };
  if (bytes === 0) return result;
  const charge = (owner: number, line: string) => {
    result.charges[owner] = (result.charges[owner] ?? 0) + lineBytes(line);
  };
  const frameOwners = new Owners();
  let stackId = 0;
  let reclaimable = false;
  for await (const line of lines(path, bytes)) {
    const run = parseReclaimedRun(line);
    if (run) {
      if (run.kind === 's') stackId += run.count;
    } else if (line.startsWith('s ')) {
      const owner = ownerOf(stackId);
      if (owner !== NO_OWNER) {
        charge(owner, line);
        for (const id of line.slice(2).split(',')) {
          const frameId = parseInt(id, 36);
          if (frameOwners.get(frameId) === NO_OWNER) frameOwners.set(frameId, owner);
        }
      } else {
        reclaimable = true;
      }
      stackId++;
    }
  }

  // The second pass charges the frames' lines, and writes the new file when there is something to reclaim.
  async function* rewritten(write: boolean): AsyncIterable<Buffer> {
    let out: string[] = [];
    let outLength = 0;
    let run: { kind: 'f' | 's'; count: number } | undefined;
    const emit = (line: string) => {
      if (!write) return;
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
        if (ownerOf(s) !== NO_OWNER) {
          endRun();
          emit(line);
        } else {
          reclaim('s', 1);
          result.stacks.push(s);
        }
        s++;
      } else {
        const owner = frameOwners.get(f);
        if (owner !== NO_OWNER) {
          charge(owner, line);
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
  if (!reclaimable) {
    // Nothing to write, but the frames' lines are still charged (the frames of kept stacks are all kept).
    for await (const chunk of rewritten(false)) void chunk; // yields nothing
    return result;
  }
  result.bytes = await writeFileDurableFrom(dirname(path), basename(path), rewritten(true));
  return result;
}
