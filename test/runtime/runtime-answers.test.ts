/**
 * What each runtime says for itself (agent/runtime/container-runtime.ts): the hint after "no such container" and
 * whether a failed capture was the runtime losing it. No engine: the Docker path's answers are checked through its
 * shared functions on a stand-in ping, host mode's on an empty /proc.
 */
import t from 'tap';
import { DockerRuntime, engineLostCapture, engineReadiness } from '../../agent/runtime/docker-runtime.js';
import { HostRuntime } from '../../agent/runtime/host-runtime.js';
import { PodflameError } from '../../shared/errors.js';

const pods = { ready: () => true, notReadyReason: () => '', containerById: () => undefined };
const kill = (): void => undefined;

t.test('not-found hint: the Docker path adds nothing, host mode says what it cannot know', async (t) => {
  t.equal(new DockerRuntime({ captureImage: 'podflame-perf:latest' }).notFoundHint('app'), '');
  t.match(new HostRuntime({}, { kill }).notFoundHint('app'), /host mode knows containers by ID only.*name=="app"/);
  t.match(
    new HostRuntime({}, { kill, pods }).notFoundHint('app'),
    /kubelet has not reported a container ID for 'app' yet/,
  );
});

t.test('lost target, Docker path: only a signalled capture whose engine then stops answering', async (t) => {
  let pings = 0;
  const gone = {
    ping: async () => {
      pings++;
      throw new PodflameError('DOCKER_UNAVAILABLE', 'connect ENOENT /var/run/docker.sock');
    },
  };
  t.equal(await engineLostCapture(gone, { exitCode: 1, stderrTail: '' }, 'shop/a/app'), undefined, 'exit 1: its own');
  t.equal(pings, 0, 'not even asked');
  const lost = await engineLostCapture(gone, { exitCode: 137, stderrTail: 'Killed' }, 'shop/a/app');
  t.match(lost, {
    code: 'DOCKER_UNAVAILABLE',
    message: /the Docker engine stopped during the capture of shop\/a\/app.*exit code 137.*connect ENOENT/,
  });
  const alive = { ping: async () => undefined };
  t.equal(await engineLostCapture(alive, { exitCode: 143, stderrTail: '' }, 'x'), undefined, 'the engine stayed');
});

t.test('lost target, host mode: never (there is no engine to lose)', async (t) => {
  t.equal(await new HostRuntime({}, { kill }).lostTarget(), undefined);
});

t.test('readiness in each runtime own terms', async (t) => {
  const docker = await engineReadiness(
    { ping: async () => undefined, toolsPresent: async () => false },
    'podflame-perf:1',
    AbortSignal.timeout(1000),
  );
  t.match(docker, {
    runtime: 'docker',
    checks: { docker: 'ok', captureImage: 'missing' },
    reasons: [/the capture image podflame-perf:1 is not present/],
    failedOperations: [],
  });
  const host = await new HostRuntime(
    { procRoot: t.testdir(), captureScript: '/nonexistent/capture' },
    { kill },
  ).readiness(AbortSignal.timeout(1000));
  t.match(host, {
    runtime: 'host',
    checks: { hostProc: /cannot read the host's processes/, captureTools: 'missing', podNames: 'none' },
    failedOperations: ['ping'],
  });
});
