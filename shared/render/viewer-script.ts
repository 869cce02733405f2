/**
 * The JavaScript embedded in every SVG: the interactive viewer flamegraph.pl users know, written for podflame in
 * TypeScript (`viewer/viewer.ts`, its behaviour described there) and compiled to ES5 by `npm run build`
 * (scripts/build-browser.js), so that any SVG viewer with a script engine runs it. The renderer writes each graph's
 * settings into it in place of `__CONFIG__`.
 */
import type { ViewerConfig } from './viewer/config.js';
import { VIEWER_SOURCE } from './viewer-source.generated.js';
import { jsStringLiteral } from './xml.js';

export type { ViewerConfig } from './viewer/config.js';

// The build checks that the placeholder appears exactly once.
const [BEFORE_CONFIG, AFTER_CONFIG] = VIEWER_SOURCE.split('__CONFIG__') as [string, string];

export function viewerScript(config: ViewerConfig): string {
  const literal =
    `{nametype: ${jsStringLiteral(config.nametype)}, fontsize: ${String(config.fontsize)}, ` +
    `fontwidth: ${String(config.fontwidth)}, xpad: ${String(config.xpad)}, inverted: ${String(config.inverted)}, ` +
    `searchcolor: ${jsStringLiteral(config.searchcolor)}}`;
  return BEFORE_CONFIG + literal + AFTER_CONFIG;
}
