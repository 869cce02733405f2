/** `GET /v1/openapi.json`: the agent API's OpenAPI document (agent/server/openapi.ts), open like the probes. */
import express, { type Router } from 'express';
import { API_PREFIX } from '../../../shared/api.js';
import { agentOpenApiDocument } from '../openapi.js';

export function openApiRouter(): Router {
  const router = express.Router();
  const body = JSON.stringify(agentOpenApiDocument());
  router.get(`${API_PREFIX}/openapi.json`, (_req, res) => {
    res.type('application/json').send(body);
  });
  return router;
}
