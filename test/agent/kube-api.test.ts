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
import { KubernetesAuthenticator } from '../../agent/auth/token-review.js';
import { kubeAccessReviewer, kubePodLocator } from '../../agent/authz/kube-api.js';
import { KubernetesAuthorizer } from '../../agent/authz/kubernetes-authorizer.js';
import { connectKubeApi } from '../../agent/kube/connect.js';
import { inClusterEndpoint } from '../../agent/kube/in-cluster-endpoint.js';
import {
  KubeApiClient,
  KubeApiError,
  kubeApiStatus,
  type KubeApiClientOptions,
} from '../../agent/kube/kube-api-client.js';
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
    ['shop%2F..%2Fkube-system', 'web-1'],
    ['shop', 'web-1%2F..'],
    ['shop', 'web-1?watch=true'],
    ['shop', 'web-1#x'],
    ['shop', 'wéb-1'],
    ['sh\u0131p', 'web-1'],
    ['shop', 'web-1\n'],
    ['shop', ''],
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
  options: KubeApiClientOptions = {},
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
    // Generous: on a loaded machine a loopback answer may take seconds; the stuck-server case sets its own.
    { timeoutMs: 30_000, maxAnswerBytes: 64 * 1024, maxEventBytes: 16 * 1024, ...options },
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
  t.match(urls[2], /^\/api\/v1\/pods\?fieldSelector=/, 'listed again');
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
  const stuckServer = await scripted(t, [hold], { timeoutMs: 500 });
  const stuck = await stuckServer.client.json('GET', '/api/v1/namespaces/shop/pods/web-1').catch((e: unknown) => e);
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

t.test(
  'a server that answers every watch from its own list 410 Gone is listed again only after the wait',
  async (t) => {
    // Found by cold-attack19: each 410 listed again at once, so list and watch went round as fast as the server
    // answered (thousands of requests a second, the agent's CPU with them).
    let watches = 0;
    const { client, urls } = await scripted(t, [
      (req, res) => {
        if (!req.url?.includes('watch=true')) return list('10', pod('a', 'uid-a', '10'))(req, res);
        // As the watch's answer and as a watch event, in turn.
        if (watches++ % 2 === 0) return status(410)(req, res);
        events({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } })(
          req,
          res,
        );
        res.end();
      },
    ]);
    const warnings: string[] = [];
    const watcher = new PodWatcher({
      api: client,
      nodeName: 'node-a',
      retryDelayMs: 200,
      logger: { info: () => undefined, warn: (obj) => warnings.push((obj as { err: string }).err) },
    });
    t.teardown(() => watcher.close());
    watcher.start();
    await waitFor(() => urls.length >= 4, 60_000, 'a second list and watch', 10);
    await new Promise((r) => setTimeout(r, 500));
    t.ok(urls.length <= 16, `${urls.length} requests in about 0.9 s: each list after a 200 ms wait`);
    t.match(warnings[0], /no longer has the pods' resourceVersion 10 \(410 Gone\)/);
    t.equal(watcher.podByUid('uid-a')?.name, 'a', 'the pods of the last list are still known');
  },
);

t.test('a review the agent gives up on is ended: no connection to the API server outlives its deadline', async (t) => {
  // Found by cold-attack19: the authenticator's 10 s deadline did not end the request, which kept its connection for
  // the client's own 30 s; junk tokens, 16 every 10 s, then held more connections than the client may open (32).
  const { client, urls, open } = await scripted(
    t,
    [
      (req, res) => {
        if (!req.url?.includes('subjectaccessreviews')) return; // TokenReviews and pod reads: never answered
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ kind: 'SubjectAccessReview', status: { allowed: true } }));
      },
    ],
    { timeoutMs: 120_000 },
  );
  // Deadlines of 2 s, so that even a loaded machine has sent each request before its deadline ends it.
  const authn = new KubernetesAuthenticator(kubeTokenReviewer(client), { timeoutMs: 2_000 });
  const review = authn.authenticate({ authorization: 'Bearer junk-token-1' }).catch((e: unknown) => e);
  await waitFor(() => open.size === 1, 60_000, 'the TokenReview at the server', 10);
  t.equal(urls.length, 1, 'the TokenReview was sent');
  t.match(await review, { code: 'KUBERNETES_API_ERROR', message: /TokenReview: no answer within 2000 ms/ });
  await waitFor(() => open.size === 0, 60_000, 'the TokenReview given up', 10);

  const authz = new KubernetesAuthorizer(kubeAccessReviewer(client), kubePodLocator(client), {
    nodeName: 'node-a',
    timeoutMs: 2_000,
  });
  const alice = { username: 'alice', groups: [], mode: 'kubernetes' as const };
  const placement = authz
    .authorizeTarget(alice, { containerId: 'c'.repeat(64), namespace: 'shop', podName: 'web-1', podUid: 'u-1' })
    .catch((e: unknown) => e);
  await waitFor(() => open.size === 1 && urls.length === 3, 60_000, 'the pod read at the server', 10);
  t.match(urls.at(-1), /^\/api\/v1\/namespaces\/shop\/pods\/web-1$/);
  t.match(await placement, { code: 'KUBERNETES_API_ERROR', message: /reading the pod: no answer within 2000 ms/ });
  await waitFor(() => open.size === 0, 60_000, 'the pod read given up', 10);
});

t.test('a review answer is bounded far below a pod list', async (t) => {
  // Found by cold-attack19: a TokenReview's answer could be 64 MiB (the pod list's bound); 16 in flight at once made a
  // GiB, the agent's memory limit.
  const padding = 'x'.repeat(2 * 1024 ** 2);
  const { client } = await scripted(
    t,
    [
      (_req, res) => {
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: { authenticated: true, user: { username: 'alice' }, padding } }));
      },
    ],
    { maxAnswerBytes: 64 * 1024 ** 2 },
  );
  await t.rejects(kubeTokenReviewer(client).review('alice-token'), {
    message: /tokenreviews: the Kubernetes API server's answer is larger than 1048576 bytes/,
  });
  await t.rejects(
    kubeAccessReviewer(client).review(
      { username: 'alice', groups: [], mode: 'kubernetes' },
      {
        namespace: 'shop',
        verb: 'create',
        group: '',
        resource: 'pods',
        subresource: 'exec',
      },
    ),
    { message: /subjectaccessreviews: the Kubernetes API server's answer is larger than 1048576 bytes/ },
  );
  t.ok(await client.json('GET', '/api/v1/pods'), 'a list may still be that large');
});

t.test("a TokenReview's user fields of another type: the token is not taken, no field left out", async (t) => {
  // Found by cold-attack19: an `extra` value that was not a list of strings was left out of the identity, so the
  // SubjectAccessReview was asked without what limits the caller (a scoped token's scopes) and allowed more.
  const SCOPES = 'scopes.example.io';
  const api = new FakeKubeApi({
    tokens: {
      [AGENT_TOKEN]: { username: 'system:serviceaccount:podflame:agent' },
      'scoped-token': {
        username: 'carol',
        extra: { [SCOPES]: ['pods:read', 7] } as unknown as Record<string, string[]>,
      },
      'nil-scope-token': { username: 'dave', extra: { [SCOPES]: null } as unknown as Record<string, string[]> },
      'odd-uid-token': { username: 'erin', uid: 42 as unknown as string },
      'odd-groups-token': { username: 'frank', groups: ['devs', { admin: true }] as unknown as string[] },
    },
    // A scoped credential may not profile: whoever carries the scopes key is refused.
    authorize: (a) => ({ allowed: a.user.extra?.[SCOPES] === undefined }),
  });
  await api.start();
  t.teardown(() => api.close());
  const client = api.agentApi({ token: AGENT_TOKEN });
  t.teardown(() => client.close());
  const authn = new KubernetesAuthenticator(kubeTokenReviewer(client));
  const authz = new KubernetesAuthorizer(kubeAccessReviewer(client), kubePodLocator(client), { nodeName: 'node-a' });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  for (const [token, field] of [
    ['scoped-token', /status\.user\.extra\["scopes\.example\.io"\] is not a list of strings/],
    ['odd-uid-token', /status\.user\.uid is not a string/],
    ['odd-groups-token', /status\.user\.groups is not a list of strings/],
  ] as const) {
    const err = await authn.authenticate(bearer(token)).catch((e: unknown) => e);
    t.match(err, { code: 'KUBERNETES_API_ERROR', httpStatus: 502, message: field }, token);
  }
  t.same(api.accessReviews, [], 'no SubjectAccessReview asked for them');

  // JSON null is Go's nil slice: the key is kept, with no values, and the review still sees it.
  const dave = await authn.authenticate(bearer('nil-scope-token'));
  t.same(dave.extra, { [SCOPES]: [] });
  await t.rejects(authz.authorizeNamespace(dave, 'shop'), { code: 'FORBIDDEN' });
  t.same(api.accessReviews.at(-1)?.extra, { [SCOPES]: [] });
});

t.test('a redirect is not followed: the token goes to the configured server only', async (t) => {
  const elsewhere: string[] = [];
  const other = http.createServer((req, res) => {
    elsewhere.push(`${req.url} ${req.headers.authorization ?? ''}`);
    res.end('{}');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => other.close(() => resolve())));
  const location = `http://127.0.0.1:${(other.address() as AddressInfo).port}/apis/authentication.k8s.io/v1/tokenreviews`;
  const { client } = await scripted(t, [
    (_req, res) => {
      res.writeHead(307, { Location: location });
      res.end();
    },
  ]);
  const err = await kubeTokenReviewer(client)
    .review('alice-token')
    .catch((e: unknown) => e);
  t.equal(kubeApiStatus(err), 307);
  t.notMatch((err as Error).message, /scripted|alice-token/, 'neither token in the message');
  t.same(elsewhere, [], 'nothing sent to the Location');
});

t.test('close() ends a list the API server does not answer', async (t) => {
  // Found by cold-attack19: the list waited for the client's own timeout (30 s), past the agent's shutdown deadline
  // (10 s after SIGTERM), which then exited 1 with "could not stop in time".
  const { client, urls, open } = await scripted(t, [hold], { timeoutMs: 120_000 });
  const watcher = new PodWatcher({ api: client, nodeName: 'node-a', retryDelayMs: 50 });
  watcher.start();
  await waitFor(() => urls.length === 1, 60_000, 'the list', 10);
  let late: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    watcher.close().then(() => 'closed'),
    new Promise((resolve) => (late = setTimeout(() => resolve('still listing after 5 s'), 5_000))),
  ]);
  clearTimeout(late);
  t.equal(outcome, 'closed');
  await waitFor(() => open.size === 0, 60_000, 'the list request ended', 10);
});

t.test('a 410 ERROR event that arrives with the end of its watch: listed again, nothing thrown', async (t) => {
  // Found by cold-attack19: the API server ends a watch with its ERROR event (410 Gone when the resourceVersion is too
  // old); the watcher's abort of the already finished request was thrown as an uncaught exception, which ends the
  // agent (node's `signal` option destroyed the request with an error after its socket went back to the pool).
  const { client, urls } = await scripted(t, [
    list('10', pod('a', 'uid-a', '10')),
    (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old' } })}\n`);
    },
    list('20', pod('b', 'uid-b', '20')),
    hold,
  ]);
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  // tap reports an uncaught exception as this test's failure too; counted here to say what it was.
  process.prependListener('uncaughtException', onUncaught);
  t.teardown(() => process.removeListener('uncaughtException', onUncaught));
  const watcher = new PodWatcher({ api: client, nodeName: 'node-a', retryDelayMs: 50 });
  t.teardown(() => watcher.close());
  watcher.start();
  await waitFor(() => urls.length === 4, 60_000, 'list, watch, list, watch', 10);
  await new Promise((r) => setTimeout(r, 100));
  t.same(uncaught, [], 'no uncaught exception');
  t.equal(watcher.podByUid('uid-b')?.name, 'b');
  t.equal(watcher.podByUid('uid-a'), undefined);
});
