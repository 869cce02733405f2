/**
 * Values of any described type, read or skipped by the metadata: primitives by their kind, strings by their encoding,
 * constant-pool fields as an id, arrays as a count then the values, structs as their fields in order. Nesting is
 * bounded (MAX_VALUE_DEPTH) and every array count must fit the bytes left, so no value can loop or allocate beyond
 * the bytes it comes from.
 */
import type { ByteReader, PoolString } from './byte-reader.js';
import type { DecodeHeap } from './decode-heap.js';
import {
  HEADER_HEAP_BYTES,
  MAX_STACK_FRAMES,
  MAX_STRING_CHARS,
  SLOT_HEAP_BYTES,
  STRUCT_HEAP_BYTES,
} from './decode-heap.js';
import { MAX_VALUE_DEPTH, type JfrClass, type JfrField, type JfrTypes } from './metadata.js';

/** A decoded value: constant-pool fields are their id (a number), structs an object keyed by field name. */
export type JfrValue = number | boolean | string | PoolString | null | JfrValue[] | JfrStruct;
export interface JfrStruct {
  [field: string]: JfrValue;
}

function typeOf(types: JfrTypes, id: number): JfrClass {
  // buildTypes checked every field's type exists.
  return types.get(id) as JfrClass;
}

function readPrimitive(
  reader: ByteReader,
  c: JfrClass,
  heap: DecodeHeap | undefined,
): number | boolean | string | PoolString | null {
  switch (c.kind) {
    case 'boolean':
      return reader.u8() !== 0;
    case 'byte':
      return reader.u8();
    case 'short':
      return reader.short();
    case 'int':
      return reader.int();
    case 'long':
      return reader.long();
    case 'float':
      reader.skip(4, 'a float');
      return 0;
    case 'double':
      reader.skip(8, 'a double');
      return 0;
    case 'string': {
      if (heap === undefined) return reader.string();
      const s = reader.string(MAX_STRING_CHARS);
      heap.charge(typeof s === 'string' ? HEADER_HEAP_BYTES + 2 * s.length : HEADER_HEAP_BYTES);
      return s;
    }
    default:
      return null;
  }
}

function skipPrimitive(reader: ByteReader, c: JfrClass): void {
  switch (c.kind) {
    case 'boolean':
    case 'byte':
      reader.skip(1, c.kind);
      return;
    case 'float':
      reader.skip(4, 'a float');
      return;
    case 'double':
      reader.skip(8, 'a double');
      return;
    case 'string':
      reader.skipString();
      return;
    case 'long':
      reader.long();
      return;
    case 'int':
      reader.int();
      return;
    default:
      reader.short();
  }
}

/** Skips one value of a field (the whole array for an array field). */
export function skipField(reader: ByteReader, types: JfrTypes, field: JfrField, depth = 0): void {
  if (field.array) {
    const n = reader.count(`array ${field.name}`);
    for (let i = 0; i < n; i++) skipOne(reader, types, field, depth);
  } else {
    skipOne(reader, types, field, depth);
  }
}

function skipOne(reader: ByteReader, types: JfrTypes, field: JfrField, depth: number): void {
  if (field.constantPool) {
    reader.varlong();
    return;
  }
  skipValue(reader, types, typeOf(types, field.typeId), depth);
}

/** Skips one value of a type written inline. */
export function skipValue(reader: ByteReader, types: JfrTypes, c: JfrClass, depth = 0): void {
  if (c.kind !== 'struct') {
    skipPrimitive(reader, c);
    return;
  }
  if (!c.takesBytes) return;
  if (depth >= MAX_VALUE_DEPTH) reader.fail(`values of ${c.name} nested deeper than ${MAX_VALUE_DEPTH}`);
  for (const f of c.fields) skipField(reader, types, f, depth + 1);
}

/**
 * Reads one value of a field (an array for an array field; the id for a constant-pool field). With a `heap`, what is
 * kept is counted there and bounded: arrays keep their first MAX_STACK_FRAMES elements (a stack's leaf side), strings
 * their first MAX_STRING_CHARS.
 */
export function readField(
  reader: ByteReader,
  types: JfrTypes,
  field: JfrField,
  heap?: DecodeHeap,
  depth = 0,
): JfrValue {
  if (field.array) {
    const n = reader.count(`array ${field.name}`);
    const values: JfrValue[] = [];
    const kept = heap === undefined ? n : Math.min(n, MAX_STACK_FRAMES);
    if (heap !== undefined) heap.charge(HEADER_HEAP_BYTES + kept * SLOT_HEAP_BYTES);
    for (let i = 0; i < kept; i++) values.push(readOne(reader, types, field, heap, depth));
    if (kept < n) {
      for (let i = kept; i < n; i++) skipOne(reader, types, field, depth);
      (heap as DecodeHeap).cutArray = true;
    }
    return values;
  }
  return readOne(reader, types, field, heap, depth);
}

function readOne(
  reader: ByteReader,
  types: JfrTypes,
  field: JfrField,
  heap: DecodeHeap | undefined,
  depth: number,
): JfrValue {
  if (field.constantPool) return reader.varlong();
  return readValue(reader, types, typeOf(types, field.typeId), heap, depth);
}

/** Reads one value of a type written inline (counted in `heap` when given, as readField says). */
export function readValue(reader: ByteReader, types: JfrTypes, c: JfrClass, heap?: DecodeHeap, depth = 0): JfrValue {
  if (c.kind !== 'struct') return readPrimitive(reader, c, heap);
  if (depth >= MAX_VALUE_DEPTH) reader.fail(`values of ${c.name} nested deeper than ${MAX_VALUE_DEPTH}`);
  // No prototype: field names come from the file (`__proto__` is just a name here).
  const struct = Object.create(null) as JfrStruct;
  if (heap !== undefined) heap.charge(STRUCT_HEAP_BYTES + c.fields.length * SLOT_HEAP_BYTES);
  for (const f of c.fields) struct[f.name] = readField(reader, types, f, heap, depth + 1);
  // A stack trace cut here is marked as one JFR cut at its depth limit.
  if (heap?.cutArray === true) {
    heap.cutArray = false;
    if (c.name === 'jdk.types.StackTrace') struct['truncated'] = true;
  }
  return struct;
}
