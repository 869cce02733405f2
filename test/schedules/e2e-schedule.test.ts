/**
 * End to end on the real engine, perf and a JVM: the built `podflame-agent` with `--data-dir`, `--schedules` (a
 * schedule every 3 s, matched in local mode by namespace and by the pod's labels on its sandbox container) and
 * `--pyroscope-url` (a stand-in) stores real profiles, merges them, pushes each to Pyroscope, and reports the
 * schedule's status and metrics; restarted without schedules, it answers the same queries from the same store.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from '../agent/http.js';
import { requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers, newPod } from '../helpers/jvm-containers.js';
import { startFakePyroscope } from '../helpers/fake-pyroscope.js';
import { startAgentProcess } from '../helpers/agent-process.js';
import { parseFolded, totalSamples } from '../../shared/folded.js';
import type { StoredProfile } from '../../shared/history.js';
import { waitFor } from '../helpers/wait-for.js';

t.setTimeout(600_000);

const env = await requireDockerEnv(t, { jdk: true });

if (env) {
  t.test('a schedule every 3 s against a real JVM yields stored profiles and a merged graph', async (t) => {
    const jvms = new JvmContainers(env);
    t.teardown(() => jvms.cleanup());
    const namespace = `sched-${randomBytes(3).toString('hex')}`;
    const pod = newPod('shop', namespace);
    // The pod's labels live on its sandbox container, as dockershim and cri-dockerd put them.
    const sandbox = await env.docker.createContainer({
      name: `k8s_POD_${pod.name}_${pod.namespace}_${pod.uid}_0`,
      Image: env.jdkImage as string,
      Cmd: ['sleep', 'infinity'],
      Labels: {
        ...jvms.labels(pod, 'POD', 'podsandbox'),
        app: 'shop',
        'annotation.kubernetes.io/config.source': 'api',
      },
      HostConfig: { NetworkMode: 'none' },
    });
    t.teardown(() => sandbox.remove({ force: true }).catch(() => undefined));
    await sandbox.start();
    const app = await jvms.startJvm({ pod, containerName: 'app' });
    // Another pod in the namespace, without the label: never profiled.
    const other = newPod('other', namespace);
    await jvms.startSandbox(other);
    await jvms.startBusyShell(other, 'app');
    await jvms.waitForWarmup(app);

    const pyroscope = await startFakePyroscope();
    t.teardown(() => pyroscope.close());
    const dir = t.testdir();
    const schedules = join(dir, 'schedules.yaml');
    writeFileSync(
      schedules,
      [
        'schedules:',
        '  - name: shop-every-3s',
        '    cron: "*/3 * * * * *"',
        `    namespace: ${namespace}`,
        '    labelSelector: app=shop',
        '    durationSeconds: 2',
        '    frequencyHz: 99',
        '    retention: 1h',
        '',
      ].join('\n'),
    );
    const dataDir = join(dir, 'data');
    const node = `e2e-${randomBytes(3).toString('hex')}`;
    const common = ['--listen', '127.0.0.1:0', '--capture-image', env.captureImage, '--docker-socket', env.socketPath];
    const agent = await startAgentProcess([
      ...common,
      '--node-name',
      node,
      '--data-dir',
      dataDir,
      '--schedules',
      schedules,
      // The metrics below are read per schedule: names are off by default (/metrics is open).
      '--metrics-schedule-names',
      'on',
      '--pyroscope-url',
      pyroscope.url,
    ]);
    t.teardown(() => agent.stop());

    const query = `namespace=${namespace}&pod=${pod.name}`;
    const items = await waitFor(
      async () => {
        const res = await call(agent.url, 'GET', `/v1/profiles?${query}`);
        return res.json?.items?.length >= 3 ? (res.json.items as StoredProfile[]) : undefined;
      },
      120_000,
      'three stored profiles',
      500,
    );
    for (const item of items) {
      t.match(item, {
        namespace,
        pod: pod.name,
        container: 'app',
        node,
        durationSeconds: 2,
        frequencyHz: 99,
        schedule: 'shop-every-3s',
        podUid: pod.uid,
        containerId: app.id,
        labels: { app: 'shop' },
      });
      t.ok(item.samples > 0, `${item.id} has samples`);
      t.notOk('annotation.kubernetes.io/config.source' in item.labels, 'annotations are not labels');
    }
    const starts = items.map((i) => Date.parse(i.start));
    t.ok(
      starts.every((s, i) => i === 0 || s - (starts[i - 1] as number) >= 2900),
      'one run every 3 s at most, never overlapping',
    );
    const all = (await call(agent.url, 'GET', `/v1/profiles?namespace=${namespace}`)).json.items as StoredProfile[];
    t.ok(
      all.every((p) => p.pod === pod.name),
      'the pod without the label is never profiled',
    );

    // Bounded to what is stored now (the schedule keeps running), the merge adds up exactly.
    const last = items[items.length - 1] as StoredProfile;
    const to = new Date(Date.parse(last.start) + 1).toISOString();
    const folded = await call(agent.url, 'GET', `/v1/flamegraph?${query}&to=${to}&format=folded`);
    t.equal(folded.status, 200);
    t.equal(
      totalSamples(parseFolded(folded.text).stacks),
      items.reduce((s, i) => s + i.samples, 0),
    );
    t.match(folded.text, /Hot\.hotFibonacci/);

    const status = await call(agent.url, 'GET', '/v1/schedules');
    const s = status.json.items[0];
    t.match(s, {
      name: 'shop-every-3s',
      source: 'file',
      retention: '1h',
      lastRun: { outcome: 'ok', profiles: 1, targets: 1 },
    });
    t.ok(s.counts.ok >= 3);
    t.ok(Date.parse(s.nextRun) > Date.parse(s.lastRun.startedAt));
    const metrics = (await call(agent.url, 'GET', '/metrics')).text;
    t.match(
      metrics,
      new RegExp(
        `podflame_schedule_runs_total\\{namespace="${namespace}",schedule="shop-every-3s",outcome="ok"\\} [3-9]`,
      ),
    );
    t.match(metrics, /podflame_store_profiles [3-9]/);

    // Every scheduled profile reached Pyroscope, as Pyroscope reads it.
    await waitFor(async () => pyroscope.ingested.length >= items.length, 30_000, 'the pushes', 500);
    for (const item of items) {
      const from = Math.floor(Date.parse(item.start) / 1000);
      const pushed = pyroscope.ingested.find((p) => p.fromSeconds === from);
      if (!pushed) {
        t.fail(`profile ${item.id} was not pushed`);
        continue;
      }
      t.match(pushed, {
        app: 'podflame',
        profileType: 'cpu',
        labels: { namespace, pod: pod.name, container: 'app', node },
        untilSeconds: from + 2,
        sampleRate: 99,
        spyName: 'podflame',
      });
      t.equal(
        [...pushed.stacks.values()].reduce((a, b) => a + b, 0),
        item.samples,
        `${item.id}: counts add up`,
      );
    }
    t.match((await call(agent.url, 'GET', '/metrics')).text, /podflame_pyroscope_pushes_total\{outcome="ok"\} [3-9]/);
    await agent.stop();
    t.equal(agent.child.exitCode, 0, 'a clean stop');

    // The same store, read by an agent without schedules: the "Done when" forms, exactly.
    const reader = await startAgentProcess([...common, '--node-name', node, '--data-dir', dataDir]);
    t.teardown(() => reader.stop());
    const list = await call(reader.url, 'GET', `/v1/profiles?namespace=${namespace}&pod=${pod.name}`);
    t.ok(list.json.items.length >= items.length);
    const merged = await call(reader.url, 'GET', `/v1/flamegraph?namespace=${namespace}&pod=${pod.name}&format=folded`);
    t.equal(
      totalSamples(parseFolded(merged.text).stacks),
      list.json.items.reduce((sum: number, i: StoredProfile) => sum + i.samples, 0),
      'merged folded counts add up to the sum of the items’ samples',
    );
    const svg = await call(reader.url, 'GET', `/v1/flamegraph?namespace=${namespace}&pod=${pod.name}`);
    t.match(svg.text, /<svg/);
    t.match(svg.text, /Hot\.hotFibonacci/);
    t.same((await call(reader.url, 'GET', '/v1/schedules')).json.items, []);
  });
}
