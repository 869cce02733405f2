/**
 * A block's stack dictionary: every distinct folded stack of the block's profiles once, its ID the line number in
 * `stacks.dict` (one stack per line, as folded text has it: `java;start_thread;…;Shop.checkout_[j]`). Profiles and
 * rollups then hold only (ID, count) pairs. Java applications repeat the same few thousand stacks all day, so the
 * dictionary grows by the new stacks only, and a day's block keeps it bounded: retention drops it with the block.
 *
 * The file is append-only. New lines are appended and fsynced before any data file referring to them is written, so
 * a committed profile never refers to an ID the file lacks. A kill -9 during an append leaves at most a partial last
 * line, which `load` with `repair` cuts off (only the process that owns the store may repair).
 */
import { open, readFile, truncate } from 'node:fs/promises';
import { PodflameError } from '../../shared/errors.js';

export const DICTIONARY_FILE = 'stacks.dict';

export class StackDictionary {
  private readonly texts: string[];
  /** Built on the first `intern`: a block that is only read never pays for it. */
  private ids: Map<string, number> | undefined;
  private pending: string[] = [];
  private pendingBytes = 0;

  private constructor(
    readonly path: string,
    texts: string[],
    /** Bytes of the file that hold whole lines. */
    private fileBytes: number,
  ) {
    this.texts = texts;
  }

  /** Reads the dictionary (a missing file is an empty one); `repair` cuts a partial last line off the file. */
  static async load(path: string, options: { repair?: boolean } = {}): Promise<StackDictionary> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new StackDictionary(path, [], 0);
      throw err;
    }
    const end = data.lastIndexOf(0x0a) + 1; // a line is whole once its newline is written
    if (end < data.length && options.repair) await truncate(path, end);
    const text = data.subarray(0, end).toString('utf8');
    const texts = end === 0 ? [] : text.slice(0, -1).split('\n');
    return new StackDictionary(path, texts, end);
  }

  get size(): number {
    return this.texts.length + this.pending.length;
  }

  /** Bytes of the dictionary file (whole lines). */
  get bytes(): number {
    return this.fileBytes;
  }

  /** The stack of an ID; INTERNAL when the ID is not in the dictionary (a damaged data file). */
  text(id: number): string {
    const t = id < this.texts.length ? this.texts[id] : this.pending[id - this.texts.length];
    if (t === undefined) {
      throw new PodflameError('INTERNAL', `stored profile data refers to stack ${id}, beyond ${this.path}`);
    }
    return t;
  }

  /** The ID of a stack, a new one when the dictionary lacks it (durable only after `flush`). */
  intern(stack: string): number {
    if (!this.ids) {
      this.ids = new Map();
      for (let i = 0; i < this.texts.length; i++) this.ids.set(this.texts[i] as string, i);
      for (let i = 0; i < this.pending.length; i++) this.ids.set(this.pending[i] as string, this.texts.length + i);
    }
    let id = this.ids.get(stack);
    if (id === undefined) {
      if (stack.includes('\n')) {
        throw new PodflameError('INVALID_REQUEST', 'a folded stack cannot contain a line break');
      }
      id = this.size;
      this.ids.set(stack, id);
      this.pending.push(stack);
      this.pendingBytes += Buffer.byteLength(stack, 'utf8') + 1;
    }
    return id;
  }

  /** Appends the new stacks and fsyncs the file; resolves once they are durable. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    const text = `${lines.join('\n')}\n`;
    const handle = await open(this.path, 'a', 0o640);
    try {
      // Append after the last whole line even if an earlier failed write left bytes behind.
      await handle.truncate(this.fileBytes);
      await handle.write(text, this.fileBytes, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.fileBytes += this.pendingBytes;
    for (const line of lines) this.texts.push(line);
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Forgets the stacks interned since the last flush (their write failed). */
  discardPending(): void {
    if (this.pending.length === 0) return;
    for (const line of this.pending) this.ids?.delete(line);
    this.pending = [];
    this.pendingBytes = 0;
  }
}
