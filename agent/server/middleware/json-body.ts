/**
 * Request bodies are JSON, declared as such. A body sent as `text/plain`, form encoding or multipart is what a web
 * page can send anywhere without asking the server first (a CORS "simple request", no preflight): reading those as
 * JSON let any page the user visits start captures on an open agent. So a body must say `application/json`, and
 * anything else is 415 before it is read.
 */
import express, { type Request, type RequestHandler } from 'express';
import { PodflameError } from '../../../shared/errors.js';

/** True when the request carries a body (RFC 9112 §6.3: Transfer-Encoding, or a Content-Length above 0). */
function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

const requireJsonType: RequestHandler = (req, _res, next) => {
  if (!hasBody(req) || req.is('application/json') === 'application/json') {
    next();
    return;
  }
  // Example: `curl -d '{"target": ...}' URL` sends `Content-Type: application/x-www-form-urlencoded`.
  const sent = req.headers['content-type'];
  next(
    new PodflameError(
      'UNSUPPORTED_MEDIA_TYPE',
      `the request body must be JSON sent with "Content-Type: application/json", but it came ` +
        `${sent === undefined ? 'without a Content-Type' : `as "${sent}"`} (with curl: -H 'Content-Type: application/json')`,
      { details: { contentType: sent ?? null, expected: 'application/json' } },
    ),
  );
};

/** The content-type check, then express's JSON parser (strict: an object or array) with the body limit. */
export function jsonBody(limitBytes: number): RequestHandler[] {
  // Past the check a body is declared JSON, or empty (read as {}, so the answer names the missing fields).
  return [requireJsonType, express.json({ limit: limitBytes, strict: true, type: () => true })];
}
