// The bench's check that podflame's output is the perl scripts': it must pass on equal output in perl's layout and
// order, and fail on any frame or byte that differs, or when it finds nothing to compare.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { compareFolded, compareSvgFrames } from '../../scripts/bench/same-output.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/folded');
const podflameSvg = readFileSync(join(FIXTURES, 'java-slow.java-hash.svg'), 'utf8');

// One frame per group, as podflame writes it: `<g>\n<title>…</title><rect … rx="2" ry="2"/>\n<text …></text>\n</g>`.
const FRAME_GROUP = /<g>\n<title>[\s\S]*?<\/g>\n/g;

/** podflame's SVG as flamegraph.pl lays it out: `<g >`, ` />`, and the frames in another order (perl's hash order). */
function inPerlLayout(svg: string): string {
  const groups = svg.match(FRAME_GROUP) ?? [];
  const start = svg.indexOf(groups[0] as string);
  const rest = svg.slice(start).replace(FRAME_GROUP, '');
  const perlGroups = groups
    .reverse()
    .map((g) => g.replace('<g>', '<g >').replace('rx="2" ry="2"/>', 'rx="2" ry="2" />'));
  return svg.slice(0, start) + perlGroups.join('') + rest;
}

t.test('compareSvgFrames', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-same-output-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const ours = write('podflame.svg', podflameSvg);
  const frameCount = (podflameSvg.match(FRAME_GROUP) ?? []).length;
  t.ok(frameCount > 10, `the fixture has frames (${frameCount})`);

  const same = compareSvgFrames(ours, write('perl.svg', inPerlLayout(podflameSvg)));
  t.same(same, {
    podflameFrames: frameCount,
    perlFrames: frameCount,
    identical: true,
    detail: 'the same title, rectangle and fill for every frame',
  });

  const fill = /fill="(rgb\([^)]*\))"/.exec(podflameSvg.slice(podflameSvg.indexOf('<title>')))?.[1] as string;
  const recoloured = compareSvgFrames(ours, write('recoloured.svg', podflameSvg.replace(fill, 'rgb(1,2,3)')));
  t.equal(recoloured.identical, false, 'one frame in another colour');
  t.match(recoloured.detail, /first different frame/);

  const firstGroup = (podflameSvg.match(FRAME_GROUP) ?? [])[1] as string;
  const dropped = compareSvgFrames(ours, write('dropped.svg', podflameSvg.replace(firstGroup, '')));
  t.equal(dropped.identical, false, 'one frame fewer');
  t.equal(dropped.perlFrames, frameCount - 1);

  const empty = write('empty.svg', '<svg xmlns="http://www.w3.org/2000/svg"></svg>\n');
  const nothing = compareSvgFrames(empty, empty);
  t.equal(nothing.identical, false, 'two SVGs without frames are not "the same frames"');
  t.match(nothing.detail, /no frames found/);
});

t.test('compareFolded', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-same-output-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const folded = readFileSync(join(FIXTURES, 'java-slow.folded'));
  const a = join(dir, 'a.folded');
  const b = join(dir, 'b.folded');
  writeFileSync(a, folded);
  writeFileSync(b, folded);
  t.same(compareFolded(a, b), { identical: true, detail: `${folded.length} bytes, byte for byte` });

  const lines = folded.toString('latin1').split('\n');
  lines[2] = (lines[2] as string).replace(/ (\d+)$/, (_, n: string) => ` ${Number(n) + 1}`);
  writeFileSync(b, Buffer.from(lines.join('\n'), 'latin1'));
  const changed = compareFolded(a, b);
  t.equal(changed.identical, false, 'one count differs');
  t.match(changed.detail, /line 3 differs/);

  writeFileSync(b, Buffer.concat([folded, Buffer.from('\n')]));
  t.equal(compareFolded(a, b).identical, false, 'one byte more (a blank line at the end)');
});
