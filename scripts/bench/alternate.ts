import { median, runMeasured, type Measured, type RunSpec } from './measure.js';

/** Two programs timed on the same input in alternation, A B A B: load that comes and goes hits both alike. */
export interface Alternated {
  a: Measured[];
  b: Measured[];
  /** b_i / a_i for each pair i: how many times longer B took than A right beside it. */
  ratios: number[];
  medianRatio: number;
}

/**
 * Runs one untimed warm-up of each (page cache, the interpreters' files), then `pairs` timed pairs, A then B, each a
 * fresh process from spawn to exit. A failed run throws with its stderr: a ratio to a failure would mean nothing.
 */
export async function runAlternating(
  a: { name: string; spec: RunSpec },
  b: { name: string; spec: RunSpec },
  pairs: number,
  log: (line: string) => void,
): Promise<Alternated> {
  const run = async (p: { name: string; spec: RunSpec }): Promise<Measured> => {
    const m = await runMeasured(p.spec);
    if (m.exitCode !== 0) throw new Error(`${p.name} failed (exit ${m.exitCode}): ${m.stderr.trim().slice(0, 2000)}`);
    return m;
  };
  await run(a);
  await run(b);
  const as: Measured[] = [];
  const bs: Measured[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const ma = await run(a);
    const mb = await run(b);
    as.push(ma);
    bs.push(mb);
    ratios.push(mb.wallSeconds / ma.wallSeconds);
    log(
      `pair ${i + 1}/${pairs}: ${a.name} ${ma.wallSeconds.toFixed(3)} s, ${b.name} ${mb.wallSeconds.toFixed(3)} s, ` +
        `ratio ${(mb.wallSeconds / ma.wallSeconds).toFixed(2)}`,
    );
  }
  return { a: as, b: bs, ratios, medianRatio: median(ratios) };
}
