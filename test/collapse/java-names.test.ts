import t from 'tap';
import { readFileSync } from 'node:fs';
import { javaJitFrameName, normalizeJavaMethod, UNRESOLVED_JIT_FRAME } from '../../shared/collapse/java-names.js';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import type { CollapseOptions } from '../../shared/collapse/options.js';

// Java-aware names, on the symbols of real JDK 17 captures (test/fixtures/perf).
const read = (name: string): string => readFileSync(new URL(`../fixtures/perf/${name}`, import.meta.url), 'latin1');
const MAP = read('jdk17-workload.perf.map');
const CAPTURES = ['java-fp.txt', 'java-nofp.txt', 'java-early-map.txt', 'java-utf8.txt'].map(read);

/** JIT symbols as perf script prints them, offset stripped (as the collapser does before naming). */
const jitSymbols = new Set<string>();
for (const text of CAPTURES) {
  for (const m of text.matchAll(/^\s+\w+ (.+?)(?:\+0x[\da-f]+)? \(\/tmp\/perf-\d+\.map\)$/gm)) jitSymbols.add(m[1]!);
}
/** Every name in the JVM's own map: `START SIZE NAME`. */
const mapNames = MAP.split('\n')
  .filter(Boolean)
  .map((l) => l.split(' ').slice(2).join(' '));

t.test('real symbols → stable names', async (t) => {
  const cases: [string, string][] = [
    ['long Workload.fib(int)', 'Workload.fib'],
    [
      'void java.util.stream.AbstractPipeline.copyInto(java.util.stream.Sink, java.util.Spliterator)',
      'java.util.stream.AbstractPipeline.copyInto',
    ],
    ['Interpreter', 'Interpreter'],
    ['StubRoutines (1)', 'StubRoutines'],
    ['[unknown]', UNRESOLVED_JIT_FRAME],
    ['long Utf8Names.z\xc3\xa4hlen(int)', 'Utf8Names.z\xc3\xa4hlen'],
  ];
  for (const [symbol, name] of cases) {
    t.ok(jitSymbols.has(symbol), `the captures contain ${JSON.stringify(symbol)}`);
    t.equal(javaJitFrameName(symbol), name);
  }
  const lambda = [...jitSymbols].find((s) => /^int Workload\$\$Lambda\$\d+\/0x[\da-f]+\.applyAsInt\(int\)$/.test(s));
  t.ok(lambda, 'a lambda proxy frame was captured');
  t.equal(javaJitFrameName(lambda!), 'Workload$$Lambda.applyAsInt');
});

t.test('every name in a real JDK 17 perf map', async (t) => {
  t.ok(mapNames.length > 500, 'the map lists the code cache');
  const expect: [RegExp, string][] = [
    [
      /^java\.lang\.Object java\.lang\.invoke\.LambdaForm\$MH\/0x[\da-f]+\.invoke\(java\.lang\.Object\)$/,
      'java.lang.invoke.LambdaForm$MH.invoke',
    ],
    [/^java\.lang\.Object Workload\$\$Lambda\$\d+\/0x[\da-f]+\.apply\(int\)$/, 'Workload$$Lambda.apply'],
    [/^int Workload\.lambda\$static\$2\(int\)$/, 'Workload.lambda$static$2'],
    [/^I2C\/C2I adapters$/, 'I2C/C2I adapters'],
    [/^StubRoutines \(2\)$/, 'StubRoutines'],
    [/^throw_div0_exception Runtime1 stub$/, 'throw_div0_exception Runtime1 stub'],
    [/^void java\.lang\.Object\.<init>\(\)$/, 'java.lang.Object.<init>'],
  ];
  for (const [pattern, name] of expect) {
    const symbol = mapNames.find((n) => pattern.test(n));
    t.ok(symbol, `the map has ${pattern}`);
    if (symbol) t.equal(javaJitFrameName(symbol), name);
  }
  const distinct = new Map<string, Set<string>>();
  const problems: string[] = [];
  for (const symbol of mapNames) {
    const name = javaJitFrameName(symbol);
    if (/0x[\da-f]{4,}/i.test(name)) problems.push(`address left in ${name}`);
    if (/[;"']/.test(name)) problems.push(`separator or quote in ${name}`);
    if (name.endsWith(' ') || name === '') problems.push(`empty or space-ended name from ${symbol}`);
    if (/\.[^ ]+\(/.test(symbol) && /[ (]/.test(name)) problems.push(`return type or arguments left in ${name}`);
    distinct.set(name, (distinct.get(name) ?? new Set()).add(symbol));
  }
  t.same(problems, [], 'every name is stable and clean');
  t.ok(distinct.size < mapNames.length, 'several map entries (overloads, lambdas, recompilations) share a name');
});

t.test('per-process parts removed from class names', async (t) => {
  t.equal(normalizeJavaMethod('Shop$$Lambda$16/0x00007fd04c003c50.accept'), 'Shop$$Lambda.accept');
  t.equal(normalizeJavaMethod('Shop$$Lambda/0x00007fd04c003c50.accept'), 'Shop$$Lambda.accept', 'JDK 21 form');
  t.equal(normalizeJavaMethod('Shop$$Lambda$1/1831932724.accept'), 'Shop$$Lambda.accept', 'JDK 8 form');
  t.equal(
    normalizeJavaMethod('jdk.internal.reflect.GeneratedMethodAccessor12.invoke'),
    'jdk.internal.reflect.GeneratedMethodAccessor.invoke',
  );
  t.equal(normalizeJavaMethod('jdk.proxy2.$Proxy11.handle'), 'jdk.proxy.$Proxy.handle');
  t.equal(javaJitFrameName('Ljava/lang/String;::hashCode'), 'java.lang.String.hashCode', 'perf-map-agent names');
  t.equal(javaJitFrameName('method entry point (kind = zerolocals)'), 'method entry point');
});

function collapse(text: string, options: Partial<CollapseOptions>) {
  const c = new PerfCollapser(options);
  c.push(Buffer.from(text, 'latin1'));
  return c.finish();
}

/** Names of JIT frames (tagged `_[j]`) in a collapse. */
const jitFrameNames = (stacks: Iterable<string>): Set<string> =>
  new Set([...stacks].flatMap((s) => s.split(';')).filter((f) => f.endsWith('_[j]')));

t.test('graphs of different JVMs merge frame for frame in Java mode, not in perl mode', async (t) => {
  const [fp, nofp] = CAPTURES as [string, string];
  const javaA = jitFrameNames(collapse(fp, { java: true }).byteStacks.keys());
  const javaB = jitFrameNames(collapse(nofp, { java: true }).byteStacks.keys());
  t.ok(javaA.has('Workload$$Lambda.applyAsInt_[j]') && javaB.has('Workload$$Lambda.applyAsInt_[j]'));
  const perlA = jitFrameNames(collapse(fp, { jit: true }).byteStacks.keys());
  const perlB = jitFrameNames(collapse(nofp, { jit: true }).byteStacks.keys());
  const lambdas = (names: Set<string>): string[] => [...names].filter((n) => n.includes('$$Lambda')).sort();
  t.ok(lambdas(perlA).length > 0 && lambdas(perlB).length > 0);
  t.notOk(
    lambdas(perlA).some((n) => lambdas(perlB).includes(n)),
    'perl names keep each JVM`s lambda addresses, so no lambda frame matches',
  );
  t.ok([...javaA].every((n) => !/0x[\da-f]{4}/.test(n)));
});

t.test('Java mode: every perf-map frame tagged _[j], thread names kept, JIT resolution counted', async (t) => {
  const [fp, , early] = CAPTURES as [string, string, string];
  const result = collapse(fp, { java: true });
  const roots = new Set([...result.byteStacks.keys()].map((s) => s.split(';')[0]));
  t.ok(roots.has('Stream Worker 1') && roots.has('C2 CompilerThre'), 'thread names keep their spaces');
  const jitLines = [...fp.matchAll(/\(\/tmp\/perf-\d+\.map\)$/gm)].length;
  t.equal(result.jitFrames, jitLines, 'every JIT-map stack line counted');
  t.equal(result.jitFramesResolved, result.jitFrames, 'all resolved when the map was written at the end');
  const late = collapse(early, { java: true });
  const unresolved = [...early.matchAll(/\[unknown\] \(\/tmp\/perf-\d+\.map\)$/gm)].length;
  t.ok(unresolved > 0, 'the early map left some JIT frames unresolved');
  t.equal(late.jitFrames - late.jitFramesResolved, unresolved);
  t.ok([...late.byteStacks.keys()].some((s) => s.includes(`;${UNRESOLVED_JIT_FRAME}_[j]`)));
  const perl = collapse(early, {});
  t.equal(perl.jitFrames, late.jitFrames, 'counted in perl mode as well');
  const javaNames = [...result.byteStacks.keys()].join('\n');
  t.notMatch(javaNames, /StubRoutines ;/, 'no perl-style trailing space');
  t.match(javaNames, /;Workload\.fib_\[j\];Workload\.fib_\[j\]/);
});
