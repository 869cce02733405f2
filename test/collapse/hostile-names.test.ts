// Names a workload chooses (its perf map, its libraries' symbols, its thread names) against the collapser: the
// hand-written scans that replaced backtracking patterns give the patterns' own captures, cost linear time on names
// and event lines built to make the patterns backtrack, and a symbol longer than MAX_SYMBOL_BYTES is cut with a marker
// while the rest of its line and of its sample collapse as before (issue #13, finding 2).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { agentMethodParts, javaJitFrameName, jdkMethodName } from '../../shared/collapse/java-names.js';
import { parseEventLine, parseEventPeriodAndName, parseJavaEventLine } from '../../shared/collapse/event-line.js';
import {
  FRAME_LINE,
  FRAME_NAME_TRUNCATED,
  isGoMethod,
  MAX_SYMBOL_BYTES,
  parseFrameLine,
  tidyGeneric,
} from '../../shared/collapse/tidy.js';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { mulberry32 } from '../store/random.js';

// The patterns the scans replaced, as they were (shared/collapse/java-names.ts and tidy.ts before the fix).
const JDK_METHOD = /^(?:[^ (]+ )?([^ (]+\.[^ (]+)\(/;
const AGENT_METHOD = /^L([^;( ]+\/[^;( ]+);(?:::|\.)([^;( ]+)/;
const GO_METHOD = /\.\(.*\)\./s;
// The event-line patterns (shared/collapse/tidy.ts and java-names.ts before the fix); WS is perl's `\s` on bytes.
const WS = '\\t\\n\\v\\f\\r ';
const EVENT_LINE = new RegExp(`^([^${WS}].+?)[${WS}]+(\\d+)\\/*(\\d+)?[${WS}]+`, 's');
const JAVA_EVENT_LINE = new RegExp(
  `^([^${WS}].*?)[${WS}]+(\\d+)(?:\\/(\\d+))?[${WS}]+(?:\\[\\d+\\][${WS}]+)?\\d+\\.\\d+:`,
  's',
);
const EVENT_PERIOD_AND_NAME = new RegExp(`:[${WS}]*(\\d+)?[${WS}]+([^${WS}]+):[${WS}]*$`, 's');

/** Random short strings over the chars the patterns care about, so that every branch of them is taken. */
function randomStrings(seed: number, alphabet: string, count: number): string[] {
  const rng = mulberry32(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    const n = Math.floor(rng() * 12);
    for (let j = 0; j < n; j++) s += alphabet.charAt(Math.floor(rng() * alphabet.length));
    out.push(s);
  }
  return out;
}

t.test('the scans capture exactly what the patterns captured', async (t) => {
  let differences = 0;
  for (const s of randomStrings(1, 'a. (L/;:)x', 200_000)) {
    const m = JDK_METHOD.exec(s);
    if ((m?.[1] ?? undefined) !== jdkMethodName(s)) differences++;
    const a = AGENT_METHOD.exec(s);
    const parts = agentMethodParts(s);
    if (JSON.stringify(a ? [a[1], a[2]] : null) !== JSON.stringify(parts ?? null)) differences++;
    if (GO_METHOD.test(s) !== isGoMethod(s)) differences++;
  }
  for (const s of randomStrings(2, ' \ta_1( )x\r', 200_000)) {
    const m = FRAME_LINE.exec(s);
    const expected = m ? { pc: m[1], rawfunc: m[2], module: m[3] } : undefined;
    if (JSON.stringify(expected) !== JSON.stringify(parseFrameLine(s))) differences++;
  }
  t.equal(differences, 0, 'no string of 400,000 is captured differently');
  // Real lines, and perl's odd reading of a symbol right after the pc.
  t.same(parseFrameLine('\t    7fc868ecccf0 long Workload.fib(int)+0xb0 (/tmp/perf-27544.map)'), {
    pc: '7fc868ecccf0',
    rawfunc: 'long Workload.fib(int)+0xb0',
    module: '/tmp/perf-27544.map',
  });
  t.same(parseFrameLine('\t abc (m)'), { pc: 'ab', rawfunc: 'c', module: 'm' });
  t.equal(jdkMethodName('long Workload.fib(int)'), 'Workload.fib');
  t.same(agentMethodParts('Ljava/lang/String;::hashCode'), ['java/lang/String', 'hashCode']);
});

// Each of these made its pattern backtrack over the rest of the name once per dot, `.(` or ` (`: minutes of CPU for
// a few hundred kilobytes. Scanned, they take milliseconds; the timeout only stops a regression from hanging the run.
t.test('names built to make the patterns backtrack cost linear time', { timeout: 30_000 }, async (t) => {
  const dotted = 'a.'.repeat(200_000);
  t.equal(javaJitFrameName(dotted), dotted, 'a JDK-style name without arguments is a VM name, whole');
  const slashed = 'La/' + 'a/'.repeat(200_000);
  t.equal(javaJitFrameName(slashed), slashed, 'a perf-map-agent-style name without `;` too');
  const go = 'x' + '.('.repeat(200_000);
  t.equal(tidyGeneric(go), 'x.', 'no `).` after the `.(`: not a Go method, cut at the first `(`');
  const line = '\t' + 'a'.repeat(2_000) + ' ' + ' ('.repeat(2_000);
  t.equal(parseFrameLine(line), undefined, 'a frame line without `)` is not one');
});

/** Random event-line-like strings: up to 12 pieces drawn from the parts of real event lines and the chars around them. */
function randomEventLines(seed: number, count: number): string[] {
  const pieces = [
    'a',
    'java',
    'C2 ',
    ' ',
    '  ',
    '\t',
    '\r',
    '\v',
    '\xa0',
    '1',
    '42',
    '0',
    '/',
    '[',
    ']',
    '[0]',
    '.',
    ':',
  ];
  pieces.push('1.5:', ' 919.993501:', ' cpu-clock:ppp:', ' 1001001 ', 'x:', '::');
  const rng = mulberry32(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    const n = Math.floor(rng() * 13);
    for (let j = 0; j < n; j++) s += pieces[Math.floor(rng() * pieces.length)];
    out.push(s);
  }
  return out;
}

/** A pattern's three captures as the scans return them. */
function eventCaptures(m: RegExpExecArray | null): object | undefined {
  return m ? { comm: m[1], first: m[2], second: m[3] } : undefined;
}

t.test('the event-line scans capture exactly what the patterns captured', async (t) => {
  let differences = 0;
  const firstDifference: string[] = [];
  const compare = (what: string, line: string, expected: unknown, actual: unknown): void => {
    if (JSON.stringify(expected) === JSON.stringify(actual)) return;
    differences++;
    if (firstDifference.length < 5) firstDifference.push(`${what} ${JSON.stringify(line)}`);
  };
  const lines = randomEventLines(3, 300_000);
  for (const line of lines) {
    compare('perl', line, eventCaptures(EVENT_LINE.exec(line)), parseEventLine(line));
    compare('java', line, eventCaptures(JAVA_EVENT_LINE.exec(line)), parseJavaEventLine(line));
    const ev = EVENT_PERIOD_AND_NAME.exec(line);
    compare('end', line, ev ? { period: ev[1], event: ev[2] } : undefined, parseEventPeriodAndName(line));
  }
  t.equal(differences, 0, `no line of 300,000 is captured differently: ${firstDifference.join(', ')}`);
  t.ok(lines.filter((l) => JAVA_EVENT_LINE.test(l)).length > 1000, 'many lines match the strictest pattern');
  // Real lines (test/fixtures/perf), and the readings the two modes differ on.
  t.same(parseEventLine('C2 CompilerThre 22240   919.993501:    1001001 cpu-clock:ppp: '), {
    comm: 'C2 CompilerThre',
    first: '22240',
    second: undefined,
  });
  t.same(parseEventLine('java 24636/25607 [000] 4794564.109216: cycles:'), {
    comm: 'java',
    first: '24636',
    second: '25607',
  });
  const worker = 'Stream Worker 1 18944  2840.533046:    1001001 cpu-clock:pppH: ';
  t.same(parseEventLine(worker), { comm: 'Stream Worker', first: '1', second: undefined });
  t.same(parseJavaEventLine(worker), { comm: 'Stream Worker 1', first: '18944', second: undefined });
  t.same(parseEventPeriodAndName(worker), { period: '1001001', event: 'cpu-clock:pppH' });
  t.same(parseEventPeriodAndName('java 24636/25607 [000] 4794564.109216: cycles:'), {
    period: undefined,
    event: 'cycles',
  });
});

// Each of these made its pattern backtrack over the rest of the line once per whitespace char: 100 KB of spaces cost
// EVENT_LINE about a minute and JAVA_EVENT_LINE more, 200 KB four times that. Scanned, they take milliseconds; the
// timeout only stops a regression from hanging the run.
t.test('event lines built to make the patterns backtrack cost linear time', { timeout: 30_000 }, async (t) => {
  const spaces = 'ab' + ' '.repeat(200_000);
  t.equal(parseEventLine(spaces), undefined, 'a comm and spaces, no number: not an event line');
  t.equal(parseJavaEventLine(spaces), undefined);
  const commRun = 'Stream Worker '.repeat(15_000);
  t.equal(parseEventLine(commRun), undefined, 'a comm-like run without a number');
  t.equal(parseJavaEventLine(commRun), undefined);
  const noTime = 'java 1' + ' '.repeat(200_000) + 'x';
  t.equal(parseJavaEventLine(noTime), undefined, 'a TID, then spaces without the timestamp');
  const tail = 'java 1 2.5:' + ' '.repeat(200_000) + 'x';
  t.equal(parseEventPeriodAndName(tail), undefined, 'a colon, then spaces that end in no event');
  t.same(parseEventLine(tail), { comm: 'java', first: '1', second: undefined }, 'still an event line to perl');

  // Through the collapser, as the agent runs it: the first two are skipped and counted, the last two are event lines
  // (perl's reading, Java mode's fallback) without a stack, and the real sample still counts.
  const text =
    [spaces, commRun, noTime, tail].join('\n') +
    '\njava 27546  3236.543683:    1001001 cpu-clock:pppH: \n' +
    '\t           891f5 start_thread+0x305 (/usr/lib/x86_64-linux-gnu/libc.so.6)\n\n';
  for (const java of [false, true]) {
    const c = new PerfCollapser({ java });
    c.push(Buffer.from(text, 'latin1'));
    const result = c.finish();
    t.equal(result.samples, 1, `java=${java}: the real sample`);
    t.equal(result.unrecognizedLines, 2, `java=${java}: the lines that are no event lines skipped and counted`);
  }
});

// A perf script sample whose leaf is `symbol` in a JIT map, under two frames of libjvm.
function sample(symbol: string): string {
  return (
    'java 27546  3236.543683:    1001001 cpu-clock:pppH: \n' +
    `\t    7fc868ecccf0 ${symbol}+0xb0 (/tmp/perf-27544.map)\n` +
    '\t          8282d2 JavaCalls::call_helper+0x302 (/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so)\n' +
    '\t           891f5 start_thread+0x305 (/usr/lib/x86_64-linux-gnu/libc.so.6)\n\n'
  );
}

function collapse(text: string, java: boolean): string {
  const c = new PerfCollapser({ java });
  c.push(Buffer.from(text, 'latin1'));
  return Buffer.concat([...c.finish().foldedChunks()]).toString('latin1');
}

t.test('a symbol beyond MAX_SYMBOL_BYTES is cut and marked; its line and sample collapse as before', async (t) => {
  const dotted = 'a.'.repeat(16_384); // 32 KB, the attack's size
  const cut = dotted.slice(0, MAX_SYMBOL_BYTES) + FRAME_NAME_TRUNCATED;
  t.equal(
    collapse(sample(`long ${dotted}(int)`), true),
    `java;start_thread;JavaCalls::call_helper;long ${cut.slice(0, MAX_SYMBOL_BYTES - 5)}${FRAME_NAME_TRUNCATED}_[j] 1001001\n`,
    'Java mode: a VM-style name (its arguments were cut off), still tagged from its JIT-map module',
  );
  t.equal(
    collapse(sample(dotted), false),
    `java;start_thread;JavaCalls::call_helper;${cut} 1001001\n`,
    'perl mode: the same cut, the other frames untouched',
  );
  // Twenty distinct 32 KB names (the attack's 640 KB) stay distinct by their first 4 KiB and cost nothing.
  const names = Array.from({ length: 20 }, (_, i) => `${i}`.padStart(4, '0') + '.' + dotted);
  const folded = collapse(names.map((n) => sample(`long ${n}(int)`)).join(''), true);
  t.equal(folded.split('\n').filter(Boolean).length, 20);
  t.ok(
    folded.split('\n').every((l) => l === '' || l.length < MAX_SYMBOL_BYTES + 200),
    'every line bounded',
  );

  // A cut never splits a UTF-8 character: `ä` is two bytes, and the cut falls between them.
  const utf8 = 'x' + '\xc3\xa4'.repeat(MAX_SYMBOL_BYTES);
  const [line] = collapse(sample(utf8), false).split('\n');
  const leaf = line!.split(';').at(-1)!.replace(/ \d+$/, '');
  t.equal(leaf, 'x' + '\xc3\xa4'.repeat(MAX_SYMBOL_BYTES / 2 - 1) + FRAME_NAME_TRUNCATED);
  t.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(leaf, 'latin1')));
});

t.test('real captures are not touched by the cut', async (t) => {
  for (const name of ['java-fp.txt', 'java-utf8.txt']) {
    const text = readFileSync(new URL(`../fixtures/perf/${name}`, import.meta.url), 'latin1');
    t.notMatch(collapse(text, true), FRAME_NAME_TRUNCATED, name);
  }
});
