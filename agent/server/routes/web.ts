/**
 * The web page: `GET /` and its two files under `/ui/`. Open like `/v1/openapi.json` — the page holds no data; it
 * reads the `/v1` API from the browser, with the caller's token, under the same access control as every client.
 * Every answer carries the page's Content-Security-Policy (agent/server/web/content-security-policy.ts).
 */
import express, { type Response, type Router } from 'express';
import { WEB_ASSETS } from '../web/assets.js';
import { webPageContentSecurityPolicy } from '../web/content-security-policy.js';
import { WEB_PAGE_HTML } from '../web/page-html.js';

export const WEB_PAGE_PATH = '/';

export function webRouter(): Router {
  const router = express.Router();
  // Computed once per app: it renders a few small graphs for their hashes.
  const policy = webPageContentSecurityPolicy();
  const send = (res: Response, contentType: string, body: string): void => {
    res.setHeader('Content-Security-Policy', policy);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-cache');
    res.type(contentType).send(body);
  };
  router.get(WEB_PAGE_PATH, (_req, res) => send(res, 'text/html; charset=utf-8', WEB_PAGE_HTML));
  for (const asset of Object.values(WEB_ASSETS)) {
    router.get(asset.path, (_req, res) => send(res, asset.contentType, asset.body));
  }
  return router;
}
