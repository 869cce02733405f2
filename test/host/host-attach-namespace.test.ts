// Host mode with the real jattach (2.1) and a real JVM in a container whose attach trigger names
// (`.attach_pid1` in its working directory and in its /tmp) are symlinks to a canary file on this machine (#13, cold
// attacker's H1). jattach creates that trigger with creat(2) (O_TRUNC) and later deletes it; without CAP_SYS_CHROOT
// its setns into the JVM's mount namespace fails and it goes through /proc/<pid>/cwd and /proc/<pid>/root/tmp from
// our root instead, where the links lead to the canary. The capture script runs in this machine's PID namespace as
// the host-mode overlay runs it: root under setpriv with exactly the overlay's capabilities as its bounding set.
// - without SYS_CHROOT: the canary is untouched and the attach is refused with ATTACH_FAILED naming SYS_CHROOT;
// - the same for a Flight Recorder event (alloc): EVENT_UNSUPPORTED naming SYS_CHROOT;
// - with SYS_CHROOT: the attach succeeds (Java methods named) and the canary is still untouched.
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { REPO_ROOT, TEST_LABEL, dockerCli, dockerSocketPath, ensureJdkImage, inCI } from '../helpers/docker-env.js';
import { nativeDir } from '../helpers/native-build.js';
import { agentCapabilities } from '../helpers/agent-capabilities.js';
import { scriptWarnings } from '../helpers/script-warnings.js';

t.setTimeout(300_000);

const CAPTURE_SCRIPT = join(REPO_ROOT, 'agent/capture/podflame-capture.sh');
const CANARY_TEXT = 'the node file a JVM must not reach';

/** The capabilities the host-mode overlay adds to the agent container, lowercased, without SYS_CHROOT. */
function overlayCapabilitiesWithoutChroot(): string[] {
  return agentCapabilities()
    .map((c) => c.toLowerCase())
    .filter((c) => c !== 'sys_chroot');
}

interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the capture script in host mode on one PID, as root bounded to `caps`. */
function runCapture(
  caps: readonly string[],
  pid: number,
  work: string,
  native: string,
  event = 'cpu',
): Promise<ScriptRun> {
  return new Promise((resolve) => {
    execFile(
      'setpriv',
      [
        '--inh-caps=-all',
        `--bounding-set=-all,${caps.map((c) => `+${c}`).join(',')}`,
        '--',
        'bash',
        CAPTURE_SCRIPT,
        '2',
        '99',
      ],
      {
        env: {
          ...process.env,
          PODFLAME_TARGET_PIDS: String(pid),
          PODFLAME_WORK_DIR: work,
          PODFLAME_NATIVE_DIR: native,
          PODFLAME_EVENT: event,
        },
        timeout: 120_000,
        maxBuffer: 256 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const warnings = scriptWarnings;

/** A work directory of the capture's own, and the node-/tmp map copies it lists removed with it. */
function workDir(t: Test): string {
  const work = mkdtempSync('/tmp/hostattach-work-');
  t.teardown(() => {
    let copies = '';
    try {
      copies = readFileSync(join(work, 'copied-maps'), 'utf8');
    } catch {
      // no copy was made
    }
    for (const copy of copies.split('\n').filter((l) => /^\/tmp\/perf-\d+\.map$/.test(l)))
      rmSync(copy, { force: true });
    rmSync(work, { recursive: true, force: true });
  });
  return work;
}

/** The JDK test image, or why this file is skipped (not root, no Docker engine); a missing one fails in CI. */
async function jdkImageOrSkip(): Promise<{ image: string } | { skip: string }> {
  if (process.getuid?.() !== 0) return { skip: 'needs root (setpriv, the host PID namespace)' };
  try {
    return { image: await ensureJdkImage(new Docker({ socketPath: dockerSocketPath() })) };
  } catch (err) {
    if (inCI()) throw err;
    return { skip: `no Docker engine or JDK image: ${(err as Error).message}` };
  }
}
const prepared = await jdkImageOrSkip();
const skip = 'skip' in prepared ? prepared.skip : false;

t.test(
  'a JVM whose attach trigger links to a node file: refused without SYS_CHROOT, attached with it',
  { skip },
  async (t) => {
    if (!('image' in prepared)) return;
    const image = prepared.image;
    const native = await nativeDir();
    const suffix = randomBytes(4).toString('hex');
    const canary = `/var/tmp/hostattach-canary-${suffix}`;
    writeFileSync(canary, CANARY_TEXT);
    t.teardown(() => rmSync(canary, { force: true }));
    const name = `hostattach-jvm-${suffix}`;
    t.teardown(() => dockerCli(['rm', '-f', name]).catch(() => undefined));
    // Java runs as PID 1 (namespace PID 1: the trigger is .attach_pid1), as root, its working directory /app.
    await dockerCli([
      'run',
      '-d',
      '--network',
      'none',
      '--name',
      name,
      '--label',
      `${TEST_LABEL}=hostattach`,
      image,
      'sh',
      '-c',
      `ln -s ${canary} /app/.attach_pid1 && ln -s ${canary} /tmp/.attach_pid1 && ` +
        'exec java -Xmx128m -XX:+PreserveFramePointer -cp /app Hot',
    ]);
    for (let i = 0; !(await dockerCli(['logs', name])).includes('Hot: started'); i++) {
      if (i > 300) throw new Error(`${name} never printed "Hot: started"`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const pid = Number((await dockerCli(['inspect', '-f', '{{.State.Pid}}', name])).trim());
    const links = async (): Promise<string> =>
      dockerCli(['exec', name, 'sh', '-c', 'readlink /app/.attach_pid1 /tmp/.attach_pid1']);
    t.equal((await links()).trim(), `${canary}\n${canary}`, 'both trigger names are links to the canary');
    const caps = overlayCapabilitiesWithoutChroot();

    await t.test('without SYS_CHROOT: refused, the canary untouched', async (tt) => {
      const run = await runCapture(caps, pid, workDir(tt), native);
      tt.equal(run.code, 0, `the capture still records (stderr: ${run.stderr.slice(-2000)})`);
      tt.equal(readFileSync(canary, 'utf8'), CANARY_TEXT, 'the canary is untouched');
      const refused = warnings(run.stderr, 'ATTACH_FAILED');
      tt.equal(refused.length, 1, `one ATTACH_FAILED: ${JSON.stringify(refused)}`);
      tt.match(refused[0]?.message ?? '', /mount namespace.*add SYS_CHROOT to the agent's capabilities/);
      tt.equal(refused[0]?.pid, pid);
      tt.equal((await links()).trim(), `${canary}\n${canary}`, 'jattach never ran: its trigger links are still there');
    });

    await t.test('without SYS_CHROOT, a Flight Recorder event: EVENT_UNSUPPORTED, the canary untouched', async (tt) => {
      const run = await runCapture(caps, pid, workDir(tt), native, 'alloc');
      tt.equal(run.code, 6, 'no JVM could record the event');
      tt.equal(readFileSync(canary, 'utf8'), CANARY_TEXT, 'the canary is untouched');
      const refused = warnings(run.stderr, 'EVENT_UNSUPPORTED');
      tt.equal(refused.length, 1, `one EVENT_UNSUPPORTED: ${JSON.stringify(refused)}`);
      tt.match(refused[0]?.message ?? '', /add SYS_CHROOT to the agent's capabilities/);
      tt.equal((await links()).trim(), `${canary}\n${canary}`, 'jattach never ran');
    });

    await t.test('with SYS_CHROOT: attached in the JVM’s namespace, Java names, the canary untouched', async (tt) => {
      const run = await runCapture([...caps, 'sys_chroot'], pid, workDir(tt), native);
      tt.equal(run.code, 0, `the capture succeeded (stderr: ${run.stderr.slice(-2000)})`);
      tt.same(warnings(run.stderr, 'ATTACH_FAILED'), [], 'no ATTACH_FAILED');
      tt.match(run.stdout, /Hot\.hotFibonacci/, 'Java methods are named from the JVM’s map');
      tt.equal(readFileSync(canary, 'utf8'), CANARY_TEXT, 'the canary is untouched');
    });
  },
);
