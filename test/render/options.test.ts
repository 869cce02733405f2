// flamegraph.pl's options, one behaviour each, on real captures (test/fixtures/folded).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { PodflameError } from '../../shared/errors.js';
import {
  parseNameAttrs,
  parsePaletteMap,
  renderFlameGraph,
  serializePaletteMap,
  type RenderOptions,
} from '../../shared/render/index.js';
import { frameName, frameSamples, parseSvg, type SvgFrame } from './svg-document.js';

function throwsCode(t: Test, fn: () => unknown, code: string, message: string): void {
  try {
    fn();
    t.fail(`${message}: no error`);
  } catch (err) {
    t.equal(err instanceof PodflameError ? err.code : String(err), code, message);
  }
}

const FIXTURES = join(import.meta.dirname, '../fixtures/folded');
const load = (file: string) => readFileSync(join(FIXTURES, file), 'utf8').trimEnd().split('\n');
const java = load('java-slow-all.folded');
const system = load('system.folded');
const diff = load('java-diff.folded');

function render(lines: string[], options: Partial<RenderOptions> = {}) {
  const result = renderFlameGraph(lines, options);
  return { result, doc: parseSvg(result.svg) };
}
const root = (frames: SvgFrame[]) => frames.find((f) => frameName(f) === 'all') as SvgFrame;
const ys = (frames: SvgFrame[]) => frames.map((f) => Number(f.rect.y));

t.test('default geometry', async (t) => {
  const { doc, result } = render(java);
  const r = root(doc.frames);
  const height = Number(doc.root.height);
  const depths = new Set(ys(doc.frames)).size;
  t.equal(doc.root.width, '1200');
  t.equal(height, depths * 16 + 36 + 34, 'height = (depth max + 1) × 16 + pads');
  t.same([r.rect.x, r.rect.width, r.rect.height], ['10.0', '1180.0', '15.0']);
  t.equal(Number(r.rect.y), height - 34 - 16 + 1, 'the root sits at the bottom');
  t.equal(r.title, `all (${result.totalSamples.toLocaleString('en-US')} samples, 100%)`);
  t.equal(doc.texts.get('title'), 'Flame Graph');
  t.same(doc.stops, ['#eeeeee', '#eeeeb0']);
  for (const f of doc.frames) {
    const pct = /, ([\d.]+)%\)$/.exec(f.title);
    if (f !== r) t.ok(pct, `a share in ${f.title}`);
  }
});

t.test('--width --height --fontsize --fontwidth --subtitle', async (t) => {
  const { doc } = render(java, { width: 800, height: 20, fontsize: 10, fontwidth: 0.6, subtitle: 'sub' });
  const depths = new Set(ys(doc.frames)).size;
  t.equal(Number(doc.root.height), depths * 20 + 30 + 30 + 20, 'subtitle adds 2 × fontsize');
  t.same([root(doc.frames).rect.width, root(doc.frames).rect.height], ['780.0', '19.0']);
  t.equal(doc.texts.get('subtitle'), 'sub');
  t.ok(doc.script.includes('fontwidth: 0.6'), 'the viewer fits labels with the same font metrics');
});

t.test('maxFrames draws the widest frames only, as a larger minwidth would, and says so', async (t) => {
  const all = render(system, { minwidth: 0 });
  const bound = Math.floor(all.doc.frames.length / 3);
  const capped = render(system, { minwidth: 0, maxFrames: bound, subtitle: 'sub' });
  const widths = (frames: SvgFrame[]) => frames.map((f) => Number(f.rect.width));
  t.ok(capped.doc.frames.length <= bound, `${capped.doc.frames.length} frames drawn, at most ${bound}`);
  t.ok(capped.doc.frames.length > bound / 2, 'the bound is used, not far undershot');
  t.equal(capped.result.frames, capped.doc.frames.length);
  const narrowestKept = Math.min(...widths(capped.doc.frames));
  // Frames by position and title (heights move: fewer rows, and a subtitle); what remains of `all` was left out.
  const key = (f: SvgFrame) => `${f.rect.x},${f.rect.width},${f.title}`;
  const drawn = new Map<string, number>();
  for (const f of capped.doc.frames) drawn.set(key(f), (drawn.get(key(f)) ?? 0) + 1);
  const leftOut = all.doc.frames.filter((f) => {
    const n = drawn.get(key(f)) ?? 0;
    drawn.set(key(f), n - 1);
    return n <= 0;
  });
  t.equal(
    leftOut.length,
    all.doc.frames.length - capped.doc.frames.length,
    'the drawn frames are frames of the whole graph',
  );
  t.ok(
    leftOut.every((f) => Number(f.rect.width) <= narrowestKept),
    'every frame left out is at most as wide as the narrowest drawn',
  );
  t.equal(capped.doc.texts.get('subtitle'), `sub — only the ${capped.doc.frames.length} widest frames drawn`);
  t.match(
    capped.result.warnings.join('\n'),
    new RegExp(`drew ${capped.doc.frames.length} of ${all.doc.frames.length} frames`),
  );
  t.equal(
    render(system, { minwidth: 0, maxFrames: all.doc.frames.length }).result.svg,
    all.result.svg,
    'within it, unchanged',
  );
  throwsCode(t, () => renderFlameGraph(system, { maxFrames: 0 }), 'INVALID_REQUEST', 'maxFrames 0');
  // All of equal width (one sample each): the bound still fills, shallower rows first, each frame with its parent.
  const flat: string[] = [];
  for (let i = 0; i < 300; i++) flat.push(`main;a${i};b${i};c${i} 1`);
  const equal = render(flat, { minwidth: 0, maxFrames: 400 });
  t.equal(equal.doc.frames.length, 400, 'exactly the bound');
  const names = new Set(equal.doc.frames.map(frameName));
  t.ok(
    [...names].filter((n) => /^b\d/.test(n)).every((n) => names.has(`a${n.slice(1)}`)),
    'each frame drawn with its parent',
  );
  t.equal([...names].filter((n) => /^a\d/.test(n)).length, 300, 'the first row whole');
});

t.test('--inverted draws the root at the top', async (t) => {
  const { doc } = render(java, { inverted: true });
  t.equal(root(doc.frames).rect.y, '36');
  t.equal(Math.min(...ys(doc.frames)), 36);
  t.equal(doc.texts.get('title'), 'Icicle Graph');
  t.ok(doc.script.includes('inverted: true'));
});

t.test('--minwidth in pixels and in percent', async (t) => {
  const all = render(system, { minwidth: 0 }).doc.frames;
  const px = render(system, { minwidth: 5 }).doc.frames;
  const pct = render(system, { minwidth: '10%' }).doc.frames;
  t.ok(px.length < all.length, `${px.length} of ${all.length} frames at ≥ 5 px`);
  t.ok(
    px.every((f) => Number(f.rect.width) >= 4.9),
    'none narrower',
  );
  const total = frameSamples(root(all));
  t.ok(
    pct.every((f) => frameSamples(f) >= total * 0.1 - 1),
    'percent of the total',
  );
  t.ok(pct.length < px.length);
});

t.test('--total, --factor, --countname', async (t) => {
  const base = render(java);
  const time = base.result.totalSamples;
  const wide = render(java, { total: time * 2 });
  t.equal(frameSamples(root(wide.doc.frames)), time * 2, 'the root stands for --total');
  const child = wide.doc.frames.find((f) => f.rect.y === String(Number(root(wide.doc.frames).rect.y) - 16));
  t.ok(child && Number(child.rect.width) <= 590.1, 'the frames take their share of it');
  const small = render(java, { total: Math.round(time / 2) });
  t.ok(small.result.warnings.some((w) => w.startsWith(`Specified --total ${Math.round(time / 2)} is less than`)));
  t.equal(frameSamples(root(small.doc.frames)), time, 'a smaller --total is ignored');
  t.same(render(java, { total: 1 }).result.warnings, [], 'silently when it is tiny (a rounding, says flamegraph.pl)');
  const scaled = render(java, { factor: 2.5, countname: 'bytes' });
  t.equal(frameSamples(root(scaled.doc.frames)), time * 2.5);
  t.ok(root(scaled.doc.frames).title.includes(' bytes, 100%'));
  const low = render(['java;main 3']);
  t.same(low.result.warnings, ['Stack count is low (3). Did something go wrong?']);
  t.same(render(['java;main 3'], { countname: 'bytes' }).result.warnings, [], 'only for samples');
});

t.test('--reverse merges from the leaves', async (t) => {
  const reversed = render(system, { reverse: true }).doc.frames;
  const manual = render(
    system.map((l) => {
      const at = l.lastIndexOf(' ');
      return `${l.slice(0, at).split(';').reverse().join(';')}${l.slice(at)}`;
    }),
  ).doc.frames;
  t.same(
    reversed.map((f) => [f.title, f.rect.x, f.rect.y]).sort(),
    manual.map((f) => [f.title, f.rect.x, f.rect.y]).sort(),
  );
});

t.test('differential input colours the leaves by change', async (t) => {
  const { doc, result } = render(diff);
  t.equal(
    result.totalSamples,
    diff.reduce((s, l) => s + Number(l.split(' ').pop()), 0),
    'width = second column',
  );
  const fills = new Set(doc.frames.map((f) => f.rect.fill));
  t.ok(
    [...fills].some((f) => /^rgb\(255,\d+,\d+\)$/.test(f) && f !== 'rgb(255,255,255)'),
    'red: grew',
  );
  t.ok(
    [...fills].some((f) => /^rgb\(\d+,\d+,255\)$/.test(f) && f !== 'rgb(255,255,255)'),
    'blue: shrank',
  );
  t.ok(
    doc.frames.some((f) => /; \+\d+\.\d\d%\)$/.test(f.title)),
    'titles carry +delta',
  );
  t.ok(
    doc.frames.some((f) => /; -\d+\.\d\d%\)$/.test(f.title)),
    'and -delta',
  );
  const negated = render(diff, { negate: true }).doc;
  const flip = (f: string) => f.replace(/^rgb\((\d+),(\d+),(\d+)\)$/, (_, r, g, b) => `rgb(${b},${g},${r})`);
  t.same(
    negated.frames.map((f) => f.rect.fill),
    doc.frames.map((f) => flip(f.rect.fill)),
    '--negate swaps red and blue',
  );
});

t.test('--colors chain marks wakers and separators', async (t) => {
  const { doc } = render(['java;start_thread;sleep;--;waker;wake_up 7', 'java;main 5']);
  const byName = (n: string) => doc.frames.filter((f) => frameName(f) === n);
  t.equal(byName('--')[0]?.rect.fill, 'rgb(160,160,160)', '"--" is grey');
  const chain = render(['java;start_thread;sleep;--;waker;wake_up 7', 'java;main 5'], { colors: 'chain' }).doc;
  const names = chain.frames.map(frameName);
  t.ok(names.includes('waker') && names.includes('wake_up'), 'the _[w] mark is not shown');
  t.ok(chain.frames.filter((f) => frameName(f) === '--').length >= 2, 'every stack ends in a "--" frame');
  t.ok(/^rgb\(\d+,\d+,\d+\)$/.test(chain.frames.find((f) => frameName(f) === 'waker')!.rect.fill));
});

t.test('invalid lines, empty input', async (t) => {
  const { result } = render([...java, 'THIS IS A BAD LINE', '', 'a;b 12V.43']);
  t.equal(result.ignoredLines, 3);
  t.ok(result.warnings.includes('Ignored 3 lines with invalid format'));
  for (const input of [[], [''], ['no count here'], ['a;b 0', 'c 0']]) {
    throwsCode(t, () => renderFlameGraph(input), 'EMPTY_INPUT', `EMPTY_INPUT for ${JSON.stringify(input)}`);
  }
});

t.test('counts beyond 2^53 are added exactly', async (t) => {
  const { doc } = render(['swapper/0;start_kernel;do_idle 239807672958951499', 'swapper/1;do_idle 129127208516546613']);
  t.equal(root(doc.frames).title, 'all (368,934,881,475,498,112 samples, 100%)');
  t.ok(doc.frames.some((f) => f.title === 'swapper/1 (129,127,208,516,546,608 samples, 35.00%)'));
});

t.test('--cp: the palette map is used and extended', async (t) => {
  const given = parsePaletteMap('java->rgb(1,2,3)\nunused->rgb(4,5,6)\nbroken-----rgb(1,1,1)\nempty->\n\n');
  t.same(
    [...given],
    [
      ['java', 'rgb(1,2,3)'],
      ['unused', 'rgb(4,5,6)'],
      ['broken-----rgb(1,1,1)', ''],
      ['empty', ''],
    ],
  );
  const { result, doc } = render(java, { cp: true, palette: given, hash: true });
  t.equal(doc.frames.find((f) => frameName(f) === 'java')?.rect.fill, 'rgb(1,2,3)', 'a known name keeps its colour');
  const palette = result.palette!;
  t.equal(palette.get('unused'), 'rgb(4,5,6)', 'unused entries are kept');
  t.equal(palette.get(''), root(doc.frames).rect.fill, 'the root is the empty name, as in flamegraph.pl');
  const mapped = new Set([...palette.keys()].map((k) => k.replace(/_\[[kwij]\]$/, '')));
  t.ok(
    doc.frames.every((f) => frameName(f) === 'all' || mapped.has(frameName(f))),
    'every function drawn is in the map',
  );
  const text = serializePaletteMap(palette);
  const keys = text
    .trimEnd()
    .split('\n')
    .map((l) => l.split('->')[0]);
  t.same(keys, [...keys].sort(), 'written sorted by name');
  t.ok(text.includes('broken-----rgb(1,1,1)->\n'), 'a damaged line is written back as flamegraph.pl does');
  t.equal(given.get('java'), 'rgb(1,2,3)', "the caller's map is not modified");
  t.equal(given.size, 4);
});

t.test('--nameattr files', async (t) => {
  const parsed = parseNameAttrs('\nmain\tclass=a\t\ttitle=x=y\tjunk\nno tab here\n', 'attrs.txt');
  t.same(parsed.attrs.get('main'), { class: 'a', title: 'x=y' }, 'empty fields skipped, = inside values kept');
  t.equal(parsed.attrs.size, 1);
  t.same(parsed.warnings, [
    'attrs.txt line 2: "junk" is not key=value; ignored',
    'attrs.txt line 3 has no tab after the function name; skipped',
  ]);
});

t.test('options are validated once, with a clear error', async (t) => {
  const bad: Partial<RenderOptions>[] = [
    { width: 0 },
    { width: 10.5 },
    { height: -1 },
    { fontsize: NaN },
    { minwidth: 'wide' },
    { minwidth: -1 },
    { factor: 0 },
    { total: -5 },
    { colors: 'pink' },
    { bgcolors: 'black' },
    { encoding: 'utf-8"' },
  ];
  for (const options of bad) {
    throwsCode(t, () => renderFlameGraph(java, options), 'INVALID_REQUEST', JSON.stringify(options));
  }
  t.doesNotThrow(() => renderFlameGraph(java, { minwidth: '0.5%', bgcolors: '#ABCDEF', colors: 'wakeup' }));
});
