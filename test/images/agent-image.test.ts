// The agent image from Dockerfile.agent, end to end on the real engine: built once per content hash, its entrypoint
// is the agent, it carries production dependencies only and a working HEALTHCHECK, and — run with the Docker socket
// mounted and the host network, as the README says — it serves the API and profiles a JVM container.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { HEADERS } from '../../shared/api.js';
import { TEST_LABEL, dockerCli, requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers, newPod } from '../helpers/jvm-containers.js';
import { call, statusNote } from '../agent/http.js';
import { ensureAgentImage } from './agent-image.js';

// The first run builds the image (npm ci twice, tsc) on a loaded machine.
t.setTimeout(1_500_000);
const env = await requireDockerEnv(t, { jdk: true });

interface ImageConfig {
  Config: { Entrypoint: string[] | null; Healthcheck?: { Test?: string[] } };
}

async function waitForListening(name: string): Promise<string> {
  const giveUpAt = Date.now() + 60_000;
  for (;;) {
    const logs = await dockerCli(['logs', name]).catch(() => '');
    for (const line of logs.split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'podflame-agent listening' && entry.url) return entry.url;
    }
    const state = (await dockerCli(['inspect', '-f', '{{.State.Status}}', name])).trim();
    if (state !== 'running') throw new Error(`the agent container is ${state}: ${logs}`);
    if (Date.now() > giveUpAt) throw new Error(`the agent did not start within 60 s: ${logs}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

if (env) {
  const image = await ensureAgentImage(env.docker);
  const inspected = (await env.docker.getImage(image).inspect()) as unknown as ImageConfig;

  t.test('the entrypoint is the agent, on Node 20, with production dependencies only', async (t) => {
    t.same(inspected.Config.Entrypoint, ['node', '/app/dist/agent/main.js']);
    const help = await dockerCli([
      'run',
      '--rm',
      '--network',
      'none',
      '--label',
      `${TEST_LABEL}=image`,
      image,
      '--help',
    ]);
    t.match(help, '--capture-image', 'the image runs the agent (its --help)');
    const probe = await dockerCli([
      'run',
      '--rm',
      '--network',
      'none',
      '--label',
      `${TEST_LABEL}=image`,
      '--entrypoint',
      'node',
      image,
      '-e',
      "const fs=require('fs');console.log(process.versions.node, fs.existsSync('/app/node_modules/express'), " +
        "fs.existsSync('/app/node_modules/typescript'), fs.existsSync('/app/node_modules/tap'), " +
        "fs.existsSync('/app/dist/client'))",
    ]);
    const [version, express, typescript, tap, client] = probe.trim().split(' ');
    const [major, minor] = (version ?? '').split('.').map(Number);
    t.ok((major ?? 0) > 20 || (major === 20 && (minor ?? 0) >= 18), `Node ${version} satisfies engines >=20.18.1`);
    t.equal(express, 'true', 'runtime dependencies are installed');
    t.equal(typescript, 'false', 'no typescript (a devDependency)');
    t.equal(tap, 'false', 'no tap (a devDependency)');
    t.equal(client, 'false', 'only the agent is compiled in');
  });

  t.test('run with the socket mounted: serves the API, is healthy, profiles a JVM', async (t) => {
    const name = `podflame-agent-test-${randomBytes(4).toString('hex')}`;
    const nodeName = `image-${randomBytes(3).toString('hex')}`;
    t.teardown(() => dockerCli(['rm', '-f', name]).catch(() => undefined));
    await dockerCli([
      'run',
      '-d',
      '--name',
      name,
      '--label',
      `${TEST_LABEL}=image`,
      '-v',
      `${env.socketPath}:/var/run/docker.sock`,
      '--network',
      'host',
      image,
      '--listen',
      '127.0.0.1:0',
      '--capture-image',
      env.captureImage,
      '--node-name',
      nodeName,
    ]);
    const url = await waitForListening(name);
    t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);

    const health = await call(url, 'GET', '/healthz');
    t.equal(health.status, 200, statusNote(health));
    const ready = await call(url, 'GET', '/readyz');
    t.equal(ready.status, 200, `ready: the engine answers through the mounted socket (${statusNote(ready)})`);

    // The image's HEALTHCHECK command, against the listening port and against a closed one.
    const check = inspected.Config.Healthcheck?.Test ?? [];
    t.equal(check[0], 'CMD', 'the image has a HEALTHCHECK');
    const port = new URL(url).port;
    await t.resolves(dockerCli(['exec', '-e', `PODFLAME_LISTEN=0.0.0.0:${port}`, name, ...check.slice(1)]));
    await t.rejects(dockerCli(['exec', '-e', 'PODFLAME_LISTEN=127.0.0.1:1', name, ...check.slice(1)]));

    const jvms = new JvmContainers(env);
    t.teardown(() => jvms.cleanup());
    const pod = newPod('image');
    await jvms.startSandbox(pod);
    const app = await jvms.startJvm({ pod, containerName: 'app' });
    await jvms.waitForWarmup(app);
    const profile = await call(url, 'POST', '/v1/profiles', {
      target: { podUid: pod.uid, container: 'app' },
      durationSeconds: 3,
      frequencyHz: 99,
    });
    t.equal(profile.status, 200, statusNote(profile));
    t.match(profile.headers['content-type'], /^image\/svg\+xml/);
    t.equal(profile.headers[HEADERS.node], nodeName);
    t.ok(Number(profile.headers[HEADERS.samples]) > 0, `${profile.headers[HEADERS.samples]} samples`);
    t.match(profile.text, 'Hot.hotFibonacci', 'the JVM hot method is named');
  });
}
