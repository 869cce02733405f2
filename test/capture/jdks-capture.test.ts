// End to end through the agent on the Docker path, on JDK 8, 11, 17, 21 and 25 (the multi-JDK image): every JIT
// frame named on every JDK (Compiler.perfmap on 17+, podflame's JVMTI agent on 8-16), inlined methods as frames of
// their own when asked for, and the hard cases of getting the agent into a JVM: a read-only root filesystem, a /tmp
// that is a symlink, a JVM that exits during the attach. JVMs run one at a time: each keeps five threads busy.
import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { HEADERS, type CaptureWarning } from '../../shared/api.js';
import { JDK_MAJORS, requireDockerEnv, type DockerEnv, type JdkMajor } from '../helpers/docker-env.js';
import { JvmContainers, newPod, type JvmOptions, type StartedContainer } from '../helpers/jvm-containers.js';
import { call, statusNote, type Answer } from '../agent/http.js';
import { startRealAgent } from '../agent/e2e-agent.js';

t.setTimeout(1_800_000);
const env = await requireDockerEnv(t, { jdks: true });

/** The test app's hot methods, one per thread (test/workloads/jdks/Shop8.java). */
const HOT_METHODS = ['Shop8.forecastDemand', 'Shop8.sortPrices', 'Shop8.planShelves', 'Shop8.shuffleBundles'];

function warningsOf(a: Answer): CaptureWarning[] {
  return JSON.parse(decodeURIComponent(a.headers[HEADERS.warnings] ?? '[]')) as CaptureWarning[];
}

const codes = (ws: CaptureWarning[]): string[] => ws.map((w) => w.code).sort();

if (env) {
  const { url } = await startRealAgent(t, env);
  const jvmsOf = (tt: Test): JvmContainers => {
    const jvms = new JvmContainers(env);
    tt.teardown(() => jvms.cleanup());
    return jvms;
  };
  // A JVM as most pods run one: uid 1000, Java under `sh -c`, frame pointers on; warmed up before the capture.
  const startShop = async (jvms: JvmContainers, jdk: JdkMajor, more: Partial<JvmOptions> = {}) => {
    const app = await jvms.startJvm({
      pod: newPod(`jdk${jdk}`),
      containerName: 'shop',
      jdk,
      mainClass: 'Shop8',
      user: '1000:1000',
      launch: 'shell',
      ...more,
    });
    await jvms.waitForWarmup(app, 3000);
    return app;
  };
  const profile = (app: StartedContainer, extra: Record<string, unknown> = {}) =>
    call(url, 'POST', '/v1/profiles', {
      target: { containerId: app.id },
      durationSeconds: 3,
      frequencyHz: 99,
      format: 'folded',
      ...extra,
    });

  for (const jdk of JDK_MAJORS) {
    t.test(`JDK ${jdk}: every JIT frame named, the hot methods in the graph`, async (tt) => {
      const app = await startShop(jvmsOf(tt), jdk);
      const a = await profile(app);
      tt.equal(a.status, 200, statusNote(a));
      const jit = Number(a.headers[HEADERS.jitResolved]);
      tt.ok(jit >= 0.99, `≥ 99% of JIT frames named (${a.headers[HEADERS.jitResolved]})`);
      // 8-16 through our agent, 17+ through Compiler.perfmap: no warning either way (no agent, no JEP 451 notice).
      tt.same(codes(warningsOf(a)), [], `no warnings: ${JSON.stringify(warningsOf(a))}`);
      for (const m of HOT_METHODS) tt.match(a.text, new RegExp(`;${m.replace('.', '\\.')}_\\[j\\]`), `${m} named`);
      tt.notMatch(a.text, /\[unknown jit\]/, 'no unresolved JIT frame');
    });
  }

  // The JVM itself reports Pricing.total inlined into the checkout lambda (-XX:+PrintInlining on its stdout); the
  // default graph charges its time to the lambda, the inlined one shows it as a frame of its own under the lambda.
  for (const jdk of [8, 17] as const) {
    t.test(`JDK ${jdk}: "java": {"inlined": true} shows Pricing.total under its caller`, async (tt) => {
      const jvms = jvmsOf(tt);
      const app = await startShop(jvms, jdk, {
        jvmFlags: ['-XX:+UnlockDiagnosticVMOptions', '-XX:+DebugNonSafepoints', '-XX:+PrintInlining'],
      });
      // C2's compile of the lambda (on-stack replacement), logged by the JVM: from then on the loop runs it.
      const inlinedLine = /Pricing::total \(\d+ bytes\)\s+inline \(hot\)/;
      await jvms.waitForOutput(app, inlinedLine, 120_000);
      tt.match(await jvms.logs(app), inlinedLine, 'the JVM reports Pricing::total inlined');

      const plain = await profile(app);
      tt.equal(plain.status, 200, statusNote(plain));
      tt.notMatch(plain.text, /Pricing\.total/, 'without inlined frames, Pricing.total is invisible');

      const inlined = await profile(app, { java: { inlined: true } });
      tt.equal(inlined.status, 200, statusNote(inlined));
      tt.match(
        inlined.text,
        /^shop-checkout;.*;Shop8\.lambda\$startCheckout\$0_\[j\];Pricing\.total_\[i\] \d+$/m,
        'Pricing.total is its own frame, marked inlined, right under the lambda',
      );
      const inlinedSamples = inlined.text
        .split('\n')
        .filter((l) => l.includes(';Pricing.total_[i]'))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      const checkoutSamples = inlined.text
        .split('\n')
        .filter((l) => l.startsWith('shop-checkout;'))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      tt.ok(
        inlinedSamples * 2 > checkoutSamples,
        `most of the checkout thread's time is in Pricing.total (${inlinedSamples} of ${checkoutSamples})`,
      );
      tt.ok(Number(inlined.headers[HEADERS.jitResolved]) >= 0.99, 'every JIT frame named');
      tt.same(codes(warningsOf(inlined)), [], 'no warnings (DebugNonSafepoints is on, JDK < 21)');
      const id = inlined.headers[HEADERS.profileId] as string;
      const meta = await call(url, 'GET', `/v1/profiles/${id}`);
      tt.match(meta.json, { java: { inlined: true } }, 'the profile records that inlined frames were asked for');
    });
  }

  t.test('inlined frames on JDK 21 without DebugNonSafepoints: both warnings say what happened', async (tt) => {
    const app = await startShop(jvmsOf(tt), 21);
    const a = await profile(app, { java: { inlined: true } });
    tt.equal(a.status, 200, statusNote(a));
    tt.same(codes(warningsOf(a)), ['DYNAMIC_AGENT_LOADED', 'INLINING_IMPRECISE']);
    tt.ok(Number(a.headers[HEADERS.jitResolved]) >= 0.99, 'names still complete');
    tt.match(a.text, /Shop8\.forecastDemand_\[j\]/);
  });

  t.test('JDK 25 started with -XX:+EnableDynamicAgentLoading: no dynamic-agent warning (it logs none)', async (tt) => {
    const jvms = jvmsOf(tt);
    const app = await startShop(jvms, 25, {
      jvmFlags: ['-XX:+EnableDynamicAgentLoading', '-XX:+UnlockDiagnosticVMOptions', '-XX:+DebugNonSafepoints'],
    });
    const a = await profile(app, { java: { inlined: true } });
    tt.equal(a.status, 200, statusNote(a));
    tt.same(codes(warningsOf(a)), [], `no warnings: ${JSON.stringify(warningsOf(a))}`);
    tt.notMatch(await jvms.logs(app), /agent has been loaded dynamically/, 'and the JVM printed no notice');
    const plain = await startShop(jvms, 25);
    const b = await profile(plain, { java: { inlined: true } });
    tt.match(
      await jvms.logs(plain),
      /WARNING: A JVM TI agent has been loaded dynamically/,
      'without the flag, it does',
    );
    tt.ok(codes(warningsOf(b)).includes('DYNAMIC_AGENT_LOADED'), 'and the capture says so');
  });

  t.test('a read-only root filesystem: names where the JVM can write, a clear warning where not', async (tt) => {
    const jvms = jvmsOf(tt);
    // JDK 8 needs our library loaded, and no directory can take it: /tmp and /dev/shm (as in Docker) are noexec.
    const noexec = await startShop(jvms, 8, { readonlyRootfs: true, tmpfs: { '/tmp': 'rw,noexec,nosuid' } });
    const a = await profile(noexec);
    tt.equal(a.status, 200, `the graph still comes (${statusNote(a)})`);
    const failed = warningsOf(a).find((w) => w.code === 'ATTACH_FAILED');
    tt.ok(failed, `ATTACH_FAILED: ${JSON.stringify(warningsOf(a))}`);
    tt.match(failed?.message, /\/tmp is mounted noexec/, 'it names /tmp and why');
    tt.match(failed?.message, /\/dev\/shm is mounted noexec/, 'and /dev/shm and why');
    tt.ok(Number(a.headers[HEADERS.jitResolved]) < 0.5, 'the graph lacks Java names, and says so');

    // JDK 17 on the same layout: Compiler.perfmap only writes a file, which a noexec /tmp allows.
    const noexec17 = await startShop(jvms, 17, { readonlyRootfs: true, tmpfs: { '/tmp': 'rw,noexec,nosuid' } });
    const b = await profile(noexec17);
    tt.equal(b.status, 200, statusNote(b));
    tt.same(codes(warningsOf(b)), [], 'JDK 17: no warnings');
    tt.ok(Number(b.headers[HEADERS.jitResolved]) >= 0.99, 'JDK 17: every JIT frame named');

    // The usual Kubernetes layout: a read-only root with a writable emptyDir at /tmp. JDK 8 gets its names.
    const withTmp = await startShop(jvms, 8, { readonlyRootfs: true, tmpfs: { '/tmp': 'rw,exec,mode=1777' } });
    const c = await profile(withTmp);
    tt.equal(c.status, 200, statusNote(c));
    tt.same(codes(warningsOf(c)), [], 'no warnings');
    tt.ok(Number(c.headers[HEADERS.jitResolved]) >= 0.99, 'every JIT frame named');
    const left = await jvms.exec(withTmp, ['sh', '-c', 'ls -A /tmp | grep -c -e podflame -e "perf-" || true']);
    tt.equal(left.trim(), '0', 'nothing of ours is left in /tmp');

    // No writable /tmp at all: the JVM cannot even open its attach socket. Said so; the graph still comes.
    const sealed = await startShop(jvms, 11, { readonlyRootfs: true });
    const d = await profile(sealed);
    tt.equal(d.status, 200, statusNote(d));
    const sealedWarning = warningsOf(d).find((w) => w.code === 'ATTACH_FAILED');
    tt.ok(sealedWarning, `ATTACH_FAILED: ${JSON.stringify(warningsOf(d))}`);
    tt.match(sealedWarning?.message, /could not attach/, 'the attach itself failed');
    tt.match(sealedWarning?.message, /writable \/tmp/, 'and what to do about it');
  });

  t.test('a /tmp that is a symlink: followed inside the target only', async (tt) => {
    const jvms = jvmsOf(tt);
    // /tmp -> /var/tmp/shop (absolute): resolved from the capture's own root, it would be a path outside the target.
    const app = await startShop(jvms, 11, {
      user: '0:0',
      shellPrefix: 'mkdir -p /var/tmp/shop && chmod 1777 /var/tmp/shop && rm -rf /tmp && ln -s /var/tmp/shop /tmp',
    });
    const a = await profile(app);
    tt.equal(a.status, 200, statusNote(a));
    tt.same(codes(warningsOf(a)), [], `no warnings: ${JSON.stringify(warningsOf(a))}`);
    tt.ok(Number(a.headers[HEADERS.jitResolved]) >= 0.99, 'every JIT frame named, through the link');
    const left = await jvms.exec(app, ['sh', '-c', 'ls -A /var/tmp/shop | grep -c -e podflame -e "perf-" || true']);
    tt.equal(left.trim(), '0', "nothing of ours is left in the link's target");
  });

  t.test('a JVM that exits during the attach: the capture ends with what it has, and says so', async (tt) => {
    const jvms = jvmsOf(tt);
    // The JVM exits as soon as our library appears in its /tmp, i.e. between placing it and loading it.
    const library = `podflame-perfmap-${await agentLibraryHash(env)}.so`;
    const app = await startShop(jvms, 8, { args: [`--exit-file=/tmp/${library}`] });
    const a = await profile(app);
    tt.equal(a.status, 200, statusNote(a));
    tt.ok(Number(a.headers[HEADERS.samples]) > 0, 'the samples recorded before are kept');
    tt.match(
      await jvms.logs(app),
      /Shop8: exiting, .* appeared\s+java exited with status 0/,
      'the JVM exited by itself',
    );
    // Where it exits (before the load, during it, before the map is read) decides what is lost, but never silently:
    // a graph short of Java names carries the warning that says why.
    const named = Number(a.headers[HEADERS.jitResolved]) >= 0.99;
    const why = warningsOf(a).find((w) => ['ATTACH_FAILED', 'PERFMAP_FAILED', 'TARGET_EXITED'].includes(w.code));
    tt.ok(named || why, `names complete, or a warning says why: ${JSON.stringify(warningsOf(a))}`);
    if (why?.code === 'ATTACH_FAILED') tt.match(why.message, /the JVM has exited/, 'the warning says the JVM is gone');
  });
}

/** The first 16 hex digits of the SHA-256 of the capture image's agent library: the name the capture gives it. */
async function agentLibraryHash(env: DockerEnv): Promise<string> {
  const container = await env.docker.createContainer({
    Image: env.captureImage,
    Entrypoint: ['cat', '/usr/local/lib/podflame/libpodflame-perfmap.so'],
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    const stream = await container.attach({ stream: true, stdout: true, stderr: false });
    const chunks: Buffer[] = [];
    const out = new (await import('node:stream')).PassThrough();
    out.on('data', (c: Buffer) => chunks.push(c));
    env.docker.modem.demuxStream(stream, out, process.stderr);
    await container.start();
    await container.wait();
    await new Promise((r) => setImmediate(r));
    return createHash('sha256').update(Buffer.concat(chunks)).digest('hex').slice(0, 16);
  } finally {
    await container.remove({ force: true });
  }
}
