/**
 * The OpenAPI document (agent/server/openapi.ts) against the implementation: every documented operation is a route
 * of the agent and every route is documented; the agent serves the document at /v1/openapi.json; real answers of a
 * running agent (fake engine) validate against the document's schemas, and the request schema agrees with the zod
 * schema the agent validates with.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Router } from 'express';
import { Agent } from '../../agent/agent.js';
import { AgentMetrics } from '../../agent/metrics.js';
import { agentOpenApiDocument } from '../../agent/server/openapi.js';
import { healthRouter } from '../../agent/server/routes/health.js';
import { historyRouter } from '../../agent/server/routes/history.js';
import { metricsRouter } from '../../agent/server/routes/metrics.js';
import { openApiRouter } from '../../agent/server/routes/openapi.js';
import { profilesRouter } from '../../agent/server/routes/profiles.js';
import { recentProfilesRouter } from '../../agent/server/routes/recent-profiles.js';
import { targetsRouter } from '../../agent/server/routes/targets.js';
import { ProfileRequestSchema } from '../../shared/api.js';
import { JfrReader } from '../../shared/jfr/jfr-reader.js';
import { waitFor } from '../helpers/wait-for.js';
import { FakeRuntime, hexId, podContainer } from '../agent/fake-runtime.js';
import { call, memoryLogger, testConfig } from '../agent/http.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;
const doc = agentOpenApiDocument() as Doc;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/** `GET /v1/profiles/{id}` for every route of a router, express `:id` written as OpenAPI `{id}`. */
function operationsOf(router: Router): string[] {
  return router.stack.flatMap((layer) => {
    const route = layer.route as { path: string; methods: Record<string, boolean> } | undefined;
    if (!route) return [];
    const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}');
    return Object.keys(route.methods).map((m) => `${m.toUpperCase()} ${path}`);
  });
}

function documentedOperations(): string[] {
  return Object.entries(doc.paths as Doc).flatMap(([path, item]) =>
    Object.keys(item as Doc)
      .filter((k) => METHODS.includes(k))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

function schemaValidator(name: string): ValidateFunction {
  const ajv = new Ajv({ strict: false, allErrors: true });
  // The components as one schema so that `#/components/schemas/X` references resolve.
  ajv.addSchema({ $id: 'openapi', components: doc.components }, 'openapi');
  return ajv.compile({ $ref: `openapi#/components/schemas/${name}` });
}

t.test('the document is OpenAPI 3.0 with info and paths', async (t) => {
  t.match(doc, { openapi: /^3\.0\.\d+$/, info: { title: String, version: String }, paths: Object });
});

t.test('every route of the agent is documented, and every documented operation is a route', async (t) => {
  const runtime = new FakeRuntime();
  const routers: Router[] = [
    healthRouter({ runtime, nodeName: 'n', inFlight: () => 0 }),
    metricsRouter(new AgentMetrics()),
    openApiRouter(),
    targetsRouter({ runtime, nodeName: 'n' }),
    profilesRouter({ captures: {} as never, registry: {} as never, bodyLimitBytes: 1024 }),
    recentProfilesRouter({ registry: {} as never, nodeName: 'n' }),
    historyRouter({ nodeName: 'n' }),
  ];
  const implemented = routers.flatMap(operationsOf).sort();
  t.ok(implemented.length >= 15, `${implemented.length} routes found (the enumeration works)`);
  t.same(documentedOperations().sort(), implemented);
});

t.test('a running agent serves the document and its answers match the schemas', async (t) => {
  const runtime = new FakeRuntime();
  const pod = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'prod' };
  runtime.containers = [podContainer(hexId('a1'), pod, 'app')];
  runtime.images.add('podflame-perf:latest');
  const log = memoryLogger();
  const agent = new Agent({ worker: testProfileWorker(), config: testConfig(), runtime, logger: log.logger });
  const { url } = await agent.start();
  t.teardown(() => agent.close());

  const served = await call(url, 'GET', '/v1/openapi.json');
  t.equal(served.status, 200);
  t.match(served.headers['content-type'], /^application\/json/);
  t.same(served.json, doc, 'the served document is the one in agent/server/openapi.ts');

  const health = await call(url, 'GET', '/healthz');
  const checkHealth = schemaValidator('Health');
  t.ok(checkHealth(health.json), `GET /healthz matches Health ${JSON.stringify(checkHealth.errors)}`);

  const targets = await call(url, 'GET', '/v1/targets');
  t.equal(targets.status, 200);
  t.equal(targets.json.items.length, 1);
  const checkTargets = schemaValidator('TargetsResponse');
  t.ok(checkTargets(targets.json), `GET /v1/targets matches TargetsResponse ${JSON.stringify(checkTargets.errors)}`);
  t.notOk(checkTargets({ node: 'n', items: [{ containerId: 'x' }] }), 'the schema rejects an incomplete target');

  const checkError = schemaValidator('Error');
  const missing = await call(url, 'GET', '/v1/profiles/no-such-id');
  t.equal(missing.status, 404);
  t.ok(checkError(missing.json), `a 404 matches Error ${JSON.stringify(checkError.errors)}`);
  const invalid = await call(url, 'POST', '/v1/profiles', { target: {} });
  t.equal(invalid.status, 400);
  t.ok(checkError(invalid.json), 'a 400 matches Error');
});

t.test("a JSON answer matches ProfileJson; a lock capture's stacks carry their events (#14)", async (t) => {
  // Real captures' output: perf script of a JVM (test/fixtures/history/record.sh), a lock recording of JDK 21
  // (test/fixtures/jfr/record.sh).
  const fixtures = join(import.meta.dirname, '..', 'fixtures');
  const outputs = {
    cpu: gunzipSync(readFileSync(join(fixtures, 'history', 'after.perf.txt.gz'))),
    lock: readFileSync(join(fixtures, 'jfr', 'mix-jdk21.jfr')),
  };
  const runtime = new FakeRuntime();
  runtime.containers = [
    podContainer(hexId('a1'), { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'p', namespace: 'n' }, 'app'),
  ];
  runtime.images.add('podflame-perf:latest');
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig(),
    runtime,
    logger: memoryLogger().logger,
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  const check = schemaValidator('ProfileJson');
  for (const event of ['cpu', 'lock'] as const) {
    const pending = call(url, 'POST', '/v1/profiles', {
      target: { containerId: hexId('a1') },
      durationSeconds: 1,
      format: 'json',
      ...(event === 'cpu' ? {} : { event }),
    });
    const n = runtime.captures.length + 1;
    await waitFor(() => runtime.captures.length === n, 5000, `the ${event} capture`);
    runtime.captures[n - 1]!.finish({ exitCode: 0, output: outputs[event] });
    const res = await pending;
    t.equal(res.status, 200, `${event}: ${res.text.slice(0, 200)}`);
    t.ok(check(res.json), `${event}: matches ProfileJson ${JSON.stringify(check.errors)}`);
    const stacks = res.json.stacks as { stack: string; count: number; events?: number }[];
    t.ok(stacks.length > 0, `${event}: stacks`);
    if (event === 'cpu') {
      t.ok(
        stacks.every((s) => s.events === undefined),
        'cpu: no events',
      );
      continue;
    }
    t.ok(
      stacks.every((s) => Number.isInteger(s.events) && (s.events as number) > 0),
      'lock: every stack has its contentions',
    );
    // `durationSeconds: 1`: the answer covers the recording's first second (jfr-window.test.ts).
    const reader = new JfrReader({ kinds: ['lock'], windowNanos: 1e9 });
    reader.push(outputs.lock);
    const read = reader.finish();
    t.equal(
      stacks.reduce((sum, s) => sum + (s.events as number), 0),
      (read.events.get('jdk.JavaMonitorEnter') ?? 0) + (read.events.get('jdk.ThreadPark') ?? 0),
      "lock: the recording's monitor enters and parks",
    );
  }
  t.notOk(check({ id: 'x' }), 'the schema rejects an answer without metadata and stacks');
});

t.test('the documented request schema agrees with the zod schema the agent validates with', async (t) => {
  const check = schemaValidator('ProfileRequest');
  const cases: unknown[] = [
    { target: { podUid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', container: 'app' } },
    { target: { containerId: 'docker://0123456789ab' }, durationSeconds: 10, frequencyHz: 49, format: 'folded' },
    { target: { containerId: '0123456789ab' }, render: { width: 800, inverted: true } },
    { target: { containerId: '0123456789ab' }, durationSeconds: 0 },
    { target: { containerId: '0123456789ab' }, durationSeconds: 601 },
    { target: { containerId: '0123456789ab' }, frequencyHz: 1000 },
    { target: { containerId: '0123456789ab' }, format: 'png' },
    { target: { containerId: '0123456789ab' }, unknown: 1 },
    { target: { podUid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c' } },
    { target: { containerId: '0123456789ab', container: 'app' } },
    { durationSeconds: 5 },
    { target: { containerId: '0123456789ab' }, render: { width: 50 } },
    { target: { containerId: '0123456789ab' }, java: { inlined: true } },
    { target: { containerId: '0123456789ab' }, java: {} },
    { target: { containerId: '0123456789ab' }, java: { inlined: 'yes' } },
    { target: { containerId: '0123456789ab' }, java: { inlined: true, agentPath: '/tmp/x.so' } },
    { target: { containerId: '0123456789ab' }, java: true },
    { target: { containerId: '0123456789ab' }, event: 'alloc' },
    { target: { containerId: '0123456789ab' }, event: 'cpu', java: { inlined: true } },
    { target: { containerId: '0123456789ab' }, event: 'heap' },
    { target: { containerId: '0123456789ab' }, event: 1 },
  ];
  let rejected = 0;
  for (const body of cases) {
    const zodOk = ProfileRequestSchema.safeParse(body).success;
    if (!zodOk) rejected += 1;
    t.equal(check(body), zodOk, `${JSON.stringify(body)}: ${zodOk ? 'accepted' : 'rejected'} by both`);
  }
  t.ok(rejected >= 11, 'the cases include rejected bodies');
});

t.test('the documented graph formats of /v1/flamegraph and /v1/diff are the ones the agent takes', async (t) => {
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig(),
    runtime: new FakeRuntime(),
    logger: memoryLogger().logger,
    app: { routers: [historyRouter({ nodeName: 'n' })] },
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  const ranges: Record<string, string> = {
    '/flamegraph': '',
    '/diff': '&baseFrom=now-2h&baseTo=now-1h&targetFrom=now-1h&targetTo=now',
  };
  for (const path of ['/flamegraph', '/diff']) {
    const op = doc.paths[`/v1${path}`].get as Doc;
    const param = (op.parameters as Doc[]).find((p) => p.name === 'format') as Doc;
    const documented = param.schema.enum as string[];
    t.ok(documented.length >= 2, `${path}: formats documented`);
    // Without a store the agent answers 404 once the query is valid: a format it does not take is 400 first.
    for (const format of [...documented, 'json', 'png']) {
      const res = await call(url, 'GET', `/v1${path}?format=${format}${ranges[path]}`);
      const taken = !(res.status === 400 && /format/.test(res.text));
      t.equal(taken, documented.includes(format), `${path}?format=${format}: ${res.status} ${res.text.slice(0, 120)}`);
    }
    const content = Object.keys(op.responses['200'].content as Doc);
    t.equal(content.length, documented.length, `${path}: one content type per format (${content.join(', ')})`);
  }
});
