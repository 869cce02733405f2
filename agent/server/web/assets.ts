/**
 * The web page's files, embedded as TypeScript strings: the agent image copies only `dist/`, so files next to the
 * sources would not be there at run time. The script is browser/page.ts compiled by `npm run build`
 * (scripts/build-browser.js).
 */
import { WEB_PAGE_SCRIPT } from './page-script.generated.js';
import { WEB_PAGE_STYLE } from './page-style.js';

export interface WebAsset {
  /** Path under the agent's root. */
  path: string;
  contentType: string;
  body: string;
}

export const WEB_ASSETS = {
  script: { path: '/ui/podflame.js', contentType: 'text/javascript; charset=utf-8', body: WEB_PAGE_SCRIPT },
  style: { path: '/ui/podflame.css', contentType: 'text/css; charset=utf-8', body: WEB_PAGE_STYLE },
} as const satisfies Record<string, WebAsset>;
