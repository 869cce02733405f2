/**
 * Schedules per event, end to end on the real engine and a real JVM (JDK 17 of the multi-JDK image running JfrMix:
 * an allocating thread, contending threads, a thread in accept()): the built `podflame-agent` with a cpu schedule and
 * an alloc schedule on the same pod stores profiles of each event; history lists them by event, merges each event
 * alone (the allocating method on top of the alloc graph), diffs within an event and refuses to diff across events
 * (EVENT_MISMATCH); and each profile reaches Pyroscope as the profile type and unit of its event.
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
import { EVENT_KINDS } from '../../shared/profile-events.js';
import { waitFor } from '../helpers/wait-for.js';

t.setTimeout(600_000);

const env = await requireDockerEnv(t, { jdks: true });

if (env) {
  t.test('a cpu and an alloc schedule on one pod: stored, merged, diffed and pushed per event', async (t) => {
    const jvms = new JvmContainers(env);
    t.teardown(() => jvms.cleanup());
    const namespace = `events-${randomBytes(3).toString('hex')}`;
    const pod = newPod('mix', namespace);
    await jvms.startSandbox(pod);
    const app = await jvms.startJvm({
      pod,
      containerName: 'app',
      jdk: 17,
      mainClass: 'JfrMix',
      user: '1000:1000',
      launch: 'shell',
    });
    await jvms.waitForWarmup(app, 2000);

    const pyroscope = await startFakePyroscope();
    t.teardown(() => pyroscope.close());
    const dir = t.testdir();
    const schedules = join(dir, 'schedules.yaml');
    // Offset by 5 s, so that the two rarely ask for the same container at once.
    writeFileSync(
      schedules,
      [
        'schedules:',
        '  - name: mix-cpu',
        '    cron: "*/10 * * * * *"',
        `    namespace: ${namespace}`,
        `    pod: ${pod.name}`,
        '    durationSeconds: 2',
        '    frequencyHz: 99',
        '  - name: mix-alloc',
        '    cron: "5-59/10 * * * * *"',
        `    namespace: ${namespace}`,
        `    pod: ${pod.name}`,
        '    durationSeconds: 2',
        '    event: alloc',
        '',
      ].join('\n'),
    );
    const agent = await startAgentProcess([
      '--listen',
      '127.0.0.1:0',
      '--capture-image',
      env.captureImage,
      '--docker-socket',
      env.socketPath,
      '--node-name',
      `e2e-${randomBytes(3).toString('hex')}`,
      '--data-dir',
      join(dir, 'data'),
      '--schedules',
      schedules,
      '--pyroscope-url',
      pyroscope.url,
    ]);
    t.teardown(() => agent.stop());

    const query = `namespace=${namespace}&pod=${pod.name}`;
    const listed = async (event: string): Promise<StoredProfile[] | undefined> => {
      const res = await call(agent.url, 'GET', `/v1/profiles?${query}&event=${event}`);
      return res.json?.items?.length >= 2 ? (res.json.items as StoredProfile[]) : undefined;
    };
    const allocs = await waitFor(() => listed('alloc'), 240_000, 'two stored alloc profiles', 1000);
    const cpus = await waitFor(() => listed('cpu'), 120_000, 'two stored cpu profiles', 1000);
    for (const p of allocs) t.match(p, { event: 'alloc', schedule: 'mix-alloc', container: 'app' });
    for (const p of cpus) t.match(p, { event: 'cpu', schedule: 'mix-cpu', container: 'app' });
    t.ok(
      allocs.every((p) => p.samples > 1_000_000),
      `alloc profiles are weighted by bytes: ${allocs.map((p) => p.samples).join(', ')}`,
    );

    // Bounded to what is stored now (the schedules keep running), each event's merge adds up to its own profiles.
    const until = (items: StoredProfile[]) =>
      new Date(Math.max(...items.map((i) => Date.parse(i.start))) + 1).toISOString();
    const allocFolded = await call(
      agent.url,
      'GET',
      `/v1/flamegraph?${query}&event=alloc&to=${until(allocs)}&format=folded`,
    );
    t.equal(allocFolded.status, 200, allocFolded.text.slice(0, 300));
    const allocStacks = parseFolded(allocFolded.text).stacks;
    t.equal(
      totalSamples(allocStacks),
      allocs.reduce((s, i) => s + i.samples, 0),
      'the alloc merge is the alloc profiles, no cpu samples in it',
    );
    const heaviest = [...allocStacks].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
    t.match(heaviest, /;AllocLoop\.allocateBuffers_\[[ji]\]$/, 'the allocating method on top');
    const allocSvg = await call(agent.url, 'GET', `/v1/flamegraph?${query}&event=alloc&to=${until(allocs)}`);
    t.match(allocSvg.text, /alloc, [\d.]+ [KMGT]?B allocated/, 'the SVG says what it counts');
    const cpuFolded = await call(agent.url, 'GET', `/v1/flamegraph?${query}&to=${until(cpus)}&format=folded`);
    t.equal(
      totalSamples(parseFolded(cpuFolded.text).stacks),
      cpus.reduce((s, i) => s + i.samples, 0),
      'without event=, the cpu profiles only',
    );

    const [a0, a1] = allocs.slice().sort((x, y) => Date.parse(x.start) - Date.parse(y.start));
    const side = (p: StoredProfile, name: 'base' | 'target') =>
      `${name}From=${p.start}&${name}To=${new Date(Date.parse(p.start) + 1).toISOString()}`;
    const diff = await call(
      agent.url,
      'GET',
      `/v1/diff?${query}&${side(a0!, 'base')}&${side(a1!, 'target')}&event=alloc&format=folded`,
    );
    t.equal(diff.status, 200, `a diff of two alloc profiles: ${diff.text.slice(0, 200)}`);
    const mixed = await call(
      agent.url,
      'GET',
      `/v1/diff?${query}&${side(cpus[0]!, 'base')}&${side(a0!, 'target')}&baseEvent=cpu&targetEvent=alloc`,
    );
    t.equal(mixed.status, 400, 'a diff across events is refused');
    t.equal(mixed.json?.error?.code, 'EVENT_MISMATCH', mixed.text.slice(0, 300));

    // Each stored profile reached Pyroscope as its event's type.
    await waitFor(async () => pyroscope.ingested.length >= allocs.length + cpus.length, 60_000, 'the pushes', 500);
    for (const [items, event] of [
      [allocs, 'alloc'],
      [cpus, 'cpu'],
    ] as const) {
      for (const item of items) {
        const from = Math.floor(Date.parse(item.start) / 1000);
        const pushed = pyroscope.ingested.find(
          (p) => p.fromSeconds === from && p.profileType === EVENT_KINDS[event].pyroscopeType,
        );
        if (!pushed) {
          t.fail(`${event} profile ${item.id} was not pushed as ${EVENT_KINDS[event].pyroscopeType}`);
          continue;
        }
        t.equal(pushed.units, EVENT_KINDS[event].pyroscopeUnits, `${event}: units ${pushed.units}`);
        t.equal(
          [...pushed.stacks.values()].reduce((a, b) => a + b, 0),
          item.samples,
          `${item.id} (${event}): the pushed weights add up`,
        );
      }
    }
  });
}
