import t from 'tap';
import { compareCodePoints, orderStackLines, parseStackLine, splitFrames } from '../../shared/render/folded-input.js';

t.test('a line is "stack count" or "stack count count"', async (t) => {
  t.same(parseStackLine('java;start_thread;Hot.fib_[j] 42'), {
    stack: 'java;start_thread;Hot.fib_[j]',
    count: '42',
    count2: undefined,
  });
  t.same(parseStackLine('java;Hot.fib_[j] 42 57'), { stack: 'java;Hot.fib_[j]', count: '42', count2: '57' });
  t.same(parseStackLine('a;b 6.'), { stack: 'a;b', count: '6.', count2: undefined }, '"6." is a count');
  t.same(parseStackLine('a;b 31.23'), { stack: 'a;b', count: '31.23', count2: undefined });
  t.same(parseStackLine('a;b\t7'), { stack: 'a;b', count: '7', count2: undefined }, 'a tab separates too');
  t.same(parseStackLine('a;b  7'), { stack: 'a;b ', count: '7', count2: undefined }, 'one space is the separator');
  t.same(parseStackLine(' 5'), { stack: '', count: '5', count2: undefined }, 'an empty stack');
  t.same(
    parseStackLine('memcpy@GLIBC_2.2.5 3'),
    { stack: 'memcpy@GLIBC_2.2.5', count: '3', count2: undefined },
    'digits inside the stack',
  );
  t.same(
    parseStackLine('# duration: 23873'),
    { stack: '# duration:', count: '23873', count2: undefined },
    '# is not special',
  );
  for (const bad of [
    '',
    'THIS IS A BAD LINE',
    'a;b -1',
    'a;b 1e3',
    'a;b .5',
    'a;b 1.2.3',
    '5',
    'a;b 12V.43',
    'a;b 5\u000d!',
  ]) {
    t.equal(parseStackLine(bad), undefined, `invalid: ${JSON.stringify(bad)}`);
  }
});

t.test('splitFrames drops trailing empty frames only', async (t) => {
  t.same(splitFrames('a;;b'), ['a', '', 'b']);
  t.same(splitFrames(';a'), ['', 'a']);
  t.same(splitFrames('a;b;;'), ['a', 'b']);
  t.same(splitFrames(''), []);
});

t.test('lines are sorted by code point, reversed with --reverse, kept in order for a flame chart', async (t) => {
  t.same(orderStackLines(['b 1', 'a;b 2', 'a 3\n'], false, false), ['a 3', 'a;b 2', 'b 1']);
  t.same(orderStackLines(['b 1', 'a;b 2', 'a 3'], false, true), ['b 1', 'a;b 2', 'a 3']);
  t.same(orderStackLines(['a;b;c 1 2', 'x;y 3'], true, false), ['c;b;a 1 2', 'y;x 3']);
  t.same(orderStackLines(['bad line'], true, false), ['bad line'], 'an invalid line stays invalid');
  // U+FFFD sorts before U+1D523 by code point, after it by UTF-16 unit.
  t.same(orderStackLines(['𝔣 1', '\ufffd 1'], false, false), ['\ufffd 1', '𝔣 1']);
  t.ok(compareCodePoints('𝔣', '\uffff') > 0);
  t.ok(compareCodePoints('a', 'ab') < 0);
  t.equal(compareCodePoints('x', 'x'), 0);
});
