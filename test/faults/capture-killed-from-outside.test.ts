// A capture container killed from outside the agent (exit 128+N) while the engine goes away — what dockerd does to
// every container when it stops — is reported as 503 DOCKER_UNAVAILABLE, not as a failed capture; killed while the
// engine stays up, it is a CAPTURE_FAILED carrying the capture's last words. The real-engine version of this is
// dockerd-stop.test.ts; here the in-memory runtime pins the exit-code path, which depends on timing there.
import t from 'tap';
import { ProfileRequestSchema } from '../../shared/api.js';
import { AgentMetrics } from '../../agent/metrics.js';
import { CaptureService } from '../../agent/profiles/capture-service.js';
import { ProfileRegistry } from '../../agent/profiles/profile-registry.js';
import { FakeRuntime, hexId, podContainer } from '../agent/fake-runtime.js';
import { memoryLogger } from '../agent/http.js';

const pod = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'shop' };

function setup() {
  const runtime = new FakeRuntime();
  runtime.containers.push(podContainer(hexId('ab'), pod, 'app'));
  const service = new CaptureService(
    { runtime, registry: new ProfileRegistry(8), metrics: new AgentMetrics(), logger: memoryLogger().logger },
    {
      nodeName: 'node-a',
      agentInstance: 'node-a.1',
      maxConcurrent: 2,
      maxOutputBytes: 1 << 20,
      timeoutMarginSeconds: 30,
      limits: { maxStacks: 100_000, maxBytes: 32 << 20 },
    },
  );
  const request = ProfileRequestSchema.parse({ target: { podUid: pod.uid, container: 'app' }, durationSeconds: 1 });
  return { runtime, service, request };
}

t.test('killed by a stopping engine: DOCKER_UNAVAILABLE', async (t) => {
  const { runtime, service, request } = setup();
  const record = await service.start(await service.resolve(request));
  runtime.pingError = new Error('connect ENOENT /var/run/docker.sock');
  runtime.captures[0]?.finish({
    exitCode: 143,
    stderrTail: 'podflame-capture: stopped by a signal; discarding the capture',
  });
  await record.settled;
  t.equal(record.error?.code, 'DOCKER_UNAVAILABLE');
  t.equal(record.error?.httpStatus, 503);
  t.match(
    record.error?.message,
    /the Docker engine stopped during the capture of shop\/shop-1\/app.*exit code 143.*ENOENT/,
  );
});

t.test('killed while the engine stays up: CAPTURE_FAILED with its last words', async (t) => {
  const { runtime, service, request } = setup();
  const record = await service.start(await service.resolve(request));
  runtime.captures[0]?.finish({ exitCode: 137, stderrTail: 'Killed' });
  await record.settled;
  t.equal(record.error?.code, 'CAPTURE_FAILED');
  t.match(record.error?.message, /exit code 137\): Killed/);
});

t.test('an ordinary failure (exit 1) does not wait for the engine', async (t) => {
  const { runtime, service, request } = setup();
  const record = await service.start(await service.resolve(request));
  runtime.pingError = new Error('would make it DOCKER_UNAVAILABLE if asked');
  runtime.captures[0]?.finish({ exitCode: 1, stderrTail: 'perf: permission denied' });
  await record.settled;
  t.equal(record.error?.code, 'CAPTURE_FAILED');
});
