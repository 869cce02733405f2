import { isIP } from 'node:net';
import type { RequestHandler, Response } from 'express';
import { PodflameError, asPodflameError } from '../../../shared/errors.js';
import { ANONYMOUS } from '../../auth/anonymous.js';
import type { Authenticator, CallerIdentity, Credentials } from '../../auth/identity.js';
import type { CallerRateLimiter } from './rate-limit.js';

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
 * The address a failed-authentication budget is kept for: an IPv4 address (also when written IPv4-mapped), or an
 * IPv6 address's /64, which one host usually owns whole.
 */
export function addressKey(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped) return mapped[1] as string;
  if (isIP(remoteAddress) !== 6) return remoteAddress;
  const [head = '', tail = ''] = remoteAddress.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = remoteAddress.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export interface AuthenticateOptions {
  /**
   * Failed authentications allowed per address (RateLimiter keyed by addressKey). A token is taken before
   * authenticating and given back only when the caller was accepted or was turned away before anyone was asked (see
   * spendsBudget), so a flood of junk tokens costs the agent (and the API server's TokenReviews) no more than the
   * budget, also while the API server fails; once it is spent, only callers the authenticator knows without asking
   * anyone get in, the rest 429 RATE_LIMITED. Default: no limit.
   */
  failures?: CallerRateLimiter;
}

/**
 * Whether a failed authentication counts against the caller's address. Refused credentials do, and so does a
 * TokenReview that failed (502 KUBERNETES_API_ERROR: the API server answered an error or not in time): the review
 * was sent all the same, and were it free, junk tokens would reach the API server one review per request whenever
 * it fails (issue #13, F4). Only a request turned away before any review (429 RATE_LIMITED: the reviews in flight at
 * their cap) is given back, as it cost nobody anything. A failed review is no verdict on the token: it is not cached,
 * and the same token is reviewed again on its next request.
 */
function spendsBudget(error: PodflameError): boolean {
  return error.code !== 'RATE_LIMITED';
}

/**
 * Express middleware: authenticates every request it sees and keeps the identity in res.locals; a failure goes to the
 * error handler as 401 UNAUTHENTICATED (with `WWW-Authenticate: Bearer`), or 502 when the API server could not be
 * asked. Mount it on the API routes only: probes and /metrics stay open to kubelet and Prometheus.
 */
export function authenticateRequests(authenticator: Authenticator, options: AuthenticateOptions = {}): RequestHandler {
  const failures = options.failures?.enabled ? options.failures : undefined;
  return (req, res, next) => {
    const podflame = req.headers['x-podflame-authorization'];
    const credentials: Credentials = {
      authorization: req.headers.authorization,
      podflameAuthorization: Array.isArray(podflame) ? podflame[0] : podflame,
    };
    const address = addressKey(req.socket.remoteAddress);
    if (failures) {
      const budget = failures.take(address);
      if (!budget.ok) {
        const known = authenticator.knownCaller?.(credentials);
        if (known) {
          setCaller(res, known);
          next();
          return;
        }
        res.setHeader('Retry-After', String(budget.retryAfterSeconds));
        next(
          new PodflameError(
            'RATE_LIMITED',
            `too many requests with credentials the agent could not accept came from ${address}: at most ` +
              `${failures.perMinute} per minute; retry in ${budget.retryAfterSeconds} s with a valid token`,
            { details: { retryAfterSeconds: budget.retryAfterSeconds, perMinute: failures.perMinute } },
          ),
        );
        return;
      }
    }
    authenticator.authenticate(credentials).then(
      (caller) => {
        failures?.refund(address);
        setCaller(res, caller);
        next();
      },
      (err: unknown) => {
        const error = asPodflameError(err, 'INTERNAL', 'authentication failed');
        if (error.code === 'UNAUTHENTICATED') res.setHeader('WWW-Authenticate', 'Bearer realm="podflame-agent"');
        if (!spendsBudget(error)) failures?.refund(address);
        next(error instanceof PodflameError ? error : err);
      },
    );
  };
}
