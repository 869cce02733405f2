// Colours are compared by the conformance corpus, so they must be flamegraph.pl's. The expected values below are
// what flamegraph.pl @41fee1f printed for these names (FlameGraph's and inferno's test inputs).
import t from 'tap';
import {
  backgroundStops,
  differentialRgb,
  Drand48,
  FrameColorer,
  nameHash,
  PALETTES,
  paletteRgb,
  resolvePalette,
  reversedNameHash,
  seededNameValue,
  type ColorMode,
  type PaletteName,
} from '../../shared/render/palette.js';

const PERL: [PaletteName, ColorMode, string, string][] = [
  ['hot', 'hash', 'cksum', 'rgb(226,95,23)'],
  ['hot', 'hash', 'vfs_read_[k]', 'rgb(236,128,34)'],
  ['mem', 'hash', 'futex_wake_op_[k]', 'rgb(0,221,139)'],
  ['mem', 'hash', 'do_sync_read_[k]', 'rgb(0,221,173)'],
  ['io', 'hash', 'futex_wake_op_[k]', 'rgb(119,119,224)'],
  ['io', 'hash', 'io/netty/channel/nio/NioEventLoop:.run_[j]', 'rgb(119,119,225)'],
  ['perl', 'hash', 'futex_wake_op_[k]', 'rgb(233,133,0)'],
  ['perl', 'hash', 'io/netty/channel/nio/NioEventLoop:.run_[j]', 'rgb(235,102,102)'],
  ['red', 'hash', 'futex_wake_op_[k]', 'rgb(236,103,103)'],
  ['red', 'hash', 'do_sync_read_[k]', 'rgb(245,115,115)'],
  ['java', 'hash', 'do_softirq_own_stack_[k]', 'rgb(243,143,0)'],
  ['java', 'hash', 'pthread_self', 'rgb(237,104,104)'],
  ['java', 'hash', 'org/mozilla/javascript/NativeJavaMethod:.call_[j]', 'rgb(96,242,96)'],
  ['java', 'hash', 'PhaseChaitin::interfere_with_live(unsigned int, IndexSet*)', 'rgb(223,223,67)'],
  ['js', 'hash', 'node::Start', 'rgb(225,225,68)'],
  ['js', 'hash', 'Stub:JSEntryStub_[j]', 'rgb(88,200,200)'],
  ['js', 'hash', 'uv_run', 'rgb(223,84,84)'],
  ['js', 'hash', 'LazyCompile:~body_0 evalmachine.<anonymous>:1_[j]', 'rgb(83,196,196)'],
  ['chain', 'hash', 'cksum', 'rgb(104,104,225)'],
  // Default colours (no --hash): seeded by the name, so still the same in every graph.
  ['hot', 'seeded', 'do_softirq_own_stack_[k]', 'rgb(207,9,2)'],
  ['hot', 'seeded', 'pthread_self', 'rgb(241,169,40)'],
  ['hot', 'seeded', 'org/mozilla/javascript/NativeJavaMethod:.call_[j]', 'rgb(233,130,31)'],
  ['hot', 'seeded', 'Interpreter_[j]', 'rgb(205,2,0)'],
  ['hot', 'seeded', 'JavaCalls::call_helper', 'rgb(213,39,9)'],
];

t.test("colours match flamegraph.pl's", async (t) => {
  for (const [palette, mode, name, rgb] of PERL) {
    t.equal(new FrameColorer(palette, mode).colorOf(name), rgb, `${palette} ${mode} ${name}`);
  }
});

t.test('multi-palettes pick a hue by the shape of the name', async (t) => {
  const cases: [PaletteName, string, PaletteName][] = [
    ['java', 'Hot.fib_[j]', 'green'],
    ['java', 'Hot.inlined_[i]', 'aqua'],
    ['java', 'Lorg/foo/Bar;::baz', 'green'],
    ['java', 'java/lang/Thread:::run', 'green'],
    ['java', 'com.sun.tools.javac.Main.compile', 'red'],
    ['java', 'JavaCalls::call_helper', 'yellow'],
    ['java', 'do_syscall_64_[k]', 'orange'],
    ['java', 'start_thread', 'red'],
    ['js', 'foo /app/x.js:1_[j]', 'green'],
    ['js', 'Builtin:ArgumentsAdaptor_[j]', 'aqua'],
    ['js', 'v8::Function::Call', 'yellow'],
    ['js', 'doThing /srv/app.js:10', 'green'],
    ['js', 'Stub:CEntry', 'aqua'],
    ['js', ' ', 'green'],
    ['js', 'sys_read_[k]', 'orange'],
    ['js', 'main', 'red'],
    ['perl', 'Foo::bar', 'yellow'],
    ['perl', 'Perl_pp_entersub', 'green'],
    ['perl', 'script.pl', 'green'],
    ['perl', 'sys_read_[k]', 'orange'],
    ['perl', 'main', 'red'],
    ['wakeup', 'anything', 'aqua'],
    ['chain', 'waker_[w]', 'aqua'],
    ['chain', 'sleeper', 'blue'],
    ['hot', 'x', 'hot'],
  ];
  for (const [palette, name, hue] of cases) t.equal(resolvePalette(palette, name), hue, `${palette}: ${name}`);
});

t.test('every palette gives a valid colour at the ends of its range', async (t) => {
  for (const palette of PALETTES) {
    for (const v of [0, 0.5, 0.999999]) {
      const rgb = paletteRgb(resolvePalette(palette, 'x'), v, v, v);
      const m = /^rgb\((\d+),(\d+),(\d+)\)$/.exec(rgb);
      t.ok(m && m.slice(1).every((c) => Number(c) <= 255), `${palette} ${v}: ${rgb}`);
    }
  }
  t.equal(paletteRgb('nope' as PaletteName, 0, 0, 0), 'rgb(0,0,0)', 'unknown: black, as flamegraph.pl');
});

t.test('hashes', async (t) => {
  t.equal(nameHash('libc.so`malloc'), nameHash('malloc'), 'the module prefix before a backtick is dropped');
  t.equal(nameHash('`x'), nameHash('`x'), 'a leading backtick is a character');
  t.ok(nameHash('') === 1, 'empty name');
  for (const name of ['cksum', 'a`b`c', 'x`', '`', 'ab', 'a', '𝔣oo`bar', 'mod`𝔣𝔬', 'dé`jà vu']) {
    const reversed = Array.from(name).reverse().join('');
    t.equal(reversedNameHash(name), nameHash(reversed), `reversed hash of ${JSON.stringify(name)}`);
  }
  const seq = new Drand48(0);
  const a = seq.next();
  const b = seq.next();
  t.ok(a >= 0 && a < 1 && b >= 0 && b < 1 && a !== b, 'a drand48 sequence in [0, 1)');
  t.equal(seededNameValue('cksum'), new Drand48([...'cksum'].reduce((s, c) => s + c.charCodeAt(0), 0)).next());
});

t.test('random colours come from a fixed seed', async (t) => {
  const a = new FrameColorer('hot', 'random');
  const b = new FrameColorer('hot', 'random');
  const first = [a.colorOf('x'), a.colorOf('x'), a.colorOf('y')];
  t.same([b.colorOf('x'), b.colorOf('x'), b.colorOf('y')], first, 'reproducible');
  t.not(first[0], first[1], 'but not cached per name');
});

t.test('differential and background colours', async (t) => {
  t.equal(differentialRgb(0, 10, false), 'rgb(255,255,255)');
  t.equal(differentialRgb(10, 10, false), 'rgb(255,0,0)');
  t.equal(differentialRgb(5, 10, false), 'rgb(255,105,105)');
  t.equal(differentialRgb(-5, 10, false), 'rgb(105,105,255)');
  t.equal(differentialRgb(-5, 10, true), 'rgb(255,105,105)', '--negate swaps the hues');
  t.same(backgroundStops('', 'hot'), ['#eeeeee', '#eeeeb0']);
  t.same(backgroundStops('', 'mem'), ['#eef2ee', '#e0ffe0']);
  t.same(backgroundStops('', 'chain'), ['#eeeeee', '#e0e0ff']);
  t.same(backgroundStops('', 'red'), ['#f8f8f8', '#e8e8e8']);
  t.same(backgroundStops('#ffffff', 'hot'), ['#ffffff', '#ffffff']);
  t.same(backgroundStops('green', 'java'), ['#eef2ee', '#e0ffe0']);
});
