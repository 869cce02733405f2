import { SaxesParser } from 'saxes';

/** One frame of a rendered flame graph, as an XML parser sees it. */
export interface SvgFrame {
  /** `g`, or `a` for a frame with a --nameattr link. */
  tag: string;
  attrs: Record<string, string>;
  title: string;
  rect: FrameRect;
  label: string;
}

/** The frame rectangle's attributes ('' when missing). */
export interface FrameRect {
  x: string;
  y: string;
  width: string;
  height: string;
  fill: string;
}

const NO_RECT: FrameRect = { x: '', y: '', width: '', height: '', fill: '' };

export interface SvgDocument {
  root: Record<string, string>;
  frames: SvgFrame[];
  /** Text of the elements with an id (title, subtitle, details, ...). */
  texts: Map<string, string>;
  comments: string[];
  script: string;
  /** The linear gradient's stop colours. */
  stops: string[];
  xmlEncoding: string | undefined;
}

/**
 * Parses a rendered SVG with a strict, namespace-aware XML parser (saxes): any well-formedness error (bad escape,
 * duplicate attribute, forbidden character, unbound prefix) throws. Returns what the tests look at.
 */
export function parseSvg(svg: string): SvgDocument {
  const parser = new SaxesParser({ xmlns: true });
  const doc: SvgDocument = {
    root: {},
    frames: [],
    texts: new Map(),
    comments: [],
    script: '',
    stops: [],
    xmlEncoding: undefined,
  };
  const path: { name: string; id: string | undefined }[] = [];
  let frame: SvgFrame | undefined;
  let textTarget: ((s: string) => void) | undefined;
  let failure: Error | undefined;
  parser.on('error', (e) => {
    failure ??= e;
  });
  parser.on('xmldecl', (d) => {
    doc.xmlEncoding = d.encoding;
  });
  parser.on('comment', (c) => doc.comments.push(c));
  parser.on('opentag', (tag) => {
    const attrs: Record<string, string> = {};
    for (const [name, a] of Object.entries(tag.attributes)) attrs[name] = a.value;
    const parent = path[path.length - 1];
    path.push({ name: tag.name, id: attrs.id });
    if (path.length === 1) doc.root = attrs;
    if (tag.name === 'stop') doc.stops.push(attrs['stop-color'] ?? '');
    if (parent?.id === 'frames' && path.length === 3) {
      frame = { tag: tag.name, attrs, title: '', rect: NO_RECT, label: '' };
      doc.frames.push(frame);
      return;
    }
    if (frame && tag.name === 'rect') {
      frame.rect = {
        x: attrs.x ?? '',
        y: attrs.y ?? '',
        width: attrs.width ?? '',
        height: attrs.height ?? '',
        fill: attrs.fill ?? '',
      };
    }
    const current = frame;
    if (current && tag.name === 'title') textTarget = (s) => (current.title += s);
    else if (current && tag.name === 'text') textTarget = (s) => (current.label += s);
    else if (tag.name === 'script') textTarget = (s) => (doc.script += s);
    else if (tag.name === 'text' && attrs.id !== undefined) {
      const id = attrs.id;
      doc.texts.set(id, '');
      textTarget = (s) => doc.texts.set(id, (doc.texts.get(id) ?? '') + s);
    }
  });
  parser.on('text', (s) => textTarget?.(s));
  parser.on('cdata', (s) => textTarget?.(s));
  parser.on('closetag', () => {
    const closed = path.pop();
    textTarget = undefined;
    if (frame && path.length === 2 && closed) frame = undefined;
  });
  parser.write(svg).close();
  if (failure) throw failure;
  return doc;
}

/** A frame's name and count from its title: `main (1,234 samples, 5.67%)`. */
export function frameName(f: SvgFrame): string {
  return f.title.replace(/ \([^(]*\)$/, '');
}

export function frameSamples(f: SvgFrame): number {
  const m = / \(([\d,]+) /.exec(f.title);
  return m ? Number((m[1] as string).replaceAll(',', '')) : NaN;
}
