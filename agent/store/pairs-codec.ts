/**
 * The binary form of a profile's or a rollup's samples: (stack ID, count) pairs, where the stack ID indexes the
 * block's stack dictionary (stack-dictionary.ts). Pairs are written in ascending ID order as varint deltas, so a
 * profile of 3,000 stacks takes a few kilobytes, and decoding is a loop over bytes, with no text to parse.
 *
 * Counts are integers in every capture (perf samples, each counting 1); they are written as an unsigned varint of
 * 2·count. A count that is not a small enough non-negative integer is written as the tag 1 followed by a float64, so
 * that any number the folded format can carry round-trips exactly.
 *
 * A lock profile's event counts (how many contentions made up each stack's nanoseconds) follow its weights as a
 * second run of pairs of the same form; any other profile's data, and a lock profile's stored before counts were
 * kept, ends after the first run. Readers of the weights stop there, so both kinds of file read the same.
 */
import { PodflameError } from '../../shared/errors.js';

/** Stack ID → count; the unit every merge adds into: a Map, or a DenseCounts for a query's merge. */
export interface PairCounts {
  get(id: number): number | undefined;
  set(id: number, count: number): unknown;
  readonly size: number;
  keys(): IterableIterator<number>;
  [Symbol.iterator](): IterableIterator<[number, number]>;
}

/** IDs beyond this go to a Map: only a damaged file names one (a day's dictionary holds thousands of stacks). */
const MAX_DENSE_ID = 2 ** 22;

/**
 * Stack ID → count indexed by ID, for merges: a block's IDs are dense (0 up to its dictionary's size), so an array
 * sums them without the hash table a Map rebuilds as it grows, which for a week's query of hour and day rollups was
 * hundreds of megabytes of garbage on the agent's main thread. Iterates in insertion order, as a Map does.
 */
export class DenseCounts implements PairCounts {
  #counts = new Float64Array(1024);
  #present = new Uint8Array(1024);
  #order: number[] = [];
  /** IDs of MAX_DENSE_ID and beyond (a damaged file: naming them fails later, as it would from a Map). */
  #beyond = new Map<number, number>();

  get size(): number {
    return this.#order.length;
  }

  get(id: number): number | undefined {
    if (id >= MAX_DENSE_ID || !Number.isInteger(id) || id < 0) return this.#beyond.get(id);
    return id < this.#present.length && this.#present[id] === 1 ? this.#counts[id] : undefined;
  }

  set(id: number, count: number): this {
    if (id >= MAX_DENSE_ID || !Number.isInteger(id) || id < 0) {
      if (!this.#beyond.has(id)) this.#order.push(id);
      this.#beyond.set(id, count);
      return this;
    }
    if (id >= this.#present.length) this.#grow(id);
    if (this.#present[id] !== 1) {
      this.#present[id] = 1;
      this.#order.push(id);
    }
    this.#counts[id] = count;
    return this;
  }

  /** Empties it, keeping its arrays for the next block. */
  clear(): void {
    for (const id of this.#order) if (id < this.#present.length) this.#present[id] = 0;
    this.#order = [];
    this.#beyond.clear();
  }

  *keys(): IterableIterator<number> {
    yield* this.#order;
  }

  /** The `index`th ID set since the last `clear` (0 the first), for reading the IDs a step added. */
  idAt(index: number): number {
    const id = this.#order[index];
    if (id === undefined) throw new PodflameError('INTERNAL', `no pair ${index} of ${this.#order.length}`);
    return id;
  }

  *[Symbol.iterator](): IterableIterator<[number, number]> {
    for (const id of this.#order) yield [id, this.get(id) as number];
  }

  /** As Map's forEach, without an array per entry. */
  forEach(fn: (count: number, id: number) => void): void {
    for (const id of this.#order) fn(this.get(id) as number, id);
  }

  #grow(id: number): void {
    let length = this.#present.length;
    while (length <= id) length *= 2;
    const counts = new Float64Array(length);
    counts.set(this.#counts);
    const present = new Uint8Array(length);
    present.set(this.#present);
    this.#counts = counts;
    this.#present = present;
  }
}

const MAX_TAGGED_INTEGER = 2 ** 52; // 2·count must stay an exact double

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buf[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buf[offset++] = value;
  return offset;
}

/** A reader over one buffer; every read checks bounds, so a truncated file is an error, never garbage. */
export class ByteReader {
  offset: number;
  constructor(
    readonly buf: Buffer,
    offset = 0,
  ) {
    this.offset = offset;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.offset >= this.buf.length) throw damaged('truncated varint');
      const byte = this.buf[this.offset++] as number;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
      if (scale > 2 ** 56) throw damaged('varint too long');
    }
  }

  float64(): number {
    if (this.offset + 8 > this.buf.length) throw damaged('truncated number');
    const v = this.buf.readDoubleLE(this.offset);
    this.offset += 8;
    return v;
  }

  bytes(n: number): Buffer {
    if (this.offset + n > this.buf.length) throw damaged('truncated block');
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}

export function damaged(what: string): PodflameError {
  return new PodflameError('INTERNAL', `stored profile data is damaged: ${what}`);
}

function isTaggable(count: number): boolean {
  return Number.isInteger(count) && count >= 0 && count <= MAX_TAGGED_INTEGER;
}

/** Encoded size of `pairs`, so that the buffer is allocated once. */
function encodedLength(ids: readonly number[], pairs: PairCounts): number {
  let n = varintLength(ids.length);
  let previous = 0;
  for (const id of ids) {
    const count = pairs.get(id) as number;
    n += varintLength(id - previous) + (isTaggable(count) ? varintLength(count * 2) : 1 + 8);
    previous = id;
  }
  return n;
}

/** Pairs as bytes: varint pair count, then per pair varint ID delta and the count (see the header). */
export function encodePairs(pairs: PairCounts): Buffer {
  const ids = [...pairs.keys()].sort((a, b) => a - b);
  const buf = Buffer.allocUnsafe(encodedLength(ids, pairs));
  let offset = writeVarint(buf, 0, ids.length);
  let previous = 0;
  for (const id of ids) {
    const count = pairs.get(id) as number;
    offset = writeVarint(buf, offset, id - previous);
    if (isTaggable(count)) {
      offset = writeVarint(buf, offset, count * 2);
    } else {
      buf[offset++] = 1;
      buf.writeDoubleLE(count, offset);
      offset += 8;
    }
    previous = id;
  }
  return buf;
}

/**
 * Reads past the pairs at the reader's position, with the checks `addPairs` makes, keeping nothing: what is added
 * after it cannot fail halfway.
 */
export function skipPairs(reader: ByteReader): void {
  const n = reader.varint();
  for (let i = 0; i < n; i++) {
    reader.varint();
    const tag = reader.varint();
    if (tag === 1) reader.float64();
    else if (tag % 2 !== 0) throw damaged(`bad count tag ${tag}`);
  }
}

/** Adds the pairs at the reader's position into `into`; returns the largest stack ID seen (-1 for none). */
export function addPairs(reader: ByteReader, into: PairCounts): number {
  const n = reader.varint();
  let id = 0;
  let maxId = -1;
  for (let i = 0; i < n; i++) {
    id += reader.varint();
    const tag = reader.varint();
    const count = tag === 1 ? reader.float64() : tag / 2;
    if (tag !== 1 && tag % 2 !== 0) throw damaged(`bad count tag ${tag}`);
    into.set(id, (into.get(id) ?? 0) + count);
    maxId = id;
  }
  return maxId;
}

/** Weights, then the event counts when there are any: the data of one profile or rollup (see the header). */
export function encodeCountedPairs(weights: PairCounts, eventCounts?: PairCounts): Buffer {
  const first = encodePairs(weights);
  return eventCounts === undefined ? first : Buffer.concat([first, encodePairs(eventCounts)]);
}

/**
 * Adds the event counts at the reader's position (just past the weights) into `into`; false, adding nothing, when
 * the data ends there (none were kept).
 */
export function addEventCounts(reader: ByteReader, into: PairCounts): boolean {
  if (reader.offset >= reader.buf.length) return false;
  addPairs(reader, into);
  return true;
}

/**
 * Event counts summed beside a merge's weights. A merge has counts only when every part it added had them: a lock
 * profile stored before they were kept has none, and counts of only some profiles would understate every stack.
 */
export class EventCountSums {
  /** Stack ID → events, of the parts added since the last clear(). */
  readonly counts: PairCounts;
  #withCounts = 0;
  #without = 0;

  constructor(counts: PairCounts = new Map()) {
    this.counts = counts;
  }

  /** Adds one part's counts at the reader's position (past its weights), or notes that it had none. */
  addFrom(reader: ByteReader): void {
    if (addEventCounts(reader, this.counts)) this.#withCounts++;
    else this.#without++;
  }

  /** Counts already summed (a rollup's), as one part with counts, or `undefined` as one part without. */
  seed(counts: PairCounts | undefined): void {
    if (counts === undefined) {
      this.#without++;
      return;
    }
    for (const [id, n] of counts) this.counts.set(id, (this.counts.get(id) ?? 0) + n);
    this.#withCounts++;
  }

  /** True when parts were added and each had counts. */
  complete(): boolean {
    return this.#withCounts > 0 && this.#without === 0;
  }
}
