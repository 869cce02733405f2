/**
 * `GET /v1/targets`: the containers on this node a caller could profile, marking those running a JVM, and which
 * capture path is in use (in host mode, the containers named in /proc/<pid>/cgroup, by ID).
 */
import express, { type Request, type Router } from 'express';
import type { ContainerRuntime } from '../../runtime/container-runtime.js';
import { API_PREFIX, type ResolvedTarget, type TargetsResponse } from '../../../shared/api.js';
import { listTargets } from '../../targets/list.js';

export interface TargetsRouteDeps {
  runtime: ContainerRuntime;
  nodeName: string;
  /** Keeps the containers the caller may profile (authorization), before their processes are read; absent: all. */
  filterTargets?: (req: Request, items: ResolvedTarget[]) => Promise<ResolvedTarget[]>;
}

export function targetsRouter(deps: TargetsRouteDeps): Router {
  const router = express.Router();
  router.get(`${API_PREFIX}/targets`, async (req, res) => {
    const filter = deps.filterTargets;
    const items = await listTargets(deps.runtime, filter ? { visible: (targets) => filter(req, targets) } : {});
    res.json({ node: deps.nodeName, runtime: deps.runtime.kind ?? 'docker', items } satisfies TargetsResponse);
  });
  return router;
}
