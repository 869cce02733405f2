// End to end on the real engine, perf and JDK 17: the agent profiles JVM containers labelled as kubelet labels them
// and answers with graphs that name the app's hot methods, with ≥ 95% of JIT frames resolved; target resolution by
// pod UID + container name and by container ID prefix; GET /v1/targets.
import t, { type Test } from 'tap';
import { HEADERS } from '../../shared/api.js';
import { CAPTURE_LABELS } from '../../agent/runtime/container-runtime.js';
import { requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers, newPod } from '../helpers/jvm-containers.js';
import { call, statusNote } from './http.js';
import { captureContainers, foldedTotal, startRealAgent } from './e2e-agent.js';
import { waitFor } from '../helpers/wait-for.js';

t.setTimeout(600_000);
const env = await requireDockerEnv(t, { jdk: true });

if (env) {
  const { url, agent, nodeName } = await startRealAgent(t, env);
  // Each subtest removes its JVMs when done: busy JVMs left running would slow down the next captures.
  const containersOf = (t: Test): JvmContainers => {
    const jvms = new JvmContainers(env);
    t.teardown(() => jvms.cleanup());
    return jvms;
  };

  t.test('a JVM as PID 1, by pod UID + container name: an SVG naming its hot methods', async (t) => {
    const jvms = containersOf(t);
    const pod = newPod('pid1');
    await jvms.startSandbox(pod);
    const app = await jvms.startJvm({ pod, containerName: 'app' });
    await jvms.waitForWarmup(app);

    const a = await call(url, 'POST', '/v1/profiles', {
      target: { podUid: pod.uid, container: 'app' },
      durationSeconds: 3,
      frequencyHz: 99,
    });
    t.equal(a.status, 200, statusNote(a));
    t.match(a.headers['content-type'], /^image\/svg\+xml/);
    t.equal(a.headers[HEADERS.node], nodeName);
    const jit = Number(a.headers[HEADERS.jitResolved]);
    t.ok(jit >= 0.95, `≥ 95% of JIT frames resolved (${a.headers[HEADERS.jitResolved]})`);
    t.same(JSON.parse(decodeURIComponent(a.headers[HEADERS.warnings] ?? '')), [], 'no warnings');
    const samples = Number(a.headers[HEADERS.samples]);
    t.ok(samples > 0, `${samples} samples`);
    t.match(a.text, 'Hot.hotFibonacci');
    t.match(a.text, 'Hot.hotSieve');
    t.match(a.text, `<text id="title" x="600.00" y="24">${pod.namespace}/${pod.name}/app</text>`);
    t.match(a.text, new RegExp(`node ${nodeName}, 3 s at 99 Hz, ${samples} samples, [\\d.]+% JIT frames named`));

    // The same profile, kept: its folded stacks count samples, one per sample.
    const id = a.headers[HEADERS.profileId] as string;
    const folded = await call(url, 'GET', `/v1/profiles/${id}/folded`);
    t.equal(folded.status, 200);
    t.equal(foldedTotal(folded.text), samples, 'counts are samples: the folded counts add up to the header');
    t.match(folded.text, /^hot-fibonacci;.*Hot\.hotFibonacci_\[j\] \d+$/m);
    const meta = await call(url, 'GET', `/v1/profiles/${id}`);
    t.match(meta.json, {
      id,
      status: 'done',
      node: nodeName,
      samples,
      target: {
        containerId: app.id,
        podUid: pod.uid,
        podName: pod.name,
        namespace: pod.namespace,
        containerName: 'app',
      },
    });
    for (const phase of ['resolve', 'containerStart', 'recordAndPerfmap', 'perfScript', 'collapse', 'exitAndRemove']) {
      t.type(meta.json.timings[phase], 'number', `timing ${phase}`);
    }
    t.same(await captureContainers(env, { [CAPTURE_LABELS.target]: app.id }), [], 'the capture container is gone');
  });

  t.test('a JVM under sh -c (not PID 1), by container ID prefix, as JSON', async (t) => {
    const jvms = containersOf(t);
    const shell = await jvms.startJvm({ launch: 'shell', pod: newPod('shell'), containerName: 'app' });
    await jvms.waitForWarmup(shell);
    const a = await call(url, 'POST', '/v1/profiles', {
      target: { containerId: `docker://${shell.id.slice(0, 12)}` },
      durationSeconds: 2,
      format: 'json',
    });
    t.equal(a.status, 200, statusNote(a));
    t.equal(a.json.target.containerId, shell.id);
    t.equal(a.json.samples, Number(a.headers[HEADERS.samples]));
    t.equal(
      (a.json.stacks as { count: number }[]).reduce((s, x) => s + x.count, 0),
      a.json.samples,
      'json stacks add up to the samples',
    );
    t.ok((a.json.stacks as { stack: string }[]).some((s) => s.stack.includes('Hot.hotFibonacci_[j]')));
    t.ok(a.json.jitResolved >= 0.95, `jitResolved ${a.json.jitResolved}`);
  });

  t.test('a JVM running as uid 1000', async (t) => {
    const jvms = containersOf(t);
    const user = await jvms.startJvm({ user: '1000:1000', pod: newPod('uid1000'), containerName: 'app' });
    await jvms.waitForWarmup(user);
    const a = await call(url, 'POST', '/v1/profiles', { target: { containerId: user.id }, durationSeconds: 2 });
    t.equal(a.status, 200, statusNote(a));
    t.match(a.text, 'Hot.hotFibonacci');
    t.ok(Number(a.headers[HEADERS.jitResolved]) >= 0.95, `jit resolved ${a.headers[HEADERS.jitResolved]}`);
  });

  t.test('a pod of two containers: the name picks the container; a wrong name lists both', async (t) => {
    const jvms = containersOf(t);
    const pod = newPod('two');
    await jvms.startSandbox(pod);
    const app = await jvms.startJvm({ pod, containerName: 'app' });
    const worker = await jvms.startBusyShell(pod, 'worker');
    await jvms.waitForWarmup(app);
    await jvms.waitForOutput(worker);

    const w = await call(url, 'POST', '/v1/profiles', {
      target: { podUid: pod.uid, container: 'worker' },
      durationSeconds: 2,
      format: 'json',
    });
    t.equal(w.status, 200, statusNote(w));
    t.equal(w.json.target.containerId, worker.id);
    t.equal(w.json.target.containerName, 'worker');
    t.notOk(JSON.stringify(w.json.stacks).includes('Hot.'), 'no Java frames from the other container');
    t.ok(
      (w.json.warnings as { code: string }[]).some((x) => x.code === 'NO_JVM'),
      'the capture says it found no JVM',
    );
    t.equal(w.json.jitResolved, null, 'no JIT frames at all');

    const wrong = await call(url, 'POST', '/v1/profiles', { target: { podUid: pod.uid, container: 'web' } });
    t.equal(wrong.status, 404);
    t.equal(wrong.json.error.code, 'TARGET_NOT_FOUND');
    t.same(wrong.json.error.details.containers, ['app', 'worker']);
    t.match(wrong.json.error.message, `its containers: app, worker`);

    const targets = await call(url, 'GET', '/v1/targets');
    t.equal(targets.status, 200);
    t.equal(targets.json.node, nodeName);
    const mine = (targets.json.items as { podUid?: string; containerName?: string; jvm: boolean }[]).filter(
      (i) => i.podUid === pod.uid,
    );
    t.same(
      mine.map((i) => [i.containerName, i.jvm]),
      [
        ['app', true],
        ['worker', false],
      ],
      'the sandbox is not a target; the JVM is marked',
    );
  });

  t.test('?async=1: 202 at once, then status, then the SVG and the folded stacks', async (t) => {
    const jvms = containersOf(t);
    const app = await jvms.startJvm({ pod: newPod('async'), containerName: 'app' });
    await jvms.waitForWarmup(app);
    const accepted = await call(url, 'POST', '/v1/profiles?async=1', {
      target: { containerId: app.id },
      durationSeconds: 2,
    });
    t.equal(accepted.status, 202, statusNote(accepted, 202));
    const location = accepted.headers.location as string;
    t.equal(location, `/v1/profiles/${accepted.json.id}`);
    const early = await call(url, 'GET', `${location}/flamegraph.svg`);
    t.equal(early.status, 409, 'not ready while it runs');
    t.equal(early.json.error.code, 'PROFILE_NOT_READY');
    await waitFor(async () => (await call(url, 'GET', location)).json.status !== 'running', 60_000, 'the capture', 500);
    const status = await call(url, 'GET', location);
    t.match(status.json, { status: 'done', target: { containerId: app.id }, durationSeconds: 2 });
    const svg = await call(url, 'GET', `${location}/flamegraph.svg`);
    t.equal(svg.status, 200, statusNote(svg));
    t.match(svg.text, 'Hot.hotFibonacci');
    t.equal(svg.headers[HEADERS.samples], String(status.json.samples));
    const folded = await call(url, 'GET', `${location}/folded`);
    t.equal(foldedTotal(folded.text), status.json.samples);
  });

  t.test('every capture container of this agent is gone', async (t) => {
    t.same(await captureContainers(env, { [CAPTURE_LABELS.agentInstance]: agent.instanceId }), []);
    const metrics = (await call(url, 'GET', '/metrics')).text;
    t.match(metrics, /podflame_captures_total\{outcome="ok"\} [5-9]/);
    t.match(metrics, 'podflame_captures_in_flight 0');
    // Where the captures' time went, phase by phase: the agent's and the capture script's.
    for (const phase of ['containerStart', 'recordAndPerfmap', 'perfScript', 'capture_checks', 'capture_perf-start']) {
      t.match(metrics, new RegExp(`podflame_capture_phase_seconds_count\\{phase="${phase}"\\} [5-9]`), phase);
    }
  });
}
