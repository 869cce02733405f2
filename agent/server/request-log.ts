/**
 * One structured log line per request, written when the answer is finished or the client went away: method, path,
 * status, duration, and what the route put in `res.locals.log` (target, outcome, profile id, samples; later the
 * caller's identity). Probe and scrape endpoints log at debug so kubelet's probes don't drown the log.
 */
import type { RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { PodflameError } from '../../shared/errors.js';

const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Fields a route adds to its request's log line. */
export function logFields(res: Response): Record<string, unknown> {
  res.locals.log ??= {};
  return res.locals.log as Record<string, unknown>;
}

export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const start = performance.now();
    let logged = false;
    const write = (): void => {
      if (logged) return;
      logged = true;
      const error = res.locals.error as PodflameError | undefined;
      const clientGone = !res.writableFinished;
      const line = {
        method: req.method,
        path: req.path,
        status: clientGone ? null : res.statusCode,
        durationMs: Math.round(performance.now() - start),
        outcome: clientGone ? 'client_gone' : (error?.code ?? (res.statusCode < 400 ? 'ok' : `http_${res.statusCode}`)),
        ...logFields(res),
        ...(error ? { error: error.message } : {}),
      };
      if (QUIET_PATHS.has(req.path) && !error) logger.debug(line, 'request');
      else if (res.statusCode >= 500 && !clientGone) logger.error(line, 'request');
      else logger.info(line, 'request');
    };
    res.once('finish', write);
    res.once('close', write);
    next();
  };
}
