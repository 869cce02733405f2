/**
 * One request to the Kubernetes API server (client/kube/api-request.ts) against a plain HTTP server on port 0 that
 * answers as a hostile or broken API server might: the server URL's path kept (Rancher's /k8s/clusters/ID), an answer
 * too large cut off at the cap, a request never answered ended at its deadline, control characters and very long
 * messages kept off the terminal; and object names that would change a URL's path refused before any request.
 */
import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { apiRequest } from '../../client/kube/api-request.js';
import type { ApiCredentials } from '../../client/kube/api-credentials.js';
import { objectPath } from '../../client/install/resource-paths.js';
import { PodflameError } from '../../shared/errors.js';

async function server(t: Test, handle: http.RequestListener): Promise<{ base: string; urls: string[] }> {
  const urls: string[] = [];
  const srv = http.createServer((req, res) => {
    urls.push(req.url ?? '');
    handle(req, res);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return { base: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, urls };
}

const credentials = (server: string): ApiCredentials => ({ server, bearerToken: undefined, headers: {}, tls: {} });

t.test("the server URL's path is kept (Rancher: https://host/k8s/clusters/c-1)", async (t) => {
  const { base, urls } = await server(t, (_req, res) => res.end('{}'));
  for (const server of [`${base}/k8s/clusters/c-1`, `${base}/k8s/clusters/c-1/`]) {
    await apiRequest(credentials(server), { method: 'GET', path: '/api/v1/namespaces/podflame?x=1' });
  }
  t.same(urls, [
    '/k8s/clusters/c-1/api/v1/namespaces/podflame?x=1',
    '/k8s/clusters/c-1/api/v1/namespaces/podflame?x=1',
  ]);
});

t.test('an answer larger than the cap is cut off: KUBERNETES_API_ERROR, not a crash', async (t) => {
  let sent = 0;
  const { base } = await server(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const more = (): void => {
      // Endless, as far as the client can tell: it must stop reading, the server never stops writing.
      while (!res.destroyed && res.write(chunk)) sent += chunk.length;
      if (!res.destroyed) res.once('drain', more);
    };
    more();
  });
  const err = await apiRequest(credentials(base), {
    method: 'GET',
    path: '/api/v1/namespaces',
    maxBodyBytes: 1 << 20,
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof PodflameError);
  t.equal((err as PodflameError).code, 'KUBERNETES_API_ERROR');
  t.match((err as PodflameError).message, /answer to GET \/api\/v1\/namespaces is larger than 1 MiB/);
  t.ok(sent < 64 << 20, 'stopped reading long before the server ran out');
});

t.test('a request never answered ends at its deadline with KUBERNETES_API_ERROR', async (t) => {
  const { base } = await server(t, (req) => req.resume());
  const err = await apiRequest(credentials(base), {
    method: 'PATCH',
    path: '/api/v1/namespaces/podflame',
    body: {},
    timeoutMs: 200,
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.equal((err as PodflameError).code, 'KUBERNETES_API_ERROR');
  t.match((err as PodflameError).message, /did not answer PATCH \/api\/v1\/namespaces\/podflame within 0\.2s/);
});

t.test('a cancelled request is CAPTURE_ABORTED-style cancellation, not an API error', async (t) => {
  const { base } = await server(t, (req) => req.resume());
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('received SIGINT')), 50);
  const err = await apiRequest(credentials(base), {
    method: 'GET',
    path: '/api/v1/namespaces',
    signal: controller.signal,
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.equal((err as PodflameError).code, 'CAPTURE_ABORTED');
  t.match((err as PodflameError).message, /cancelled \(received SIGINT\)/);
});

t.test("the API server's words reach the terminal without control characters, cut short", async (t) => {
  const message = `evil\u001b[2J\u001b]0;pwned\u0007\r\nline ${'x'.repeat(5000)}`;
  const { base } = await server(t, (_req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', message }));
  });
  const err = await apiRequest(credentials(base), { method: 'GET', path: '/api/v1/namespaces' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const text = (err as PodflameError).message;
  t.equal((err as PodflameError).code, 'KUBERNETES_API_ERROR');
  // eslint-disable-next-line no-control-regex
  t.notMatch(text, /[\u0000-\u001f\u007f-\u009f]/, 'no control characters');
  t.match(text, /evil\[2J\]0;pwned line x+…/);
  t.ok(text.length < 500, `cut short (${text.length} characters)`);
});

t.test('a name that would change the path (., .., /) is refused before it is put in a URL', async (t) => {
  for (const name of ['.', '..', 'a/b', '']) {
    t.throws(
      () => objectPath({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'podflame', name } }),
      { code: 'INTERNAL' },
      `name '${name}'`,
    );
    t.throws(
      () => objectPath({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: name, name: 'x' } }),
      { code: 'INTERNAL' },
      `namespace '${name}'`,
    );
  }
  t.equal(
    objectPath({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { namespace: 'podflame', name: 'podflame-agent' },
    }),
    '/apis/apps/v1/namespaces/podflame/daemonsets/podflame-agent',
  );
});
