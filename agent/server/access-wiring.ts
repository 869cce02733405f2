/**
 * Puts access control into the express app through its extension points (AgentAppOptions): on every request, the
 * browser guards (a foreign Origin refused; with `--auth none` also a Host that is not a loopback name); on every
 * `/v1` request, a request another site's page started refused (Sec-Fetch-Site), then, but for the open ones,
 * authentication (with its per-address budget of failures), the caller in the request's log line, and
 * the per-caller rate limit; before a capture starts or a stored profile is read, authorization on the resolved
 * target; and a targets listing trimmed to what the caller may profile. Probes and /metrics stay outside `/v1` and
 * open.
 */
import type { Request, RequestHandler } from 'express';
import type { ResolvedTarget } from '../../shared/api.js';
import type { AccessControl } from '../access/access-control.js';
import { callerKey, type CallerIdentity } from '../auth/identity.js';
import { PodflameError } from '../../shared/errors.js';
import type { AgentAppOptions } from './app.js';
import { authenticateRequests, callerOf, requireCaller } from './middleware/authenticate.js';
import { rateLimitRequests, type CallerRateLimiter } from './middleware/rate-limit.js';
import { loopbackHostOnly, sameOriginFetchOnly, sameOriginOnly } from './middleware/browser-guards.js';
import { logFields } from './request-log.js';
import { targetTitle } from '../targets/resolve.js';

/** Adds the caller to the request's one log line (the audit record): user, groups, how they were authenticated. */
const auditCaller: RequestHandler = (_req, res, next) => {
  const caller = callerOf(res);
  if (caller) {
    const log = logFields(res);
    log.user = caller.username;
    if (caller.groups.length > 0) log.groups = caller.groups;
    log.auth = caller.mode;
  }
  next();
};

function callerOfRequest(req: Request): CallerIdentity {
  // express gives every request its response; authenticateRequests kept the caller there.
  if (!req.res) throw new PodflameError('INTERNAL', 'a request without its response reached authorization');
  return requireCaller(req.res);
}

export interface AccessLimits {
  /** API requests per authenticated caller. */
  callers: CallerRateLimiter;
  /** Refused credentials per client address, before authentication. Default: no limit. */
  failedAuthentications?: CallerRateLimiter;
}

export function withAccessControl(
  access: AccessControl,
  limits: AccessLimits,
  options: AgentAppOptions = {},
): AgentAppOptions {
  const extraAuthorize = options.authorizeTarget;
  const extraFilter = options.filterTargets;
  // Reaching the port is all `none` asks, so a page that rebinds its own name to 127.0.0.1 must not get that far.
  const hostGuard = access.authenticator.mode === 'none' ? [loopbackHostOnly] : [];
  return {
    ...options,
    requestGuards: [...hostGuard, sameOriginOnly, ...(options.requestGuards ?? [])],
    // Before authentication: such a request should not even spend the address's budget of refused credentials.
    apiGuards: [sameOriginFetchOnly, ...(options.apiGuards ?? [])],
    apiMiddleware: [
      authenticateRequests(access.authenticator, {
        ...(limits.failedAuthentications ? { failures: limits.failedAuthentications } : {}),
      }),
      auditCaller,
      rateLimitRequests(limits.callers, (res) => callerKey(requireCaller(res))),
      ...(options.apiMiddleware ?? []),
    ],
    authorizeTarget: async (req: Request, target: ResolvedTarget) => {
      // The target goes into the audit line before the decision, so refusals say what was asked for.
      if (req.res) {
        const log = logFields(req.res);
        log.target ??= targetTitle(target);
        log.containerId ??= target.containerId;
      }
      await access.authorizer.authorizeTarget(callerOfRequest(req), target);
      if (extraAuthorize) await extraAuthorize(req, target);
    },
    filterTargets: async (req, items) => {
      const visible = await access.authorizer.filterTargets(callerOfRequest(req), items);
      return extraFilter ? extraFilter(req, visible) : visible;
    },
  };
}
