/**
 * The web page: `GET /` and its two files under `/ui/`. Open like `/v1/openapi.json` — the page holds no data; it
 * reads the `/v1` API from the browser, with the caller's token, under the same access control as every client.
 * Every answer carries the page's Content-Security-Policy (agent/server/web/content-security-policy.ts), built once
 * per app by its giver.
 */
import express, { type Response, type Router } from 'express';
import { PROTECTIVE_HEADERS } from '../middleware/security-headers.js';
import { WEB_ASSETS } from '../web/assets.js';
import { WEB_PAGE_HTML } from '../web/page-html.js';

export const WEB_PAGE_PATH = '/';

export function webRouter(policy: string): Router {
  const router = express.Router();
  const send = (res: Response, contentType: string, body: string): void => {
    res.setHeader('Content-Security-Policy', policy);
    for (const [name, value] of Object.entries(PROTECTIVE_HEADERS)) res.setHeader(name, value);
    res.setHeader('Cache-Control', 'no-cache');
    res.type(contentType).send(body);
  };
  router.get(WEB_PAGE_PATH, (_req, res) => send(res, 'text/html; charset=utf-8', WEB_PAGE_HTML));
  for (const asset of Object.values(WEB_ASSETS)) {
    router.get(asset.path, (_req, res) => send(res, asset.contentType, asset.body));
  }
  return router;
}
