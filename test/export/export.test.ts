import t from 'tap';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Ajv } from 'ajv';
import { createRequire } from 'node:module';
import { Profile } from 'pprof-format';
import { parseFolded, serializeFolded, totalSamples, type FoldedStacks } from '../../shared/folded.js';
import {
  buildPprofProfile,
  exportProfile,
  EXPORT_FORMATS,
  toCallTree,
  toPprof,
  toSpeedscope,
  type CallTreeNode,
} from '../../shared/export/index.js';
import { samplingPeriodNanos } from '../../shared/export/sampling.js';

// Read, not imported: the tests' TypeScript loader (swc) drops import attributes.
const draft06MetaSchema = JSON.parse(
  readFileSync(createRequire(import.meta.url).resolve('ajv/dist/refs/json-schema-draft-06.json'), 'utf8'),
) as object;

// A real capture: javac in a JDK 17 JVM, recorded with perf at 99 Hz (see test/diff/fixtures/record.sh). perf printed
// each sample's period (10,101,010 ns), which the collapser sums as perl does; exporters take sample counts.
const PERIOD_99HZ = 10_101_010;
const REAL: FoldedStacks = new Map(
  [...parseFolded(readFileSync(new URL('../diff/fixtures/after.folded', import.meta.url), 'utf8')).stacks].map(
    ([stack, periods]) => [stack, periods / PERIOD_99HZ],
  ),
);
const SCHEMA = JSON.parse(readFileSync(new URL('./speedscope-schema.json', import.meta.url), 'utf8')) as object;

const distinctFrames = (stacks: FoldedStacks): Set<string> => new Set([...stacks.keys()].flatMap((s) => s.split(';')));
const shuffled = (stacks: FoldedStacks): FoldedStacks => new Map([...stacks].reverse());

t.test('fixture sanity', async (t) => {
  t.ok(REAL.size > 50, 'a real profile with many stacks');
  t.ok(totalSamples(REAL) > 100);
  t.ok(
    [...REAL.values()].every((n) => Number.isInteger(n) && n > 0),
    'whole samples',
  );
});

t.test('pprof: decodes back to the same stacks and totals', async (t) => {
  const hz = 99;
  const gz = toPprof(REAL, { frequencyHz: hz, durationSeconds: 3 });
  t.same(gz.subarray(0, 2), Buffer.from([0x1f, 0x8b]), 'gzipped');
  const profile = Profile.decode(gunzipSync(gz));
  const str = (i: number | bigint) => profile.stringTable.strings[Number(i)] as string;

  t.same(
    profile.sampleType.map((v) => `${str(v.type)}/${str(v.unit)}`),
    ['samples/count', 'cpu/nanoseconds'],
  );
  t.equal(`${str(profile.periodType!.type)}/${str(profile.periodType!.unit)}`, 'cpu/nanoseconds');
  t.equal(Number(profile.period), 10_101_010, 'period = 1e9/99 ns');
  t.equal(Number(profile.durationNanos), 3e9);
  t.equal(str(profile.defaultSampleType), 'cpu');

  t.equal(profile.function.length, distinctFrames(REAL).size, 'one Function per distinct frame name');
  const nameOfLocation = new Map<number, string>();
  const nameOfFunction = new Map(profile.function.map((f) => [Number(f.id), str(f.name)]));
  for (const loc of profile.location) {
    t.equal(loc.line.length, 1);
    nameOfLocation.set(Number(loc.id), nameOfFunction.get(Number(loc.line[0]!.functionId)) as string);
  }
  const decoded: FoldedStacks = new Map();
  let cpu = 0;
  for (const s of profile.sample) {
    // pprof lists leaf first: reverse to get the folded (root first) order back.
    const stack = s.locationId
      .map((id) => nameOfLocation.get(Number(id)))
      .reverse()
      .join(';');
    decoded.set(stack, (decoded.get(stack) ?? 0) + Number(s.value[0]));
    t.equal(Number(s.value[1]), Number(s.value[0]) * 10_101_010, 'cpu value = count × period');
    cpu += Number(s.value[1]);
  }
  t.equal(serializeFolded(decoded), serializeFolded(REAL), 'same stacks and counts');
  t.equal(cpu, totalSamples(REAL) * 10_101_010, 'cpu total');
});

t.test('pprof: deterministic, frequency validated, big values', async (t) => {
  t.same(toPprof(REAL), toPprof(shuffled(REAL)), 'insertion order does not change the bytes');
  t.equal(Number(buildPprofProfile(REAL, { frequencyHz: 999 }).period), 1_001_001);
  t.equal(Number(buildPprofProfile(REAL).timeNanos), 0, 'no timestamp unless asked');
  t.equal(buildPprofProfile(REAL, { startTimeMs: 1_700_000_000_123 }).timeNanos, 1_700_000_000_123_000_000n);
  t.throws(() => toPprof(REAL, { frequencyHz: 0 }), { code: 'INVALID_INPUT' });
  t.throws(() => toPprof(new Map([['a', Infinity]])), { code: 'INVALID_INPUT' });
  const big = Profile.decode(gunzipSync(toPprof(new Map([['a;b', 2 ** 33 + 1]]), { frequencyHz: 1 })));
  t.equal(BigInt(big.sample[0]!.value[1]!), (2n ** 33n + 1n) * 1_000_000_000n, 'values past 2^53 are exact int64');
  t.throws(() => toPprof(new Map([['a', 2 ** 40]]), { frequencyHz: 1 }), { code: 'INVALID_INPUT' }, 'past int64');
  const zero = buildPprofProfile(new Map([['a', 0]]));
  t.equal(zero.sample.length, 0, 'stacks with no samples are left out');
});

t.test('speedscope: valid against the file format schema; weights sum to the total', async (t) => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addMetaSchema(draft06MetaSchema);
  const validate = ajv.compile(SCHEMA);

  const counts = toSpeedscope(REAL, { name: 'shop-7d9f', version: '1.2.3' });
  t.ok(validate(counts), `valid: ${ajv.errorsText(validate.errors)}`);
  const p = counts.profiles[0]!;
  t.equal(p.unit, 'none');
  t.equal(counts.exporter, 'podflame@1.2.3');
  t.equal(counts.name, 'shop-7d9f');
  const sum = p.weights.reduce((a, b) => a + b, 0);
  t.equal(sum, totalSamples(REAL), 'weights sum to the sample total');
  t.equal(p.endValue - p.startValue, sum);
  t.equal(p.samples.length, p.weights.length);
  const back: FoldedStacks = new Map();
  p.samples.forEach((stack, i) =>
    back.set(stack.map((f) => counts.shared.frames[f]!.name).join(';'), p.weights[i] as number),
  );
  t.equal(serializeFolded(back), serializeFolded(REAL), 'samples are root-first frame indexes of the same stacks');
  t.equal(counts.shared.frames.length, distinctFrames(REAL).size, 'one frame per distinct name');

  const time = toSpeedscope(REAL, { frequencyHz: 99 });
  t.ok(validate(time), 'valid with time weights');
  t.equal(time.profiles[0]!.unit, 'nanoseconds');
  t.equal(time.profiles[0]!.endValue, totalSamples(REAL) * samplingPeriodNanos(99));
  t.equal(time.exporter, 'podflame');
  t.same(JSON.stringify(toSpeedscope(shuffled(REAL))), JSON.stringify(toSpeedscope(REAL)), 'deterministic');

  // The validator really rejects what speedscope would reject, so the checks above can fail.
  const broken = JSON.parse(JSON.stringify(counts)) as { profiles: { unit: string; weights: unknown }[] };
  broken.profiles[0]!.unit = 'ticks';
  t.notOk(validate(broken), 'an unknown unit is rejected');
  const noWeights = JSON.parse(JSON.stringify(counts)) as { profiles: Record<string, unknown>[] };
  delete noWeights.profiles[0]!.weights;
  t.notOk(validate(noWeights), 'a sampled profile without weights is rejected');
});

t.test(
  'pprof and speedscope per event: the sample types and units of each; cpu byte for byte the default',
  async (t) => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addMetaSchema(draft06MetaSchema);
    const validate = ajv.compile(SCHEMA);
    const period = samplingPeriodNanos(99);
    t.same(
      toPprof(REAL, { event: 'cpu', frequencyHz: 99 }),
      toPprof(REAL, { frequencyHz: 99 }),
      'cpu: as without event',
    );
    const expected = {
      cpu: { types: ['samples/count', 'cpu/nanoseconds'], period, unit: 'nanoseconds', scale: period },
      // Flight Recorder's period: 99 Hz asks it for whole 10 ms, not perf's 10.1 ms (#14).
      wall: {
        types: ['samples/count', 'wall/nanoseconds'],
        period: 10_000_000,
        unit: 'nanoseconds',
        scale: 10_000_000,
      },
      alloc: { types: ['alloc_space/bytes'], period: 0, unit: 'bytes', scale: 1 },
      lock: { types: ['delay/nanoseconds'], period: 0, unit: 'nanoseconds', scale: 1 },
    } as const;
    for (const [event, want] of Object.entries(expected) as [keyof typeof expected, (typeof expected)['cpu']][]) {
      const profile = Profile.decode(gunzipSync(toPprof(REAL, { event, frequencyHz: 99 })));
      const str = (i: number | bigint) => profile.stringTable.strings[Number(i)] as string;
      t.same(
        profile.sampleType.map((v) => `${str(v.type)}/${str(v.unit)}`),
        want.types,
        `${event}: pprof sample types`,
      );
      const main = want.types[want.types.length - 1] as string;
      t.equal(str(profile.defaultSampleType), main.split('/')[0], `${event}: the default sample type`);
      t.equal(`${str(profile.periodType!.type)}/${str(profile.periodType!.unit)}`, main, `${event}: period type`);
      t.equal(Number(profile.period), want.period, `${event}: a period only for sampled events`);
      const last = want.types.length - 1;
      t.equal(
        profile.sample.reduce((sum, x) => sum + Number(x.value[last]), 0),
        totalSamples(REAL) * want.scale,
        `${event}: the main value adds up to the weights (× the period for sampled events)`,
      );
      const file = toSpeedscope(REAL, { event, frequencyHz: 99 });
      t.ok(validate(file), `${event}: speedscope valid: ${ajv.errorsText(validate.errors)}`);
      t.equal(file.profiles[0]!.unit, want.unit, `${event}: speedscope unit`);
      t.equal(file.profiles[0]!.endValue, totalSamples(REAL) * want.scale, `${event}: speedscope total`);
    }
    t.equal(toSpeedscope(REAL, { event: 'wall' }).profiles[0]!.unit, 'none', 'wall without a frequency: counts');
    t.equal(toSpeedscope(REAL, { event: 'alloc' }).profiles[0]!.unit, 'bytes', 'alloc needs no frequency');
  },
);

t.test('JSON call tree: {name, value, children}, totals, sorted', async (t) => {
  const tree = toCallTree(REAL);
  t.equal(tree.name, 'all');
  t.equal(tree.value, totalSamples(REAL));
  let nodes = 0;
  const walk = (node: CallTreeNode, path: string[]): void => {
    nodes++;
    t.same(Object.keys(node), ['name', 'value', 'children']);
    const childSum = node.children.reduce((a, c) => a + c.value, 0);
    const self = path.length === 0 ? 0 : (REAL.get(path.join(';')) ?? 0);
    if (childSum + self !== node.value) t.fail(`value of ${path.join(';')} is self + children`);
    const names = node.children.map((c) => c.name);
    if (names.join('\n') !== [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))).join('\n')) {
      t.fail(`children of ${path.join(';')} sorted`);
    }
    for (const c of node.children) walk(c, [...path, c.name]);
  };
  walk(tree, []);
  t.ok(nodes > REAL.size, 'tree covers every frame');
  t.same(toCallTree(shuffled(REAL)), tree, 'deterministic');

  t.same(
    toCallTree(
      new Map([
        ['java;main;b', 2],
        ['java;main', 1],
        ['java;main;a', 3],
        ['GC', 0],
      ]),
    ),
    {
      name: 'all',
      value: 6,
      children: [
        {
          name: 'java',
          value: 6,
          children: [
            {
              name: 'main',
              value: 6,
              children: [
                { name: 'a', value: 3, children: [] },
                { name: 'b', value: 2, children: [] },
              ],
            },
          ],
        },
      ],
    },
    'a stack ending inside another counts as self time; zero-count stacks are left out',
  );
  const deep = toCallTree(new Map([[Array.from({ length: 50_000 }, (_, i) => `f${i}`).join(';'), 1]]));
  t.equal(deep.children[0]!.name, 'f0', 'a 50,000-frame stack does not overflow the call stack');
});

t.test('exportProfile: every format with its content type', async (t) => {
  t.same([...EXPORT_FORMATS], ['folded', 'pprof', 'speedscope', 'json']);
  const folded = exportProfile(REAL, 'folded');
  t.equal(folded.body.toString(), serializeFolded(REAL));
  t.equal(folded.contentType, 'text/plain; charset=utf-8');
  const pprof = exportProfile(REAL, 'pprof', { frequencyHz: 49 });
  t.equal(Number(Profile.decode(gunzipSync(pprof.body)).period), samplingPeriodNanos(49));
  t.equal(pprof.extension, 'pb.gz');
  const speedscope = exportProfile(REAL, 'speedscope', { name: 'x' });
  t.equal((JSON.parse(speedscope.body.toString()) as { name: string }).name, 'x');
  t.equal(speedscope.contentType, 'application/json');
  const json = exportProfile(REAL, 'json');
  t.equal((JSON.parse(json.body.toString()) as CallTreeNode).value, totalSamples(REAL));
});

t.test(
  'pprof of a lock profile with its event counts: contentions/count, then delay/nanoseconds, the default',
  async (t) => {
    // The lock graph of a real recording (JfrMix on JDK 21); the counts say how many contentions made up each stack.
    const lock = parseFolded(
      readFileSync(new URL('../fixtures/jfr/mix-jdk21.lock.folded', import.meta.url), 'utf8'),
    ).stacks;
    const [hold, park] = [...lock.keys()] as [string, string];
    const counts = new Map([
      [hold, 57],
      [park, 1203],
    ]);
    const decode = (gz: Buffer) => {
      const profile = Profile.decode(gunzipSync(gz));
      const str = (i: number | bigint) => profile.stringTable.strings[Number(i)] as string;
      const names = new Map(profile.function.map((f) => [Number(f.id), str(f.name)]));
      const values = new Map(
        profile.sample.map((s) => [
          s.locationId
            .map((id) => names.get(Number(id)))
            .reverse()
            .join(';'),
          s.value.map(Number),
        ]),
      );
      return {
        types: profile.sampleType.map((v) => `${str(v.type)}/${str(v.unit)}`),
        main: str(profile.defaultSampleType),
        values,
      };
    };
    const counted = decode(exportProfile(lock, 'pprof', { event: 'lock' }, counts).body);
    t.same(counted.types, ['contentions/count', 'delay/nanoseconds'], "Go's and async-profiler's two sample types");
    t.equal(counted.main, 'delay', 'the time blocked is the default');
    t.same(counted.values.get(hold), [57, lock.get(hold)]);
    t.same(counted.values.get(park), [1203, lock.get(park)]);

    const without = decode(toPprof(lock, { event: 'lock' }));
    t.same(without.types, ['delay/nanoseconds'], 'without counts: the delay alone');
    t.same(
      toPprof(REAL, { frequencyHz: 99 }, counts),
      toPprof(REAL, { frequencyHz: 99 }),
      'an event without event counts (cpu) ignores them',
    );
    t.same(
      exportProfile(lock, 'folded', { event: 'lock' }, counts).body,
      exportProfile(lock, 'folded', { event: 'lock' }).body,
      'folded text keeps one number per line: the weight',
    );
    t.same(
      exportProfile(lock, 'speedscope', { event: 'lock' }, counts).body,
      exportProfile(lock, 'speedscope', { event: 'lock' }).body,
      'speedscope ignores them',
    );
  },
);
