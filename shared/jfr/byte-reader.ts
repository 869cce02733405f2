/**
 * Bounded reads from one JFR chunk held in memory: big-endian fixed-size numbers, JFR's compressed integers and its
 * string encodings. Every read checks the current limit (the end of the event being read), so a length or count that
 * lies can only end in JFR_MALFORMED with the byte offset, never in a read past the bytes or an allocation by it.
 */
import { PodflameError } from '../errors.js';

const TWO_32 = 2 ** 32;

/** The string encodings of JFR's writer (the first byte of every string value). */
export const STRING_ENCODING = { null: 0, empty: 1, constantPool: 2, utf8: 3, charArray: 4, latin1: 5 } as const;

/** A string value that names an entry of the `java.lang.String` constant pool, resolved once the pools are read. */
export class PoolString {
  constructor(readonly id: number) {}
}

const UTF8 = new TextDecoder('utf-8');

export class JfrMalformed extends PodflameError {
  constructor(message: string, offset: number, details: Record<string, unknown> = {}) {
    super(
      'JFR_MALFORMED',
      `not a readable JFR recording: ${message} at byte ${offset}; ` +
        'record it again (JFR.dump or -XX:StartFlightRecording) and check the file was copied whole',
      { details: { ...details, offset } },
    );
  }
}

export class ByteReader {
  /** Position in `bytes`. */
  pos = 0;
  /** Reads stop here (an event's end); never beyond `bytes.length`. */
  limit: number;

  /**
   * @param bytes the chunk
   * @param base the chunk's offset in the input, so that errors name input offsets
   * @param compressed the chunk header's compressed-integers flag: integers as varints, else fixed big-endian
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly base: number,
    readonly compressed: boolean,
  ) {
    this.limit = bytes.length;
  }

  fail(message: string, at = this.pos): never {
    throw new JfrMalformed(message, this.base + at);
  }

  /** Bytes left before the limit. */
  get remaining(): number {
    return this.limit - this.pos;
  }

  need(n: number, what: string): void {
    if (n > this.limit - this.pos) this.fail(`${what} needs ${n} bytes, ${this.limit - this.pos} left`);
  }

  u8(): number {
    if (this.pos >= this.limit) this.fail('unexpected end of data');
    return this.bytes[this.pos++] as number;
  }

  /** Big-endian 4 bytes, unsigned. */
  u32(): number {
    this.need(4, 'a 4-byte integer');
    const b = this.bytes;
    const p = this.pos;
    this.pos += 4;
    return (
      (b[p] as number) * 0x1000000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number))
    );
  }

  /** Big-endian 8 bytes, signed; exact up to 2^53, rounded beyond. */
  i64(): number {
    const hi = this.u32();
    const lo = this.u32();
    // The high word signed first: a small negative value stays exact (-5, not 2^64 - 5 rounded to 0).
    return (hi >= 0x80000000 ? hi - TWO_32 : hi) * TWO_32 + lo;
  }

  /**
   * JFR's compressed integer: 7 bits a byte, low bits first, a set top bit meaning "more"; the 9th byte carries 8
   * bits, so any 64-bit value fits in 9 bytes. Returned as the unsigned value (exact up to 2^53).
   */
  varlong(): number {
    const b = this.bytes;
    let p = this.pos;
    if (p < this.limit) {
      const first = b[p] as number;
      if (first < 0x80) {
        this.pos = p + 1;
        return first;
      }
    }
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (p >= this.limit) this.fail('compressed integer cut short');
      const byte = b[p++] as number;
      result += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) {
        this.pos = p;
        return result;
      }
    }
    if (p >= this.limit) this.fail('compressed integer cut short');
    result += (b[p++] as number) * scale;
    this.pos = p;
    return result;
  }

  /** A `long` field: varint when compressed, else 8 bytes; two's complement, so values ≥ 2^63 are negative. */
  long(): number {
    if (!this.compressed) return this.i64();
    const start = this.pos;
    const v = this.varlong();
    if (v <= Number.MAX_SAFE_INTEGER) return v;
    // Beyond 2^53 the number is rounded: read again exactly, so that a negative value (a 9-byte two's complement,
    // e.g. -5 as 2^64 - 5) is itself, not 0.
    this.pos = start;
    let exact = 0n;
    for (let i = 0; i < 9; i++) {
      const byte = BigInt(this.bytes[this.pos++] as number);
      if (i === 8) {
        exact |= byte << 56n;
        break;
      }
      exact |= (byte & 0x7fn) << BigInt(7 * i);
      if (byte < 0x80n) break;
    }
    return Number(BigInt.asIntN(64, exact));
  }

  /** An `int` field (also `short` and `char` when compressed), as a signed 32-bit value. */
  int(): number {
    if (!this.compressed) return this.u32() | 0;
    const v = this.varlong();
    return v >= TWO_32 ? (v % TWO_32) | 0 : v | 0;
  }

  /** A `short` or `char` field. */
  short(): number {
    if (this.compressed) return this.int();
    this.need(2, 'a 2-byte integer');
    const v = ((this.bytes[this.pos] as number) << 8) | (this.bytes[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }

  /** A count or index written as an int; must be non-negative and, as it counts things of ≥ `minBytes` bytes, fit. */
  count(what: string, minBytes = 1): number {
    const at = this.pos;
    const n = this.int();
    if (n < 0) this.fail(`${what} is negative (${n})`, at);
    if (minBytes > 0 && n * minBytes > this.limit - this.pos) {
      this.fail(`${what} is ${n}, more than the ${this.limit - this.pos} bytes left`, at);
    }
    return n;
  }

  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }

  /** A string value in any encoding; `PoolString` for a constant-pool reference. Cut at `maxChars` (bytes for UTF-8). */
  string(maxChars = Infinity): string | PoolString | null {
    const at = this.pos;
    const encoding = this.u8();
    switch (encoding) {
      case STRING_ENCODING.null:
        return null;
      case STRING_ENCODING.empty:
        return '';
      case STRING_ENCODING.constantPool:
        return new PoolString(this.varlong());
      case STRING_ENCODING.utf8:
      case STRING_ENCODING.latin1: {
        const n = this.count('string length');
        // Only the kept bytes are decoded, so a cut string holds no hidden parent.
        const bytes = this.bytes.subarray(this.pos, this.pos + Math.min(n, maxChars));
        this.pos += n;
        return encoding === STRING_ENCODING.utf8 ? UTF8.decode(bytes) : latin1(bytes);
      }
      case STRING_ENCODING.charArray: {
        const n = this.count('string length');
        let s = '';
        for (let i = 0; i < n; i++) {
          const c = this.short() & 0xffff;
          if (i < maxChars) s += String.fromCharCode(c);
        }
        return s;
      }
      default:
        return this.fail(`unknown string encoding ${encoding}`, at);
    }
  }

  /** Skips a string value without decoding it. */
  skipString(): void {
    const at = this.pos;
    const encoding = this.u8();
    if (encoding === STRING_ENCODING.null || encoding === STRING_ENCODING.empty) return;
    if (encoding === STRING_ENCODING.constantPool) {
      this.varlong();
    } else if (encoding === STRING_ENCODING.utf8 || encoding === STRING_ENCODING.latin1) {
      this.skip(this.count('string length'), 'a string');
    } else if (encoding === STRING_ENCODING.charArray) {
      const n = this.count('string length');
      for (let i = 0; i < n; i++) this.short();
    } else {
      this.fail(`unknown string encoding ${encoding}`, at);
    }
  }
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  // In pieces: String.fromCharCode's argument count is bounded.
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}
