// The agent's HTTP API around an in-memory runtime: validation, limits, error shapes, async life cycle, probes and
// metrics — everything decided before or around a capture, not the capture itself (see the e2e files for that).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { Agent } from '../../agent/agent.js';
import { HEADERS } from '../../shared/api.js';
import { call, memoryLogger, testConfig } from './http.js';
import { FakeRuntime, hexId, podContainer } from './fake-runtime.js';
import { waitFor } from '../helpers/wait-for.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

const pod = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'prod' };
const APP = hexId('a1');
const SIDECAR = hexId('a2');
/** Real `perf script` output of a JVM (test/fixtures/history/record.sh). */
const PERF_SCRIPT = gunzipSync(
  readFileSync(join(import.meta.dirname, '../fixtures/history/after.perf.txt.gz')),
).toString('utf8');

async function startAgent(t: Test, overrides: Parameters<typeof testConfig>[0] = {}) {
  const runtime = new FakeRuntime();
  runtime.containers = [podContainer(APP, pod, 'app'), podContainer(SIDECAR, pod, 'sidecar')];
  runtime.images.add('podflame-perf:latest');
  runtime.leftovers = 2;
  const log = memoryLogger();
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig(overrides),
    runtime,
    logger: log.logger,
    instanceId: 'instance-1',
    runtimeReason: 'auto: the Docker engine answers',
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  return { agent, runtime, url, log };
}

t.test('probes, metrics, unknown routes', async (t) => {
  const { url, runtime, log } = await startAgent(t);
  t.same(runtime.removeLeftoverCalls, ['instance-1'], 'leftover captures are removed at start-up');
  t.ok(log.lines().some((l) => l.msg === 'removed capture containers left by an earlier agent' && l.removed === 2));
  t.ok(log.lines().some((l) => l.msg === 'podflame-agent listening' && l.url === url));

  const health = await call(url, 'GET', '/healthz');
  t.equal(health.status, 200);
  t.equal(health.headers[HEADERS.node], 'test-node');

  const ready = await call(url, 'GET', '/readyz');
  t.equal(ready.status, 200);
  t.equal(ready.json.runtime, 'docker', 'the capture path this agent took');
  t.equal(ready.json.runtimeReason, 'auto: the Docker engine answers', 'and why (--runtime auto decides per node)');
  runtime.images.clear();
  const noImage = await call(url, 'GET', '/readyz');
  t.equal(noImage.status, 503);
  t.equal(noImage.json.error.code, 'AGENT_NOT_READY');
  t.match(noImage.json.error.message, /capture image podflame-perf:latest is not present: build it with docker build/);
  runtime.pingError = new Error('connect ENOENT /var/run/docker.sock');
  const noDocker = await call(url, 'GET', '/readyz');
  t.equal(noDocker.status, 503);
  t.match(noDocker.json.error.details.reasons[0], /Docker engine does not answer: connect ENOENT/);
  t.equal(noDocker.json.error.details.runtimeReason, 'auto: the Docker engine answers', 'not ready says it too');

  const metrics = await call(url, 'GET', '/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.headers['content-type'], /^text\/plain/);
  for (const name of [
    'podflame_captures_total',
    'podflame_capture_duration_seconds',
    'podflame_captures_in_flight 0',
    'podflame_samples_total',
    'podflame_runtime_errors_total{runtime="docker",operation="ping"} 1',
    'podflame_agent_process_resident_memory_bytes',
  ]) {
    t.match(metrics.text, name);
  }

  const missing = await call(url, 'DELETE', '/nowhere/at/all');
  t.equal(missing.status, 404);
  t.same(missing.json, {
    error: {
      code: 'ROUTE_NOT_FOUND',
      message: 'no such endpoint: DELETE /nowhere/at/all',
      details: { method: 'DELETE', path: '/nowhere/at/all' },
    },
  });
});

t.test('bad requests get 400/413 with a clear message and start nothing', async (t) => {
  const { url, runtime } = await startAgent(t);
  const cases: [string, { body?: unknown; raw?: string; contentType?: string }, number, string, RegExp][] = [
    ['malformed JSON', { raw: '{"target": {' }, 400, 'INVALID_REQUEST', /not valid JSON/],
    [
      'unknown field',
      { body: { target: { containerId: APP }, sampleRate: 1 } },
      400,
      'INVALID_REQUEST',
      /'sampleRate'/,
    ],
    [
      'duration 0',
      { body: { target: { containerId: APP }, durationSeconds: 0 } },
      400,
      'INVALID_REQUEST',
      /durationSeconds/,
    ],
    ['frequency 5000', { body: { target: { containerId: APP }, frequencyHz: 5000 } }, 400, 'INVALID_REQUEST', /999/],
    [
      'shell metacharacters',
      { body: { target: { podUid: pod.uid, container: 'a;rm -rf /' } } },
      400,
      'INVALID_REQUEST',
      /target.container: a Kubernetes container name/,
    ],
    [
      'unknown palette',
      { body: { target: { containerId: APP }, render: { colors: 'neon' } } },
      400,
      'INVALID_REQUEST',
      /palette/,
    ],
    [
      'unknown java option',
      { body: { target: { containerId: APP }, java: { inlined: true, agentPath: '/tmp/evil.so' } } },
      400,
      'INVALID_REQUEST',
      /unknown field 'agentPath' in java/,
    ],
    [
      'java.inlined not a boolean',
      { body: { target: { containerId: APP }, java: { inlined: 'yes' } } },
      400,
      'INVALID_REQUEST',
      /java.inlined: Expected boolean/,
    ],
    ['no body', {}, 400, 'INVALID_REQUEST', /target is required/],
    ['10 MB body', { raw: `{"title": "${'x'.repeat(10 * 1024 * 1024)}"}` }, 413, 'BODY_TOO_LARGE', /larger than/],
    [
      'form-encoded body',
      { raw: 'target=x', contentType: 'application/x-www-form-urlencoded' },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /must be JSON sent with "Content-Type: application\/json", but it came as "application\/x-www-form-urlencoded"/,
    ],
  ];
  for (const [name, req, status, code, message] of cases) {
    const a = await call(url, 'POST', '/v1/profiles', req.body, {
      ...(req.raw !== undefined ? { raw: req.raw } : {}),
      ...(req.contentType !== undefined ? { contentType: req.contentType } : {}),
    });
    t.equal(a.status, status, `${name}: status`);
    t.equal(a.json?.error?.code, code, `${name}: code`);
    t.match(a.json?.error?.message, message, `${name}: message`);
  }
  t.equal(runtime.runCaptureCalls, 0, 'no capture was started');
});

t.test(
  'one capture per container (409 + Retry-After), a global limit (429), failures carry perf’s words',
  async (t) => {
    const { url, runtime, log } = await startAgent(t, { maxConcurrent: 1 });
    const first = call(url, 'POST', '/v1/profiles', {
      target: { podUid: pod.uid, container: 'app' },
      durationSeconds: 20,
    });
    await waitFor(() => runtime.captures.length === 1, 5000, 'the first capture');

    const busy = await call(url, 'POST', '/v1/profiles', { target: { containerId: APP }, durationSeconds: 5 });
    t.equal(busy.status, 409);
    t.equal(busy.json.error.code, 'CAPTURE_IN_PROGRESS');
    t.ok(Number(busy.headers['retry-after']) >= 1, 'Retry-After is set');
    const full = await call(url, 'POST', '/v1/profiles', { target: { containerId: SIDECAR } });
    t.equal(full.status, 429);
    t.equal(full.json.error.code, 'TOO_MANY_CAPTURES');
    t.ok(Number(full.headers['retry-after']) >= 1);
    const notFound = await call(url, 'POST', '/v1/profiles', { target: { podUid: pod.uid, container: 'web' } });
    t.equal(notFound.status, 404);
    t.same(notFound.json.error.details.containers, ['app', 'sidecar']);
    t.equal(runtime.runCaptureCalls, 1);

    const capture = runtime.captures[0]!;
    t.same(capture.spec, {
      targetContainerId: APP,
      durationSeconds: 20,
      frequencyHz: 99,
      javaInlined: false,
      event: 'cpu',
      agentInstance: 'instance-1',
    });
    capture.finish({ exitCode: 4, stderrTail: 'perf record: failed to mmap with 1 (Operation not permitted)\n' });
    const failed = await first;
    t.equal(failed.status, 500);
    t.equal(failed.json.error.code, 'CAPTURE_FAILED');
    t.match(failed.json.error.message, /exit code 4\): perf record: failed to mmap with 1 \(Operation not permitted\)/);
    t.ok(failed.headers[HEADERS.profileId], 'the failed profile has an id');

    // The slot is free again: an empty result is NO_SAMPLES, never an empty graph.
    const empty = call(url, 'POST', '/v1/profiles', { target: { containerId: SIDECAR }, format: 'folded' });
    await waitFor(() => runtime.captures.length === 2, 5000, 'the second capture');
    runtime.captures[1]!.finish({ exitCode: 0, output: '' });
    const noSamples = await empty;
    t.equal(noSamples.status, 422);
    t.equal(noSamples.json.error.code, 'NO_SAMPLES');
    t.match(noSamples.json.error.message, /recorded no samples in 30 s/);

    const metrics = (await call(url, 'GET', '/metrics')).text;
    t.match(metrics, 'podflame_captures_total{outcome="capture_failed"} 1');
    t.match(metrics, 'podflame_captures_total{outcome="no_samples"} 1');
    t.match(metrics, 'podflame_requests_rejected_total{code="TOO_MANY_CAPTURES"} 1');
    t.match(metrics, 'podflame_captures_in_flight 0');

    const line = log.lines().find((l) => l.msg === 'request' && l.outcome === 'CAPTURE_FAILED');
    t.match(line, { method: 'POST', path: '/v1/profiles', status: 500, target: 'prod/shop-1/app', containerId: APP });
    t.type(line?.durationMs, 'number');
  },
);

t.test(
  'a namespace holds at most --namespace-max-concurrent captures (429 TOO_MANY_NAMESPACE_CAPTURES); another is still admitted',
  async (t) => {
    // Default limits: 4 on the agent, 2 per namespace.
    const { url, runtime } = await startAgent(t);
    const web = { uid: '9b1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-2', namespace: 'prod' };
    const billing = { uid: '7c1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'bill-0', namespace: 'billing' };
    const WEB = hexId('a3');
    const BILL = hexId('b1');
    runtime.containers.push(podContainer(WEB, web, 'app'), podContainer(BILL, billing, 'app'));
    const running = [APP, SIDECAR].map((id) =>
      call(url, 'POST', '/v1/profiles', { target: { containerId: id }, durationSeconds: 20, format: 'folded' }),
    );
    await waitFor(() => runtime.captures.length === 2, 5000, 'two captures of namespace prod');

    const third = await call(url, 'POST', '/v1/profiles', { target: { containerId: WEB }, durationSeconds: 5 });
    t.equal(third.status, 429);
    t.equal(third.json.error.code, 'TOO_MANY_NAMESPACE_CAPTURES');
    t.match(third.json.error.details, { quota: 'captures', limit: 2, namespace: 'prod' });
    t.match(third.json.error.message, /already runs 2 captures of namespace prod .*--namespace-max-concurrent/);
    t.ok(Number(third.headers['retry-after']) >= 1, 'Retry-After is set');
    t.equal(runtime.runCaptureCalls, 2, 'no capture started for the refused one');

    const other = call(url, 'POST', '/v1/profiles', { target: { containerId: BILL }, durationSeconds: 5 });
    await waitFor(() => runtime.captures.length === 3, 5000, 'the capture of namespace billing');
    t.equal(runtime.captures[2]!.spec.targetContainerId, BILL, 'another namespace is admitted meanwhile');
    for (const c of runtime.captures) c.finish({ exitCode: 0, output: PERF_SCRIPT });
    t.same(
      (await Promise.all([...running, other])).map((a) => a.status),
      [200, 200, 200],
    );
    const metrics = (await call(url, 'GET', '/metrics')).text;
    t.match(metrics, 'podflame_requests_rejected_total{code="TOO_MANY_NAMESPACE_CAPTURES"} 1');
  },
);

t.test('a client that goes away stops its capture', async (t) => {
  const { url, runtime, agent, log } = await startAgent(t);
  const controller = new AbortController();
  const pending = call(url, 'POST', '/v1/profiles', { target: { containerId: APP } }, { signal: controller.signal });
  await waitFor(() => runtime.captures.length === 1, 5000, 'the capture');
  controller.abort();
  await pending.catch(() => undefined);
  await waitFor(() => runtime.captures[0]!.signal.aborted, 5000, 'the capture to be aborted');
  t.equal(
    (runtime.captures[0]!.signal.reason as Error).message,
    'the client went away before the capture finished; it was stopped',
  );
  await waitFor(() => agent.captures.inFlight === 0, 5000, 'the slot to be released');
  await waitFor(() => log.lines().some((l) => l.outcome === 'client_gone'), 5000, 'the request log line');
});

t.test('async captures: 202 + Location, status, not ready, result kept', async (t) => {
  const { url, runtime } = await startAgent(t);
  const accepted = await call(url, 'POST', '/v1/profiles?async=1', {
    target: { containerId: APP },
    durationSeconds: 2,
  });
  t.equal(accepted.status, 202);
  const id = accepted.json.id as string;
  t.same(accepted.json, { id, status: 'running', location: `/v1/profiles/${id}` });
  t.equal(accepted.headers.location, `/v1/profiles/${id}`);

  const status = await call(url, 'GET', `/v1/profiles/${id}`);
  t.match(status.json, { id, status: 'running', node: 'test-node', target: { containerId: APP }, durationSeconds: 2 });
  const early = await call(url, 'GET', `/v1/profiles/${id}/flamegraph.svg`);
  t.equal(early.status, 409);
  t.equal(early.json.error.code, 'PROFILE_NOT_READY');
  t.ok(Number(early.headers['retry-after']) >= 1);

  await waitFor(() => runtime.captures.length === 1, 5000, 'the capture');
  runtime.captures[0]!.finish({ exitCode: 3, stderrTail: 'podflame-capture: no processes found\n' });
  await waitFor(
    async () => (await call(url, 'GET', `/v1/profiles/${id}`)).json.status === 'failed',
    5000,
    'failure',
    250,
  );
  const failed = await call(url, 'GET', `/v1/profiles/${id}`);
  t.match(failed.json.error, { code: 'CAPTURE_FAILED', message: /no processes found/ });
  t.type(failed.json.timings.total, 'number');
  const svg = await call(url, 'GET', `/v1/profiles/${id}/folded`);
  t.equal(svg.status, 500);
  t.equal(svg.json.error.code, 'CAPTURE_FAILED');

  const unknown = await call(url, 'GET', '/v1/profiles/00000000-0000-0000-0000-000000000000');
  t.equal(unknown.status, 404);
  t.equal(unknown.json.error.code, 'PROFILE_NOT_FOUND');
});

t.test('java.inlined reaches the runtime and is recorded in the metadata and on the graph', async (t) => {
  const { url, runtime } = await startAgent(t);
  const asked = await call(url, 'POST', '/v1/profiles?async=1', {
    target: { containerId: APP },
    durationSeconds: 2,
    java: { inlined: true },
  });
  t.equal(asked.status, 202);
  await waitFor(() => runtime.captures.length === 1, 5000, 'the capture');
  t.equal(runtime.captures[0]!.spec.javaInlined, true, 'the runtime is asked for inlined frames');
  const running = await call(url, 'GET', `/v1/profiles/${asked.json.id}`);
  t.same(running.json.java, { inlined: true }, 'the metadata says inlined frames were asked for');
  runtime.captures[0]!.finish({
    exitCode: 0,
    output: PERF_SCRIPT,
  });
  await waitFor(
    async () => (await call(url, 'GET', `/v1/profiles/${asked.json.id}`)).json.status !== 'running',
    5000,
    'the capture to end',
    100,
  );
  const svg = await call(url, 'GET', `/v1/profiles/${asked.json.id}/flamegraph.svg`);
  t.equal(svg.status, 200, svg.text.slice(0, 300));
  t.match(svg.text, /inlined frames/, 'the subtitle says so');

  // Absent, and explicitly off: the same (false), never left for the capture script to guess.
  const plain = await call(url, 'POST', '/v1/profiles?async=1', { target: { containerId: SIDECAR } });
  const off = await call(url, 'POST', '/v1/profiles?async=1', {
    target: { podUid: pod.uid, container: 'app' },
    java: { inlined: false },
  });
  t.equal(plain.status, 202);
  t.equal(off.status, 202, 'the first capture of APP has ended, so this one is admitted');
  await waitFor(() => runtime.captures.length === 3, 5000, 'two more captures');
  t.same(
    runtime.captures.slice(1).map((c) => c.spec.javaInlined),
    [false, false],
  );
  t.same((await call(url, 'GET', `/v1/profiles/${plain.json.id}`)).json.java, { inlined: false });
});

t.test('a capture that outlives its duration plus --request-timeout is stopped: 504', async (t) => {
  const { url, runtime } = await startAgent(t, { requestTimeoutSeconds: 1 });
  const pending = call(url, 'POST', '/v1/profiles', { target: { containerId: APP }, durationSeconds: 1 });
  await waitFor(() => runtime.captures.length === 1, 5000, 'the capture');
  const answer = await pending;
  t.equal(answer.status, 504);
  t.equal(answer.json.error.code, 'CAPTURE_TIMEOUT');
  t.match(answer.json.error.message, /did not finish within 2 s \(its 1 s plus the agent's --request-timeout of 1 s\)/);
  t.ok(runtime.captures[0]!.signal.aborted, 'the capture was stopped');
});

t.test('more perf script than --max-output-bytes: 507, and the capture is stopped', async (t) => {
  const { url, runtime } = await startAgent(t, { maxOutputBytes: 1000 });
  const pending = call(url, 'POST', '/v1/profiles', { target: { containerId: APP }, durationSeconds: 1 });
  await waitFor(() => runtime.captures.length === 1, 5000, 'the capture');
  // The bound is about bytes, whatever they say.
  runtime.captures[0]!.stdout.write(Buffer.alloc(1500, 0x20));
  const answer = await pending;
  t.equal(answer.status, 507);
  t.equal(answer.json.error.code, 'OUTPUT_TOO_LARGE');
  t.match(answer.json.error.message, /more than 1000 bytes of perf script/);
  t.ok(runtime.captures[0]!.signal.aborted);
});

t.test('closing the agent stops running captures and answers their callers', async (t) => {
  const runtime = new FakeRuntime();
  runtime.containers = [podContainer(APP, pod, 'app')];
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig(),
    runtime,
    logger: memoryLogger().logger,
  });
  const { url } = await agent.start();
  const pending = call(url, 'POST', '/v1/profiles', { target: { containerId: APP } });
  await waitFor(() => runtime.captures.length === 1, 5000, 'the capture');
  await agent.close();
  await agent.close();
  const answer = await pending;
  t.equal(answer.status, 503);
  t.equal(answer.json.error.code, 'AGENT_NOT_READY');
  t.match(answer.json.error.message, /shutting down/);
  t.ok(runtime.captures[0]!.signal.aborted);
  t.ok(runtime.closed, 'the runtime is closed last');
});

t.test('lines perf script wrote that the collapser skipped: a warning, on the graph, and a metric', async (t) => {
  const { url, runtime } = await startAgent(t);
  const asked = await call(url, 'POST', '/v1/profiles?async=1', { target: { containerId: APP }, durationSeconds: 1 });
  t.equal(asked.status, 202);
  await waitFor(() => runtime.captures.length === 1, 5000, 'the capture');
  // Two lines no perf script format has, between real samples.
  runtime.captures[0]!.finish({ exitCode: 0, output: `%%% not perf %%%\n??? neither\n\n${PERF_SCRIPT}` });
  await waitFor(
    async () => (await call(url, 'GET', `/v1/profiles/${asked.json.id}`)).json.status !== 'running',
    5000,
    'the capture to end',
    100,
  );
  const meta = await call(url, 'GET', `/v1/profiles/${asked.json.id}`);
  t.equal(meta.json.status, 'done');
  const skipped = meta.json.warnings.filter((w: { code: string }) => w.code === 'UNRECOGNIZED_LINES');
  t.equal(skipped.length, 1, JSON.stringify(meta.json.warnings));
  t.match(skipped[0].message, /^skipped 2 unrecognized lines, the first: "%%% not perf %%%"/);
  const svg = await call(url, 'GET', `/v1/profiles/${asked.json.id}/flamegraph.svg`);
  t.match(svg.text, /some perf script lines not understood/, 'the subtitle says so');
  t.equal(typeof meta.json.timings.render, 'undefined', 'nothing rendered before the SVG was asked for');
  const rendered = (await call(url, 'GET', `/v1/profiles/${asked.json.id}`)).json.timings.render;
  t.type(rendered, 'number', 'the first rendering is timed');
  const again = await call(url, 'GET', `/v1/profiles/${asked.json.id}/flamegraph.svg`);
  t.equal(again.text, svg.text, 'the SVG asked for again is the same graph');
  t.equal((await call(url, 'GET', `/v1/profiles/${asked.json.id}`)).json.timings.render, rendered);
  const metrics = await call(url, 'GET', '/metrics');
  t.match(metrics.text, /^podflame_collapse_skipped_lines_total 2$/m);
});

t.test("the capture script's phases in /metrics: its own phase names only", async (t) => {
  const { url, runtime } = await startAgent(t);
  const asked = await call(url, 'POST', '/v1/profiles?async=1', { target: { containerId: APP }, durationSeconds: 1 });
  t.equal(asked.status, 202);
  await waitFor(() => runtime.captures.length === 1, 5000, 'the capture');
  // The timings line comes from a stream that also carries what perf and jattach print: a name the script never
  // writes must not become a series.
  runtime.captures[0]!.finish({
    exitCode: 0,
    output: PERF_SCRIPT,
    timings: { checks: 240, 'perf-start': 260, recording: 1000, segments: 1, 'made-up-phase': 5 },
  });
  await waitFor(
    async () => (await call(url, 'GET', `/v1/profiles/${asked.json.id}`)).json.status !== 'running',
    5000,
    'the capture to end',
    100,
  );
  t.equal((await call(url, 'GET', `/v1/profiles/${asked.json.id}`)).json.status, 'done');
  const metrics = (await call(url, 'GET', '/metrics')).text;
  for (const phase of ['capture_checks', 'capture_perf-start', 'capture_recording', 'containerStart', 'total']) {
    t.match(metrics, new RegExp(`^podflame_capture_phase_seconds_count\\{phase="${phase}"\\} 1$`, 'm'), phase);
  }
  t.notMatch(metrics, /phase="capture_made-up-phase"/, 'an unknown name is left out');
  t.notMatch(metrics, /phase="capture_segments"/, 'the segment count is not a time');
});
