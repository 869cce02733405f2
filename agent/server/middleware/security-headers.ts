/**
 * The headers that keep a browser from doing more with an agent answer than showing it (issue #13, N5). The web page
 * has them (routes/web.ts); every `/v1` answer gets them here, errors included:
 *
 * - `X-Content-Type-Options: nosniff`: a JSON or folded-text answer is never run as a script or shown as HTML.
 * - `Content-Security-Policy`: an SVG answer — a flame graph opened directly, or through a link — runs its viewer
 *   (script, `onload` handler and style sheet, allowed by hash) and nothing else, so a frame name that slipped
 *   through the renderer's escaping runs nothing on the agent's origin; any other answer runs and loads nothing.
 *   Neither may be framed (`frame-ancestors 'none'`).
 * - `X-Frame-Options: DENY` for browsers without `frame-ancestors`, and `Referrer-Policy: no-referrer`: a graph's
 *   URL (pod names, schedule names in its query) goes nowhere with a click.
 */
import type { RequestHandler, Response } from 'express';
import type { ContentSecurityPolicies } from '../web/content-security-policy.js';

/** What every answer a browser may show carries, whatever its policy. */
export const PROTECTIVE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
});

const SVG = /^image\/svg\+xml\s*(;|$)/i;

/** The policy for an answer of this type: a flame graph's for SVG, else the one that allows nothing. */
export function policyFor(policies: ContentSecurityPolicies, contentType: unknown): string {
  return typeof contentType === 'string' && SVG.test(contentType) ? policies.flameGraph : policies.api;
}

/**
 * Chooses the policy when the headers go out, since only then is the answer's type known: a route sets it as it
 * sends (`res.type(...)`), and an error answer is JSON whatever the route would have sent.
 */
function setPolicyOnHeaders(res: Response, policies: ContentSecurityPolicies): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: Response, ...args: unknown[]) {
    // A type passed to writeHead itself is not seen here: express sets it with setHeader, as every route does.
    if (!this.headersSent)
      this.setHeader('Content-Security-Policy', policyFor(policies, this.getHeader('content-type')));
    return (writeHead as (...a: unknown[]) => Response).apply(this, args);
  } as Response['writeHead'];
}

/** Mount on `/v1`, before anything that can answer there (the guards included). */
export function apiSecurityHeaders(policies: ContentSecurityPolicies): RequestHandler {
  return (_req, res, next) => {
    for (const [name, value] of Object.entries(PROTECTIVE_HEADERS)) res.setHeader(name, value);
    setPolicyOnHeaders(res, policies);
    next();
  };
}
