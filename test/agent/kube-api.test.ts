// The agent's own Kubernetes API client (agent/kube/): in a cluster from the service account's files, against the
// stand-in API server over TLS; and the wire cases the stand-in does not play, from a scripted server on loopback —
// 410 Gone (as an answer and as a watch event), answers and events over their bounds, a stuck server, a watch that
// goes silent, and a server that ends every watch at once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { kubeTokenReviewer } from '../../agent/auth/kube-token-reviewer.js';
import { kubePodLocator } from '../../agent/authz/kube-api.js';
import { connectKubeApi } from '../../agent/kube/connect.js';
import { inClusterEndpoint } from '../../agent/kube/in-cluster-endpoint.js';
import { KubeApiClient, KubeApiError, kubeApiStatus } from '../../agent/kube/kube-api-client.js';
import { PodWatcher } from '../../agent/pods/pod-watcher.js';
import { FakeKubeApi, makePod } from '../helpers/fake-kube-api.js';
import { waitFor } from '../helpers/wait-for.js';

const AGENT_TOKEN = 'agent-sa-token-0123456789';
const ROTATED_TOKEN = 'agent-sa-token-rotated-9876543210';

function serviceAccountDir(t: Test, files: { token?: string; ca?: string }): string {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-sa-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  if (files.token !== undefined) writeFileSync(join(dir, 'token'), files.token);
  if (files.ca !== undefined) writeFileSync(join(dir, 'ca.crt'), files.ca);
  return dir;
}

async function fakeApi(t: Test): Promise<FakeKubeApi> {
  const api = new FakeKubeApi({
    tokens: {
      [AGENT_TOKEN]: { username: 'system:serviceaccount:podflame:agent' },
      [ROTATED_TOKEN]: { username: 'system:serviceaccount:podflame:agent' },
      'alice-token': { username: 'alice', groups: ['devs'] },
    },
  });
  await api.start();
  t.teardown(() => api.close());
  return api;
}

const portOf = (url: string): string => new URL(url).port;

t.test('in a cluster: the service account token and CA, read again after a minute', async (t) => {
  const api = await fakeApi(t);
  const dir = serviceAccountDir(t, { token: `${AGENT_TOKEN}\n`, ca: api.caPem as string });
  let clock = 1_000_000;
  const client = new KubeApiClient(
    inClusterEndpoint({ host: '127.0.0.1', port: portOf(api.url), serviceAccountDir: dir }, { now: () => clock }),
  );
  t.teardown(() => client.close());

  const review = await kubeTokenReviewer(client).review('alice-token');
  t.same(review, {
    authenticated: true,
    user: { username: 'alice', groups: ['devs'] },
    audiences: ['https://kubernetes.default.svc.cluster.local'],
  });
  const asked = api.requests.filter((r) => r.url === '/apis/authentication.k8s.io/v1/tokenreviews');
  t.equal(asked.length, 1);
  t.equal(asked[0]?.headers.authorization, `Bearer ${AGENT_TOKEN}`, 'the token file, its newline trimmed');
  t.equal(asked[0]?.user, 'system:serviceaccount:podflame:agent');

  // kubelet rewrites the projected token: within the minute the old one is used, after it the new one.
  writeFileSync(join(dir, 'token'), ROTATED_TOKEN);
  api.putPod(makePod({ namespace: 'shop', name: 'web-1', uid: 'uid-web-1', nodeName: 'node-a', containers: [] }));
  t.same(await kubePodLocator(client).locate('shop', 'web-1'), { nodeName: 'node-a', uid: 'uid-web-1' });
  t.equal(api.requests.at(-1)?.headers.authorization, `Bearer ${AGENT_TOKEN}`);
  clock += 60_000;
  t.equal(await kubePodLocator(client).locate('shop', 'no-such-pod'), undefined, 'a 404 is no such pod');
  t.equal(api.requests.at(-1)?.headers.authorization, `Bearer ${ROTATED_TOKEN}`, 'the rotated token');

  // Names from container labels that no pod can have are not asked for: `..` would walk the URL to another resource.
  const before = api.requests.length;
  for (const [namespace, name] of [
    ['..', 'web-1'],
    ['shop', '..'],
    ['shop/../kube-system', 'web-1'],
    ['Shop', 'web-1'],
    ['shop', 'a'.repeat(254)],
  ] as const) {
    t.equal(await kubePodLocator(client).locate(namespace, name), undefined, `${namespace}/${name.slice(0, 20)}`);
  }
  t.equal(api.requests.length, before, 'none of them sent');

  // A token file gone after it was read once: the last token is kept rather than failing every request.
  rmSync(join(dir, 'token'));
  clock += 60_000;
  t.same(await kubePodLocator(client).locate('shop', 'web-1'), { nodeName: 'node-a', uid: 'uid-web-1' });
  t.equal(api.requests.at(-1)?.headers.authorization, `Bearer ${ROTATED_TOKEN}`);
});

t.test('in a cluster: the pod watcher lists and watches through the service account', async (t) => {
  const api = await fakeApi(t);
  const dir = serviceAccountDir(t, { token: AGENT_TOKEN, ca: api.caPem as string });
  const client = await connectKubeApi({
    inCluster: { host: '127.0.0.1', port: portOf(api.url), serviceAccountDir: dir },
  });
  if (client === undefined) throw new Error('no client');
  t.teardown(() => client.close());
  t.equal(client.describe, `in-cluster (${dir})`);
  api.putPod(makePod({ namespace: 'shop', name: 'web-1', uid: 'uid-1', nodeName: 'node-a', containers: [] }));
  const watcher = new PodWatcher({ api: client, nodeName: 'node-a', retryDelayMs: 50 });
  t.teardown(() => watcher.close());
  watcher.start();
  await waitFor(() => watcher.ready() && api.podWatchCount === 1, 60_000, 'the list and the watch', 10);
  t.equal(watcher.podByUid('uid-1')?.name, 'web-1');
  api.putPod(makePod({ namespace: 'shop', name: 'web-2', uid: 'uid-2', nodeName: 'node-a', containers: [] }));
  await waitFor(() => watcher.podByUid('uid-2') !== undefined, 60_000, 'the watched pod', 10);
  const watch = api.requests.find((r) => r.url.includes('watch=true'));
  t.equal(watch?.headers.authorization, `Bearer ${AGENT_TOKEN}`);
  t.match(watch?.url, /allowWatchBookmarks=true/);
  t.match(watch?.url, /timeoutSeconds=(\d+)/);
  const seconds = Number(/timeoutSeconds=(\d+)/.exec(watch?.url ?? '')?.[1]);
  t.ok(seconds >= 300 && seconds < 600, `the API server ends the watch after 5 to 10 minutes (${seconds} s)`);
});

t.test('in a cluster without a usable service account, or with the wrong CA, requests say why', async (t) => {
  const api = await fakeApi(t);
  const noToken = new KubeApiClient(
    inClusterEndpoint({ host: '127.0.0.1', port: portOf(api.url), serviceAccountDir: serviceAccountDir(t, {}) }),
  );
  t.teardown(() => noToken.close());
  await t.rejects(noToken.json('GET', '/api/v1/pods'), {
    name: 'KubeApiError',
    message: /cannot read the agent's service account file .*token: .*automountServiceAccountToken.*--kubeconfig FILE/,
  });
  const other = new FakeKubeApi();
  await other.start();
  t.teardown(() => other.close());
  const wrongCa = new KubeApiClient(
    inClusterEndpoint({
      host: '127.0.0.1',
      port: portOf(api.url),
      serviceAccountDir: serviceAccountDir(t, { token: AGENT_TOKEN, ca: other.caPem as string }),
    }),
  );
  t.teardown(() => wrongCa.close());
  await t.rejects(wrongCa.json('GET', '/api/v1/pods'), {
    message: /cannot reach the Kubernetes API server https:\/\/127\.0\.0\.1:\d+ \(in-cluster .*\): .*certificate/i,
  });
  t.notOk(
    api.requests.some((r) => r.headers.authorization === `Bearer ${AGENT_TOKEN}`),
    'the token never went to a server the CA does not vouch for',
  );

  // The CA file is read again with the token: a rotated CA is the one new connections trust.
  let clock = 0;
  const dir = serviceAccountDir(t, { token: ROTATED_TOKEN, ca: api.caPem as string });
  const rotating = new KubeApiClient(
    inClusterEndpoint({ host: '127.0.0.1', port: portOf(api.url), serviceAccountDir: dir }, { now: () => clock }),
  );
  t.teardown(() => rotating.close());
  t.ok(await rotating.json('GET', '/api/v1/pods'), 'the CA of the file');
  writeFileSync(join(dir, 'ca.crt'), other.caPem as string);
  clock += 60_000;
  await t.rejects(rotating.json('GET', '/api/v1/pods'), { message: /certificate/i }, 'the rotated CA, a minute later');
});

t.test("the in-cluster server's address: IPv6 in brackets, the API server's plain-HTTP ports", async (t) => {
  const endpoint = (host: string, port: string) => inClusterEndpoint({ host, port, serviceAccountDir: '/nonexistent' });
  t.equal(endpoint('fd00::1', '443').server, 'https://[fd00::1]:443');
  t.equal(endpoint('10.96.0.1', '6443').server, 'https://10.96.0.1:6443');
  t.equal(endpoint('10.96.0.1', '8080').server, 'http://10.96.0.1:8080');
});

/** A loopback HTTP server answering each request with the next scripted handler (the last one repeats). */
async function scripted(
  t: Test,
  handlers: ((req: http.IncomingMessage, res: http.ServerResponse) => void)[],
): Promise<{ client: KubeApiClient; urls: string[]; open: Set<http.ServerResponse> }> {
  const urls: string[] = [];
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    urls.push(req.url ?? '');
    open.add(res);
    res.on('close', () => open.delete(res));
    (handlers[urls.length - 1] ?? (handlers.at(-1) as (typeof handlers)[number]))(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const { port } = server.address() as AddressInfo;
  const client = new KubeApiClient(
    {
      server: `http://127.0.0.1:${port}`,
      describe: 'scripted',
      requestOptions: async () => ({ headers: { Authorization: 'Bearer scripted' } }),
      close: () => undefined,
    },
    { timeoutMs: 500, maxAnswerBytes: 64 * 1024, maxEventBytes: 16 * 1024 },
  );
  return { client, urls, open };
}

const pod = (name: string, uid: string, rv: string) => ({
  kind: 'Pod',
  metadata: { namespace: 'shop', name, uid, resourceVersion: rv },
  status: {},
});
const list =
  (rv: string, ...items: object[]) =>
  (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: rv }, items }));
  };
const events =
  (...lines: object[]) =>
  (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    for (const line of lines) res.write(`${JSON.stringify(line)}\n`);
  };
const status = (code: number) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', status: 'Failure', message: `scripted ${code}`, code }));
};
const hold = () => undefined;

t.test('a watch event 410 Gone: listed again, and pods gone meanwhile are forgotten', async (t) => {
  const { client, urls } = await scripted(t, [
    list('10', pod('a', 'uid-a', '9'), pod('b', 'uid-b', '10')),
    events({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } }),
    list('20', pod('b', 'uid-b', '20')),
    hold,
  ]);
  const watcher = new PodWatcher({ api: client, nodeName: 'node-a', retryDelayMs: 50 });
  t.teardown(() => watcher.close());
  watcher.start();
  await waitFor(() => urls.length === 4, 60_000, 'list, watch, list, watch', 10);
  t.match(urls[0], /^\/api\/v1\/pods\?fieldSelector=spec\.nodeName%3Dnode-a$/);
  t.match(urls[1], /watch=true&resourceVersion=10&/);
  t.match(urls[2], /^\/api\/v1\/pods\?fieldSelector=/, 'listed again at once');
  t.match(urls[3], /resourceVersion=20&/, 'watched from the new list');
  t.equal(watcher.podByUid('uid-a'), undefined, 'the pod the new list lacks is forgotten');
  t.equal(watcher.podByUid('uid-b')?.name, 'b');
  t.equal(watcher.notReadyReason().includes('cannot be listed'), false, 'not an error');
});

t.test('a watch answered 410: listed again; an ended watch: watched again from the last resourceVersion', async (t) => {
  const { client, urls } = await scripted(t, [
    list('10'),
    status(410),
    list('30'),
    (req, res) => {
      events(
        { type: 'ADDED', object: pod('c', 'uid-c', '31') },
        { type: 'BOOKMARK', object: { metadata: { resourceVersion: '35' } } },
      )(req, res);
      res.end();
    },
    hold,
  ]);
  const watcher = new PodWatcher({ api: client, nodeName: 'node-a', retryDelayMs: 50 });
  t.teardown(() => watcher.close());
  watcher.start();
  await waitFor(() => urls.length === 5, 60_000, 'the fifth request', 10);
  t.match(urls[2], /^\/api\/v1\/pods\?fieldSelector=/);
  t.match(urls[4], /watch=true&resourceVersion=35&/, 'from the bookmark');
  t.equal(watcher.podByUid('uid-c')?.name, 'c');
});

t.test('a server that ends every watch at once is not asked in a loop', async (t) => {
  const { client, urls } = await scripted(t, [
    list('10'),
    (_req, res) => {
      res.writeHead(200);
      res.end();
    },
  ]);
  const watcher = new PodWatcher({ api: client, nodeName: 'node-a', retryDelayMs: 200 });
  t.teardown(() => watcher.close());
  watcher.start();
  await waitFor(() => urls.length >= 3, 60_000, 'a second watch', 10);
  await new Promise((r) => setTimeout(r, 500));
  t.ok(urls.length <= 6, `${urls.length} requests in about 0.9 s, each watch after a 200 ms wait`);
});

t.test(
  'an ERROR event other than 410, a line that is not an event: retried from a new list, the reason kept',
  async (t) => {
    const { client, urls } = await scripted(t, [
      list('10'),
      events({ type: 'ERROR', object: { kind: 'Status', code: 500, message: 'etcd is sad' } }),
      list('11'),
      (_req, res) => {
        res.writeHead(200);
        res.write('<html>a proxy page</html>\n');
      },
      list('12'),
      hold,
    ]);
    const warnings: string[] = [];
    const watcher = new PodWatcher({
      api: client,
      nodeName: 'node-a',
      retryDelayMs: 20,
      logger: { info: () => undefined, warn: (obj) => warnings.push((obj as { err: string }).err) },
    });
    t.teardown(() => watcher.close());
    watcher.start();
    await waitFor(() => urls.length === 6, 60_000, 'the sixth request', 10);
    t.match(warnings[0], /the pod watch ended with an error: etcd is sad/);
    t.match(warnings[1], /GET \/api\/v1\/pods\?.*watch=true.*: the Kubernetes API server's answer is not JSON/);
  },
);

t.test('bounds: an answer or an event too large, a stuck server, a silent watch', async (t) => {
  const big = 'x'.repeat(70 * 1024);
  const { client } = await scripted(t, [
    (_req, res) => res.end(JSON.stringify({ big })),
    (_req, res) => {
      res.writeHead(200);
      res.write(`{"type":"ADDED","object":{"big":"${big}`);
    },
    hold,
    (_req, res) => res.writeHead(200).flushHeaders(),
  ]);
  await t.rejects(client.json('GET', '/api/v1/pods'), {
    message: /GET \/api\/v1\/pods: the Kubernetes API server's answer is larger than 65536 bytes/,
  });
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  await t.rejects(
    client.watch('/api/v1/pods?watch=true', () => undefined, { signal: stop.signal, idleMs: 5_000 }),
    {
      message: /a watch event larger than 16384 bytes; the watch is dropped/,
    },
  );
  const stuck = await client.json('GET', '/api/v1/namespaces/shop/pods/web-1').catch((e: unknown) => e);
  t.type(stuck, KubeApiError);
  t.match(
    (stuck as Error).message,
    /no answer from the Kubernetes API server \(http:\/\/127\.0\.0\.1:\d+\) within 1 s/,
  );
  t.equal(kubeApiStatus(stuck), undefined, 'no status: the server did not answer');
  await t.rejects(
    client.watch('/api/v1/pods?watch=true', () => undefined, { signal: stop.signal, idleMs: 300 }),
    {
      message: /nothing from the Kubernetes API server for 0 s; the watch is dropped/,
    },
  );
});

t.test("an answer's status and the API server's own words", async (t) => {
  const { client } = await scripted(t, [
    status(403),
    (_req, res) => {
      res.writeHead(502, { 'Content-Type': 'text/html' });
      res.end('<html>bad gateway</html>');
    },
  ]);
  const forbidden = await client
    .json('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {})
    .catch((e: unknown) => e);
  t.equal(kubeApiStatus(forbidden), 403);
  t.match(
    (forbidden as Error).message,
    /^POST \/apis\/authorization\.k8s\.io\/v1\/subjectaccessreviews: the Kubernetes API server answered 403 Forbidden: scripted 403$/,
  );
  const gateway = await client.json('GET', '/api/v1/pods').catch((e: unknown) => e);
  t.equal(kubeApiStatus(gateway), 502);
  t.match((gateway as Error).message, /answered 502 Bad Gateway$/, "a proxy's page is not repeated");
});
