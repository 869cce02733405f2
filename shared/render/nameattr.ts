/**
 * flamegraph.pl's `--nameattr FILE`: extra attributes for the frames of some functions. One function per line, then
 * tab-separated `key=value` pairs:
 *
 *   main<TAB>class=inferno<TAB>title=foo<TAB>g_extra=stroke-width="1"<TAB>href=https://example.org<TAB>target=_blank
 *
 * Keys: `title` replaces the tooltip, `id`/`class` go on the frame's `<g>`, `href` (+ `target`, default `_top`, and
 * raw `a_extra`) turns the frame into a link, `g_extra` is raw attribute text. Later keys win over earlier ones.
 */
export type NameAttrs = Readonly<Record<string, string>>;

export interface ParsedNameAttrs {
  attrs: Map<string, NameAttrs>;
  /** Lines that were skipped, described for the user (flamegraph.pl dies on the first one instead). */
  warnings: string[];
}

export function parseNameAttrs(text: string, source = 'nameattr file'): ParsedNameAttrs {
  const attrs = new Map<string, NameAttrs>();
  const warnings: string[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const tab = line.indexOf('\t');
    if (tab === -1) {
      warnings.push(`${source} line ${index + 1} has no tab after the function name; skipped`);
      return;
    }
    const entry: Record<string, string> = {};
    for (const pair of line.slice(tab + 1).split('\t')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      if (eq === -1) {
        warnings.push(`${source} line ${index + 1}: "${pair}" is not key=value; ignored`);
        continue;
      }
      entry[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    attrs.set(line.slice(0, tab), entry);
  });
  return { attrs, warnings };
}
