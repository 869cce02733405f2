/**
 * A block's stack dictionary, as pprof keeps one: a table of frame names and a table of stacks, each stack a list of
 * frame IDs; a stack's ID is its place in the table. Profiles and rollups then hold only (stack ID, count) pairs.
 * A Java service repeats the same few thousand stacks made of a few hundred frames all day, so the dictionary grows
 * by the new ones only, a stack costs a few bytes, and a day's block keeps it bounded: retention drops it with the day.
 *
 * `stacks.dict` is append-only text, one entry per line, in the order IDs are given:
 *
 *   f java                              the next frame (ID 0, 1, 2, … among `f` lines)
 *   f start_thread
 *   s 0,1,2f,3                          the next stack, its frame IDs in base 36, root first
 *
 *   -s 120                              120 stack IDs whose lines were reclaimed (dictionary-compaction.ts)
 *   -f 3                                3 frame IDs likewise
 *
 * New lines are appended and fsynced before any data file referring to them is written, so a committed profile never
 * refers to an ID the file lacks. A kill -9 during an append leaves at most a partial last line, which
 * `repairDictionaryTail` cuts off at start-up (only the process that owns the store may repair). Compaction replaces
 * the lines no committed profile refers to by `-s`/`-f` runs, so IDs never move and no data file is rewritten.
 */
import { open, readFile } from 'node:fs/promises';
import { PodflameError } from '../../shared/errors.js';
import type { TextPool } from './text-pool.js';
import { Turns } from '../../shared/turns.js';

export const DICTIONARY_FILE = 'stacks.dict';

/** Bytes of the file decoded at once while loading. */
const LOAD_SLICE_BYTES = 1024 * 1024;

/**
 * A copy of a string that keeps nothing else alive: V8 represents a substring as a slice of its parent, so a frame
 * name cut out of a profile's folded text would otherwise hold the whole text (a megabyte per profile) in memory for
 * as long as the dictionary lives.
 */
function detached(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/** Bytes of memory a held string costs beyond its characters (V8's header and the array slot), for estimates. */
const PER_STRING_BYTES = 32;

/**
 * Cuts a partial last line off a dictionary file (a kill -9 during an append) reading only its tail, so start-up
 * holds no dictionary in memory; returns the bytes of whole lines (0 for a missing file).
 */
export async function repairDictionaryTail(path: string): Promise<number> {
  let handle;
  try {
    handle = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const nl = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (nl >= 0) {
        end = start + nl + 1; // a line is whole once its newline is written
        break;
      }
      end = start;
    }
    if (end < size) await handle.truncate(end);
    return end;
  } finally {
    await handle.close();
  }
}

/** A `-s N` or `-f N` line: N reclaimed IDs of that kind. */
export function parseReclaimedRun(line: string): { kind: 'f' | 's'; count: number } | undefined {
  if (line.length < 4 || line[0] !== '-' || line[2] !== ' ') return undefined;
  const kind = line[1];
  const count = Number(line.slice(3));
  if ((kind !== 'f' && kind !== 's') || !Number.isInteger(count) || count < 1) return undefined;
  return { kind, count };
}

export class StackDictionary {
  /** Frame names by ID; a hole where compaction reclaimed one. */
  private readonly frames: (string | undefined)[] = [];
  /** Each stack's text, materialized once: queries name thousands of stacks per block. A hole once reclaimed. */
  private readonly texts: (string | undefined)[] = [];
  /** Estimated bytes of memory the texts and frames hold (the cache's bound, dictionary-cache.ts). */
  private heldBytes = 0;
  /** Built on the first `intern`: a block that is only read never pays for it. */
  private stackIds: Map<string, number> | undefined;
  private frameIds: Map<string, number> | undefined;
  /** Lines interned but not yet appended, and how many stacks and frames they add. */
  private pending: string[] = [];
  private pendingStacks: string[] = [];
  private pendingFrames: string[] = [];
  /** The pool the texts loaded were held from, and how many. */
  private pooled: { pool: TextPool; count: number } | undefined;

  private constructor(
    readonly path: string,
    /** Bytes of the file that hold whole lines. */
    private fileBytes: number,
  ) {}

  /**
   * Reads the dictionary (a missing file is an empty one; a partial last line is left out); `pool` shares the
   * stacks' texts with the other blocks' dictionaries (`release` gives them back).
   */
  static async load(path: string, options: { pool?: TextPool } = {}): Promise<StackDictionary> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new StackDictionary(path, 0);
      throw err;
    }
    const end = data.lastIndexOf(0x0a) + 1; // a line is whole once its newline is written
    const dictionary = new StackDictionary(path, end);
    const turns = new Turns();
    // A slice of whole lines at a time, the event loop let in between: a day of 200,000 long stacks is a file of
    // 90 MB, seconds of work that would otherwise hold up every request and probe (issue #13, A3).
    for (let from = 0; from < end;) {
      let to = data.lastIndexOf(0x0a, Math.min(end - 1, from + LOAD_SLICE_BYTES));
      if (to < from) to = data.indexOf(0x0a, from + LOAD_SLICE_BYTES); // a line longer than a slice
      for (const line of data.toString('utf8', from, to).split('\n')) {
        dictionary.addLine(line);
        if (turns.due()) await turns.yield();
      }
      from = to + 1;
    }
    if (options.pool) {
      const { texts } = dictionary;
      for (let i = 0; i < texts.length; i++) {
        const text = texts[i];
        if (text !== undefined) texts[i] = options.pool.hold(text);
        if (turns.due()) await turns.yield();
      }
      dictionary.pooled = { pool: options.pool, count: texts.length };
    }
    return dictionary;
  }

  /** Gives back the texts `load` took from its pool (the dictionary left the cache); stays usable. */
  release(): void {
    if (!this.pooled) return;
    const { pool, count } = this.pooled;
    this.pooled = undefined;
    const held: string[] = [];
    for (let i = 0; i < count; i++) {
      const text = this.texts[i];
      if (text !== undefined) held.push(text);
    }
    pool.release(held);
  }

  private addLine(line: string): void {
    if (line.startsWith('f ')) {
      const name = detached(line.slice(2));
      this.frames.push(name);
      this.heldBytes += name.length + PER_STRING_BYTES;
    } else if (line.startsWith('-')) {
      const run = parseReclaimedRun(line);
      if (!run) throw this.damaged(`unexpected line '${line.slice(0, 80)}'`);
      const into = run.kind === 'f' ? this.frames : this.texts;
      for (let i = 0; i < run.count; i++) into.push(undefined);
      this.heldBytes += run.count * 8;
    } else if (line.startsWith('s ')) {
      const names = line
        .slice(2)
        .split(',')
        .map((id) => {
          const name = this.frames[parseInt(id, 36)];
          if (name === undefined) throw this.damaged(`a stack refers to frame ${id}, not defined before it`);
          return name;
        });
      const text = names.join(';');
      this.texts.push(text);
      this.heldBytes += text.length + PER_STRING_BYTES;
    } else {
      throw this.damaged(`unexpected line '${line.slice(0, 80)}'`);
    }
  }

  private damaged(what: string): PodflameError {
    return new PodflameError('INTERNAL', `the stack dictionary ${this.path} is damaged: ${what}`);
  }

  get size(): number {
    return this.texts.length + this.pendingStacks.length;
  }

  /** Bytes of the dictionary file (whole lines). */
  get bytes(): number {
    return this.fileBytes;
  }

  /** Bytes the lines interned since the last flush will add to the file: what the profile adding them is charged. */
  get pendingBytes(): number {
    let n = 0;
    for (const line of this.pending) n += Buffer.byteLength(line, 'utf8') + 1;
    return n;
  }

  /**
   * Estimated bytes of memory held: the texts and frames (their characters and a string's overhead), and twice that
   * once the dictionary is written to (its lookup maps name every text and frame again).
   */
  get memoryBytes(): number {
    return this.stackIds ? this.heldBytes * 2 : this.heldBytes;
  }

  /** How many stack IDs were ever given, reclaimed ones included (the next ID). */
  get idCount(): number {
    return this.size;
  }

  /**
   * Forgets reclaimed stacks and frames (compaction rewrote the file to `fileBytes` without them): a later intern of
   * the same text gets a new ID. Only once no reader can still name them (the store waits for its reads).
   */
  forget(stackIds: Iterable<number>, frameIds: Iterable<number>, fileBytes: number): void {
    const released: string[] = [];
    for (const id of stackIds) {
      const text = this.texts[id];
      if (text === undefined) continue;
      this.texts[id] = undefined;
      this.stackIds?.delete(text);
      this.heldBytes -= text.length + PER_STRING_BYTES - 8;
      if (this.pooled && id < this.pooled.count) released.push(text);
    }
    for (const id of frameIds) {
      const name = this.frames[id];
      if (name === undefined) continue;
      this.frames[id] = undefined;
      if (this.frameIds?.get(name) === id) this.frameIds.delete(name);
      this.heldBytes -= name.length + PER_STRING_BYTES - 8;
    }
    this.pooled?.pool.release(released);
    this.fileBytes = fileBytes;
  }

  /** The stack of an ID; INTERNAL when the ID is not in the dictionary (a damaged data file). */
  text(id: number): string {
    const t = id < this.texts.length ? this.texts[id] : this.pendingStacks[id - this.texts.length];
    if (t === undefined) throw this.damaged(`stored profile data refers to stack ${id}, beyond its end`);
    return t;
  }

  /** The ID of a stack, a new one when the dictionary lacks it (durable only after `flush`). */
  intern(stack: string): number {
    if (!this.stackIds || !this.frameIds) {
      this.stackIds = new Map();
      this.frameIds = new Map();
      this.texts.forEach((t, i) => t !== undefined && this.stackIds!.set(t, i));
      this.frames.forEach((f, i) => f !== undefined && this.frameIds!.set(f, i));
    }
    const known = this.stackIds.get(stack);
    if (known !== undefined) return known;
    if (stack.includes('\n')) throw new PodflameError('INVALID_REQUEST', 'a folded stack cannot contain a line break');
    const ids: string[] = [];
    const names: string[] = [];
    for (const frame of stack.split(';')) {
      let frameId = this.frameIds.get(frame);
      let name = frame;
      if (frameId === undefined) {
        name = detached(frame);
        frameId = this.frames.length + this.pendingFrames.length;
        this.frameIds.set(name, frameId);
        this.pendingFrames.push(name);
        this.pending.push(`f ${name}`);
      } else {
        name = (
          frameId < this.frames.length ? this.frames[frameId] : this.pendingFrames[frameId - this.frames.length]
        )!;
      }
      ids.push(frameId.toString(36));
      names.push(name);
    }
    const text = names.join(';'); // built from the table's names: a fresh string, no slice of the caller's text
    const id = this.size;
    this.stackIds.set(text, id);
    this.pendingStacks.push(text);
    this.pending.push(`s ${ids.join(',')}`);
    return id;
  }

  /** Appends the new lines and fsyncs the file; resolves once they are durable. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const text = Buffer.from(`${this.pending.join('\n')}\n`, 'utf8');
    const handle = await open(this.path, 'a', 0o640);
    try {
      // Append after the last whole line even if an earlier failed write left bytes behind.
      await handle.truncate(this.fileBytes);
      await handle.write(text, 0, text.length, this.fileBytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.fileBytes += text.length;
    for (const name of this.pendingFrames) {
      this.frames.push(name); // (a spread of 100,000 would overflow the stack)
      this.heldBytes += name.length + PER_STRING_BYTES;
    }
    for (const text of this.pendingStacks) {
      this.texts.push(text);
      this.heldBytes += text.length + PER_STRING_BYTES;
    }
    this.pending = [];
    this.pendingFrames = [];
    this.pendingStacks = [];
  }

  /** Forgets the stacks and frames interned since the last flush (their write failed). */
  discardPending(): void {
    for (const text of this.pendingStacks) this.stackIds?.delete(text);
    for (const name of this.pendingFrames) this.frameIds?.delete(name);
    this.pending = [];
    this.pendingFrames = [];
    this.pendingStacks = [];
  }
}
