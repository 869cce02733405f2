/**
 * The agent's express application: routes plus the middleware every answer goes through (node header, request
 * log, the browser-facing headers of `/v1` answers, errors as JSON). Everything it uses is injected, so tests build
 * it around any ContainerRuntime.
 */
import express, { type Express, type Request, type RequestHandler, type Router } from 'express';
import type { Logger } from 'pino';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { HEADERS, type ResolvedTarget } from '../../shared/api.js';
import type { AgentMetrics } from '../metrics.js';
import type { CaptureService } from '../profiles/capture-service.js';
import type { ProfileRegistry } from '../profiles/profile-registry.js';
import type { ProfileRenderer } from '../profiles/render-profile.js';
import { errorHandler, routeNotFound } from './error-handler.js';
import { apiSecurityHeaders } from './middleware/security-headers.js';
import { requestLog } from './request-log.js';
import { healthRouter } from './routes/health.js';
import { metricsRouter } from './routes/metrics.js';
import { openApiRouter } from './routes/openapi.js';
import { profilesRouter } from './routes/profiles.js';
import { recentProfilesRouter } from './routes/recent-profiles.js';
import { targetsRouter } from './routes/targets.js';
import { webRouter } from './routes/web.js';
import { contentSecurityPolicies } from './web/content-security-policy.js';

export interface AgentAppOptions {
  /** Largest request body accepted, in bytes; larger ones get 413 BODY_TOO_LARGE. Default 64 KiB. */
  bodyLimitBytes?: number;
  /** Middleware run before every route, probes and page included, e.g. the Host and Origin checks. Default none. */
  requestGuards?: readonly RequestHandler[];
  /**
   * Middleware run on every `/v1` request after the request guards, before any `/v1` route (the open
   * `/v1/openapi.json` included), e.g. the refusal of cross-site requests. Default none.
   */
  apiGuards?: readonly RequestHandler[];
  /** Middleware run before every `/v1` route but the open ones, e.g. authentication and rate limits. Default none. */
  apiMiddleware?: readonly RequestHandler[];
  /** More routers (schedules, stored-profile queries), mounted after the built-in ones. Default none. */
  routers?: readonly Router[];
  /** Refuses a caller a resolved target before the capture starts (authorization). Default: everyone may. */
  authorizeTarget?: (req: Request, target: ResolvedTarget) => Promise<void>;
  /** Trims `GET /v1/targets` to what the caller may profile, before anything is read inside them. Default: all. */
  filterTargets?: (req: Request, items: ResolvedTarget[]) => Promise<ResolvedTarget[]>;
}

export const DEFAULT_AGENT_APP_OPTIONS = Object.freeze({ bodyLimitBytes: 64 * 1024 });

export interface AgentAppDeps {
  runtime: ContainerRuntime;
  captures: CaptureService;
  registry: ProfileRegistry;
  metrics: AgentMetrics;
  logger: Logger;
  nodeName: string;
  captureImage: string;
  /** Why the runtime was chosen (`--runtime host`, `auto: no Docker engine (...)`), for /readyz. */
  runtimeReason?: string;
  /** Renders captured profiles (the agent's, through its profile worker). Default: one rendering in this thread. */
  renderer?: ProfileRenderer;
}

export function createAgentApp(deps: AgentAppDeps, options: AgentAppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use((_req, res, next) => {
    res.setHeader(HEADERS.node, deps.nodeName);
    next();
  });
  app.use(requestLog(deps.logger));
  // Computed once per app: it renders a few small graphs for the hashes of their inline code.
  const policies = contentSecurityPolicies();
  // Before the guards: their refusals are /v1 answers too.
  app.use('/v1', apiSecurityHeaders(policies));
  if (options.requestGuards && options.requestGuards.length > 0) app.use(...options.requestGuards);
  if (options.apiGuards && options.apiGuards.length > 0) app.use('/v1', ...options.apiGuards);
  app.use(
    healthRouter({
      runtime: deps.runtime,
      nodeName: deps.nodeName,
      inFlight: () => deps.captures.inFlight,
      ...(deps.runtimeReason !== undefined ? { runtimeReason: deps.runtimeReason } : {}),
    }),
  );
  app.use(metricsRouter(deps.metrics));
  app.use(openApiRouter());
  app.use(webRouter(policies.page));
  if (options.apiMiddleware && options.apiMiddleware.length > 0) app.use('/v1', ...options.apiMiddleware);
  app.use(
    targetsRouter({
      runtime: deps.runtime,
      nodeName: deps.nodeName,
      ...(options.filterTargets ? { filterTargets: options.filterTargets } : {}),
    }),
  );
  // Before the capture routes, whose /v1/profiles/:id would take `recent` for an id.
  app.use(
    recentProfilesRouter({
      registry: deps.registry,
      nodeName: deps.nodeName,
      ...(options.authorizeTarget ? { authorizeTarget: options.authorizeTarget } : {}),
    }),
  );
  app.use(
    profilesRouter({
      captures: deps.captures,
      registry: deps.registry,
      bodyLimitBytes: options.bodyLimitBytes ?? DEFAULT_AGENT_APP_OPTIONS.bodyLimitBytes,
      ...(deps.renderer ? { renderer: deps.renderer } : {}),
      ...(options.authorizeTarget ? { authorizeTarget: options.authorizeTarget } : {}),
    }),
  );
  for (const router of options.routers ?? []) app.use(router);
  // Last: whatever no route answered (any method, any path) is a JSON 404, like every other error.
  app.use(routeNotFound);
  app.use(errorHandler(deps.logger));
  return app;
}
