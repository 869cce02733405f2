// An agent that cannot capture yet still starts (its /readyz says why), and its start-up log says so too: a warning
// right after the "listening" line, naming the command that builds the missing capture image. In process on the
// in-memory runtime, and the built agent on this machine's Docker engine with an image that does not exist.
import { existsSync } from 'node:fs';
import t from 'tap';
import { Agent } from '../../agent/agent.js';
import { memoryLogger, testConfig } from './http.js';
import { FakeRuntime } from './fake-runtime.js';
import { testProfileWorker } from '../helpers/profile-worker.js';
import { startAgentProcess } from '../helpers/agent-process.js';
import { requireBuild } from '../helpers/built.js';
import { waitFor } from '../helpers/wait-for.js';

const BUILD_COMMAND = 'docker build --network host -f Dockerfile.perf -t podflame-perf:latest .';

async function startedLog(imagePresent: boolean) {
  const runtime = new FakeRuntime();
  if (imagePresent) runtime.images.add(runtime.captureImage);
  const log = memoryLogger();
  const agent = new Agent({ worker: testProfileWorker(), config: testConfig(), runtime, logger: log.logger });
  await agent.start();
  await agent.close();
  return log.lines();
}

t.test('no capture image: a warning after the listening line names the docker build command', async (t) => {
  const lines = await startedLog(false);
  const listening = lines.findIndex((l) => l.msg === 'podflame-agent listening');
  const warning = lines.findIndex((l) => typeof l.msg === 'string' && l.msg.startsWith('not ready for captures'));
  t.ok(listening >= 0, 'it listens all the same');
  t.ok(warning > listening, 'the warning follows the listening line (which stays the first word on the address)');
  t.match(lines[warning], {
    level: 'warn',
    msg: `not ready for captures: the capture image podflame-perf:latest is not present: build it with ${BUILD_COMMAND}`,
    checks: { docker: 'ok', captureImage: 'missing' },
  });
});

t.test('capture image present: no warning', async (t) => {
  const lines = await startedLog(true);
  t.ok(lines.some((l) => l.msg === 'podflame-agent listening'));
  t.same(
    lines.filter((l) => l.level === 'warn'),
    [],
  );
});

const noEngine = existsSync('/var/run/docker.sock') ? false : 'no Docker engine socket on this machine';

t.test('the built agent with a missing --capture-image warns at start', { skip: noEngine }, async (t) => {
  requireBuild();
  const image = 'podflame-perf:no-such-image-for-start-warning-test';
  // A group and node name of its own: the start-up cleanup of leftovers touches nobody else's captures.
  const agent = await startAgentProcess(
    [
      '--listen',
      '127.0.0.1:0',
      '--runtime',
      'docker',
      '--capture-image',
      image,
      '--capture-group',
      'start-warnings-test',
      '--node-name',
      'start-warnings-test',
    ],
    { timeoutMs: 120_000 },
  );
  t.teardown(() => agent.stop());
  const warning = await waitFor(
    () => agent.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('not ready for captures')),
    30_000,
    'the start-up warning',
  );
  t.match(warning, {
    level: 'warn',
    msg: `not ready for captures: the capture image ${image} is not present: build it with docker build --network host -f Dockerfile.perf -t ${image} .`,
  });
});
