/** `GET /metrics`: the agent's own Prometheus registry, in the text exposition format. */
import express, { type Router } from 'express';
import type { AgentMetrics } from '../../metrics.js';

export function metricsRouter(metrics: AgentMetrics): Router {
  const router = express.Router();
  router.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType()).send(await metrics.render());
  });
  return router;
}
