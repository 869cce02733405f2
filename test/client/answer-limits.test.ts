// Issues #13/#14, the cold attacker's `huge` and `trickle` agents: a capture's answer is read up to a byte cap and
// within one deadline for headers and body together, whichever way the agent is reached (client/transport/). Real
// loopback servers stand in for the hostile agents; the cap and the deadline are made small through the options.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AgentClient } from '../../client/agent-client.js';
import { urlEndpoint } from '../../client/transport/agent-endpoint.js';
import { AgentTransport } from '../../client/transport/agent-transport.js';
import { PodflameClient } from '../../client/profile-pod.js';
import { DEFAULT_MAX_ANSWER_BYTES } from '../../client/transport/answer-limits.js';
import { FakeKubeApi, makeAgentPod, makePod } from '../helpers/fake-kube-api.js';

const TARGET = { containerId: 'abcdef012345' };

/** A loopback server whose every answer `respond` writes; `firstAnswerEnded` says whether its first was sent whole. */
async function startHostile(respond: (res: ServerResponse) => void) {
  let ended: (whole: boolean) => void = () => {};
  const firstAnswerEnded = new Promise<boolean>((resolve) => (ended = resolve));
  const server = createServer((req, res) => {
    req.resume();
    res.on('close', () => ended(res.writableFinished));
    respond(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    firstAnswerEnded,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes `chunks` chunks of 64 KiB of JSON-ish text, waiting for the socket to drain, then ends. */
function streamChunks(res: ServerResponse, chunks: number): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(64 * 1024, 0x5b); // '['
  let left = chunks;
  const more = (): void => {
    while (left > 0 && !res.destroyed) {
      left -= 1;
      if (!res.write(chunk)) {
        res.once('drain', more);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  more();
}

t.test('huge: reading stops at the answer cap with OUTPUT_TOO_LARGE, the rest unread', async (t) => {
  // 64 MiB would be sent in all; the client reads 256 KiB of it.
  const agent = await startHostile((res) => streamChunks(res, 1024));
  t.teardown(() => agent.close());
  const client = new AgentClient(agent.url, { maxAnswerBytes: 256 * 1024, busyWaitMs: 0 });
  t.teardown(() => client.close());
  await t.rejects(client.profile({ target: TARGET, durationSeconds: 1, format: 'json' }), {
    code: 'OUTPUT_TOO_LARGE',
    message: /answer is larger than 262144 bytes, the most this client reads; it was not read further/,
    details: { maxAnswerBytes: 262144 },
  });
  t.equal(await agent.firstAnswerEnded, false, 'the connection was dropped before the agent finished sending');
  t.ok(DEFAULT_MAX_ANSWER_BYTES >= 32 * 1024 ** 2, "the default holds what a default agent's profile can be");
});

t.test('an answer within the cap is read whole', async (t) => {
  const agent = await startHostile((res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ stacks: [{ stack: 'a;b', count: 3 }] }));
  });
  t.teardown(() => agent.close());
  const transport = new AgentTransport();
  t.teardown(() => transport.close());
  const answer = await transport.profile(
    urlEndpoint(agent.url),
    { target: TARGET, durationSeconds: 1, format: 'json' },
    { timeoutMs: 5_000, maxAnswerBytes: 64, busyWaitMs: 0 },
  );
  t.same(JSON.parse(answer.body.toString('utf8')), { stacks: [{ stack: 'a;b', count: 3 }] });
});

t.test('trickle: a body sent a byte at a time ends at the answer deadline, body included', async (t) => {
  // One byte every 50 ms, 200 bytes: 10 s in all, never a gap long enough for undici's bodyTimeout.
  const agent = await startHostile((res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    let left = 200;
    const timer = setInterval(() => {
      if (res.destroyed || left === 0) {
        clearInterval(timer);
        if (!res.destroyed) res.end();
        return;
      }
      left -= 1;
      res.write(' ');
    }, 50);
    res.on('close', () => clearInterval(timer));
  });
  t.teardown(() => agent.close());
  // The capture's 1 s plus a 500 ms margin: the whole answer is due within 1.5 s.
  const client = new AgentClient(agent.url, { answerMarginMs: 500, busyWaitMs: 0 });
  t.teardown(() => client.close());
  await t.rejects(client.profile({ target: TARGET, durationSeconds: 1, format: 'json' }), {
    code: 'CAPTURE_TIMEOUT',
    message: /did not answer within 2 s \(its body came too slowly\)$/,
  });
  t.equal(await agent.firstAnswerEnded, false, 'the connection was dropped before the agent finished sending');
});

t.test('a caller who cancels during the body gets CAPTURE_ABORTED, not a timeout', async (t) => {
  const agent = await startHostile((res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{');
  });
  t.teardown(() => agent.close());
  const client = new AgentClient(agent.url, { busyWaitMs: 0 });
  t.teardown(() => client.close());
  const cancel = new AbortController();
  const answer = client.profile({ target: TARGET, durationSeconds: 1, format: 'json' }, cancel.signal);
  setTimeout(() => cancel.abort(), 100);
  await t.rejects(answer, { code: 'CAPTURE_ABORTED' });
});

t.test('Kubernetes mode: a pod whose agent answers beyond maxAnswerBytes fails with OUTPUT_TOO_LARGE', async (t) => {
  const agent = await startHostile((res) => {
    res.setHeader('x-podflame-node', 'node-a');
    streamChunks(res, 1024);
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
  const dir = mkdtempSync(join(tmpdir(), 'podflame-answer-limits-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'), { namespace: 'shop' });
  const client = new PodflameClient({
    kubeconfig,
    via: 'direct',
    insecureSendTokenOverHttp: true,
    maxAnswerBytes: 256 * 1024,
    busyWaitMs: 0,
  });
  t.teardown(() => client.close());
  await t.rejects(client.profilePod({ pod: 'shop-a', durationSeconds: 1, format: 'pprof' }), {
    code: 'OUTPUT_TOO_LARGE',
    message: /answer is larger than 262144 bytes/,
  });
  t.equal(await agent.firstAnswerEnded, false, 'the connection was dropped before the agent finished sending');
});
