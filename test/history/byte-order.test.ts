/**
 * Folded output is sorted in byte order (perl's `cmp` on UTF-8): `sortBytewise`, the fast sort every merged and
 * diffed answer goes through, against the plain comparator, on real captures and on names where UTF-16 order and
 * UTF-8 byte order disagree (characters beyond U+FFFF against U+E000–U+FFFF).
 */
import t from 'tap';
import { compareBytes, sortBytewise } from '../../shared/folded.js';
import { fixtureStacks } from './fixtures.js';

t.test('the same order as compareBytes', (t) => {
  const ascii = [...fixtureStacks('after').keys(), ...fixtureStacks('before').keys()].reverse();
  t.same(sortBytewise(ascii), [...ascii].sort(compareBytes), 'real captures (ASCII)');
  const mixed = [...ascii, 'java;Größe_[j]', 'java;\uffff', 'java;\u{1f600}', 'java;\ue000', 'java;z', 'java;é'];
  const sorted = sortBytewise(mixed);
  t.same(sorted, [...mixed].sort(compareBytes), 'with non-ASCII names');
  // UTF-16 order puts the surrogate pair (0xD83D…) before U+E000 and U+FFFF; bytes put F0 9F… after EE… and EF….
  t.ok(sorted.indexOf('java;\u{1f600}') > sorted.indexOf('java;\uffff'), 'astral after U+FFFF, as bytes sort');
  t.same(sortBytewise([]), []);
  t.end();
});
