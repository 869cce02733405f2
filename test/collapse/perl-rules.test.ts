import t from 'tap';
import { readFileSync } from 'node:fs';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import type { CollapseOptions } from '../../shared/collapse/options.js';
import { tidyFrameLine, tidyGeneric, type TidyContext } from '../../shared/collapse/tidy.js';
import { PodflameError } from '../../shared/errors.js';

// stackcollapse-perf.pl's rules (../shared/corpus/MANIFEST.md lists them) on real lines from test/fixtures/perf.
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/perf/${name}`, import.meta.url), 'latin1');
const FP = fixture('java-fp.txt');
const PIDTID = fixture('java-fp-pidtid.txt');
const DD = fixture('dd-two-events.txt');
const SH = fixture('sh-loop.txt');

/** The samples of a capture (each with its blank line), as perf wrote them. */
const samplesOf = (text: string): string[] =>
  text
    .split(/(?<=\n)\n/)
    .filter((s) => s.length > 0)
    .map((s) => s + '\n');

function collapse(input: string | readonly string[], options: Partial<CollapseOptions> = {}) {
  const collapser = new PerfCollapser(options);
  for (const chunk of typeof input === 'string' ? [input] : input) collapser.push(Buffer.from(chunk, 'latin1'));
  const result = collapser.finish();
  return { result, out: Buffer.concat([...result.foldedChunks()]).toString('latin1') };
}

/** The one line a one-sample input collapses to. */
function only(input: string, options: Partial<CollapseOptions> = {}): string {
  const lines = collapse(input, options).out.split('\n').filter(Boolean);
  if (lines.length !== 1) throw new Error(`expected one stack, got ${lines.length}`);
  return lines[0] as string;
}

const sampleWith = (text: string, needle: string): string => {
  const s = samplesOf(text).find((x) => x.includes(needle));
  if (s === undefined) throw new Error(`no sample with ${needle} in the fixture`);
  return s;
};

t.test('a sample counts when its blank line is read; the last one without it is dropped, with a warning', async (t) => {
  const samples = samplesOf(FP);
  const all = collapse(FP).result;
  t.equal(all.samples, samples.length, 'every sample of the capture counted');
  t.same(all.warnings, [], 'no warning for a complete capture');
  const cut = collapse(FP.slice(0, -1)).result; // the final "\n" of the last blank line removed
  t.equal(cut.samples, samples.length - 1, 'the unterminated last sample is not counted (perl drops it)');
  t.match(cut.warnings.join('\n'), /last sample is not followed by a blank line/);
  const [first, second] = samples as [string, string];
  const spaced = collapse(first.replace(/\n\n$/, '\n  \n') + second).result;
  t.equal(spaced.samples, 1, 'a line of spaces does not end a sample: the two samples become one');
  t.equal(spaced.unrecognizedLines, 1, 'and it is counted as unrecognized');
});

t.test('period: used as the count when perf printed one, else 1', async (t) => {
  const withPeriod = sampleWith(FP, 'Workload.fib');
  t.match(withPeriod.split('\n')[0], / 1001001 cpu-clock:pppH: $/, 'default fields carry the period');
  t.match(only(withPeriod), / 1001001$/);
  const noPeriod = samplesOf(PIDTID)[0]!;
  t.match(noPeriod.split('\n')[0], /\d+\.\d+: cpu-clock:pppH: $/, '-F without period');
  t.match(only(noPeriod), / 1$/);
  const total = collapse(PIDTID).out.split('\n').filter(Boolean);
  const sum = total.reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  t.equal(sum, samplesOf(PIDTID).length, 'without periods the counts add up to the number of samples');
});

t.test('root frame: comm with spaces as _, -PID (? when only a TID), -PID/TID', async (t) => {
  const c2 = sampleWith(FP, 'C2 CompilerThre');
  const tid = c2.split('\n')[0]!.split(/\s+/)[2];
  t.match(only(c2), /^C2_CompilerThre;/);
  t.match(only(c2, { pid: true }), /^C2_CompilerThre-\?;/, 'default perf script prints only the TID');
  t.match(only(c2, { tid: true }), new RegExp(`^C2_CompilerThre-\\?/${tid};`));
  t.match(only(c2, { tid: true, pid: true }), new RegExp(`^C2_CompilerThre-\\?/${tid};`), '--tid wins over --pid');
  const pair = sampleWith(PIDTID, 'C2 CompilerThre');
  const [, pid, tid2] = /(\d+)\/(\d+)/.exec(pair.split('\n')[0]!)!;
  t.match(only(pair, { pid: true }), new RegExp(`^C2_CompilerThre-${pid};`));
  t.match(only(pair, { tid: true }), new RegExp(`^C2_CompilerThre-${pid}/${tid2};`));
  // perl's event-line pattern takes the shortest comm followed by a number: "Stream Worker 1 27574 ..." is thread
  // "Stream Worker" with TID 1. Reproduced; Java mode keeps the whole name.
  const worker = sampleWith(FP, 'Stream Worker 1');
  t.match(only(worker, { tid: true }), /^Stream_Worker-\?\/1;/);
  t.match(only(worker, { tid: true, java: true }), /^Stream Worker 1-\?\/\d{3,};/);
});

t.test('event filter: the first event by default, with perl`s message naming the DROPPED event', async (t) => {
  const { result } = collapse(DD);
  const events = samplesOf(DD).map((s) => / (\S+): $/m.exec(s.split('\n')[0]!)?.[1]);
  const first = events[0];
  const other = events.find((e) => e !== first);
  t.ok(first && other, 'the capture has two events');
  t.equal(result.droppedEventSamples, events.filter((e) => e !== first).length);
  t.same(result.warnings, [`Filtering for events of type: ${other}`]);
  const explicit = collapse(DD, { eventFilter: other }).result;
  t.equal(explicit.samples, events.filter((e) => e === other).length);
  t.same(explicit.warnings, [], 'no message when the filter was given');
  t.equal(collapse(DD, { eventFilter: '' }).result.samples, result.samples, 'an empty filter means the default');
  t.equal(collapse(DD, { eventFilter: 'cycles' }).result.samples, 0, 'an event that never occurs keeps nothing');
});

t.test('frames: offsets stripped, [unknown] becomes the module basename, --addrs keeps the pc', async (t) => {
  const dash = sampleWith(SH, '[unknown] (/usr/bin/dash)');
  const pc = /(\w+) \[unknown\] \(\/usr\/bin\/dash\)/.exec(dash)![1];
  t.match(only(dash), /;\[dash\]/);
  t.match(only(dash, { addrs: true }), new RegExp(`\\[dash <${pc}>\\]`));
  const anon = sampleWith(SH, '[unknown] ([unknown])');
  t.match(only(anon), /;\[unknown\]/);
  t.match(only(anon, { addrs: true }), /;\[unknown <\w+>\]/);
  t.notMatch(collapse(SH).out, /\+0x/, 'no +0x offsets survive');
  const stub = sampleWith(FP, 'StubRoutines (1)+0x');
  t.match(only(stub), /;StubRoutines ;/, 'everything from the first ( is cut: `StubRoutines (1)` leaves a space');
  t.match(only(sampleWith(FP, 'long Workload.fib(int)')), /;long Workload\.fib[;\s]/, 'return type kept, args cut');
});

t.test('annotations: _[k] for kernel modules, _[j] for perf maps, --all for both', async (t) => {
  const kernel = sampleWith(DD, '([kernel.kallsyms])');
  t.match(only(kernel, { kernel: true }), /;vfs_read_\[k\]|;ksys_read_\[k\]|_\[k\]/);
  t.notMatch(only(kernel), /_\[k\]/);
  const anon = sampleWith(SH, '[unknown] ([unknown])');
  t.notMatch(only(anon, { kernel: true }), /_\[k\]/, 'a module containing "unknown" is not a kernel module');
  const jit = sampleWith(FP, 'Workload.fib');
  t.match(only(jit, { jit: true }), /;long Workload\.fib_\[j\]/);
  t.notMatch(only(jit, { jit: true }), /libjvm[^;]*_\[j\]/, 'only /tmp/perf-PID.map frames');
  t.equal(only(jit, { all: true }), only(jit, { kernel: true, jit: true }));
});

t.test('tidy_generic and the inline/Java rules (unit level, with the patterns perl documents)', async (t) => {
  t.equal(tidyGeneric('StubRoutines (1)'), 'StubRoutines ');
  t.equal(tidyGeneric('net/http.(*Client).Do'), 'net/http.(*Client).Do', 'Go methods keep their parentheses');
  t.equal(tidyGeneric('(anonymous namespace)::Foo::bar(int)'), '(anonymous namespace)::Foo::bar');
  t.equal(tidyGeneric('std::function<int (int, int)>::operator()'), 'std::function<int ');
  t.equal(tidyGeneric(`RegExp:[&<>"']`), 'RegExp:[&<>]', 'quotes deleted');
  t.equal(tidyGeneric('a;b'), 'a:b', '; would split the frame');
  const ctx: TidyContext = { kernel: false, jit: true, addrs: false, java: false, javaComm: true };
  const agent = tidyFrameLine(
    '7f722d142778',
    'Lorg/mozilla/javascript/ContextFactory;.call(Lorg/mozilla/javascript/ContextAction;)Ljava/lang/Object;',
    '/tmp/perf-19982.map',
    ctx,
  );
  t.same(agent.frames, ['org/mozilla/javascript/ContextFactory:.call_[j]'], 'tidy_java drops the L for java comms');
  t.same(
    tidyFrameLine('7f', 'Lorg/Foo;::bar', '/tmp/perf-1.map', { ...ctx, javaComm: false }).frames,
    ['Lorg/Foo:::bar_[j]'],
    'but not for other comms',
  );
  const inline = tidyFrameLine('7f', 'Lfoo/A;::a->Lfoo/B;::b->', '/tmp/perf-1.map', ctx);
  t.same(inline.frames, ['foo/A:::a_[j]', 'foo/B:::b_[i]'], '-> splits an inline chain; trailing empty parts go');
  t.same(tidyFrameLine('7f', '(foo)', '[unknown]', ctx).frames, [], 'a frame starting with ( is skipped');
});

t.test('unrecognized lines are skipped, counted and summarised once', async (t) => {
  const sample = samplesOf(FP)[0]!;
  const lines = sample.split('\n');
  // A real stack line with its module's parentheses lost, as a cut or garbled capture would have it.
  const garbled = lines[1]!.replace(/ \(([^()]*)\)$/, ' $1');
  const input = [lines[0], garbled, garbled, ...lines.slice(1)].join('\n');
  const { result, out } = collapse(input);
  t.equal(result.unrecognizedLines, 2);
  t.equal(result.samples, 1);
  t.equal(result.warnings.length, 1, 'one summary line');
  t.match(result.warnings[0], /skipped 2 unrecognized lines, the first: /);
  t.equal(out, collapse(sample).out, 'the sample is otherwise unchanged');
  t.equal(collapse('# comment line\n' + sample).out, collapse(sample).out, '# lines are skipped silently');
});

t.test('stack lines outside a kept sample are ignored; a filtered sample does not leak frames', async (t) => {
  const [a, b] = samplesOf(FP);
  const headless = b!.split('\n').slice(1).join('\n'); // b's stack without its event line
  t.equal(collapse(a + headless).out, collapse(a!).out);
  t.equal(collapse(a + headless).result.unrecognizedLines, 0);
});

t.test(
  'files: the last line of a file without a newline is still a line; samples run on into the next file',
  async (t) => {
    const [a, b] = samplesOf(FP);
    const collapser = new PerfCollapser();
    collapser.push(Buffer.from(a!.slice(0, -2), 'latin1')); // no newline after the last stack line
    collapser.endOfFile();
    collapser.push(Buffer.from('\n' + b, 'latin1'));
    t.equal(Buffer.concat([...collapser.finish().foldedChunks()]).toString('latin1'), collapse(a! + b!).out);
    t.throws(() => collapser.push('x'), PodflameError, 'push after finish');
  },
);

t.test(
  'memory follows distinct stacks, not input: the same capture twice gives the same stacks, doubled',
  async (t) => {
    const once = collapse(FP).result;
    const twice = collapse([FP, FP]).result;
    t.equal(twice.byteStacks.size, once.byteStacks.size);
    for (const [stack, count] of once.byteStacks) t.equal(twice.byteStacks.get(stack), 2 * count);
    t.equal(twice.samples, 2 * once.samples);
  },
);

t.test('text chunks are taken as UTF-8 and give the same bytes as the raw capture', async (t) => {
  const raw = readFileSync(new URL('../fixtures/perf/java-utf8.txt', import.meta.url));
  const fromBuffer = new PerfCollapser();
  fromBuffer.push(raw);
  const bytes = Buffer.concat([...fromBuffer.finish().foldedChunks()]);
  // Decoding as UTF-8 turns the comm cut inside a character into U+FFFD: every other stack keeps its bytes.
  const fromText = new PerfCollapser();
  fromText.push(raw.toString('utf8'));
  const text = fromText.finish();
  t.ok(
    [...text.stacks.keys()].some((k) => k.includes('zählen')),
    'UTF-8 method names are decoded in stacks',
  );
  const withoutCutComm = (b: Buffer): string[] =>
    b
      .toString('latin1')
      .split('\n')
      .filter((l) => l && !l.startsWith('Pr\xc3\xbcfer'));
  const textBytes = Buffer.concat([...text.foldedChunks()]);
  t.ok(withoutCutComm(bytes).length > 0, 'the capture has stacks of other threads');
  t.same(withoutCutComm(textBytes), withoutCutComm(bytes));
  t.ok(
    [...fromBuffer.finish().byteStacks.keys()].some((k) => k.startsWith('Pr\xc3\xbcfer-\xc3\xa4\xc3\xa4\xc3\xa4\xc3;')),
    'byteStacks keep the cut character byte for byte',
  );
  t.ok(
    [...fromBuffer.finish().stacks.keys()].some((k) => k.startsWith('Prüfer-äää\ufffd;')),
    'stacks decode it as U+FFFD',
  );
  const u8 = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  const fromView = new PerfCollapser();
  fromView.push(u8);
  t.same(Buffer.concat([...fromView.finish().foldedChunks()]), bytes, 'a Uint8Array is read as bytes too');
});

t.test('options are validated once', async (t) => {
  t.throws(() => new PerfCollapser({ pid: 'yes' as unknown as boolean }), { code: 'INVALID_REQUEST' });
  t.throws(() => new PerfCollapser({ frameCacheLimit: 0 }), { code: 'INVALID_REQUEST' });
  t.throws(() => new PerfCollapser({ eventFilter: 3 as unknown as string }), { code: 'INVALID_REQUEST' });
});

t.test('a tiny frame cache still gives the same output (it is a cache, not state)', async (t) => {
  t.equal(collapse(FP, { frameCacheLimit: 1 }).out, collapse(FP).out);
  t.equal(collapse(SH, { frameCacheLimit: 1, addrs: true }).out, collapse(SH, { addrs: true }).out);
});

t.test('output order is byte order, also when one frame name is a prefix of another', async (t) => {
  const naive = (out: string): string[] => {
    const keys = out.split('\n').filter(Boolean);
    return [...keys].sort((a, b) => {
      const ka = a.slice(0, a.lastIndexOf(' '));
      const kb = b.slice(0, b.lastIndexOf(' '));
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  };
  // Real samples whose hot method is renamed so that names extend one another with bytes below and above `;`:
  // `Workload.fib`, `Workload.fib!`, `Workload.fibZ`, and the same as leaf and as caller.
  const base = samplesOf(FP).filter((s) => s.includes('long Workload.fib(int)'));
  t.ok(base.length > 10, 'samples in the hot method');
  const variants = ['fib', 'fib!', 'fibZ', 'fib;x', 'fi'].flatMap((name, i) =>
    base.map((s, j) =>
      (i + j) % 2 === 0
        ? s.replaceAll('Workload.fib(', `Workload.${name}(`)
        : s.replace('Workload.fib(', `Workload.${name}(`),
    ),
  );
  for (const options of [{}, { jit: true }, { java: true }, { tid: true, all: true }]) {
    const out = collapse(variants.join(''), options).out;
    const lines = out.split('\n').filter(Boolean);
    t.same(lines, naive(out), `sorted as perl sorts, ${JSON.stringify(options)}`);
    t.equal(new Set(lines.map((l) => l.slice(0, l.lastIndexOf(' ')))).size, lines.length, 'no stack twice');
  }
  // Inline chains (`->`) make texts with `;`: the same stack from one line (`a->b`) and from two lines merges.
  const [one] = base as [string];
  const lines = one.split('\n');
  const symbol = (line: string, name: string): string =>
    line.replace(/ long Workload\.fib\(int\)(\+0x[\da-f]+)? \(/, ` ${name} (`);
  t.match(lines[1], / long Workload\.fib\(int\)/, 'the leaf is the hot method');
  const chain = symbol(lines[1]!, 'Lfoo/A;::a->Lfoo/B;::b');
  const split = [symbol(lines[1]!, 'Lfoo/B;::b_[i]'), symbol(lines[1]!, 'Lfoo/A;::a')];
  const merged = collapse(
    [lines[0], chain, ...lines.slice(2)].join('\n') + [lines[0], ...split, ...lines.slice(2)].join('\n'),
  );
  const mergedLines = merged.out.split('\n').filter(Boolean);
  t.equal(mergedLines.length, 1, 'one stack');
  t.match(mergedLines[0], / 2002002$/, 'with both counts');
});
