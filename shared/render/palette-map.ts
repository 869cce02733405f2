/**
 * flamegraph.pl's consistent palette file (`--cp`, `./palette.map`): one `name->fill` per line, e.g.
 *
 *   GCTaskThread::run->rgb(243,216,41)
 *
 * read before drawing and written back afterwards with every name drawn, sorted by name. Lines are taken as perl's
 * `split("->", $line)` takes them, so a damaged line round-trips the way flamegraph.pl rewrites it: the text before
 * the first `->` is the name, the text up to the next `->` the fill (empty when missing).
 */
import { compareCodePoints } from './folded-input.js';

export function parsePaletteMap(text: string): Map<string, string> {
  const map = new Map<string, string>();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    if (line === '') continue;
    const fields = line.split('->');
    // perl's split drops trailing empty fields: "name->" is a name without a fill.
    while (fields.length > 0 && fields[fields.length - 1] === '') fields.pop();
    map.set(fields[0] ?? '', fields[1] ?? '');
  }
  return map;
}

export function serializePaletteMap(map: ReadonlyMap<string, string>): string {
  const names = [...map.keys()].sort(compareCodePoints);
  let out = '';
  for (const name of names) out += `${name}->${map.get(name) ?? ''}\n`;
  return out;
}
