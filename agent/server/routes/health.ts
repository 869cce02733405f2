/**
 * `GET /healthz`: the process answers. `GET /readyz`: it can do its job — the Docker engine answers and the capture
 * image is present (Docker path), or the host's /proc can be read and the capture script is there (host mode) — else
 * 503 AGENT_NOT_READY with each reason, so `kubectl describe` shows what is missing. It names the capture path in
 * use (`runtime`).
 */
import express, { type Response, type Router } from 'express';
import type { ContainerRuntime } from '../../runtime/container-runtime.js';
import { PodflameError } from '../../../shared/errors.js';

export interface HealthRouteDeps {
  runtime: ContainerRuntime;
  captureImage: string;
  nodeName: string;
  /** Captures running now, reported by /readyz. */
  inFlight: () => number;
  /** How long a readiness check may wait for the engine. Default 3 s. */
  checkTimeoutMs?: number;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function healthRouter(deps: HealthRouteDeps): Router {
  const router = express.Router();
  const timeoutMs = deps.checkTimeoutMs ?? 3000;

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', node: deps.nodeName });
  });

  router.get('/readyz', async (_req, res) => {
    if (deps.runtime.kind === 'host') {
      await hostReadiness(deps, timeoutMs, res);
      return;
    }
    const reasons: string[] = [];
    const signal = AbortSignal.timeout(timeoutMs);
    let docker = 'ok';
    let captureImage = 'ok';
    try {
      await deps.runtime.ping(signal);
    } catch (err) {
      docker = message(err);
      reasons.push(`the Docker engine does not answer: ${docker}`);
    }
    if (docker === 'ok') {
      try {
        if (!(await deps.runtime.imagePresent(deps.captureImage))) {
          captureImage = 'missing';
          reasons.push(
            `the capture image ${deps.captureImage} is not present: build it with ` +
              `docker build --network host -f Dockerfile.perf -t ${deps.captureImage} .`,
          );
        }
      } catch (err) {
        captureImage = message(err);
        reasons.push(`the capture image ${deps.captureImage} could not be checked: ${captureImage}`);
      }
    } else {
      captureImage = 'unknown';
    }
    if (reasons.length > 0) {
      throw new PodflameError('AGENT_NOT_READY', `not ready: ${reasons.join('; ')}`, {
        details: { reasons, runtime: 'docker', checks: { docker, captureImage } },
      });
    }
    res.json({
      status: 'ready',
      node: deps.nodeName,
      runtime: 'docker',
      checks: { docker, captureImage },
      capturesInFlight: deps.inFlight(),
    });
  });

  return router;
}

/**
 * Host mode: the host's processes can be read (hostPID) and the capture script (perf, jattach) is installed. Whether
 * pod names are known (`podNames`) is reported but never makes the agent unready: captures by container ID work.
 */
async function hostReadiness(deps: HealthRouteDeps, timeoutMs: number, res: Response): Promise<void> {
  const reasons: string[] = [];
  let hostProc = 'ok';
  let captureTools = 'ok';
  const podNames = deps.runtime.podNamesStatus?.() ?? 'none';
  try {
    await deps.runtime.ping(AbortSignal.timeout(timeoutMs));
  } catch (err) {
    hostProc = message(err);
    reasons.push(hostProc);
  }
  if (!(await deps.runtime.imagePresent(deps.captureImage))) {
    captureTools = 'missing';
    reasons.push(
      'the capture script is not installed (see --capture-script): host mode runs perf from the agent image',
    );
  }
  if (reasons.length > 0) {
    throw new PodflameError('AGENT_NOT_READY', `not ready: ${reasons.join('; ')}`, {
      details: { reasons, runtime: 'host', checks: { hostProc, captureTools, podNames } },
    });
  }
  res.json({
    status: 'ready',
    node: deps.nodeName,
    runtime: 'host',
    checks: { hostProc, captureTools, podNames },
    capturesInFlight: deps.inFlight(),
  });
}
