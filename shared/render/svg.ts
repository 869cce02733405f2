/**
 * The SVG document around the frames: the same elements, ids and layout as flamegraph.pl's output (so that tools and
 * habits built around it keep working), but every inserted value escaped, and podflame's own viewer script.
 */
import { escapeXmlAttr, escapeXmlComment, escapeXmlText } from './xml.js';
import { formatFixed, formatPerlNumber } from './perl-format.js';
import { viewerScript } from './viewer-script.js';

/** Left/right padding, px (flamegraph.pl's xpad). */
export const XPAD = 10;
/** Vertical gap between frames, px. */
export const FRAMEPAD = 1;
/** Fill of frames matching a search. */
export const SEARCH_COLOR = 'rgb(230,0,230)';

export interface DocumentLayout {
  width: number;
  imageHeight: number;
  fontsize: number;
  fontwidth: number;
  fonttype: string;
  title: string;
  subtitle: string;
  notes: string;
  nametype: string;
  inverted: boolean;
  encoding: string;
  background: readonly [string, string];
}

/** Everything before the frames, ending with the opening `<g id="frames">`. */
export function documentHead(l: DocumentLayout): string {
  const w = String(l.width);
  const h = formatPerlNumber(l.imageHeight);
  const encoding = l.encoding === '' ? '' : ` encoding="${escapeXmlAttr(l.encoding)}"`;
  const script = viewerScript({
    nametype: l.nametype,
    fontsize: l.fontsize,
    fontwidth: l.fontwidth,
    xpad: XPAD,
    inverted: l.inverted,
    searchcolor: SEARCH_COLOR,
  });
  if (script.includes(']]>')) throw new Error('viewer script would end its CDATA section early');
  const fontsize = formatPerlNumber(l.fontsize);
  const top = formatPerlNumber(l.fontsize * 2);
  const bottom = formatPerlNumber(l.imageHeight - (l.fontsize * 2 + 10) / 2);
  const text = (id: string, x: number, y: string, content: string, extra = ''): string =>
    `<text id="${id}" x="${formatFixed(x, 2)}" y="${y}"${extra}>${content}</text>\n`;
  return (
    `<?xml version="1.0"${encoding} standalone="no"?>\n` +
    '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n' +
    `<svg version="1.1" width="${w}" height="${h}" onload="init(evt)" viewBox="0 0 ${w} ${h}" ` +
    'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">\n' +
    "<!-- Flame graph stack visualization, drawn by podflame in the manner of Brendan Gregg's FlameGraph " +
    '(https://github.com/brendangregg/FlameGraph). -->\n' +
    `<!-- NOTES: ${escapeXmlComment(l.notes)} -->\n` +
    '<defs>\n' +
    '\t<linearGradient id="background" y1="0" y2="1" x1="0" x2="0" >\n' +
    `\t\t<stop stop-color="${escapeXmlAttr(l.background[0])}" offset="5%" />\n` +
    `\t\t<stop stop-color="${escapeXmlAttr(l.background[1])}" offset="95%" />\n` +
    '\t</linearGradient>\n' +
    '</defs>\n' +
    '<style type="text/css">\n' +
    `\ttext { font-family:${escapeXmlText(l.fonttype)}; font-size:${fontsize}px; fill:rgb(0,0,0); }\n` +
    '\t#search, #ignorecase { opacity:0.1; cursor:pointer; }\n' +
    '\t#search:hover, #search.show, #ignorecase:hover, #ignorecase.show { opacity:1; }\n' +
    '\t#subtitle { text-anchor:middle; fill:rgb(160,160,160); }\n' +
    `\t#title { text-anchor:middle; font-size:${formatPerlNumber(l.fontsize + 5)}px; }\n` +
    '\t#unzoom { cursor:pointer; }\n' +
    '\t#frames > *:hover { stroke:black; stroke-width:0.5; cursor:pointer; }\n' +
    '\t.hide { display:none; }\n' +
    '\t.parent { opacity:0.5; }\n' +
    '</style>\n' +
    '<script type="text/ecmascript">\n<![CDATA[\n' +
    script +
    ']]>\n</script>\n' +
    `<rect x="0.0" y="0" width="${formatFixed(l.width, 1)}" height="${formatFixed(l.imageHeight, 1)}" ` +
    'fill="url(#background)"/>\n' +
    text('title', Math.trunc(l.width / 2), top, escapeXmlText(l.title)) +
    (l.subtitle === ''
      ? ''
      : text('subtitle', Math.trunc(l.width / 2), formatPerlNumber(l.fontsize * 4), escapeXmlText(l.subtitle))) +
    text('details', XPAD, bottom, ' ') +
    text('unzoom', XPAD, top, 'Reset Zoom', ' class="hide"') +
    text('search', l.width - XPAD - 100, top, 'Search') +
    text('ignorecase', l.width - XPAD - 16, top, 'ic') +
    text('matched', l.width - XPAD - 100, bottom, ' ', ' class="hide"') +
    '<g id="frames">\n'
  );
}

export const DOCUMENT_TAIL = '</g>\n</svg>\n';
