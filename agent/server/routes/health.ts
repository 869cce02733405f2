/**
 * `GET /healthz`: the process answers. `GET /readyz`: it can do its job, as its container runtime judges it (the
 * Docker engine answers and the capture image is present; host mode: the host's /proc can be read and the capture
 * script is there) — else 503 AGENT_NOT_READY with each reason, so `kubectl describe` shows what is missing. It names
 * the capture path in use (`runtime`: docker or host) and why it was chosen (`runtimeReason`, e.g. `auto: no Docker
 * engine (connect ENOENT /var/run/docker.sock)`: with --runtime auto, one DaemonSet takes either path per node).
 */
import express, { type Router } from 'express';
import type { ContainerRuntime } from '../../runtime/container-runtime.js';
import { PodflameError } from '../../../shared/errors.js';

export interface HealthRouteDeps {
  runtime: ContainerRuntime;
  nodeName: string;
  /** Why this runtime: `--runtime host`, `auto: the Docker engine answers`, ... Reported by /readyz when given. */
  runtimeReason?: string;
  /** Captures running now, reported by /readyz. */
  inFlight: () => number;
  /** How long a readiness check may wait for the engine. Default 3 s. */
  checkTimeoutMs?: number;
}

export function healthRouter(deps: HealthRouteDeps): Router {
  const router = express.Router();
  const timeoutMs = deps.checkTimeoutMs ?? 3000;

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', node: deps.nodeName });
  });

  router.get('/readyz', async (_req, res) => {
    const { runtime, checks, reasons } = await deps.runtime.readiness(AbortSignal.timeout(timeoutMs));
    const why = deps.runtimeReason !== undefined ? { runtimeReason: deps.runtimeReason } : {};
    if (reasons.length > 0) {
      throw new PodflameError('AGENT_NOT_READY', `not ready: ${reasons.join('; ')}`, {
        details: { reasons, runtime, ...why, checks },
      });
    }
    res.json({ status: 'ready', node: deps.nodeName, runtime, ...why, checks, capturesInFlight: deps.inFlight() });
  });

  return router;
}
