// Cold attack 18 (#15): two findings on the agent's HTTP API, each of which failed here before its fix.
import t from 'tap';
import { parseProfileRequest } from '../../agent/server/validation.js';
import { PodflameError } from '../../shared/errors.js';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../../agent/agent.js';
import { memoryLogger, testConfig } from './http.js';
import { FakeRuntime, hexId, podContainer } from './fake-runtime.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

// POST /v1/profiles with '{"target":' + '['.repeat(32000) + ']'.repeat(32000) + '}' (a 64 KB body, within the
// limit) was answered 500 INTERNAL "internal error: Maximum call stack size exceeded", logged at level error as an
// "unexpected error": describe() quotes what was sent with JSON.stringify, which overflows the stack on a deeply
// nested value. A malformed body is the caller's error: 400 INVALID_REQUEST naming the field.
t.test('a deeply nested value in a field is a 400, not a stack overflow', async (t) => {
  const body = JSON.parse(`{"target":${'['.repeat(20000)}${']'.repeat(20000)},"durationSeconds":1}`) as unknown;
  let error: unknown;
  try {
    parseProfileRequest(body);
  } catch (err) {
    error = err;
  }
  t.ok(error instanceof PodflameError, `a PodflameError, got ${String(error)}`);
  t.equal((error as PodflameError).code, 'INVALID_REQUEST');
  t.match((error as PodflameError).message, /target/);
});

// A synchronous POST /v1/profiles whose caller goes away while its target is being resolved (a few ms of engine
// calls) was logged as {"level":50,"err":{"type":"DOMException","message":"This operation was aborted",...},
// "msg":"unexpected error"} (1.5 KB each, 10 of 10 early disconnects on a real agent), counted in no metric:
// start() rethrows the connection's abort reason, a DOMException, which the error handler takes for a bug. A caller
// going away is routine (outcome client_gone), not an error for the operator.
t.test('a caller gone during resolution is not an unexpected error', async (t) => {
  const runtime = new FakeRuntime();
  runtime.containers = [
    podContainer(
      hexId('a1'),
      { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'prod' },
      'app',
    ),
  ];
  runtime.images.add('podflame-perf:latest');
  const list = runtime.listContainers.bind(runtime);
  runtime.listContainers = async (filter) => {
    await sleep(400);
    return list(filter);
  };
  const log = memoryLogger();
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig(),
    runtime,
    logger: log.logger,
    instanceId: 'instance-1',
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  const body = JSON.stringify({ target: { containerId: hexId('a1') }, durationSeconds: 1 });
  const req = request(`${url}/v1/profiles`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
  });
  req.on('error', () => undefined);
  req.end(body);
  await sleep(150);
  req.destroy();
  await sleep(1000);
  const unexpected = log.lines().filter((l) => l.msg === 'unexpected error');
  t.same(
    unexpected.map((l) => (l.err as { message?: string }).message),
    [],
    'no "unexpected error" for a caller who went away',
  );
});
