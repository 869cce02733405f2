/**
 * The agent's idle memory as the DaemonSet runs it (manifests/base/daemonset.yaml: `--auth kubernetes`, `--data-dir`,
 * the Docker engine): in a cluster, so with its own access to the API server from the service account (here a
 * stand-in on loopback that lists no pods and holds the pod watch open) and the pod watcher running. The local-mode
 * agent of agent-overhead.ts has neither.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { memoryOf } from './bench-agent.js';
import { startBenchAgent, type Cleanup } from './bench-target.js';

/** The stand-in API server; port 8080, which the agent speaks plain HTTP to, on an address of 127/8 of its own. */
async function standInApiServer(cleanup: Cleanup): Promise<{ host: string; watches: () => number }> {
  let watches = 0;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url?.startsWith('/api/v1/pods?') && req.url.includes('watch=true')) {
      watches += 1;
      return; // held open, as the API server holds a watch with no events
    }
    if (req.url?.startsWith('/api/v1/pods?')) {
      res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }));
      return;
    }
    res.end('{}');
  });
  const host = `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.1`;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(8080, host, resolve);
  });
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { host, watches: () => watches };
}

/** The idle RSS in MiB of an agent as deployed in a cluster. */
export async function inClusterIdleRss(root: string, scratch: string, cleanup: Cleanup): Promise<number> {
  const api = await standInApiServer(cleanup);
  const serviceAccount = join(scratch, 'serviceaccount');
  mkdirSync(serviceAccount, { recursive: true });
  writeFileSync(join(serviceAccount, 'token'), 'bench-service-account-token');
  writeFileSync(join(serviceAccount, 'ca.crt'), '');
  const agent = await startBenchAgent(root, cleanup, {
    nodeName: 'bench-in-cluster',
    readyTimeoutMs: 30_000,
    args: ['--auth', 'kubernetes', '--data-dir', join(scratch, 'in-cluster-data')],
    env: {
      KUBERNETES_SERVICE_HOST: api.host,
      KUBERNETES_SERVICE_PORT: '8080',
      PODFLAME_SERVICE_ACCOUNT_DIR: serviceAccount,
    },
  });
  // As for the local-mode figure: start-up garbage settled, the profile worker's thread stopped.
  await sleep(8000);
  if (api.watches() === 0)
    throw new Error(`the in-cluster agent is not watching its pods: ${agent.stderr().slice(-500)}`);
  return memoryOf(agent.process.pid as number).rss;
}
