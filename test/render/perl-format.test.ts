import t from 'tap';
import { commify, formatFixed, formatPerlNumber, perlRoundTrip } from '../../shared/render/perl-format.js';

t.test("formatFixed is C's printf: exact value, ties to even", async (t) => {
  // Ties exist only for dyadic fractions; toFixed rounds them away from zero, printf to even.
  t.equal(formatFixed(0.125, 2), '0.12');
  t.equal(formatFixed(0.375, 2), '0.38');
  t.equal(formatFixed(0.25, 1), '0.2');
  t.equal(formatFixed(0.75, 1), '0.8');
  t.equal(formatFixed(2.5, 0), '2', 'flamegraph.pl --factor 2.5 on 1 sample prints 2');
  t.equal(formatFixed(7.5, 0), '8');
  t.equal(formatFixed(0.5, 0), '0');
  t.equal(formatFixed(-2.5, 0), '-2');
  // Not ties: the binary value decides (0.15 is 0.1499999...).
  t.equal(formatFixed(0.15, 1), '0.1');
  t.equal(formatFixed(1.005, 2), '1.00');
  t.equal(formatFixed(143.40000000000001, 1), '143.4');
  t.equal(formatFixed(-0.01, 1), '-0.0', 'a negative value rounding to zero keeps its sign');
  t.equal(formatFixed(-0, 2), '0.00', 'negative zero prints as zero (perl negates the integer 0)');
  t.equal(formatFixed(1180, 1), '1180.0');
  t.equal(formatFixed(9.995, 2), '9.99');
  t.equal(formatFixed(12.345678, 2), '12.35');
  t.equal(formatFixed(239807672958951488, 0), '239807672958951488', 'integers beyond 2^53 print exactly');
  t.equal(formatFixed(1e21, 0), '1000000000000000000000');
  t.equal(formatFixed(1e21, 1), '1000000000000000000000.0');
  t.equal(formatFixed(2e9 + 0.25, 1), '2000000000.2', 'the exact path for large values');
  t.equal(formatFixed(NaN, 1), 'NaN');
  t.equal(formatFixed(Infinity, 0), 'Inf');
});

t.test('formatFixed agrees with toFixed away from ties', async (t) => {
  let mismatches = 0;
  let seed = 7;
  for (let i = 0; i < 20000; i++) {
    seed = (seed * 16807) % 2147483647;
    const x = (seed / 2147483647) * 2400 - 200;
    for (const d of [0, 1, 2] as const) {
      const scaled = x * [2, 4, 8][d]!;
      const tie = Number.isInteger(scaled) && scaled % 2 !== 0;
      if (!tie && formatFixed(x, d) !== x.toFixed(d)) mismatches++;
    }
  }
  t.equal(mismatches, 0);
});

t.test("formatPerlNumber is perl's %.15g", async (t) => {
  t.equal(formatPerlNumber(229), '229');
  t.equal(formatPerlNumber(47.5), '47.5');
  t.equal(formatPerlNumber(0.1 + 0.2), '0.3');
  t.equal(formatPerlNumber(334.61800000000005), '334.618');
  t.equal(formatPerlNumber(1e15), '1e+15');
  t.equal(formatPerlNumber(123456789012345680), '1.23456789012346e+17');
  t.equal(formatPerlNumber(0.0001), '0.0001');
  t.equal(formatPerlNumber(0.00001), '1e-05');
  t.equal(formatPerlNumber(-1.5e-7), '-1.5e-07');
  t.equal(formatPerlNumber(-12.25), '-12.25');
  t.equal(formatPerlNumber(Infinity), 'Inf');
  t.equal(perlRoundTrip(0.1 + 0.2), 0.3);
  t.equal(perlRoundTrip(42), 42);
});

t.test('commify', async (t) => {
  t.equal(commify('1'), '1');
  t.equal(commify('123'), '123');
  t.equal(commify('1234'), '1,234');
  t.equal(commify('1234567'), '1,234,567');
  t.equal(commify('-1234567'), '-1,234,567');
  t.equal(commify('368934881475498112'), '368,934,881,475,498,112');
});
