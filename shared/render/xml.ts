/**
 * XML escaping for the SVG writer. flamegraph.pl pastes titles, notes, counts names and nameattr values into the
 * document as they are, which breaks the XML on `<`, `&` or `"`; everything podflame writes goes through here.
 */

// Characters XML 1.0 forbids anywhere (C0 controls except tab/LF/CR, U+FFFE/U+FFFF) and surrogates (checked for
// pairing below); plus the markup characters. One test keeps the common case (a plain frame name) allocation-free.
// eslint-disable-next-line no-control-regex -- finding the control characters XML forbids is the point
const NEEDS_TEXT_WORK = /[&<>\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;
// eslint-disable-next-line no-control-regex -- as above
const NEEDS_ATTR_WORK = /[&<>"\t\n\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;
const INVALID_XML_CHAR =
  // eslint-disable-next-line no-control-regex -- as above
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Replaces characters that may not appear in an XML 1.0 document with U+FFFD. */
export function replaceInvalidXmlChars(s: string): string {
  return s.replace(INVALID_XML_CHAR, '\uFFFD');
}

/** Escapes text content (`&`, `<`, `>`), replacing characters XML forbids. */
export function escapeXmlText(s: string): string {
  if (!NEEDS_TEXT_WORK.test(s)) return s;
  return replaceInvalidXmlChars(s).replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

const ATTR_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  // Attribute-value normalisation would turn these into spaces; character references keep them.
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

/** Escapes a value for a double-quoted attribute. */
export function escapeXmlAttr(s: string): string {
  if (!NEEDS_ATTR_WORK.test(s)) return s;
  return replaceInvalidXmlChars(s).replace(/[&<>"\t\n\r]/g, (c) => ATTR_ENTITIES[c] as string);
}

/**
 * Text for inside `<!-- ... -->`: a comment may not contain `--` nor end with `-`, and entities are not decoded there,
 * so markup characters are escaped only to keep the notes readable as flamegraph.pl users expect them
 * (`--notes` with `<` makes flamegraph.pl die instead).
 */
export function escapeXmlComment(s: string): string {
  let out = escapeXmlText(s);
  while (out.includes('--')) out = out.replace(/--/g, '- -');
  return out.endsWith('-') ? `${out} ` : out;
}

/** A JavaScript string literal that is safe inside `<![CDATA[ ... ]]>` and valid XML: non-ASCII is `\u`-escaped. */
export function jsStringLiteral(s: string): string {
  return JSON.stringify(s).replace(
    /[^\u0020-\u007e]|[<>&]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** XML 1.0 `Name` restricted to what an SVG attribute written by hand plausibly uses (no namespaces but xlink). */
const ATTRIBUTE_NAME = /^(?:xlink:)?[A-Za-z_][A-Za-z0-9_.-]*$/;

export function isSafeAttributeName(name: string): boolean {
  // xmlns would rebind the namespace of the frame's element.
  return ATTRIBUTE_NAME.test(name) && !name.startsWith('xmlns');
}
