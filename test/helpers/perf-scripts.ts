/**
 * `perf script` text generated for the profile worker's memory tests, in the shape real captures have (event line,
 * stack lines leaf first, blank line); the frame lines are those of test/fixtures/perf (JIT frames from a perf map,
 * libc and libjvm frames).
 */
import { prng } from '../fuzz/mutate.js';

/**
 * `samples` random samples over a small pool of comms and frames, chosen to reach every case of the stacks' limits:
 * equal and unequal counts (periods 1, 2, 3 and 1001001), repeated stacks, inline chains (a text holding `;`), a
 * thread named with `;`, one named `[dropped stacks]`, UTF-8 names, and names cut inside a UTF-8 character (the
 * kernel keeps 15 bytes of a thread name) that decode to U+FFFD and may then spell another stack's name.
 */
export function randomPerfScript(seed: number, samples: number): Buffer {
  const rand = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const comms: Buffer[] = [
    Buffer.from('java'),
    Buffer.from('C2 CompilerThre'),
    Buffer.from('pool;worker'),
    Buffer.from('[dropped stacks]'),
    Buffer.from('Überwacher'),
    // `wä` cut after the first byte of `ä`, and `w` + a lone continuation byte: both decode to `w\uFFFD`.
    Buffer.from([0x77, 0xc3]),
    Buffer.from([0x77, 0xa4]),
    Buffer.from('w\uFFFD'),
  ];
  const frames: Buffer[] = [
    Buffer.from('7f13acffdd40 long Hot.fib(int)+0x4c (/tmp/perf-22226.map)'),
    Buffer.from('7f13acffdd80 void Hot.loop()+0x10 (/tmp/perf-22226.map)'),
    Buffer.from('7f13acffde00 int Shop.søk(java.lang.String)+0x8 (/tmp/perf-22226.map)'),
    Buffer.from('7f13acffdf00 Interpreter (/tmp/perf-22226.map)'),
    Buffer.from('891f5 start_thread+0x305 (/usr/lib/x86_64-linux-gnu/libc.so.6)'),
    Buffer.from('a1b2c JavaThread::run()+0x2c (/usr/lib/jvm/lib/server/libjvm.so)'),
    Buffer.from('a1b3c inlined_a->inlined_b->inlined_c+0x1 (/usr/lib/jvm/lib/server/libjvm.so)'),
    Buffer.from('a1b4c Compile::Optimize()+0x77 (/usr/lib/jvm/lib/server/libjvm.so)'),
    Buffer.concat([Buffer.from('a1b5c f'), Buffer.from([0xe2, 0x82]), Buffer.from('+0x1 (/usr/lib/libx.so)')]),
    Buffer.from('a1b6c f\u20ac+0x1 (/usr/lib/libx.so)'),
  ];
  const parts: Buffer[] = [];
  for (let i = 0; i < samples; i++) {
    const period = pick([1, 1, 2, 3, 1001001]);
    parts.push(pick(comms), Buffer.from(` ${1000 + (i % 5)} ${100 + i}.000001: ${period} cpu-clock:pppH: \n`));
    // No frame at all: the stack is the thread alone (`[dropped stacks]` itself, for that thread).
    const depth = Math.floor(rand() * 7);
    for (let d = 0; d < depth; d++) parts.push(Buffer.from('\t    '), pick(frames), Buffer.from('\n'));
    parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/**
 * `stacks` distinct stacks, each seen once, of `depth` JIT frames with `nameBytes`-byte names shared by every stack
 * but the leaf: few distinct frames, while each stack's text is depth × nameBytes long — the shape whose stack strings
 * outgrow the heap long before its frames do. Yielded in 64 KiB pieces, as a capture's stdout arrives.
 */
export function* deepStacks(stacks: number, depth: number, nameBytes: number): Generator<Buffer> {
  const names: string[] = [];
  for (let d = 0; d < depth; d++) names.push(`app.Service${d}.${'handle'.padEnd(nameBytes, 'x')}`);
  let text = '';
  for (let i = 0; i < stacks; i++) {
    text += `java 1000  ${1000 + i}.000001:    1 cpu-clock:pppH: \n`;
    text += `\t    7fc868ef0000 long app.Leaf.m${i}(int)+0x10 (/tmp/perf-1.map)\n`;
    for (let d = depth - 1; d >= 0; d--) {
      text += `\t    7fc868ec${d.toString(16).padStart(4, '0')} void ${names[d]}(int)+0x10 (/tmp/perf-1.map)\n`;
    }
    text += '\n';
    while (text.length >= 65536) {
      yield Buffer.from(text.slice(0, 65536));
      text = text.slice(65536);
    }
  }
  if (text.length > 0) yield Buffer.from(text);
}

/**
 * attack/gen-big.mjs of issue #13's second attack: `stacks` stacks of 10 frames whose names are all distinct and
 * `nameBytes` long, so the collapser's own tables grow with the input. In 64 KiB pieces.
 */
export function* distinctFrames(stacks: number, nameBytes: number, from = 0): Generator<Buffer> {
  let text = '';
  for (let i = from; i < from + stacks; i++) {
    text += `java 100/101 [000] 1.${String(i).padStart(6, '0')}: 1001001 cpu-clock:pppH: \n`;
    for (let f = 0; f < 10; f++) {
      const name = (`s${i}f${f}_` + 'q'.repeat(nameBytes)).slice(0, nameBytes);
      text += `\t    7f00000${String(f).padStart(5, '0')} long p.C${name}.m(int)+0x10 (/tmp/perf-100.map)\n`;
    }
    text += '\n';
    while (text.length >= 65536) {
      yield Buffer.from(text.slice(0, 65536));
      text = text.slice(65536);
    }
  }
  if (text.length > 0) yield Buffer.from(text);
}
