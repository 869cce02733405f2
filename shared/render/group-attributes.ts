/**
 * The element a frame is drawn in, with the attributes `--nameattr` gives its function: `<g id=.. class=..>`, or
 * `<a xlink:href=.. target=..>` for a link. flamegraph.pl pastes `g_extra`/`a_extra` raw and repeats attributes
 * (`<g id="test2" id="test3">`, which no XML parser accepts); here the raw text is parsed into name/value pairs,
 * the named keys (href, target, id, class) win over the raw extras, and the first of any repeated extra wins.
 */
import type { NameAttrs } from './nameattr.js';
import { escapeXmlAttr, escapeXmlText, isSafeAttributeName } from './xml.js';

export interface GroupTags {
  open: string;
  close: string;
  /** The tooltip that replaces the generated one (escaped), when the attributes give one. */
  title: string | undefined;
}

export const PLAIN_GROUP: GroupTags = Object.freeze({ open: '<g>\n', close: '</g>\n', title: undefined });

// e.g. stroke-width="1" stroke='green' data-x=3
const RAW_ATTRIBUTE = /([^\s=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+)))?/g;

const ENTITY = /&(amp|lt|gt|quot|apos);/g;
const ENTITY_CHARS: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function parseRaw(text: string, what: string, warnings: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (const m of text.matchAll(RAW_ATTRIBUTE)) {
    const name = m[1] as string;
    const value = m[2] ?? m[3] ?? m[4];
    if (value === undefined || !isSafeAttributeName(name)) {
      warnings.push(`${what}: "${m[0]}" is not a name="value" attribute; ignored`);
      continue;
    }
    pairs.push([name, value.replace(ENTITY, (_, e: string) => ENTITY_CHARS[e] as string)]);
  }
  return pairs;
}

/** Builds the tags for one function's attributes; `warnings` collects what was dropped. */
export function groupTags(name: string, attrs: NameAttrs, warnings: string[]): GroupTags {
  const what = `nameattr for "${name}"`;
  const named: [string, string][] = [];
  const href = attrs.href;
  const isLink = href !== undefined && href !== '';
  if (isLink) {
    named.push(['xlink:href', href]);
    named.push(['target', attrs.target === undefined || attrs.target === '' ? '_top' : attrs.target]);
  }
  if (attrs.id !== undefined) named.push(['id', attrs.id]);
  if (attrs.class !== undefined) named.push(['class', attrs.class]);
  const seen = new Set(named.map(([k]) => k));
  const extras: [string, string][] = [];
  const raw = [...(isLink && attrs.a_extra ? parseRaw(attrs.a_extra, what, warnings) : [])];
  if (attrs.g_extra) raw.push(...parseRaw(attrs.g_extra, what, warnings));
  for (const [k, v] of raw) {
    if (seen.has(k)) {
      warnings.push(`${what}: attribute ${k} given twice; the first one is kept`);
      continue;
    }
    seen.add(k);
    extras.push([k, v]);
  }
  const attrText = [...named, ...extras].map(([k, v]) => ` ${k}="${escapeXmlAttr(v)}"`).join('');
  const tag = isLink ? 'a' : 'g';
  return {
    open: `<${tag}${attrText}>\n`,
    close: `</${tag}>\n`,
    title: attrs.title === undefined || attrs.title === '' ? undefined : escapeXmlText(attrs.title),
  };
}
