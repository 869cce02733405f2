/**
 * Checkpoint events (type 1) and the constant pools they carry:
 *
 *   [size][type 1][start time][duration][delta to the previous checkpoint][flags byte][pool count]
 *   pool count × ( [type id][entry count] entry count × ( [id][value of the type] ) )
 *
 * Only the pools a stack needs are decoded (stack traces, methods, classes, symbols, frame types, strings); the rest
 * are skipped value by value through the metadata. Pools of one type from several checkpoints add up. Entries are
 * kept by id; a later entry with the same id replaces the earlier one.
 */
import type { ByteReader } from './byte-reader.js';
import { SLOT_HEAP_BYTES, type DecodeHeap } from './decode-heap.js';
import type { JfrTypes } from './metadata.js';
import { readValue, skipValue, type JfrValue } from './values.js';

/** The pool types a stack trace is resolved through. */
export const RESOLVING_TYPES = new Set([
  'jdk.types.StackTrace',
  'jdk.types.Method',
  'java.lang.Class',
  'jdk.types.Symbol',
  'jdk.types.FrameType',
  'java.lang.String',
]);

/** Type name → entry id → value. */
export type ConstantPools = Map<string, Map<number, JfrValue>>;

/**
 * Reads the pools of the checkpoint event at `reader.pos` (after its size and type, limit at its end) into `pools`,
 * counting what they keep in `heap`.
 */
export function readCheckpoint(reader: ByteReader, types: JfrTypes, pools: ConstantPools, heap: DecodeHeap): void {
  reader.long(); // start time
  reader.long(); // duration
  reader.long(); // delta to the previous checkpoint: every checkpoint is met in order anyway
  reader.u8(); // flags (flush, chunk header, statics, thread)
  const poolCount = reader.count('constant pool count', 2);
  for (let p = 0; p < poolCount; p++) {
    const at = reader.pos;
    const typeId = reader.varlong();
    const type = types.get(typeId);
    if (type === undefined) reader.fail(`constant pool of unknown type ${typeId}`, at);
    const entries = reader.count(`entries of pool ${type.name}`);
    const keep = RESOLVING_TYPES.has(type.name);
    let pool = keep ? pools.get(type.name) : undefined;
    if (keep && pool === undefined) {
      pool = new Map();
      pools.set(type.name, pool);
    }
    for (let i = 0; i < entries; i++) {
      const id = reader.varlong();
      if (pool !== undefined) {
        heap.charge(SLOT_HEAP_BYTES);
        pool.set(id, readValue(reader, types, type, heap));
      } else skipValue(reader, types, type);
    }
  }
}
