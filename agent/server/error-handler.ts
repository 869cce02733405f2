/**
 * The one place errors become HTTP answers: `{"error": {"code", "message", "details"}}` with the status the code
 * maps to (shared/errors.ts), `Retry-After` when the error says when to retry, and body-parser's own errors
 * (too large, not JSON) turned into podflame codes. Anything unexpected is a 500 INTERNAL, logged with its stack.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { PodflameError } from '../../shared/errors.js';

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
  length?: number;
  message: string;
}

function fromBodyParser(err: BodyParserError): PodflameError | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return new PodflameError(
        'BODY_TOO_LARGE',
        `the request body is larger than the agent accepts (${err.limit} bytes); a profile request is a small JSON object`,
        { details: { limitBytes: err.limit, ...(err.length !== undefined ? { lengthBytes: err.length } : {}) } },
      );
    case 'entity.parse.failed':
      return new PodflameError('INVALID_REQUEST', `the request body is not valid JSON: ${err.message}`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
    case 'entity.verify.failed':
      return new PodflameError('INVALID_REQUEST', `the request body cannot be read: ${err.message}`);
    case 'request.aborted':
    case 'request.size.invalid':
      return new PodflameError('INVALID_REQUEST', `the request body was cut short: ${err.message}`);
    default:
      break;
  }
  // Other client errors express and its parsers flag with a 4xx status (a body whose gzip is corrupt, a path whose
  // percent-encoding is invalid): the request is at fault, not the agent; found by test/fuzz/http-api.test.ts.
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
    return new PodflameError('INVALID_REQUEST', `the request cannot be read: ${err.message}`);
  }
  return undefined;
}

export function toPodflameError(err: unknown): PodflameError {
  if (err instanceof PodflameError) return err;
  const parsed = err !== null && typeof err === 'object' ? fromBodyParser(err as BodyParserError) : undefined;
  if (parsed) return parsed;
  return new PodflameError('INTERNAL', `internal error: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, _req, res, next) => {
    const error = toPodflameError(err);
    res.locals.error = error;
    if (error.code === 'INTERNAL') logger.error({ err }, 'unexpected error');
    if (res.headersSent) {
      // Too late for a status: cut the answer short so the client sees a broken response, not a truncated success.
      next(err);
      return;
    }
    const retryAfter = error.details?.retryAfterSeconds;
    if (typeof retryAfter === 'number') res.setHeader('Retry-After', String(retryAfter));
    res.status(error.httpStatus).json(error.toJSON());
  };
}

export const routeNotFound: RequestHandler = (req, _res, next) => {
  next(
    new PodflameError('ROUTE_NOT_FOUND', `no such endpoint: ${req.method} ${req.path}`, {
      details: { method: req.method, path: req.path },
    }),
  );
};
