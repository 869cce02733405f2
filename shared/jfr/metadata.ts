/**
 * The metadata event (type 0) of a chunk: a string table, then a tree of elements whose `class` elements describe
 * every type — events, constant-pool types, primitives — with their `field`s in the order values are written:
 *
 *   <class name="jdk.ThreadPark" id="125" superType="jdk.jfr.Event">
 *     <field name="startTime" class="long"/> <field name="eventThread" class="java.lang.Thread" constantPool="true"/>
 *     <field name="stackTrace" class="jdk.types.StackTrace" constantPool="true"/> ...
 *   <class name="jdk.types.StackTrace" id="28"> <field name="frames" class="jdk.types.StackFrame" dimension="1"/>
 *
 * (ids as JDK 21 numbers them; every JVM numbers its own). Element nesting is bounded, every count is checked
 * against the bytes left, and a class that contains itself by value (which no writer can produce) is refused.
 */
import { PoolString, type ByteReader } from './byte-reader.js';
import { ELEMENT_HEAP_BYTES, HEADER_HEAP_BYTES, SLOT_HEAP_BYTES, type DecodeHeap } from './decode-heap.js';

/** How a value of a type is read. */
export type ValueKind = 'boolean' | 'byte' | 'short' | 'int' | 'long' | 'float' | 'double' | 'string' | 'struct';

const PRIMITIVES: Record<string, ValueKind> = {
  boolean: 'boolean',
  byte: 'byte',
  char: 'short',
  short: 'short',
  int: 'int',
  long: 'long',
  float: 'float',
  double: 'double',
  'java.lang.String': 'string',
};

export interface JfrField {
  name: string;
  typeId: number;
  /** The value is an id into the type's constant pool (a compressed long). */
  constantPool: boolean;
  /** `dimension="1"`: a count, then that many values. */
  array: boolean;
}

export interface JfrClass {
  id: number;
  name: string;
  superType: string | undefined;
  kind: ValueKind;
  fields: JfrField[];
  /** False for a struct whose values take no bytes at all (no fields, or only such structs): skipping it is free. */
  takesBytes: boolean;
}

export type JfrTypes = Map<number, JfrClass>;

/** Deeper than any real tree (root → metadata → class → field → annotation). */
const MAX_ELEMENT_DEPTH = 16;
/** Deeper than any real nesting of structs by value (a stack frame in a stack trace is 2). */
export const MAX_VALUE_DEPTH = 16;

interface Element {
  name: string;
  attributes: Map<string, string>;
  children: Element[];
}

/** Reads the metadata event whose first byte (its size) is at `reader.pos`; the reader's limit is the chunk's end. */
export function parseMetadata(reader: ByteReader, heap?: DecodeHeap): JfrTypes {
  const start = reader.pos;
  const size = reader.varlong();
  if (size < 2 || size > reader.limit - start) reader.fail(`metadata event size ${size} does not fit the chunk`, start);
  const chunkLimit = reader.limit;
  reader.limit = start + size;
  const type = reader.varlong();
  if (type !== 0) reader.fail(`the metadata offset points to an event of type ${type}, not 0`, start);
  reader.long(); // start time
  reader.long(); // duration
  reader.long(); // metadata id
  const strings: string[] = [];
  // Each string takes at least its encoding byte.
  const stringCount = reader.count('metadata string count');
  for (let i = 0; i < stringCount; i++) {
    const at = reader.pos;
    const s = reader.string();
    if (s === null || s instanceof PoolString) reader.fail('metadata strings must be inline text', at);
    heap?.charge(HEADER_HEAP_BYTES + 2 * s.length);
    strings.push(s);
  }
  const root = readElement(reader, strings, 0, heap);
  reader.limit = chunkLimit;
  reader.pos = start + size;
  return buildTypes(reader, root, start);
}

function readElement(reader: ByteReader, strings: string[], depth: number, heap: DecodeHeap | undefined): Element {
  if (depth > MAX_ELEMENT_DEPTH) reader.fail(`metadata elements nested deeper than ${MAX_ELEMENT_DEPTH}`);
  const text = (): string => {
    const at = reader.pos;
    const index = reader.int();
    const s = strings[index];
    if (s === undefined) reader.fail(`metadata string index ${index} out of ${strings.length}`, at);
    return s;
  };
  const name = text();
  const attributes = new Map<string, string>();
  const attributeCount = reader.count('metadata attribute count', 2);
  for (let i = 0; i < attributeCount; i++) {
    const key = text();
    attributes.set(key, text());
  }
  const childCount = reader.count('metadata child count', 3);
  heap?.charge(ELEMENT_HEAP_BYTES + (attributeCount + childCount) * SLOT_HEAP_BYTES);
  const children: Element[] = [];
  for (let i = 0; i < childCount; i++) children.push(readElement(reader, strings, depth + 1, heap));
  return { name, attributes, children };
}

function classElements(root: Element): Element[] {
  const found: Element[] = [];
  const walk = (e: Element): void => {
    if (e.name === 'class') found.push(e);
    else for (const c of e.children) walk(c);
  };
  walk(root);
  return found;
}

function numberAttribute(reader: ByteReader, e: Element, key: string, at: number): number {
  const text = e.attributes.get(key);
  const n = text === undefined ? NaN : Number(text);
  if (!Number.isSafeInteger(n) || n < 0) reader.fail(`metadata ${e.name} has no valid ${key} (${text})`, at);
  return n;
}

function buildTypes(reader: ByteReader, root: Element, at: number): JfrTypes {
  const types: JfrTypes = new Map();
  for (const e of classElements(root)) {
    const id = numberAttribute(reader, e, 'id', at);
    const name = e.attributes.get('name') ?? `type ${id}`;
    const fields: JfrField[] = [];
    for (const f of e.children) {
      if (f.name !== 'field') continue;
      fields.push({
        name: f.attributes.get('name') ?? '',
        typeId: numberAttribute(reader, f, 'class', at),
        constantPool: f.attributes.get('constantPool') === 'true',
        array: f.attributes.has('dimension') && f.attributes.get('dimension') !== '0',
      });
    }
    types.set(id, {
      id,
      name,
      superType: e.attributes.get('superType'),
      kind: PRIMITIVES[name] ?? 'struct',
      fields,
      takesBytes: true,
    });
  }
  for (const c of types.values()) {
    for (const f of c.fields) {
      if (!types.has(f.typeId)) reader.fail(`field ${c.name}.${f.name} has unknown type ${f.typeId}`, at);
    }
  }
  markSizes(reader, types, at);
  return types;
}

/**
 * Sets `takesBytes` and refuses structs that contain themselves by value (directly or not): reading one would never
 * end. Fields read through a constant pool or an array always take bytes (an id, a count).
 */
function markSizes(reader: ByteReader, types: JfrTypes, at: number): void {
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (c: JfrClass, depth: number): boolean => {
    if (c.kind !== 'struct') return true;
    const s = state.get(c.id);
    if (s === 'done') return c.takesBytes;
    if (s === 'visiting' || depth > MAX_VALUE_DEPTH) reader.fail(`type ${c.name} contains itself`, at);
    state.set(c.id, 'visiting');
    let takes = false;
    for (const f of c.fields) {
      if (f.constantPool || f.array) takes = true;
      else if (visit(types.get(f.typeId) as JfrClass, depth + 1)) takes = true;
    }
    c.takesBytes = takes;
    state.set(c.id, 'done');
    return takes;
  };
  for (const c of types.values()) visit(c, 0);
}
