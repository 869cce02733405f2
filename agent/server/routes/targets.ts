/** `GET /v1/targets`: the containers on this node a caller could profile, marking those running a JVM. */
import express, { type Router } from 'express';
import type { ContainerRuntime } from '../../runtime/container-runtime.js';
import { API_PREFIX, type TargetsResponse } from '../../../shared/api.js';
import { listTargets } from '../../targets/list.js';

export interface TargetsRouteDeps {
  runtime: ContainerRuntime;
  nodeName: string;
}

export function targetsRouter(deps: TargetsRouteDeps): Router {
  const router = express.Router();
  router.get(`${API_PREFIX}/targets`, async (_req, res) => {
    const items = await listTargets(deps.runtime);
    res.json({ node: deps.nodeName, items } satisfies TargetsResponse);
  });
  return router;
}
