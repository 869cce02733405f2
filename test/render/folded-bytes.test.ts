// The renderer's byte input (shared/render/folded-bytes.ts, FrameMerger.addBytes): the same result as the text input
// for every fixture and for the corners of the format, and the text reader taken where bytes cannot be read alone.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { readByteStackLines } from '../../shared/render/folded-bytes.js';
import { linesOfTexts, renderFlameGraph, renderFlameGraphFromBytes } from '../../shared/render/flamegraph.js';
import type { RenderOptions } from '../../shared/render/options.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/folded');

/** Both inputs' whole results (document, warnings, counts), or both errors' codes and messages. */
function both(chunks: Buffer[], options: Partial<RenderOptions> = {}): { bytes: unknown; text: unknown } {
  const outcome = (render: () => unknown): unknown => {
    try {
      return render();
    } catch (err) {
      const e = err as { code?: string; message: string };
      return { code: e.code, message: e.message };
    }
  };
  return {
    bytes: outcome(() => renderFlameGraphFromBytes(chunks, options)),
    text: outcome(() => renderFlameGraph(linesOfTexts(chunks.map((c) => c.toString('utf8'))), options)),
  };
}

const utf8 = (...texts: string[]): Buffer[] => texts.map((s) => Buffer.from(s, 'utf8'));

t.test('every fixture: the same graph from bytes as from text', async (t) => {
  for (const file of ['java-slow.folded', 'java-slow-all.folded', 'java-fast.folded', 'system.folded']) {
    const chunk = readFileSync(join(FIXTURES, file));
    t.ok(readByteStackLines([chunk], false), `${file} is read from bytes`);
    for (const options of [
      { colors: 'java', hash: true },
      {},
      { inverted: true, minwidth: 0 },
      { flamechart: true },
      { cp: true },
      { maxFrames: 50 },
    ] as Partial<RenderOptions>[]) {
      const { bytes, text } = both([chunk], options);
      t.same(bytes, text, `${file} ${JSON.stringify(options)}`);
    }
  }
});

t.test('the corners of the format read from bytes', async (t) => {
  const cases: [string, Buffer[]][] = [
    ['unsorted lines', utf8('b;c 3\na;b 2\na 1\nb 4\n')],
    ['CRLF line ends', utf8('a;b 2\r\na;c 3\r\n')],
    ['trailing semicolons', utf8('a;b; 2\na;b;; 3\na; 1\n')],
    ['an empty frame inside a stack', utf8('a;;b 3\na;;c 2\n')],
    ['a stack that is a prefix of the next', utf8('a;b 1\na;b;c 2\na;bc 4\na;b;c 5\n')],
    ['the same stack twice', utf8('x;y 2\nx;y 3\n')],
    ['empty and invalid lines', utf8('\nnot a line\na;b -1\na;b 1e3\na;b .5\na;b 1.2.3\n5\na;b 3\n')],
    ['an empty stack', utf8(' 5\na 2\n')],
    ['a tab and two spaces before the count', utf8('a;b\t7\na;b  7\n')],
    ['fractional counts', utf8('a;b 6.\na;c 1.25\nb 0.1\n')],
    ['zero counts', utf8('a;b 0\na;c 200\n')],
    ['only zero counts', utf8('a 0\n')],
    ['no valid line', utf8('nothing here\n')],
    ['empty input', utf8('')],
    ['several files, a last line without newline', utf8('b;c 3\na;b 2', 'a;b 5\nz 1')],
    ['markup and annotations', utf8('java;Foo.<init>_[j] 3\njava;a&b_[k] 2\njava;"q"_[i] 1\n')],
    ['non-ASCII names', utf8('é;ü 3\ne;u 2\n日本;語 4\n')],
    ['astral characters sort after U+E000..U+FFFF', utf8('a;\u{1d518} 3\na;\ue000 2\na;\uffee 1\n')],
    ['many shared frames', utf8(Array.from({ length: 300 }, (_, i) => `r;s;t;u${i % 7};v${i} ${i + 1}`).join('\n'))],
  ];
  for (const [name, chunks] of cases) {
    const { bytes, text } = both(chunks, { colors: 'java', hash: true, minwidth: 0 });
    t.same(bytes, text, name);
    t.ok(readByteStackLines(chunks, false), `${name}: read from bytes`);
  }
});

t.test('what only the text reader reads right: the same graph, through it', async (t) => {
  const cases: [string, Buffer[], Partial<RenderOptions>][] = [
    // 0xff and 0xfe both decode to U+FFFD: one frame in the text, two different byte strings.
    ['invalid UTF-8', [Buffer.from([0x61, 0x3b, 0xff, 0x20, 0x31, 0x0a, 0x61, 0x3b, 0xfe, 0x20, 0x32, 0x0a])], {}],
    ['a no-break space before the count', utf8('a;b\u00a05\na;c 2\n'), {}],
    ['an ideographic space before the count', utf8('a;b\u30005\na;c 2\n'), {}],
    ['differential lines', utf8('a;b 1 2\na;c 5 3\n'), {}],
    ['counts beyond 2^53', utf8('a;b 9007199254740993\na;c 9007199254740993\n'), {}],
  ];
  for (const [name, chunks, options] of cases) {
    t.equal(readByteStackLines(chunks, false), undefined, `${name}: left to the text reader`);
    const { bytes, text } = both(chunks, options);
    t.same(bytes, text, name);
  }
  for (const options of [{ reverse: true }, { colors: 'chain' }] as Partial<RenderOptions>[]) {
    const { bytes, text } = both(utf8('a;b;c 2\na;b;--;w 1\n'), options);
    t.same(bytes, text, JSON.stringify(options));
  }
});
