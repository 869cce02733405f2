/**
 * Distinct stacks as the collapser keeps them: each a sequence of ids of interned texts (root first) and a count.
 * Everything here works on that form — sorting in byte order, each stack's length, the names decoded as UTF-8, the
 * folded text — without building a stack's string: for a profile of many deep stacks those strings are many times the
 * size of its distinct frames, and the agent's profile worker ran out of heap on them alone (issue #13, N1).
 *
 * Texts are byte strings: one char per byte (latin1), so that comparing them compares bytes, as perl's `sort` does.
 */

/**
 * One distinct stack: ids of interned texts, root first (the comm, then the frame texts as perl joins them). A text
 * may hold several frames joined with `;` (an inline chain); `splitStacks` makes each frame a text of its own.
 */
export interface StackRecord {
  tokens: Int32Array;
  count: number;
}

/** Stacks over interned texts; a stack's text is its texts joined with `;`. */
export interface InternedStacks {
  readonly texts: readonly string[];
  readonly records: readonly StackRecord[];
}

const SEMICOLON = 0x3b;
const SPACE = 0x20;
const NEWLINE = 0x0a;

/** Bytes of a stack's text: its texts and the `;` between them (UTF-8 bytes when the texts are UTF-8 bytes). */
export function stackLength(texts: readonly string[], record: StackRecord): number {
  const tokens = record.tokens;
  let length = tokens.length - 1;
  for (let i = 0; i < tokens.length; i++) length += (texts[tokens[i] as number] as string).length;
  return length;
}

/** A stack's text (perl's `join(";", @stack)`): built for a few stacks only, never for a whole profile. */
export function stackText(texts: readonly string[], record: StackRecord): string {
  const parts: string[] = [];
  for (let i = 0; i < record.tokens.length; i++) parts.push(texts[record.tokens[i] as number] as string);
  return parts.join(';');
}

/** How `count` is written in folded text, as perl prints it (`${count}` for these numbers). */
function countLength(count: number): number {
  if (!Number.isSafeInteger(count) || count < 0) return String(count).length;
  let digits = 1;
  for (let rest = count; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/** Bytes of the folded lines (`stack count\n`) of `records`. */
export function foldedLength(texts: readonly string[], records: readonly StackRecord[]): number {
  let bytes = 0;
  for (const r of records) bytes += stackLength(texts, r) + countLength(r.count) + 2;
  return bytes;
}

/**
 * Each text that holds `;` split into the frames it joins, and with `decode`, each text whose id is in it replaced by
 * the UTF-8 bytes of its decoding (invalid sequences become U+FFFD, as `Buffer#toString('utf8')` makes them); stacks
 * that then spell the same text are added up. Afterwards no text holds `;` and no two texts are equal, so two stacks
 * are equal exactly when their id sequences are: what `sortStacks` needs. The stacks are returned as they are when
 * nothing changes (the usual case), else as new records (the given ones are not changed).
 *
 * Decoding text by text gives the same as decoding the joined stack: `;` is ASCII, so a sequence cut short before it
 * ends there either way.
 */
export function splitStacks(stacks: InternedStacks, decode?: ReadonlySet<number>): InternedStacks {
  const { texts, records } = stacks;
  const replaced = new Map<number, string[]>();
  const check = (id: number) => {
    const text = texts[id] as string;
    const t = decode?.has(id)
      ? Buffer.from(Buffer.from(text, 'latin1').toString('utf8'), 'utf8').toString('latin1')
      : text;
    if (t.includes(';')) replaced.set(id, t.split(';'));
    else if (t !== text) replaced.set(id, [t]);
  };
  for (let id = 0; id < texts.length; id++) if ((texts[id] as string).includes(';')) check(id);
  for (const id of decode ?? []) if (!replaced.has(id)) check(id);
  if (replaced.size === 0) return stacks;

  const newTexts: string[] = [];
  const idOf = new Map<string, number>();
  const intern = (text: string): number => {
    let id = idOf.get(text);
    if (id === undefined) {
      id = newTexts.length;
      newTexts.push(text);
      idOf.set(text, id);
    }
    return id;
  };
  // A text's new id, or -1 when it became several (then in `several`).
  const single = new Int32Array(texts.length);
  const several = new Map<number, Int32Array>();
  for (let id = 0; id < texts.length; id++) {
    const pieces = replaced.get(id);
    if (pieces === undefined) single[id] = intern(texts[id] as string);
    else if (pieces.length === 1) single[id] = intern(pieces[0] as string);
    else {
      single[id] = -1;
      several.set(id, Int32Array.from(pieces, intern));
    }
  }
  const byKey = new Map<string, StackRecord>();
  const merged: StackRecord[] = [];
  for (const r of records) {
    let length = 0;
    for (const id of r.tokens) length += single[id] === -1 ? (several.get(id) as Int32Array).length : 1;
    const tokens = new Int32Array(length);
    let at = 0;
    for (const id of r.tokens) {
      const s = single[id] as number;
      if (s >= 0) tokens[at++] = s;
      else for (const piece of several.get(id) as Int32Array) tokens[at++] = piece;
    }
    const key = sequenceKey(tokens);
    const same = byKey.get(key);
    if (same !== undefined) {
      same.count += r.count;
    } else {
      const record = { tokens, count: r.count };
      byKey.set(key, record);
      merged.push(record);
    }
  }
  return { texts: newTexts, records: merged };
}

/** An id sequence as a string key, two UTF-16 code units per id. */
function sequenceKey(tokens: Int32Array): string {
  const units = new Uint16Array(tokens.length * 2);
  for (let i = 0; i < tokens.length; i++) {
    units[2 * i] = (tokens[i] as number) >>> 16;
    units[2 * i + 1] = tokens[i] as number;
  }
  return Buffer.from(units.buffer, units.byteOffset, units.byteLength).toString('ucs2');
}

/**
 * The rank of every piece of a stack's text in byte order, where a stack's text is its texts each followed by `;`,
 * the last one by the end: `ranks[2·id]` is the rank of `text;` (an inner piece), `ranks[2·id + 1]` of `text` (the
 * last). Texts must hold no `;` and be distinct. Found from the texts sorted as they are, without building the `text;`
 * strings (for a profile of 400,000 distinct frames those copies alone were tens of MB): `t;` comes right after `t`
 * and the texts that extend `t` with a char below `;` (and their own pieces), so it waits on a stack of such prefixes
 * until a text that does not extend it comes.
 */
function pieceRanks(texts: readonly string[]): Uint32Array {
  const order: number[] = [];
  for (let id = 0; id < texts.length; id++) order.push(id);
  order.sort((a, b) => {
    const x = texts[a] as string;
    const y = texts[b] as string;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const ranks = new Uint32Array(2 * texts.length);
  // Ids whose `text;` is still to come, each text a prefix of the one above it.
  const open: number[] = [];
  let rank = 0;
  for (const id of order) {
    const s = texts[id] as string;
    for (;;) {
      const top = open[open.length - 1];
      if (top === undefined) break;
      const t = texts[top] as string;
      if (s.startsWith(t) && s.charCodeAt(t.length) < SEMICOLON) break;
      ranks[2 * top] = rank++;
      open.pop();
    }
    ranks[2 * id + 1] = rank++;
    open.push(id);
  }
  for (let top = open.pop(); top !== undefined; top = open.pop()) ranks[2 * top] = rank++;
  return ranks;
}

/**
 * The records in byte order of their stacks' texts (perl's `sort`), without building those texts: each piece is
 * replaced by its rank (`pieceRanks`), one UTF-16 code unit (two when there are more than 65,535 pieces), and the
 * default sort of these short rank strings, a builtin, gives the order. Texts must hold no `;` and be distinct
 * (`splitStacks`).
 */
export function sortStacks(stacks: InternedStacks): StackRecord[] {
  const { texts, records } = stacks;
  const ranks = pieceRanks(texts);
  const wide = ranks.length > 0xffff;
  // Every key in one UTF-16 buffer, decoded once and sliced. Each key ends with its record's index (2 code units): no
  // key is a prefix of another (a last piece's rank is never an inner piece's), so two keys differ before the index,
  // and the index does not change their order.
  let units = 0;
  for (const r of records) units += r.tokens.length * (wide ? 2 : 1) + 2;
  const codes = new Uint16Array(units);
  const ends = new Int32Array(records.length);
  let at = 0;
  for (let index = 0; index < records.length; index++) {
    const tokens = (records[index] as StackRecord).tokens;
    const last = tokens.length - 1;
    for (let i = 0; i <= last; i++) {
      const rank = ranks[2 * (tokens[i] as number) + (i === last ? 1 : 0)] as number;
      if (wide) codes[at++] = rank >>> 16;
      codes[at++] = rank;
    }
    codes[at++] = index >>> 16;
    codes[at++] = index;
    ends[index] = at;
  }
  // ucs2 keeps every code unit, lone surrogates included.
  const all = Buffer.from(codes.buffer, codes.byteOffset, codes.byteLength).toString('ucs2');
  const keys: string[] = [];
  for (let index = 0, start = 0; index < records.length; index++) {
    const end = ends[index] as number;
    keys.push(all.slice(start, end));
    start = end;
  }
  keys.sort();
  return keys.map(
    (key) => records[key.charCodeAt(key.length - 2) * 0x10000 + key.charCodeAt(key.length - 1)] as StackRecord,
  );
}

/**
 * Writes sorted records as folded lines (`stack count\n`), each line copying what it shares with the one before from
 * the bytes already written. Sorted neighbours share most of their text (93% of the bytes on a real JVM capture), so
 * no stack string is ever built.
 */
export class FoldedWriter {
  // The bytes of the texts the records use, in one buffer; text id's bytes start at textStart[id] (-1: unused).
  private readonly arena: Buffer;
  private readonly textStart: Int32Array;
  private readonly textEnd: Int32Array;
  private next = 0;
  // The line before: its tokens, where it starts (in prevBuf, which may be a chunk already handed out) and the
  // offset after each of its texts.
  private prevTokens: Int32Array | undefined = undefined;
  private prevBuf: Buffer | undefined = undefined;
  private prevStart = 0;
  private prevEnds = new Int32Array(64);

  constructor(
    texts: readonly string[],
    private readonly sorted: readonly StackRecord[],
  ) {
    // Only the texts the records use: a profile cut to its largest stacks may use few of its texts.
    this.textStart = new Int32Array(texts.length).fill(-1);
    this.textEnd = new Int32Array(texts.length);
    let bytes = 0;
    for (const r of sorted) {
      for (const id of r.tokens) {
        if ((this.textStart[id] as number) >= 0) continue;
        this.textStart[id] = bytes;
        bytes += (texts[id] as string).length;
        this.textEnd[id] = bytes;
      }
    }
    this.arena = Buffer.allocUnsafe(bytes);
    for (let id = 0; id < texts.length; id++) {
      const start = this.textStart[id] as number;
      if (start >= 0) this.arena.write(texts[id] as string, start, 'latin1');
    }
  }

  /** The next lines, about `chunkBytes` of them (more for a longer line); undefined after the last line. */
  fill(chunkBytes: number): Buffer | undefined {
    if (this.next >= this.sorted.length) return undefined;
    let buf = Buffer.allocUnsafe(chunkBytes);
    const first = this.lineLength(this.sorted[this.next] as StackRecord);
    if (first > buf.length) buf = Buffer.allocUnsafe(first);
    return buf.subarray(0, this.fillInto(buf, 0));
  }

  /** Writes the next lines into `buf` from `at` on while they fit; returns the offset after the last one. */
  fillInto(buf: Buffer, at: number): number {
    const sorted = this.sorted;
    while (this.next < sorted.length) {
      const r = sorted[this.next] as StackRecord;
      const length = this.lineLength(r);
      if (at + length > buf.length) break;
      at = this.writeLine(buf, at, r);
      this.next++;
    }
    return at;
  }

  /** Bytes of `r`'s line: the part it shares with the line before, its other texts, and its count. */
  private lineLength(r: StackRecord): number {
    const tokens = r.tokens;
    const shared = this.sharedTokens(tokens);
    let length = shared > 0 ? (this.prevEnds[shared - 1] as number) : 0;
    for (let i = shared; i < tokens.length; i++) {
      const id = tokens[i] as number;
      length += (this.textEnd[id] as number) - (this.textStart[id] as number) + (i > 0 ? 1 : 0);
    }
    return length + countLength(r.count) + 2;
  }

  private sharedTokens(tokens: Int32Array): number {
    const prevTokens = this.prevTokens;
    if (prevTokens === undefined) return 0;
    const most = Math.min(prevTokens.length, tokens.length);
    let shared = 0;
    while (shared < most && prevTokens[shared] === tokens[shared]) shared++;
    return shared;
  }

  private writeLine(buf: Buffer, at: number, r: StackRecord): number {
    const { arena, textStart, textEnd } = this;
    const tokens = r.tokens;
    const shared = this.sharedTokens(tokens);
    const sharedBytes = shared > 0 ? (this.prevEnds[shared - 1] as number) : 0;
    const start = at;
    if (sharedBytes > 0) {
      const prevBuf = this.prevBuf as Buffer;
      if (prevBuf === buf) buf.copyWithin(at, this.prevStart, this.prevStart + sharedBytes);
      else prevBuf.copy(buf, at, this.prevStart, this.prevStart + sharedBytes);
      at += sharedBytes;
    }
    if (this.prevEnds.length < tokens.length) {
      const grown = new Int32Array(Math.max(tokens.length, 2 * this.prevEnds.length));
      grown.set(this.prevEnds);
      this.prevEnds = grown;
    }
    const prevEnds = this.prevEnds;
    for (let i = shared; i < tokens.length; i++) {
      if (i > 0) buf[at++] = SEMICOLON;
      const id = tokens[i] as number;
      // Texts are short (a frame name): a loop costs less than a native call per text.
      const end = textEnd[id] as number;
      for (let k = textStart[id] as number; k < end; k++) buf[at++] = arena[k] as number;
      prevEnds[i] = at - start;
    }
    buf[at++] = SPACE;
    at = writeCount(buf, at, r.count);
    buf[at++] = NEWLINE;
    this.prevTokens = tokens;
    this.prevBuf = buf;
    this.prevStart = start;
    return at;
  }
}

/** Writes `count` as perl prints it (as `${count}` does for these numbers) at `at`; returns the offset after it. */
function writeCount(buf: Buffer, at: number, count: number): number {
  if (!Number.isSafeInteger(count) || count < 0) return at + buf.write(String(count), at, 'latin1');
  const digits = countLength(count);
  let rest = count;
  for (let k = at + digits - 1; k >= at; k--) {
    buf[k] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return at + digits;
}
