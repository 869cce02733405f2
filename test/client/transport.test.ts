// The client's one transport (client/transport/): a pool per agent, reused and closed when idle (connections counted
// on real loopback servers); every way a request to an agent can fail mapped to a stable code (the agent's JSON
// error, a non-JSON answer, connection refused, no answer in time, cancelled); and single captures, fan-outs and
// history queries all sending through one transport instance.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AgentClient } from '../../client/agent-client.js';
import { urlEndpoints, clusterEndpoints } from '../../client/history/endpoints.js';
import { HistoryQuery } from '../../client/history/history-query.js';
import { PodflameClient } from '../../client/profile-pod.js';
import { urlEndpoint, type RoutedEndpoint } from '../../client/transport/agent-endpoint.js';
import { AgentTransport } from '../../client/transport/agent-transport.js';
import { ERROR_CODES, PodflameError } from '../../shared/errors.js';
import type { StoredProfile } from '../../shared/history.js';
import { FakeKubeApi, makeAgentPod, makePod } from '../helpers/fake-kube-api.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  url: string;
  port: number;
  /** Connections accepted so far. */
  connections: Socket[];
  /** `METHOD path` of every request, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** A real HTTP server on loopback (port 0) that counts its connections; keep-alive longer than any test. */
async function startServer(handler: Handler, host = '127.0.0.1'): Promise<TestServer> {
  const connections: Socket[] = [];
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => connections.push(socket));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    connections,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function routed(server: TestServer, via: 'direct' | 'proxy' = 'direct', node = 'node-a'): RoutedEndpoint {
  return {
    via,
    node,
    agentPod: `podflame-agent-${node}`,
    origin: server.url,
    basePath: '',
    headers: {},
    tls: {},
  };
}

const GET = { method: 'GET', path: '/v1/targets', timeoutMs: 5_000 } as const;

t.test('one pool per agent, reused for every request to it', async (t) => {
  const a = await startServer((_req, res) => json(res, 200, { node: 'node-a' }));
  const b = await startServer((_req, res) => json(res, 200, { node: 'node-b' }));
  t.teardown(() => Promise.all([a.close(), b.close()]));
  // One connection per pool, so that every connection the servers see is a pool of its own.
  const transport = new AgentTransport({ connectionsPerAgent: 1 });
  t.teardown(() => transport.close());
  t.same(transport.openPools(), [], 'no pool before the first request');
  for (let i = 0; i < 5; i++) await transport.request(urlEndpoint(a.url), GET);
  for (let i = 0; i < 3; i++) await transport.request(urlEndpoint(`${b.url}/`), GET);
  t.equal(a.connections.length, 1, 'five requests to one agent: one connection');
  t.equal(b.connections.length, 1, 'another agent: its own connection');
  // A node's route to the same origin is another agent's pool (one per node, as on the API server's proxy).
  await transport.request(routed(a), GET);
  await transport.request(routed(a), GET);
  t.equal(a.connections.length, 2, "node-a's route: one more connection, reused");
  t.same(transport.openPools(), [a.url, b.url, `node-a ${a.url}`].sort());
  t.same(a.requests, Array(7).fill('GET /v1/targets'));
});

t.test('with the default pool size, requests one after another do not add connections', async (t) => {
  const server = await startServer((_req, res) => json(res, 200, {}));
  t.teardown(() => server.close());
  const transport = new AgentTransport();
  t.teardown(() => transport.close());
  for (let i = 0; i < 20; i++) await transport.request(urlEndpoint(server.url), GET);
  // undici may open a second connection when a request follows the previous answer within the same tick, before
  // the first connection counts as free again; never more, for requests that do not overlap.
  t.ok(server.connections.length <= 2, `20 requests, ${server.connections.length} connection(s)`);
  t.equal(server.requests.length, 20);
});

t.test('a pool holds at most its connections, however many requests are in flight', async (t) => {
  const held: ServerResponse[] = [];
  const server = await startServer((_req, res) => {
    held.push(res);
    // Answer once two requests are waiting: both connections are then in use.
    if (held.length % 2 === 0) for (const r of held.splice(0)) json(r, 200, {});
  });
  t.teardown(() => server.close());
  const transport = new AgentTransport({ connectionsPerAgent: 2 });
  t.teardown(() => transport.close());
  await Promise.all(Array.from({ length: 6 }, () => transport.request(urlEndpoint(server.url), GET)));
  t.equal(server.requests.length, 6);
  t.equal(server.connections.length, 2, 'six requests over two connections');
});

t.test('an idle pool is closed, and made again on the next request', async (t) => {
  const server = await startServer((_req, res) => json(res, 200, {}));
  t.teardown(() => server.close());
  const transport = new AgentTransport({ idleTimeoutMs: 50, connectionsPerAgent: 1 });
  t.teardown(() => transport.close());
  const endpoint = urlEndpoint(server.url);
  await transport.request(endpoint, GET);
  await transport.request(endpoint, GET);
  const first = server.connections[0] as Socket;
  t.equal(server.connections.length, 1);
  // The server sees the connection end once the pool has been idle for 50 ms.
  await new Promise<void>((resolve) => (first.destroyed ? resolve() : first.once('close', () => resolve())));
  t.same(transport.openPools(), [], 'the idle pool is gone');
  await transport.request(endpoint, GET);
  t.equal(server.connections.length, 2, 'a new pool, a new connection');
  t.same(transport.openPools(), [server.url]);
  await transport.close();
  await transport.close();
  t.same(transport.openPools(), [], 'closed: no pool');
  await t.rejects(transport.request(endpoint, GET), { code: 'INTERNAL' }, 'closed: no more requests');
});

t.test("the agent's JSON error comes back as the same PodflameError, code, message and details", async (t) => {
  const server = await startServer((req, res) => {
    if (req.url === '/v1/unknown-code') {
      json(res, 500, { error: { code: 'FROM_THE_FUTURE', message: 'a newer agent' } });
      return;
    }
    json(
      res,
      404,
      {
        error: {
          code: 'TARGET_NOT_FOUND',
          message: "pod 3f1c has no container 'web' on node node-a; its containers: app, sidecar",
          details: { containers: ['app', 'sidecar'] },
        },
      },
      { 'x-podflame-node': 'node-a' },
    );
  });
  t.teardown(() => server.close());
  const transport = new AgentTransport();
  t.teardown(() => transport.close());

  const byUrl = await transport.request(urlEndpoint(server.url), GET).catch((e: unknown) => e);
  t.type(byUrl, PodflameError);
  t.match(byUrl, {
    code: 'TARGET_NOT_FOUND',
    message: "pod 3f1c has no container 'web' on node node-a; its containers: app, sidecar",
    details: { containers: ['app', 'sidecar'], url: server.url, httpStatus: 404, answeredNode: 'node-a' },
  });
  t.equal((byUrl as PodflameError).message.startsWith('pod 3f1c'), true, 'an --agent URL: the words as the agent said');
  t.equal((byUrl as PodflameError).exitCode, ERROR_CODES.TARGET_NOT_FOUND.exitCode);

  const byRoute = await transport.request(routed(server), GET).catch((e: unknown) => e);
  t.match(byRoute, {
    code: 'TARGET_NOT_FOUND',
    message: /^the podflame agent on node node-a \(pod podflame-agent-node-a, via direct\) answered: pod 3f1c has no/,
    details: { containers: ['app', 'sidecar'], node: 'node-a', via: 'direct', httpStatus: 404 },
  });

  t.match(await transport.request(urlEndpoint(server.url), { ...GET, path: '/v1/unknown-code' }).catch((e) => e), {
    code: 'INTERNAL',
    message: 'a newer agent',
    details: { remoteCode: 'FROM_THE_FUTURE' },
  });
});

t.test('an answer that is not an agent error: AGENT_UNREACHABLE, or the 401/403 it says', async (t) => {
  const server = await startServer((req, res) => {
    const status = Number(req.url?.slice(1));
    res.writeHead(status, { 'content-type': 'text/html' });
    res.end(status === 502 ? '<html>bad gateway</html>' : '');
  });
  t.teardown(() => server.close());
  const transport = new AgentTransport();
  t.teardown(() => transport.close());
  for (const endpoint of [urlEndpoint(server.url), routed(server)]) {
    const get = (status: number): Promise<unknown> =>
      transport.request(endpoint, { ...GET, path: `/${status}` }).catch((e: unknown) => e);
    t.match(await get(502), {
      code: 'AGENT_UNREACHABLE',
      message: /answered HTTP 502: <html>bad gateway<\/html>$/,
      details: { httpStatus: 502 },
    });
    t.match(await get(500), { code: 'AGENT_UNREACHABLE', message: /answered HTTP 500: \(empty body\)$/ });
    t.match(await get(401), { code: 'UNAUTHENTICATED' });
    t.match(await get(403), { code: 'FORBIDDEN' });
  }
  // `call` hands back any answer as it came.
  t.equal((await transport.call(urlEndpoint(server.url), { ...GET, path: '/502' })).statusCode, 502);
});

t.test('connection refused: AGENT_UNREACHABLE naming the agent, with a hint for how it was reached', async (t) => {
  const gone = await startServer(() => undefined);
  await gone.close();
  const transport = new AgentTransport();
  t.teardown(() => transport.close());
  t.match(await transport.request(urlEndpoint(gone.url), GET).catch((e) => e), {
    code: 'AGENT_UNREACHABLE',
    message: new RegExp(
      `^cannot reach the agent at ${gone.url}: .*\\(ECONNREFUSED\\); is podflame-agent running and listening there\\?$`,
    ),
    details: { url: gone.url, errorCode: 'ECONNREFUSED' },
  });
  t.match(await transport.request(routed(gone, 'direct'), GET).catch((e) => e), {
    code: 'AGENT_UNREACHABLE',
    message: new RegExp(`^cannot reach the podflame agent on node node-a .* at ${gone.url}: .*try --via proxy$`),
    details: { node: 'node-a', via: 'direct', errorCode: 'ECONNREFUSED' },
  });
  t.match(await transport.request(routed(gone, 'proxy'), GET).catch((e) => e), {
    code: 'AGENT_UNREACHABLE',
    message: /\(kubectl cluster-info\)$/,
  });
  t.equal(ERROR_CODES.AGENT_UNREACHABLE.exitCode, 5);
});

t.test('no answer in time: CAPTURE_TIMEOUT; cancelled: CAPTURE_ABORTED', async (t) => {
  const server = await startServer((req, res) => {
    // /headers: never answers; /body: headers, then nothing more.
    if (req.url === '/body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('main;work ');
    }
  });
  t.teardown(() => server.close());
  const transport = new AgentTransport();
  t.teardown(() => transport.close());
  for (const endpoint of [urlEndpoint(server.url), routed(server)]) {
    for (const path of ['/headers', '/body']) {
      // The body case's headers are written at once, but on a busy machine (the suite beside other work) they took
      // over 300 ms to be read: long enough a deadline that they come first, so the message is the body's.
      const timeoutMs = path === '/headers' ? 300 : 2_000;
      t.match(await transport.request(endpoint, { method: 'GET', path, timeoutMs }).catch((e) => e), {
        code: 'CAPTURE_TIMEOUT',
        // One deadline for the whole answer: for its headers and, once they came, its body.
        message:
          path === '/headers'
            ? /did not answer within 0 s$/
            : /did not answer within 2 s \(its body came too slowly\)$/,
        details: { errorCode: 'ANSWER_DEADLINE' },
      });
    }
    const controller = new AbortController();
    const pending = transport.request(endpoint, {
      method: 'GET',
      path: '/headers',
      timeoutMs: 10_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error('stop')), 50);
    t.match(await pending.catch((e) => e), { code: 'CAPTURE_ABORTED', message: /^the request to .* was cancelled$/ });
  }
});

t.test('a busy agent is waited out by the transport, for every caller', async (t) => {
  let refusals = 1;
  const server = await startServer((_req, res) => {
    if (refusals-- > 0) {
      json(res, 409, {
        error: { code: 'CAPTURE_IN_PROGRESS', message: 'busy', details: { retryAfterSeconds: 0.05 } },
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'x-podflame-samples': '3' });
    res.end('main;work 3\n');
  });
  t.teardown(() => server.close());
  const transport = new AgentTransport();
  t.teardown(() => transport.close());
  const waits: string[] = [];
  const answer = await transport.profile(
    urlEndpoint(server.url),
    { target: { containerId: 'abcdef012345' }, durationSeconds: 1, format: 'folded' },
    { timeoutMs: 5_000, onBusyWait: (w) => waits.push(w.code) },
  );
  t.equal(answer.samples, 3);
  t.same(waits, ['CAPTURE_IN_PROGRESS']);
  t.same(server.requests, ['POST /v1/profiles', 'POST /v1/profiles']);
});

t.test('a capture, a fan-out and history queries all go through one transport', async (t) => {
  const stored: StoredProfile = {
    id: '20260101T000000Z-0123abcd',
    namespace: 'shop',
    pod: 'shop-a',
    container: 'app',
    node: 'node-a',
    start: '2026-01-01T00:00:00.000Z',
    durationSeconds: 1,
    frequencyHz: 99,
    java: { inlined: false },
    event: 'cpu',
    samples: 4,
    warnings: [],
    schedule: 'shop-10m',
    podUid: null,
    containerId: null,
    labels: { app: 'shop' },
    bytes: 10,
  };
  // One stand-in agent, node-a's, for everything: captures, the stored profiles and their merged stacks.
  const agent = await startServer((req, res) => {
    const path = req.url?.split('?')[0];
    const headers = { 'x-podflame-node': 'node-a' };
    if (req.method === 'POST' && path === '/v1/profiles') {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { ...headers, 'content-type': 'text/plain', 'x-podflame-samples': '4' });
        res.end('main;work 4\n');
      });
    } else if (path === '/v1/profiles') json(res, 200, { node: 'node-a', items: [stored] }, headers);
    else if (path === '/v1/flamegraph') {
      res.writeHead(200, { ...headers, 'content-type': 'text/plain' });
      res.end('main;work 4\n');
    } else json(res, 404, { error: { code: 'ROUTE_NOT_FOUND', message: `no route ${path}` } }, headers);
  });
  t.teardown(() => agent.close());
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.close());
  api.putPod(makeAgentPod({ nodeName: 'node-a', podIP: '127.0.0.1', port: agent.port }));
  api.putPod(
    makePod({
      namespace: 'shop',
      name: 'shop-a',
      uid: '5b7d4c1e-0000-4000-8000-000000000001',
      nodeName: 'node-a',
      podIP: '10.0.0.1',
      labels: { app: 'shop' },
      containers: [{ name: 'app' }],
    }),
  );
  const dir = mkdtempSync(join(tmpdir(), 'podflame-transport-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'), { namespace: 'shop' });

  // One connection per pool: the connections the agent sees are the transport's pools.
  const transport = new AgentTransport({ connectionsPerAgent: 1 });
  t.teardown(() => transport.close());

  // A single capture at a URL.
  const single = new AgentClient(agent.url, { transport });
  const captured = await single.profile({
    target: { containerId: 'abcdef012345' },
    durationSeconds: 1,
    format: 'folded',
  });
  t.equal(captured.body.toString('utf8'), 'main;work 4\n');
  // A fan-out over a label selector, through the Kubernetes API to node-a's agent pod.
  // Plain HTTP on purpose (this test is about the pools): the token goes only because it is told to.
  const client = new PodflameClient({ kubeconfig, via: 'direct', transport, insecureSendTokenOverHttp: true });
  const fanOut = await client.profileSelector({ labelSelector: 'app=shop', durationSeconds: 1, format: 'folded' });
  t.equal(fanOut.samples, 4);
  t.match(fanOut.pods, [{ pod: 'shop-a', status: 'ok', via: 'direct', node: 'node-a' }]);
  // History, at the URL and across the cluster.
  const byUrl = urlEndpoints([agent.url], { transport });
  const cluster = await clusterEndpoints({ kubeconfig, via: 'direct', transport, insecureSendTokenOverHttp: true });
  for (const endpoints of [byUrl, cluster]) {
    const merged = await new HistoryQuery(endpoints.endpoints).merged({ namespace: 'shop' });
    t.same([...merged.stacks], [['main;work', 4]]);
    t.same(merged.items, [stored]);
  }
  // The callers close only what they made: the transport stays open, its owner's to close.
  await single.close();
  await client.close();
  await byUrl.close();
  await cluster.close();

  t.same(
    agent.requests.map((r) => r.split('?')[0]),
    [
      'POST /v1/profiles',
      'POST /v1/profiles',
      'GET /v1/profiles',
      'GET /v1/flamegraph',
      'GET /v1/profiles',
      'GET /v1/flamegraph',
    ],
    'the capture, the fan-out and both history queries reached the one agent',
  );
  t.same(transport.openPools(), [agent.url, `node-a ${agent.url}`], 'two pools: the URL and node-a');
  t.equal(agent.connections.length, 2, 'one connection per pool, shared by the callers using it');

  // Closed by its owner, the transport refuses every caller's next request.
  await transport.close();
  const closed = { code: 'INTERNAL', message: /agent transport has been closed/ };
  await t.rejects(new AgentClient(agent.url, { transport }).targets(), closed, 'a single capture');
  await t.rejects(byUrl.endpoints[0]!.get('/v1/profiles'), closed, 'history');
  const fanOutAfter = new PodflameClient({ kubeconfig, via: 'direct', transport, insecureSendTokenOverHttp: true });
  await t.rejects(fanOutAfter.profileSelector({ labelSelector: 'app=shop', durationSeconds: 1 }), closed, 'a fan-out');
  t.equal(agent.requests.length, 6, 'none of them reached the agent');
});
