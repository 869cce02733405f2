// Issue #13, finding 1: a user's bearer token never goes to an agent over plain HTTP. A listener stands where an
// agent pod would be (the agent pod's IP in the stand-in API is a loopback address it listens on) and records what it
// is sent: `podflame profile --via direct|auto|proxy` sends it nothing without TLS, unless the user opts out with
// --insecure-send-token-over-http; with TLS, verified with the CA the cluster publishes (ConfigMap
// podflame/podflame-agent-ca) or --ca-file, the token goes, and a listener with another CA's certificate gets nothing.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { registerProfile } from '../../client/cli/commands/profile.js';
import { registerHistory } from '../../client/cli/commands/history.js';
import { PodflameClient } from '../../client/profile-pod.js';
import { AgentClient } from '../../client/agent-client.js';
import { runInProcess } from '../helpers/cli-io.js';
import { FakeKubeApi, makeAgentPod, makePod, type AuthorizationAttributes } from '../helpers/fake-kube-api.js';
import { makeTestPki } from '../security/tls-material.js';
import { makeSelfSignedCert } from '../helpers/self-signed-cert.js';

const SERVER_NAME = 'podflame-agent.podflame.svc';

interface Listener {
  port: number;
  /** The Authorization and X-Podflame-Authorization headers of every request received. */
  seen: { authorization?: string; podflame?: string; path: string }[];
  close(): Promise<void>;
}

/** Answers as an agent that knows no such target would, naming its node; records the credentials it was sent. */
async function listen(host: string, node: string, tls?: { cert: Buffer; key: Buffer }): Promise<Listener> {
  const seen: Listener['seen'] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    seen.push({
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers['x-podflame-authorization']
        ? { podflame: req.headers['x-podflame-authorization'] as string }
        : {}),
      path: req.url ?? '',
    });
    req.resume();
    const body = JSON.stringify({ error: { code: 'TARGET_NOT_FOUND', message: 'no such container here' } });
    res.writeHead(404, { 'content-type': 'application/json', 'x-podflame-node': node });
    res.end(body);
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'podflame-token-transport-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let forbidCaConfigMap = false;
const api = new FakeKubeApi({
  tokens: { 'alice-token': { username: 'alice', groups: ['system:authenticated'] } },
  authorize: (a: AuthorizationAttributes) => ({ allowed: !(forbidCaConfigMap && a.resource === 'configmaps') }),
});
await api.start();
t.teardown(() => api.close());
const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'), { token: 'alice-token', namespace: 'shop' });

// node-plain: an HTTP listener at the agent pod's address. node-tls: an HTTPS one with a certificate for the name the
// CA ConfigMap gives. node-rogue: an HTTPS one whose certificate another CA signed.
const pki = makeTestPki(dir);
const agentKey = join(dir, 'named.key');
writeFileSync(join(dir, 'named.ext'), `subjectAltName=DNS:${SERVER_NAME}\nextendedKeyUsage=serverAuth\n`);
const { execFileSync } = await import('node:child_process');
execFileSync(
  'openssl',
  [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=podflame-agent',
    '-keyout',
    agentKey,
    '-out',
    join(dir, 'named.csr'),
  ],
  { stdio: 'ignore' },
);
execFileSync(
  'openssl',
  [
    'x509',
    '-req',
    '-in',
    join(dir, 'named.csr'),
    '-CA',
    pki.caFile,
    '-CAkey',
    pki.caFile.replace(/\.crt$/, '.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    join(dir, 'named.ext'),
    '-out',
    join(dir, 'named.crt'),
  ],
  { stdio: 'ignore' },
);
const rogue = makeSelfSignedCert(dir, { name: 'rogue', altNames: [`DNS:${SERVER_NAME}`] });

const plain = await listen('127.0.0.21', 'node-plain');
const secure = await listen('127.0.0.22', 'node-tls', {
  cert: readFileSync(join(dir, 'named.crt')),
  key: readFileSync(agentKey),
});
const impostor = await listen('127.0.0.23', 'node-rogue', {
  cert: readFileSync(rogue.certFile),
  key: readFileSync(rogue.keyFile),
});
t.teardown(async () => {
  await plain.close();
  await secure.close();
  await impostor.close();
});

for (const [n, node, listener] of [
  [1, 'node-plain', plain],
  [2, 'node-tls', secure],
  [3, 'node-rogue', impostor],
] as const) {
  api.putPod(makeAgentPod({ nodeName: node, podIP: `127.0.0.${20 + n}`, port: listener.port }));
  api.putPod(
    makePod({
      namespace: 'shop',
      name: `shop-${n}`,
      uid: `5b7d4c1e-0000-4000-8000-00000000000${n}`,
      nodeName: node,
      podIP: `10.0.0.${n}`,
      containers: [{ name: 'app' }],
    }),
  );
}

const profile = (pod: string, ...flags: string[]) =>
  runInProcess([registerProfile], ['profile', '-n', 'shop', pod, '-d', '1', '--kubeconfig', kubeconfig, ...flags], {
    cwd: dir,
  });

t.test('no CA published: the token goes to no plain-HTTP agent, on any route', async (t) => {
  for (const via of ['direct', 'auto', 'proxy']) {
    const proxiedBefore = api.proxied.length;
    const { code, err } = await profile('shop-1', '--via', via);
    t.equal(code, 7, `--via ${via}: exit 7`);
    t.match(err, /refusing to send your bearer token to the podflame agent on node node-plain/);
    t.match(err, /\(no ConfigMap podflame\/podflame-agent-ca\)/, 'says why there is no TLS');
    t.match(err, /--insecure-send-token-over-http/, 'names the opt-out');
    t.match(err, /\[INSECURE_TRANSPORT\]/);
    t.equal(api.proxied.length, proxiedBefore, `--via ${via}: nothing through the pod proxy`);
  }
  t.same(plain.seen, [], 'the listener at the agent address received no request at all');
});

t.test('the library refuses alike, with a stable code and the route in the details', async (t) => {
  const client = new PodflameClient({ kubeconfig, via: 'direct' });
  t.teardown(() => client.close());
  await t.rejects(client.profilePod({ pod: 'shop-1', durationSeconds: 1 }), {
    code: 'INSECURE_TRANSPORT',
    details: { via: 'direct', node: 'node-plain', origin: `http://127.0.0.21:${plain.port}` },
  });
  t.same(plain.seen, []);
});

t.test('--insecure-send-token-over-http: the token goes, which is what the flag risks', async (t) => {
  const { code, err } = await profile('shop-1', '--via', 'direct', '--insecure-send-token-over-http');
  t.equal(code, 3, err);
  t.match(err, /\[TARGET_NOT_FOUND\]/, 'the "agent" answered');
  t.same(plain.seen.at(-1), {
    authorization: 'Bearer alice-token',
    podflame: 'Bearer alice-token',
    path: '/v1/profiles',
  });
  plain.seen.length = 0;
});

t.test('a CA ConfigMap the caller may not read: still refused, saying so', async (t) => {
  forbidCaConfigMap = true;
  t.teardown(() => {
    forbidCaConfigMap = false;
  });
  const { code, err } = await profile('shop-1', '--via', 'direct');
  t.equal(code, 7);
  t.match(err, /you may not read ConfigMap podflame\/podflame-agent-ca/);
  t.same(plain.seen, []);
});

t.test('TLS with the CA the cluster publishes: the token goes to the real agent only', async (t) => {
  api.putConfigMap('podflame', 'podflame-agent-ca', {
    'ca.crt': readFileSync(pki.caFile, 'utf8'),
    'server-name': SERVER_NAME,
  });
  t.teardown(() => api.putConfigMap('podflame', 'unused', {}));
  for (const via of ['direct', 'proxy']) {
    const { code, err } = await profile('shop-2', '--via', via);
    t.equal(code, 3, `--via ${via}: ${err}`);
    t.match(err, /the podflame agent on node node-tls .* answered: .*\[TARGET_NOT_FOUND\]/);
  }
  t.same(secure.seen, [
    { authorization: 'Bearer alice-token', podflame: 'Bearer alice-token', path: '/v1/profiles' },
    // Through the pod proxy: `https:POD:PORT`, Authorization consumed by the API server.
    { podflame: 'Bearer alice-token', path: '/v1/profiles' },
  ]);
  t.match(api.proxied.at(-1), { target: `https://127.0.0.22:${secure.port}` });

  // An HTTPS listener whose certificate another CA signed gets a handshake, and no request.
  const { code, err } = await profile('shop-3', '--via', 'direct');
  t.equal(code, 5, err);
  t.match(err, /\[AGENT_UNREACHABLE\]/);
  t.match(err, /its certificate did not verify against the agents' CA .*nothing was sent/, 'says why, not "try proxy"');
  t.same(impostor.seen, [], 'the impostor received nothing');

  // --ca-file wins over the ConfigMap: with the wrong CA, the real agent cannot be verified.
  const wrong = await profile('shop-2', '--via', 'direct', '--ca-file', pki.otherCaFile);
  t.equal(wrong.code, 5, wrong.err);
  t.equal(secure.seen.length, 2, 'nothing more reached the agent');
});

t.test('--agent URL: plain HTTP off loopback is refused before connecting; loopback is allowed', async (t) => {
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'alice-token-0123456789\n');
  // 192.0.2.1 (TEST-NET-1) is never reached: the refusal comes first.
  const far = await runInProcess(
    [registerProfile],
    [
      'profile',
      '--agent',
      'http://192.0.2.1:7070',
      '--container-id',
      'a'.repeat(64),
      '-d',
      '1',
      '--token-file',
      tokenFile,
    ],
    { cwd: dir },
  );
  t.equal(far.code, 7, far.err);
  t.match(
    far.err,
    /refusing to send a bearer token to http:\/\/192\.0\.2\.1:7070 over plain HTTP.*\[INSECURE_TRANSPORT\]/s,
  );
  const history = await runInProcess(
    [registerHistory],
    ['history', '--agent', 'http://192.0.2.1:7070', '--token-file', tokenFile],
    { cwd: dir },
  );
  t.match(history.err, /INSECURE_TRANSPORT/, 'history commands alike');

  const near = new AgentClient(`http://127.0.0.21:${plain.port}`, {
    headers: { authorization: 'Bearer alice-token-0123456789' },
  });
  t.teardown(() => near.close());
  await t.rejects(near.targets(), { code: 'TARGET_NOT_FOUND' }, 'a loopback URL you typed gets the token');
  t.equal(plain.seen.at(-1)?.authorization, 'Bearer alice-token-0123456789');
});
