/**
 * Records the capture unit tests' fixtures from a real capture (not a test file): a JVM without
 * -XX:+PreserveFramePointer (so the stderr carries a warning) is captured for 3 s at 99 Hz through the Docker
 * attach API, and the raw multiplexed stream is saved byte for byte, plus the capture's stderr as plain text.
 * Run on a machine with the engine (see test/README.md), then review and commit:
 *
 *   RECORD=1 node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs test/capture/record-fixtures.ts
 *   BLESS=1 npx tap --disable-coverage test/capture/capture-units.test.ts   # rewrite the goldens
 */
import { writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { prepareDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers } from '../helpers/jvm-containers.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

// Only on purpose: a test runner given this folder would otherwise run it and overwrite the reviewed fixtures.
if (process.env.RECORD !== '1') {
  process.stdout.write('record-fixtures: set RECORD=1 to re-record test/capture/fixtures\n');
  process.exit(0);
}

const env = await prepareDockerEnv({ jdk: true });
const jvms = new JvmContainers(env);
try {
  const app = await jvms.startJvm({ preserveFramePointer: false });
  await jvms.waitForWarmup(app);
  const capture = await env.docker.createContainer({
    Image: env.captureImage,
    Cmd: ['3', '99'],
    Labels: { 'io.podflame.test': 'record-fixtures' },
    HostConfig: {
      PidMode: `container:${app.id}`,
      NetworkMode: 'none',
      CapAdd: ['SYS_ADMIN', 'SYS_PTRACE', 'SYSLOG'],
      SecurityOpt: ['seccomp=unconfined'],
      LogConfig: { Type: 'none', Config: {} },
    },
  });
  try {
    const stream = (await capture.attach({ stream: true, stdout: true, stderr: true })) as NodeJS.ReadableStream;
    const raw: Buffer[] = [];
    stream.on('data', (d: Buffer) => raw.push(d));
    const ended = new Promise((resolve) => stream.on('end', resolve));
    await capture.start();
    await capture.wait();
    await ended;
    const bytes = Buffer.concat(raw);
    await writeFile(`${FIXTURES}attach-stream.bin`, bytes);
    // The stderr half, split by dockerode's own demuxer (an implementation independent of the one under test).
    const stderr: Buffer[] = [];
    const err = new PassThrough().on('data', (d: Buffer) => stderr.push(d));
    const source = new PassThrough();
    env.docker.modem.demuxStream(source, new PassThrough().resume(), err);
    source.end(bytes);
    await new Promise((r) => setImmediate(r));
    await writeFile(`${FIXTURES}capture-stderr.txt`, Buffer.concat(stderr));
    process.stdout.write(
      `recorded ${bytes.length} bytes of attach stream, ${Buffer.concat(stderr).length} of stderr\n`,
    );
  } finally {
    await capture.remove({ force: true });
  }
} finally {
  await jvms.cleanup();
}
