import t from 'tap';
import { createReadStream, readFileSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { collapseFiles, collapseStream } from '../../shared/collapse/collapse-stream.js';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';

// The I/O wrappers around PerfCollapser, on a real capture.
const CAPTURE = new URL('../fixtures/perf/java-fp.txt', import.meta.url).pathname;
const bytes = (result: { foldedChunks(): Iterable<Buffer> }): Buffer => Buffer.concat([...result.foldedChunks()]);

function direct(): Buffer {
  const c = new PerfCollapser({ java: true });
  c.push(readFileSync(CAPTURE));
  return bytes(c.finish());
}

t.test('collapseStream reads any async iterable of chunks: a file stream, a pipe of text', async (t) => {
  const expected = direct();
  t.same(bytes(await collapseStream(createReadStream(CAPTURE, { highWaterMark: 333 }), { java: true })), expected);
  const text = new PassThrough({ encoding: 'utf8' });
  text.end(readFileSync(CAPTURE));
  t.same(bytes(await collapseStream(text, { java: true })), expected, 'string chunks');
  const result = await collapseStream(Readable.from([]), {});
  t.equal(result.samples, 0, 'an empty stream has no samples');
  t.equal(result.stacks.size, 0);
});

t.test('collapseFiles: files in order, `-` reads the given stdin', async (t) => {
  const stdin = Readable.from([readFileSync(CAPTURE)]);
  const both = await collapseFiles([CAPTURE, '-'], { java: true, stdin });
  t.equal(both.samples, 2 * (await collapseFiles([CAPTURE], { java: true })).samples);
  await t.rejects(collapseFiles(['/nonexistent/perf.txt']), {
    code: 'FILE_UNREADABLE',
    // The path once and the reason in words, not Node's `(ENOENT): ENOENT: no such file or directory, open '...'`.
    message: 'cannot read /nonexistent/perf.txt: no such file; check the path',
  });
});

t.test('an aborted signal stops reading with CAPTURE_ABORTED', async (t) => {
  const controller = new AbortController();
  controller.abort(new Error('stop'));
  await t.rejects(collapseStream(createReadStream(CAPTURE), { signal: controller.signal }), {
    code: 'CAPTURE_ABORTED',
  });
  await t.rejects(collapseFiles([CAPTURE], { signal: controller.signal }), { code: 'CAPTURE_ABORTED' });
});

t.test('more than 65,535 distinct names: sorting switches to two code units per rank', async (t) => {
  // A real sample with a frame perf could not resolve, repeated at 40,000 different addresses (--addrs keeps each).
  const sh = readFileSync(new URL('../fixtures/perf/sh-loop.txt', import.meta.url), 'latin1');
  const sample = sh.split(/(?<=\n)\n/).find((s) => /^\s+\w+ \[unknown\] \(\[unknown\]\)$/m.test(s));
  t.ok(sample, 'the capture has such a sample');
  const [event, ...stack] = (sample as string).split('\n');
  const pcLine = stack.findIndex((l) => /\[unknown\] \(\[unknown\]\)$/.test(l));
  const c = new PerfCollapser({ addrs: true });
  for (let i = 0; i < 40_000; i++) {
    const pc = (0x55b38a000000 + i * 7919).toString(16);
    const lines = stack.map((l, j) => (j === pcLine ? l.replace(/\w+ \[unknown\]/, `${pc} [unknown]`) : l));
    c.push(Buffer.from([event, ...lines].join('\n') + '\n', 'latin1'));
  }
  const out = bytes(c.finish()).toString('latin1').split('\n').filter(Boolean);
  t.equal(out.length, 40_000);
  const keys = out.map((l) => l.slice(0, l.lastIndexOf(' ')));
  t.same(keys, [...keys].sort(), 'byte order');
});
