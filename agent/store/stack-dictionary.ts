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
 * New lines are appended and fsynced before any data file referring to them is written, so a committed profile never
 * refers to an ID the file lacks. A kill -9 during an append leaves at most a partial last line, which `load` with
 * `repair` cuts off (only the process that owns the store may repair).
 */
import { open, readFile, truncate } from 'node:fs/promises';
import { PodflameError } from '../../shared/errors.js';
import type { TextPool } from './text-pool.js';
import { Turns } from './turns.js';

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

export class StackDictionary {
  private readonly frames: string[] = [];
  /** Each stack's text, materialized once: queries name thousands of stacks per block. */
  private readonly texts: string[] = [];
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
   * Reads the dictionary (a missing file is an empty one); `repair` cuts a partial last line off the file; `pool`
   * shares the stacks' texts with the other blocks' dictionaries (`release` gives them back).
   */
  static async load(path: string, options: { repair?: boolean; pool?: TextPool } = {}): Promise<StackDictionary> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new StackDictionary(path, 0);
      throw err;
    }
    const end = data.lastIndexOf(0x0a) + 1; // a line is whole once its newline is written
    if (end < data.length && options.repair) await truncate(path, end);
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
        texts[i] = options.pool.hold(texts[i] as string);
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
    pool.release(this.texts.slice(0, count));
  }

  private addLine(line: string): void {
    if (line.startsWith('f ')) {
      this.frames.push(detached(line.slice(2)));
    } else if (line.startsWith('s ')) {
      const names = line
        .slice(2)
        .split(',')
        .map((id) => {
          const name = this.frames[parseInt(id, 36)];
          if (name === undefined) throw this.damaged(`a stack refers to frame ${id}, not defined before it`);
          return name;
        });
      this.texts.push(names.join(';'));
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

  /** The stack of an ID; INTERNAL when the ID is not in the dictionary (a damaged data file). */
  text(id: number): string {
    const t = id < this.texts.length ? this.texts[id] : this.pendingStacks[id - this.texts.length];
    if (t === undefined) throw this.damaged(`stored profile data refers to stack ${id}, beyond its end`);
    return t;
  }

  /** The ID of a stack, a new one when the dictionary lacks it (durable only after `flush`). */
  intern(stack: string): number {
    if (!this.stackIds || !this.frameIds) {
      this.stackIds = new Map(this.texts.map((t, i) => [t, i]));
      this.frameIds = new Map(this.frames.map((f, i) => [f, i]));
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
    for (const name of this.pendingFrames) this.frames.push(name); // (a spread of 100,000 would overflow the stack)
    for (const text of this.pendingStacks) this.texts.push(text);
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
