import { readFileSync } from 'node:fs';

/** Whether podflame's folded output is stackcollapse-perf.pl's, byte for byte; else the first line that differs. */
export function compareFolded(podflameFile: string, perlFile: string): { identical: boolean; detail: string } {
  const ours = readFileSync(podflameFile);
  const theirs = readFileSync(perlFile);
  if (ours.equals(theirs)) return { identical: true, detail: `${ours.length} bytes, byte for byte` };
  const a = ours.toString('latin1').split('\n');
  const b = theirs.toString('latin1').split('\n');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return {
    identical: false,
    detail: `${ours.length} vs ${theirs.length} bytes; line ${i + 1} differs: "${(a[i] ?? '').slice(0, 120)}" vs "${(b[i] ?? '').slice(0, 120)}"`,
  };
}

// One frame as both programs draw it (flamegraph.pl writes `<g >`, podflame `<g>`; flamegraph.pl adds ` />`):
// <g >
// <title>Parse::do_one_block (7,007,007 samples, 0.04%)</title><rect x="283.2" y="949" width="0.4" height="15.0" fill="rgb(214,214,64)" rx="2" ry="2" />
const FRAME =
  /<g ?>\s*<title>([^<]*)<\/title><rect x="([^"]*)" y="([^"]*)" width="([^"]*)" height="([^"]*)" fill="([^"]*)"/g;

/** Each frame's title, position, size and colour, sorted: flamegraph.pl writes them in perl's hash order. */
function frames(svgFile: string): string[] {
  const keys: string[] = [];
  for (const m of readFileSync(svgFile, 'utf8').matchAll(FRAME)) keys.push(m.slice(1).join('\t'));
  return keys.sort();
}

/**
 * Whether the two SVGs draw the same frames: the same number of `<g>` frames, and the same title (name, samples,
 * share), rectangle and fill for each. The script, fonts and layout around them are not compared.
 */
export function compareSvgFrames(
  podflameFile: string,
  perlFile: string,
): { podflameFrames: number; perlFrames: number; identical: boolean; detail: string } {
  const ours = frames(podflameFile);
  const theirs = frames(perlFile);
  let i = 0;
  while (i < ours.length && i < theirs.length && ours[i] === theirs[i]) i++;
  // No frames on either side means the pattern no longer matches what a program writes, not that the graphs agree.
  if (ours.length === 0 || theirs.length === 0) {
    return {
      podflameFrames: ours.length,
      perlFrames: theirs.length,
      identical: false,
      detail: 'no frames found in one of the SVGs: the frame pattern in scripts/bench/same-output.ts does not match it',
    };
  }
  const identical = ours.length === theirs.length && i === ours.length;
  return {
    podflameFrames: ours.length,
    perlFrames: theirs.length,
    identical,
    detail: identical
      ? 'the same title, rectangle and fill for every frame'
      : `first different frame (sorted): "${ours[i] ?? '(none)'}" vs "${theirs[i] ?? '(none)'}"`,
  };
}
