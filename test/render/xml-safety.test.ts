// flamegraph.pl writes titles, notes, count names and nameattr values into the SVG unescaped and repeats attributes;
// podflame must give well-formed XML for any input. Every document here goes through a strict XML parser.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { renderFlameGraph } from '../../shared/render/index.js';
import { frameName, parseSvg } from './svg-document.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/folded');
const realLines = readFileSync(join(FIXTURES, 'java-slow-all.folded'), 'utf8').trimEnd().split('\n');

// [name in the input, function name a reader of the SVG gets back]. What XML cannot carry (C0 controls, lone
// surrogates, U+FFFE/U+FFFF) becomes U+FFFD; everything else survives as is.
const HOSTILE: [string, string][] = [
  ['void RenderWorkload$Node.<init>_[j]', 'void RenderWorkload$Node.<init>'],
  ['RenderWorkload.lambda$main$0_[j]', 'RenderWorkload.lambda$main$0'],
  ['std::vector<int, std::allocator<int> >::push_back', 'std::vector<int, std::allocator<int> >::push_back'],
  ['a & b', 'a & b'],
  ['say "hi"', 'say "hi"'],
  ["it's", "it's"],
  ['cdata ]]> end', 'cdata ]]> end'],
  ['comment -- inside', 'comment -- inside'],
  ['ctrl\u0001\u0008\u000b\u001f chars', 'ctrl\ufffd\ufffd\ufffd\ufffd chars'],
  ['lone \ud800 surrogate', 'lone \ufffd surrogate'],
  ['astral 𝔣𝔬𝔬 name', 'astral 𝔣𝔬𝔬 name'],
  ['tab\tinside', 'tab\tinside'],
  ['\ufffe\uffff nonchars', '\ufffd\ufffd nonchars'],
];

t.test('hostile frame names are escaped in titles and labels', async (t) => {
  const input = [...realLines, ...HOSTILE.map(([name], i) => `java;hostile;${name} ${200000000 + i * 1000}`)];
  const { svg } = renderFlameGraph(input, { colors: 'java', hash: true });
  const doc = parseSvg(svg);
  const names = new Set(doc.frames.map(frameName));
  for (const [name, expected] of HOSTILE) t.ok(names.has(expected), `title of ${JSON.stringify(name)}`);
  const init = doc.frames.find((f) => frameName(f) === 'void RenderWorkload$Node.<init>');
  t.ok(init && init.label.length > 0 && init.label.startsWith('void'), 'a real <init> frame keeps its label');
});

t.test('hostile option values: title, subtitle, notes, countname, nametype, fonttype', async (t) => {
  const nasty = 'Test <& \' " ]]> -- \u0001';
  const { svg } = renderFlameGraph(realLines, {
    title: nasty,
    subtitle: nasty,
    notes: nasty,
    countname: nasty,
    nametype: `${nasty}\\ </script>`,
    fonttype: nasty,
    encoding: 'utf-8',
  });
  const doc = parseSvg(svg);
  const clean = nasty.replace('\u0001', '\ufffd');
  t.equal(doc.texts.get('title'), clean, 'title');
  t.equal(doc.texts.get('subtitle'), clean, 'subtitle');
  t.ok(
    doc.comments.some((c) => c.includes('NOTES:') && c.includes('Test &lt;&amp;')),
    'notes in a comment',
  );
  t.ok(
    doc.frames.some((f) => f.title.includes(`${clean},`)),
    'countname in the titles',
  );
  t.ok(doc.script.includes('nametype: "Test \\u003c\\u0026'), 'nametype is a JavaScript string literal');
  t.equal(doc.xmlEncoding, 'utf-8', '--encoding names the encoding');
  // The script must still be valid JavaScript.
  t.doesNotThrow(() => new Function(doc.script), 'the viewer script parses');
});

t.test('nameattr: every attribute once, values escaped, links kept', async (t) => {
  const nameattr = new Map<string, Record<string, string>>([
    [
      'java',
      {
        class: 'inferno',
        title: 'tip <b>&</b>',
        g_extra: 'stroke-width="1" class="dup" id=\'x"y\' bare xmlns="http://evil" data-a=1',
        href: 'https://example.org/?a=1&b="2"',
        target: '_blank',
        a_extra: 'rel="external" target="_self"',
      },
    ],
    ['StubRoutines (1)_[j]', { id: 'test2', g_extra: 'id="test3" onclick="alert(1)"' }],
  ]);
  const result = renderFlameGraph(realLines, { nameattr });
  const doc = parseSvg(result.svg);
  const link = doc.frames.find((f) => f.tag === 'a');
  t.ok(link, 'href turns the frame into a link');
  t.equal(link?.attrs['xlink:href'], 'https://example.org/?a=1&b="2"', 'href round-trips');
  t.equal(link?.attrs.target, '_blank', 'the named target wins over a_extra');
  t.equal(link?.attrs.class, 'inferno', 'the named class wins over g_extra');
  t.equal(link?.attrs.id, 'x"y', 'an extra attribute not named otherwise is kept');
  t.equal(link?.attrs.rel, 'external', 'a_extra');
  t.notOk('xmlns' in (link?.attrs ?? {}), 'xmlns is never taken from extras');
  t.equal(link?.title, 'tip <b>&</b>', 'the nameattr title replaces the tooltip');
  t.ok(
    result.warnings.some((w) => w.includes('class given twice')),
    'the duplicate is reported',
  );
  t.ok(
    result.warnings.some((w) => w.includes('"bare"')),
    'a bare word is reported',
  );
});

t.test('palette.map fills with markup are escaped', async (t) => {
  const palette = new Map([
    ['java', 'rgb(1,2,3)" onload="x'],
    ['start_thread', ''],
  ]);
  const result = renderFlameGraph(realLines, { cp: true, palette });
  const doc = parseSvg(result.svg);
  t.equal(doc.frames.find((f) => frameName(f) === 'java')?.rect.fill, 'rgb(1,2,3)" onload="x', 'kept verbatim');
  t.equal(doc.frames.find((f) => frameName(f) === 'start_thread')?.rect.fill, '', 'an empty fill stays empty');
});
