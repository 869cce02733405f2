/**
 * The binary form of a profile's or a rollup's samples: (stack ID, count) pairs, where the stack ID indexes the
 * block's stack dictionary (stack-dictionary.ts). Pairs are written in ascending ID order as varint deltas, so a
 * profile of 3,000 stacks takes a few kilobytes, and decoding is a loop over bytes, with no text to parse.
 *
 * Counts are integers in every capture (perf samples, each counting 1); they are written as an unsigned varint of
 * 2·count. A count that is not a small enough non-negative integer is written as the tag 1 followed by a float64, so
 * that any number the folded format can carry round-trips exactly.
 */
import { PodflameError } from '../../shared/errors.js';

/** Stack ID → count; the unit every merge adds into. */
export type PairCounts = Map<number, number>;

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

/** Adds one pair set into another (rollups are sums of profiles). */
export function addInto(into: PairCounts, from: PairCounts): PairCounts {
  for (const [id, count] of from) into.set(id, (into.get(id) ?? 0) + count);
  return into;
}
