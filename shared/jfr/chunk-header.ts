/**
 * The 68-byte header of a JFR chunk (format 2: JDK 11+ and 8u272+). A recording is a sequence of self-contained
 * chunks, each starting with `FLR\0`. Offsets are relative to the chunk's start.
 *
 *   0  magic `FLR\0`        4  major u16, minor u16    8  chunk size i64      16 constant pool offset i64
 *   24 metadata offset i64  32 start nanos i64        40 duration nanos i64  48 start ticks i64
 *   56 ticks per second i64 64 features i32 (bit 0: integers compressed, bit 1: last chunk)
 */
import { JfrMalformed } from './byte-reader.js';

export const CHUNK_HEADER_BYTES = 68;
const MAGIC = [0x46, 0x4c, 0x52, 0x00];
const FEATURE_COMPRESSED_INTS = 1;

export interface ChunkHeader {
  major: number;
  minor: number;
  /** Bytes of the whole chunk, header included. */
  size: number;
  /** Offset of the last checkpoint event written. */
  constantPoolOffset: number;
  /** Offset of the metadata event that describes every type of the chunk. */
  metadataOffset: number;
  startNanos: number;
  /** Nanoseconds from the chunk's start to its end: the longest an event that began in it can last. */
  durationNanos: number;
  /** The chunk's clock at its start (`startNanos`): an event's time in ticks is told against it. */
  startTicks: number;
  ticksPerSecond: number;
  compressedIntegers: boolean;
}

function bigEndian(bytes: Uint8Array, at: number, length: number): number {
  let v = 0;
  for (let i = 0; i < length; i++) v = v * 256 + (bytes[at + i] as number);
  return v;
}

/**
 * Reads and checks a header from the first 68 bytes of `bytes`; `offset` is the chunk's offset in the input, for
 * messages. Sizes and offsets beyond 2^53 are refused (no chunk is that large).
 */
export function parseChunkHeader(bytes: Uint8Array, offset: number): ChunkHeader {
  if (bytes.length < CHUNK_HEADER_BYTES) {
    throw new JfrMalformed(`chunk header cut short (${bytes.length} of ${CHUNK_HEADER_BYTES} bytes)`, offset);
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw new JfrMalformed('no JFR chunk magic FLR\\0 (not a JFR recording?)', offset);
  }
  const major = bigEndian(bytes, 4, 2);
  const minor = bigEndian(bytes, 6, 2);
  if (major !== 2) {
    throw new JfrMalformed(
      `JFR format ${major}.${minor} is not supported (format 2 is written by JDK 11+ and 8u272+)`,
      offset + 4,
    );
  }
  const field = (at: number, what: string): number => {
    // The top 11 bits must be zero for the value to be exact; a negative size or offset fails the same way.
    if (bigEndian(bytes, at, 2) >= 0x20) throw new JfrMalformed(`${what} out of range`, offset + at);
    return bigEndian(bytes, at, 8);
  };
  const size = field(8, 'chunk size');
  const constantPoolOffset = field(16, 'constant pool offset');
  const metadataOffset = field(24, 'metadata offset');
  if (size < CHUNK_HEADER_BYTES)
    throw new JfrMalformed(`chunk size ${size} is below the header's 68 bytes`, offset + 8);
  if (metadataOffset === 0 || constantPoolOffset === 0) {
    throw new JfrMalformed('chunk not finished (the recording was still being written when copied)', offset + 16);
  }
  for (const [value, what, at] of [
    [constantPoolOffset, 'constant pool offset', 16],
    [metadataOffset, 'metadata offset', 24],
  ] as const) {
    if (value < CHUNK_HEADER_BYTES || value >= size) {
      throw new JfrMalformed(`${what} ${value} outside the chunk of ${size} bytes`, offset + at);
    }
  }
  const durationNanos = field(40, 'chunk duration');
  const ticksPerSecond = field(56, 'ticks per second');
  if (ticksPerSecond === 0) throw new JfrMalformed('ticks per second is 0', offset + 56);
  return {
    major,
    minor,
    size,
    constantPoolOffset,
    metadataOffset,
    // Epoch nanoseconds exceed 2^53: approximate, and only informative.
    startNanos: bigEndian(bytes, 32, 8),
    durationNanos,
    // Exact up to 2^53 ticks (HotSpot counts nanoseconds since the JVM started); beyond, close enough for durations.
    startTicks: bigEndian(bytes, 48, 8),
    ticksPerSecond,
    compressedIntegers: (bigEndian(bytes, 64, 4) & FEATURE_COMPRESSED_INTS) !== 0,
  };
}
