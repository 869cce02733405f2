import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Test } from 'tap';
import { readGolden } from './golden.js';

/** A stage that turns input bytes, fed in the given chunks, into output bytes (or text). */
export type StageRun = (chunks: readonly Buffer[]) => Promise<Buffer | string> | Buffer | string;

export interface FixtureCheck {
  /** The recorded input file. */
  input: string;
  /** The expected output, next to the input. `BLESS=1` rewrites it; a missing golden fails. */
  golden: string;
  run: StageRun;
  /** Chunk sizes that must give the same output as the whole input at once. Default [1, 100]. */
  chunkSizes?: readonly number[];
}

/**
 * Checks one fixture three ways: the output matches its golden, feeding the input in tiny chunks changes nothing
 * (streaming parsers must stitch lines and multi-byte characters), and a second run gives the same bytes
 * (determinism: no Map order, time or randomness leaking into the output).
 */
export async function checkFixture(t: Test, check: FixtureCheck): Promise<void> {
  const name = basename(check.golden);
  const input = readFileSync(check.input);
  const whole = toBuffer(await check.run([input]));

  const golden = readGolden(t, check.golden, whole, name);
  if (golden !== undefined) sameBytes(t, whole, golden, `${name}: output matches the golden`);

  for (const size of check.chunkSizes ?? [1, 100]) {
    const chunked = toBuffer(await check.run(chunksOf(input, size)));
    sameBytes(t, chunked, whole, `${name}: the same output when fed in ${size}-byte chunks`);
  }

  const again = toBuffer(await check.run([input]));
  sameBytes(t, again, whole, `${name}: a second run gives the same bytes`);
}

/** Passes when the bytes are equal; otherwise fails showing the first line that differs. */
function sameBytes(t: Test, got: Buffer, want: Buffer, message: string): void {
  if (got.equals(want)) {
    t.pass(message);
    return;
  }
  const d = firstDifference(got, want);
  if (d.found === d.wanted) t.fail(`${message}: differs at byte ${d.at} (lengths ${got.length}, ${want.length})`);
  else t.equal(d.found, d.wanted, `${message}: first difference at byte ${d.at}`);
}

/** `buf` cut into pieces of `size` bytes (the last one shorter), sharing its memory. */
export function chunksOf(buf: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < buf.length; at += size) chunks.push(buf.subarray(at, at + size));
  return chunks;
}

function toBuffer(out: Buffer | string): Buffer {
  return typeof out === 'string' ? Buffer.from(out, 'utf8') : out;
}

/** Where two outputs first differ, as diagnostics for a failing assertion. */
function firstDifference(got: Buffer, want: Buffer): { found: string; wanted: string; at: number } {
  let at = 0;
  while (at < got.length && at < want.length && got[at] === want[at]) at++;
  // The bytes before `at` are equal, so the line starts at the same place in both.
  const lineStart = at === 0 ? 0 : got.lastIndexOf(0x0a, at - 1) + 1;
  const line = (b: Buffer): string => {
    const end = b.indexOf(0x0a, at);
    return b.subarray(lineStart, end < 0 ? b.length : end).toString('latin1');
  };
  return { found: line(got), wanted: line(want), at };
}
