import type { RequestHandler, Response } from 'express';
import { PodflameError, asPodflameError } from '../../../shared/errors.js';
import { ANONYMOUS } from '../../auth/anonymous.js';
import type { Authenticator, CallerIdentity } from '../../auth/identity.js';

/** Where the authenticated caller is kept for later middleware, handlers and the request log line. */
const CALLER = 'podflameCaller';

export function setCaller(res: Response, caller: CallerIdentity): void {
  res.locals[CALLER] = caller;
}

/** The caller authentication established, or undefined before it (or when it failed). */
export function callerOf(res: Response): CallerIdentity | undefined {
  return res.locals[CALLER] as CallerIdentity | undefined;
}

/** Like callerOf, for handlers mounted behind authenticateRequests: falls back to anonymous. */
export function requireCaller(res: Response): CallerIdentity {
  return callerOf(res) ?? ANONYMOUS;
}

/**
 * Express middleware: authenticates every request it sees and keeps the identity in res.locals; a failure goes to the
 * error handler as 401 UNAUTHENTICATED (with `WWW-Authenticate: Bearer`), or 502 when the API server could not be
 * asked. Mount it on the API routes only: probes and /metrics stay open to kubelet and Prometheus.
 */
export function authenticateRequests(authenticator: Authenticator): RequestHandler {
  return (req, res, next) => {
    const authorization = req.headers.authorization;
    const podflame = req.headers['x-podflame-authorization'];
    authenticator
      .authenticate({
        authorization,
        podflameAuthorization: Array.isArray(podflame) ? podflame[0] : podflame,
      })
      .then(
        (caller) => {
          setCaller(res, caller);
          next();
        },
        (err: unknown) => {
          const error = asPodflameError(err, 'INTERNAL', 'authentication failed');
          if (error.code === 'UNAUTHENTICATED') res.setHeader('WWW-Authenticate', 'Bearer realm="podflame-agent"');
          next(error instanceof PodflameError ? error : err);
        },
      );
  };
}
