// What a capture must never do to a JVM, and what it must leave behind, through the agent on the Docker path (JDK 17
// of the multi-JDK image, JfrMix): issue #14's cold try. A JVM that does not catch SIGQUIT (-Xrs) and has no attach
// socket (attaching disabled, or its socket removed) is never attached to (jattach's SIGQUIT would kill it): cpu
// says so with a warning, alloc with EVENT_UNSUPPORTED, and the JVM lives on. A JVM already recording (-XX:StartFlightRecording) still gives alloc
// and lock graphs, two captures of different events at once. Our recording lasts the capture plus a small margin,
// and the files a killed capture left in the JVM's /tmp (ours by name, regular files, past their time) are removed
// by the next capture, and nothing else.
import t, { type Test } from 'tap';
import { HEADERS } from '../../shared/api.js';
import { parseFolded } from '../../shared/folded.js';
import { javaBinaryFor, requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers, newPod, type JvmOptions, type StartedContainer } from '../helpers/jvm-containers.js';
import { call, statusNote } from '../agent/http.js';
import { startRealAgent } from '../agent/e2e-agent.js';
import { waitFor } from '../helpers/wait-for.js';

t.setTimeout(900_000);
const env = await requireDockerEnv(t, { jdks: true });

if (env) {
  const { url } = await startRealAgent(t, env);
  const jvmsOf = (tt: Test): JvmContainers => {
    const jvms = new JvmContainers(env);
    tt.teardown(() => jvms.cleanup());
    return jvms;
  };
  const startMix = async (jvms: JvmContainers, more: Partial<JvmOptions> = {}) => {
    const app = await jvms.startJvm({
      pod: newPod('jfr-capture'),
      containerName: 'mix',
      jdk: 17,
      mainClass: 'JfrMix',
      user: '1000:1000',
      launch: 'shell',
      ...more,
    });
    await jvms.waitForWarmup(app, 2000);
    return app;
  };
  const profile = (app: StartedContainer, event: string, durationSeconds = 3) =>
    call(url, 'POST', '/v1/profiles', { target: { containerId: app.id }, durationSeconds, format: 'folded', event });
  const javaAlive = async (jvms: JvmContainers, app: StartedContainer): Promise<boolean> =>
    (await jvms.execResult(app, ['pgrep', '-x', 'java'])).exitCode === 0 &&
    !(await jvms.logs(app)).includes('java exited');
  const jcmd = javaBinaryFor(17).replace(/java$/, 'jcmd');
  const recordingsOf = (jvms: JvmContainers, app: StartedContainer): Promise<string> =>
    jvms.exec(app, ['sh', '-c', `for p in $(pgrep -x java); do ${jcmd} $p JFR.check; done`], '1000:1000');

  // HotSpot opens the attach socket of a JVM with -Xrs at its start (it could not be asked later), unless attaching is
  // disabled: then a SIGQUIT kills it. The same holds once its socket is gone (a /tmp cleaner, a restart's leftover).
  t.test('-Xrs with attaching disabled: EVENT_UNSUPPORTED says why, and the JVM is never signalled', async (tt) => {
    const jvms = jvmsOf(tt);
    const app = await startMix(jvms, { jvmFlags: ['-Xrs', '-XX:+DisableAttachMechanism'] });
    const alloc = await profile(app, 'alloc');
    tt.equal(alloc.status, 422, statusNote(alloc, 422));
    tt.equal(alloc.json.error.code, 'EVENT_UNSUPPORTED');
    tt.match(alloc.json.error.message, /cannot record alloc: .*-XX:\+DisableAttachMechanism/);
    tt.match(alloc.json.error.message, /JDK 17[.\d]* at \/usr\/lib\/jvm\//, 'names the JDK without attaching');
    tt.ok(await javaAlive(jvms, app), 'the JVM survived the alloc capture');
  });

  t.test('attaching disabled: refused at once, naming the JDK, without a thread dump in the JVM (#14)', async (tt) => {
    const jvms = jvmsOf(tt);
    const app = await startMix(jvms, { jvmFlags: ['-XX:+DisableAttachMechanism'] });
    const lock = await profile(app, 'lock');
    tt.equal(lock.status, 422, statusNote(lock, 422));
    tt.match(
      lock.json.error.message,
      /\(JDK 17[.\d]* at \/usr\/lib\/jvm\/[^)]*\) cannot record lock .*DisableAttachMechanism/,
    );
    // Asking it anything sends SIGQUIT, which this JVM answers with a thread dump on its stdout, then never attaches.
    tt.notMatch(await jvms.logs(app), /Full thread dump/, 'the JVM was not signalled');
  });

  t.test('-Xrs whose attach socket is gone: cpu warns and alloc refuses, naming -Xrs; the JVM lives', async (tt) => {
    const jvms = jvmsOf(tt);
    const app = await startMix(jvms, { jvmFlags: ['-Xrs'] });
    // With its socket (opened at start) it is attached to as any JVM: the check finds the socket.
    const withSocket = await profile(app, 'cpu', 2);
    tt.equal(withSocket.status, 200, statusNote(withSocket));
    const first = JSON.stringify(
      (await call(url, 'GET', `/v1/profiles/${withSocket.headers[HEADERS.profileId]}`)).json,
    );
    tt.notMatch(first, /ATTACH_FAILED/, 'with its socket: attached, no warning');
    await jvms.exec(app, ['sh', '-c', 'rm -f /tmp/.java_pid*'], '1000:1000');

    const alloc = await profile(app, 'alloc');
    tt.equal(alloc.status, 422, statusNote(alloc, 422));
    tt.equal(alloc.json.error.code, 'EVENT_UNSUPPORTED');
    tt.match(alloc.json.error.message, /cannot record alloc: .*it runs with -Xrs .*-XX:\+StartAttachListener/);
    tt.ok(await javaAlive(jvms, app), 'the JVM survived the alloc capture');

    const cpu = await profile(app, 'cpu', 2);
    tt.equal(cpu.status, 200, statusNote(cpu));
    const meta = JSON.stringify((await call(url, 'GET', `/v1/profiles/${cpu.headers[HEADERS.profileId]}`)).json);
    tt.match(meta, /ATTACH_FAILED[^}]*-Xrs/, 'cpu: a warning names -Xrs');
    tt.ok(await javaAlive(jvms, app), 'the JVM survived the cpu capture');
  });

  t.test('a JVM already recording (-XX:StartFlightRecording): alloc and lock at once both give graphs', async (tt) => {
    const jvms = jvmsOf(tt);
    const app = await startMix(jvms, { jvmFlags: ['-XX:StartFlightRecording'] });
    const [alloc, lock] = await Promise.all([profile(app, 'alloc'), profile(app, 'lock')]);
    tt.equal(alloc.status, 200, statusNote(alloc));
    tt.equal(lock.status, 200, statusNote(lock));
    tt.match(
      [...parseFolded(alloc.text).stacks.keys()].join('\n'),
      /AllocLoop\.allocateBuffers/,
      'alloc has its stacks',
    );
    tt.match([...parseFolded(lock.text).stacks.keys()].join('\n'), /LockContention\.holdLock/, 'lock has its stacks');
    tt.notMatch(await recordingsOf(jvms, app), /podflame-/, 'no recording of ours left; the JVM keeps its own');
  });

  t.test(
    'the recording lasts the capture plus 10 s; a killed capture leaves files the next one removes',
    async (tt) => {
      const jvms = jvmsOf(tt);
      const app = await startMix(jvms);
      // As a capture killed outright leaves them: its .jfr past its time, and beside them what is not ours to remove.
      const past = Math.floor(Date.now() / 1000) - 60;
      const future = past + 3600;
      await jvms.exec(
        app,
        [
          'sh',
          '-c',
          `touch /tmp/podflame-${past}-1-1.jfr /tmp/podflame-${past}-1-1.jfc /tmp/podflame-${future}-2-2.jfr ` +
            `/tmp/keep-podflame-${past}-3-3.jfr && ln -s /app /tmp/podflame-${past}-4-4.jfr`,
        ],
        '1000:1000',
      );
      const answer = profile(app, 'alloc', 4);
      await waitFor(
        async () => /name=podflame-\S+ duration=14s/.test(await recordingsOf(jvms, app)),
        60_000,
        'our recording running with a duration of 4 + 10 s',
        300,
      );
      const alloc = await answer;
      tt.equal(alloc.status, 200, statusNote(alloc));
      const left = (await jvms.exec(app, ['ls', '-A', '/tmp'], '1000:1000'))
        .split('\n')
        .filter((n) => /podflame/.test(n));
      tt.same(
        left.sort(),
        [`keep-podflame-${past}-3-3.jfr`, `podflame-${future}-2-2.jfr`, `podflame-${past}-4-4.jfr`].sort(),
        "only the leftovers past their time are removed: not another capture's, not a link, not another name",
      );
    },
  );
}
