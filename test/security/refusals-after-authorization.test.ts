// What a refused target says depends on who asks: a caller who may not profile a pod learns nothing of it from
// a 404/409 (its containers' names, their full IDs, their state), and one who may gets the whole story. The agent
// is real, over HTTP on loopback; the runtime is the in-memory one; the authorizer allows pods of `prod` only, as
// `--auth kubernetes` would for a caller with pods/exec there.
import t, { type Test } from 'tap';
import { Agent } from '../../agent/agent.js';
import { AnonymousAuthenticator } from '../../agent/auth/anonymous.js';
import type { Authorizer } from '../../agent/authz/authorizer.js';
import type { ResolvedTarget } from '../../shared/api.js';
import { PodflameError } from '../../shared/errors.js';
import { FakeRuntime, hexId, podContainer } from '../agent/fake-runtime.js';
import { call, memoryLogger, testConfig } from '../agent/http.js';

const prod = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'prod' };
const billing = { uid: '9b8a7c6d-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'ledger-0', namespace: 'billing' };

/** Allows targets of namespace `prod`; anything else (a container of no pod too) is FORBIDDEN. */
class ProdOnly implements Authorizer {
  async authorizeTarget(_caller: unknown, target: ResolvedTarget): Promise<void> {
    if (target.namespace !== 'prod') throw new PodflameError('FORBIDDEN', `not allowed: ${target.namespace}`);
  }
  async authorizeNamespace(_caller: unknown, namespace: string): Promise<void> {
    if (namespace !== 'prod') throw new PodflameError('FORBIDDEN', `not allowed: ${namespace}`);
  }
  async filterTargets<T extends Partial<ResolvedTarget>>(_caller: unknown, targets: readonly T[]): Promise<T[]> {
    return targets.filter((x) => x.namespace === 'prod');
  }
}

async function startAgent(t: Test) {
  const runtime = new FakeRuntime();
  runtime.containers = [
    podContainer(hexId('a1'), prod, 'app'),
    podContainer(hexId('a2'), prod, 'app', 'exited'),
    podContainer(hexId('b1'), billing, 'ledger'),
    podContainer(hexId('b2'), billing, 'secret-sidecar'),
    // Two of billing's containers share a 12-digit prefix: an ambiguous prefix lists their full IDs.
    podContainer(`${hexId('b1').slice(0, 12)}${hexId('c3').slice(12)}`, billing, 'audit', 'exited'),
  ];
  runtime.images.add('podflame-perf:latest');
  const agent = new Agent({
    config: testConfig({}),
    runtime,
    logger: memoryLogger().logger,
    access: { authenticator: new AnonymousAuthenticator(), authorizer: new ProdOnly() },
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  return url;
}

t.test("another namespace's pod: one generic 404, none of its names, IDs or states", async (t) => {
  const url = await startAgent(t);
  const asks = [
    { podUid: billing.uid, container: 'nope' }, // would list its containers
    { containerId: hexId('b1').slice(0, 12) }, // would list the two full IDs
    { containerId: `${hexId('b1').slice(0, 12)}${hexId('c3').slice(12)}` }, // would say "exited"
  ];
  for (const target of asks) {
    const r = await call(url, 'POST', '/v1/profiles', { target, durationSeconds: 1 });
    t.equal(r.status, 404, JSON.stringify(target));
    t.equal(r.json.error.code, 'TARGET_NOT_FOUND');
    t.match(r.json.error.message, /or you may not profile it/);
    t.notMatch(r.text, /secret-sidecar|ledger|audit|exited|billing|c3c3c3/, 'nothing of the pod is told');
    t.equal(r.json.error.details, undefined);
  }
});

t.test('a pod the caller may profile: the whole story', async (t) => {
  const url = await startAgent(t);
  const missing = await call(url, 'POST', '/v1/profiles', {
    target: { podUid: prod.uid, container: 'nope' },
    durationSeconds: 1,
  });
  t.equal(missing.status, 404);
  t.match(
    missing.json.error.message,
    "pod prod/shop-1 (UID 3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c) has no container 'nope'",
  );
  t.same(missing.json.error.details.containers, ['app']);
  const exited = await call(url, 'POST', '/v1/profiles', { target: { containerId: hexId('a2') }, durationSeconds: 1 });
  t.equal(exited.status, 409);
  t.equal(exited.json.error.code, 'TARGET_NOT_RUNNING');
  t.match(exited.json.error.message, /state: exited/);
});
