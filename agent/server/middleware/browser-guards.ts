/**
 * What keeps a web page the user happens to visit from driving the agent through their browser.
 *
 * - DNS rebinding: a page on `rebind.attacker.example` re-points its name at 127.0.0.1 and then reads the agent as if
 *   it were its own origin. The browser still sends `Host: rebind.attacker.example`, so an agent that only answers
 *   loopback names cannot be reached that way. Needed where reaching the port is all it takes: `--auth none`.
 * - Cross-site requests: a page may send a form or a `fetch` to any address; the browser says where it came from in
 *   `Origin`. A request whose Origin is not the agent's own is refused, in every mode: the agent's own page (at `/`)
 *   calls the API from its own origin, and no other site has a reason to.
 * - Cross-site requests without an Origin: an `<img>`, `<script>` or no-cors `fetch` GET from another site's page
 *   carries no Origin, but the browser says where it came from in `Sec-Fetch-Site`. Its answer cannot be read, yet
 *   the agent would do the work (render a graph in the shared profile worker), so `/v1` refuses `cross-site` and
 *   `same-site` (another port of the same host is the same site) in every mode. Programs send no Sec-Fetch-Site;
 *   the agent's own page sends `same-origin`, and an address typed into the browser `none`.
 */
import { isIP } from 'node:net';
import type { Request, RequestHandler } from 'express';
import { PodflameError } from '../../../shared/errors.js';
import { isLoopbackHost } from '../../auth/listen-guard.js';

// A Host header: a name or IPv4 address, or a bracketed IPv6 address, then an optional port (`localhost:7070`,
// `127.0.0.1`, `[::1]:7070`). Nothing else: no user info, path or spaces.
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

/** The host name or address a Host header names (IPv6 without brackets), or undefined when it is not one. */
export function hostOfHeader(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = HOST_HEADER.exec(header);
  if (!m) return undefined;
  const host = (m[1] as string).replace(/^\[|\]$/g, '');
  if ((m[1] as string).startsWith('[') && isIP(host) !== 6) return undefined;
  return host.toLowerCase();
}

/** `--auth none`: only requests addressed to a loopback name or address (with any port) are answered. */
export const loopbackHostOnly: RequestHandler = (req, _res, next) => {
  const header = req.headers.host;
  const host = hostOfHeader(header);
  if (host !== undefined && isLoopbackHost(host)) {
    next();
    return;
  }
  next(
    new PodflameError(
      'HOST_NOT_ALLOWED',
      `this agent runs with --auth none and answers only requests addressed to a loopback name (localhost, ` +
        `127.0.0.1, [::1]), but this one names ${header === undefined ? 'no host' : `"${header}"`}: use ` +
        'http://127.0.0.1:PORT, or give the agent --auth kubernetes or --auth token to reach it by another name',
      { details: { host: header ?? null } },
    ),
  );
};

/** `host[:port]` as a URL of this scheme writes it (the scheme's default port left out), or undefined. */
function normalHost(protocol: string, hostHeader: string): string | undefined {
  try {
    return new URL(`${protocol}//${hostHeader}`).host;
  } catch {
    return undefined;
  }
}

/**
 * True when a browser's Origin names the host the request was sent to (the page is the agent's own). The scheme is
 * not compared: behind a TLS-terminating proxy the agent cannot know it, and one host and port serve one server.
 */
export function isSameOrigin(origin: string, req: Pick<Request, 'headers'>): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // `null` (a sandboxed frame, a file), or garbage
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const host = req.headers.host;
  return host !== undefined && normalHost(url.protocol, host) === url.host;
}

/** Every mode: a request that carries an Origin other than the agent's own is refused before anything reads it. */
export const sameOriginOnly: RequestHandler = (req, _res, next) => {
  const origin = req.headers.origin;
  if (origin === undefined || isSameOrigin(origin, req)) {
    next();
    return;
  }
  next(
    new PodflameError(
      'FOREIGN_ORIGIN',
      `requests from web pages of other sites are refused: this one came from ${origin}, but the agent answers ` +
        `only its own page (Host ${req.headers.host ?? 'absent'}); call the API from a program (it sends no Origin), ` +
        'or open the page the agent serves at /',
      { details: { origin, host: req.headers.host ?? null } },
    ),
  );
};

// Sec-Fetch-Site values (Fetch Metadata) of requests another site's page started.
const OTHER_SITE = new Set(['cross-site', 'same-site']);

/** Every mode, on `/v1`: a request a browser says another site's page started is refused before anything runs. */
export const sameOriginFetchOnly: RequestHandler = (req, _res, next) => {
  const header = req.headers['sec-fetch-site'];
  const site = Array.isArray(header) ? header.join(', ') : header;
  if (site === undefined || !site.split(',').some((v) => OTHER_SITE.has(v.trim().toLowerCase()))) {
    next();
    return;
  }
  next(
    new PodflameError(
      'CROSS_SITE_REQUEST',
      `requests that pages of other sites make a browser send are refused: this one came with Sec-Fetch-Site: ` +
        `${site}, but the agent's API answers only its own page and programs; open the agent's page at / and the ` +
        'graph from there, type the address into the browser yourself, or call the API from a program (curl, the ' +
        'podflame CLI), which sends no Sec-Fetch-Site',
      { details: { secFetchSite: site } },
    ),
  );
};
