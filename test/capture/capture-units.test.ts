// The capture's stream plumbing without an engine, on output recorded from a real capture
// (fixtures/attach-stream.bin, fixtures/capture-stderr.txt; see record-fixtures.ts): the Docker stream demuxer and
// the stderr reader, each checked against goldens, fed in tiny chunks, and for determinism.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { PassThrough, Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { demuxDockerStream } from '../../agent/runtime/docker-stream.js';
import {
  CaptureStderr,
  parseCaptureTimingsLine,
  parseCaptureWarningLine,
} from '../../agent/runtime/capture-warnings.js';
import { perfScriptStats, matchGolden } from './capture-run.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const attachStream = readFileSync(`${FIXTURES}attach-stream.bin`);
const stderrText = readFileSync(`${FIXTURES}capture-stderr.txt`);

/** Splits bytes into chunks of `size` (the last one shorter). */
function chunksOf(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

/** The first stdout frame (header and payload) of a multiplexed stream. */
function firstStdoutFrame(bytes: Buffer): Buffer {
  for (let at = 0; at + 8 <= bytes.length; at += 8 + bytes.readUInt32BE(at + 4)) {
    if (bytes[at] === 1) return bytes.subarray(at, at + 8 + bytes.readUInt32BE(at + 4));
  }
  throw new Error('no stdout frame in the fixture');
}

async function demux(chunks: Buffer[]): Promise<{ stdout: string; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  stdout.on('data', (d: Buffer) => out.push(d));
  await demuxDockerStream(Readable.from(chunks), stdout, (d) => err.push(d));
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

t.test('demuxDockerStream on a recorded attach stream', async (t) => {
  const whole = await demux([attachStream]);
  matchGolden(t, `${FIXTURES}attach-stream.stdout.txt`, whole.stdout, 'stdout matches the golden');
  matchGolden(t, `${FIXTURES}attach-stream.stderr.txt`, whole.stderr, 'stderr matches the golden');
  t.equal(whole.stderr, stderrText.toString('utf8'), 'stderr is what dockerode’s own demuxer found when recording');

  // An independent implementation: dockerode's modem.demuxStream, on the same bytes.
  const reference = { out: [] as Buffer[], err: [] as Buffer[] };
  const source = new PassThrough();
  new Docker({ socketPath: '/nonexistent' }).modem.demuxStream(
    source,
    new Writable({ write: (c: Buffer, _e, cb) => (reference.out.push(c), cb()) }),
    new Writable({ write: (c: Buffer, _e, cb) => (reference.err.push(c), cb()) }),
  );
  source.end(attachStream);
  await new Promise((r) => setImmediate(r));
  t.equal(whole.stdout, Buffer.concat(reference.out).toString('utf8'), 'stdout equals dockerode’s split');
  t.equal(whole.stderr, Buffer.concat(reference.err).toString('utf8'), 'stderr equals dockerode’s split');

  for (const size of [1, 3, 7, 8, 9, 4096]) {
    t.same(await demux(chunksOf(attachStream, size)), whole, `the same in ${size}-byte chunks`);
  }
  t.same(await demux([attachStream]), whole, 'deterministic');

  const stats = perfScriptStats(whole.stdout);
  t.ok(stats.samples > 0 && stats.oddEventLines === 0, `stdout is pure perf script text (${stats.samples} samples)`);
});

t.test('demuxDockerStream waits for a slow consumer (backpressure)', async (t) => {
  // Frames are produced on demand; the consumer holds every write until released.
  const frame = firstStdoutFrame(attachStream);
  let pulled = 0;
  const total = 2000;
  const source = new Readable({
    highWaterMark: 1024,
    read() {
      if (pulled === total) return void this.push(null);
      pulled++;
      this.push(Buffer.from(frame));
    },
  });
  const held: (() => void)[] = [];
  let received = 0;
  const stdout = new Writable({
    highWaterMark: 256,
    write(chunk: Buffer, _e, cb) {
      received += chunk.length;
      held.push(cb);
    },
  });
  const onStderr = (): void => undefined;
  const done = demuxDockerStream(source, stdout, onStderr);
  await new Promise((r) => setTimeout(r, 50));
  t.ok(pulled < 100, `reading stopped while stdout was full (${pulled} of ${total} frames pulled)`);
  // Release the consumer until everything is through.
  while (held.length > 0 || pulled < total) {
    held.splice(0).forEach((cb) => cb());
    await new Promise((r) => setImmediate(r));
  }
  await done;
  t.equal(pulled, total, 'then everything was read');
  t.equal(received, total * (frame.length - 8), 'and delivered');
});

t.test('demuxDockerStream: a consumer that goes away does not block the container', async (t) => {
  const stdout = new PassThrough({ highWaterMark: 16 });
  stdout.destroy();
  const stderr: Buffer[] = [];
  await demuxDockerStream(Readable.from(chunksOf(attachStream, 100)), stdout, (d) => stderr.push(d));
  t.equal(Buffer.concat(stderr).toString('utf8'), stderrText.toString('utf8'), 'stderr still read to the end');
});

t.test('demuxDockerStream rejects what is not a multiplexed stream', async (t) => {
  // A TTY container's raw output (the first line of the recorded stdout).
  const raw = Buffer.from((await demux([attachStream])).stdout.split('\n')[0] + '\n');
  await t.rejects(
    demuxDockerStream(Readable.from([raw]), new PassThrough(), () => undefined),
    {
      message: /not a Docker multiplexed stream/,
    },
  );
});

t.test('CaptureStderr on recorded capture stderr', async (t) => {
  const read = (chunks: Buffer[]) => {
    const s = new CaptureStderr();
    for (const c of chunks) s.write(c);
    s.end();
    return { warnings: s.warnings, timings: s.timings, tail: s.tail() };
  };
  const whole = read([stderrText]);
  matchGolden(t, `${FIXTURES}capture-stderr.expected.json`, `${JSON.stringify(whole, null, 2)}\n`, 'golden');
  t.equal(whole.warnings[0]?.code, 'NO_PRESERVE_FRAME_POINTER');
  t.notMatch(whole.tail, /podflameWarning|timings-ms/, 'the tail holds neither warnings nor timings');
  t.match(whole.tail, /perf record: Captured and wrote/, "but perf's own messages");
  for (const size of [1, 2, 5, 64]) t.same(read(chunksOf(stderrText, size)), whole, `the same in ${size}-byte chunks`);
  t.same(read([stderrText]), whole, 'deterministic');

  const small = new CaptureStderr({ tailBytes: 80 });
  small.write(stderrText);
  small.end();
  t.ok(small.tail().length <= 80, 'the tail is bounded');
  t.match(small.tail(), /timings|Captured and wrote/, 'and keeps the most recent lines');
  t.notMatch(small.tail(), /recording processes/, 'not the oldest');
});

t.test('CaptureStderr: a last line without newline, a runaway line', async (t) => {
  const lines = stderrText.toString('utf8').trimEnd().split('\n');
  const s = new CaptureStderr({ maxLineBytes: 500 });
  s.write(Buffer.from(`${lines[0]}\n${'x'.repeat(5000)}\n${lines[1]}`));
  s.end();
  t.equal(s.warnings.length, 1, 'the warning line');
  t.match(s.tail(), /\[line cut\]/, 'the long line is cut and marked');
  t.match(s.tail(), /recording processes/, 'the unterminated last line is kept');
});

t.test('parseCaptureWarningLine accepts only well-formed warnings', async (t) => {
  const recorded = stderrText.toString('utf8').split('\n')[0] as string;
  t.same(parseCaptureWarningLine(recorded)?.code, 'NO_PRESERVE_FRAME_POINTER', 'the recorded line');
  t.equal(parseCaptureWarningLine(recorded.slice(0, -2)), undefined, 'cut JSON');
  const variants = [
    recorded.replace('"NO_PRESERVE_FRAME_POINTER"', '"no spaces allowed in codes"'),
    recorded.replace('"NO_PRESERVE_FRAME_POINTER"', '42'),
    recorded.replace(/"message":"[^"]*"/, '"message":null'),
    recorded.replace('podflameWarning', 'otherWarning'),
  ];
  for (const v of variants) t.equal(parseCaptureWarningLine(v), undefined, v.slice(0, 60));
  t.same(parseCaptureWarningLine(recorded.replace('"pid":1', '"pid":-3')), {
    code: 'NO_PRESERVE_FRAME_POINTER',
    message: JSON.parse(recorded).podflameWarning.message,
  });
  const timings = stderrText.toString('utf8').trimEnd().split('\n').at(-1) as string;
  t.same(Object.keys(parseCaptureTimingsLine(timings) ?? {}), [
    'checks',
    'perf-start',
    'recording',
    'perf-stop',
    'maps',
    'script',
    'segments',
  ]);
  t.equal(parseCaptureTimingsLine('podflame-capture: timings-ms checks=abc'), undefined);
});
