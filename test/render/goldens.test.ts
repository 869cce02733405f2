// Real captures rendered end to end: each case against its golden SVG, well-formed XML, the same bytes twice, and
// the same bytes whatever the input line order (flamegraph.pl sorts, so only --flamechart may depend on order).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { renderFlameGraph, type RenderOptions } from '../../shared/render/index.js';
import { matchGolden } from '../helpers/golden.js';
import { frameName, frameSamples, parseSvg } from './svg-document.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/folded');

function lines(file: string): string[] {
  const text = readFileSync(join(FIXTURES, file), 'utf8');
  return text.split('\n').filter((l, i, all) => !(l === '' && i === all.length - 1));
}

// A fixed shuffle (no Math.random: a failure must reproduce).
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  let seed = 12345;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const CASES: { input: string; golden: string; options: Partial<RenderOptions> }[] = [
  { input: 'java-slow.folded', golden: 'java-slow.java-hash.svg', options: { colors: 'java', hash: true } },
  { input: 'java-slow-all.folded', golden: 'java-slow-all.svg', options: {} },
  { input: 'java-diff.folded', golden: 'java-diff.svg', options: { title: 'fast → slow' } },
  { input: 'system.folded', golden: 'system.inverted.svg', options: { inverted: true, colors: 'io', hash: true } },
];

for (const c of CASES) {
  t.test(`${c.input} ${JSON.stringify(c.options)}`, async (t) => {
    const input = lines(c.input);
    const result = renderFlameGraph(input, c.options);
    const doc = parseSvg(result.svg);
    t.ok(doc.frames.length > 10, `${doc.frames.length} frames drawn`);
    t.equal(result.frames, doc.frames.length, 'RenderResult.frames counts the frames in the document');
    const root = doc.frames.find((f) => frameName(f) === 'all');
    t.ok(root, 'the root frame "all" is drawn');
    t.equal(frameSamples(root!), result.totalSamples, 'the root carries the total');
    matchGolden(t, join(FIXTURES, c.golden), result.svg, 'golden');
    t.equal(renderFlameGraph(input, c.options).svg, result.svg, 'rendering again gives the same bytes');
    t.equal(renderFlameGraph(shuffled(input), c.options).svg, result.svg, 'input order does not matter');
  });
}

t.test('lines with their newline (or CRLF) render like chomped lines', async (t) => {
  const input = lines('java-slow.folded');
  const plain = renderFlameGraph(input).svg;
  t.equal(renderFlameGraph(input.map((l) => `${l}\n`)).svg, plain, 'LF');
  t.equal(renderFlameGraph(input.map((l) => `${l}\r\n`)).svg, plain, 'CRLF');
});

t.test('--flamechart keeps input order', async (t) => {
  const input = lines('system.folded');
  const firstFrameAt = (frames: ReturnType<typeof parseSvg>['frames'], x: string) =>
    frames
      .filter((f) => f.rect.x === x && frameName(f) !== 'all')
      .sort((a, b) => Number(b.rect.y) - Number(a.rect.y))[0];
  const forward = parseSvg(renderFlameGraph(input, { flamechart: true }).svg);
  const backward = parseSvg(renderFlameGraph([...input].reverse(), { flamechart: true }).svg);
  const firstRoot = (input[0] as string).split(';')[0];
  const lastRoot = (input[input.length - 1] as string).split(';')[0];
  t.equal(frameName(firstFrameAt(forward.frames, '10.0')!), firstRoot, 'the first line is drawn leftmost');
  t.equal(frameName(firstFrameAt(backward.frames, '10.0')!), lastRoot, 'reversed: the last line is leftmost');
  t.equal(forward.texts.get('title'), 'Flame Chart', 'default title of a flame chart');
});
