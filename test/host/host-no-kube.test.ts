// Host mode without Kubernetes API access (an agent run by hand, no in-cluster service account, no --kubeconfig):
// today's behaviour holds — containers are known by ID only, a pod UID + container name is refused with the message
// that says how to get the container ID, the start-up line says no pod names are known, and schedules (which select
// pods by namespace and labels) are warned about. No container is needed: nothing here gets as far as a capture.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/docker-env.js';
import { nativeDir } from '../helpers/native-build.js';
import { spawnAgent } from '../agent/e2e-agent.js';

const CAPTURE_SCRIPT = join(REPO_ROOT, 'agent/capture/podflame-capture.sh');

t.test('no Kubernetes access: container IDs only, and the start-up says so', async (t) => {
  const dir = t.testdir();
  const schedules = join(dir, 'schedules.yaml');
  writeFileSync(
    schedules,
    'schedules:\n  - name: shop\n    cron: "0 * * * *"\n    namespace: shop\n    durationSeconds: 5\n    frequencyHz: 99\n',
  );
  const agent = await spawnAgent([
    '--listen',
    '127.0.0.1:0',
    '--runtime',
    'host',
    '--capture-script',
    CAPTURE_SCRIPT,
    '--native-dir',
    await nativeDir(),
    '--node-name',
    'no-kube-node',
    '--data-dir',
    join(dir, 'data'),
    '--schedules',
    schedules,
  ]);
  t.teardown(() => agent.stop());
  t.match(
    agent.logs.find((l) => l.msg === 'capture path chosen'),
    { runtime: 'host', podNames: 'none' },
  );
  t.match(
    agent.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('host mode without Kubernetes API access')),
    { level: 'warn', schedules },
  );
  const ready = (await (await fetch(`${agent.url}/readyz`)).json()) as Record<string, unknown>;
  t.match(ready, { status: 'ready', runtime: 'host', checks: { podNames: 'none' } }, 'ready all the same');
  const res = await fetch(`${agent.url}/v1/profiles`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ target: { podUid: randomUUID(), container: 'app' }, durationSeconds: 1 }),
  });
  t.equal(res.status, 404);
  const body = (await res.json()) as { error: { code: string; message: string } };
  t.equal(body.error.code, 'TARGET_NOT_FOUND');
  t.match(body.error.message, /host mode knows containers by ID only/);
  t.match(body.error.message, /containerStatuses\[\?\(@\.name=="app"\)\]\.containerID/);
});
