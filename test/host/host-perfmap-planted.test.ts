// Host mode with a real JVM whose container planted its own /tmp/perf-1.map (#13, cold attack 17, finding 1): perf
// script looks for a JIT map in the target's mount namespace first, and the JVM runs with
// -XX:+DisableAttachMechanism, so no real map replaces the planted one. Before podflame's map guard, a link to
// /dev/zero made perf script read until memory ran out (830 MB, the agent's cgroup OOM), a FIFO made it wait until
// the script's timeout (no profile), and a huge sparse file was read whole. Each case: the capture succeeds, its
// JVM's samples kept with JIT frames unnamed, and a PERFMAP_FAILED warning names why the map was refused.
// The script runs as the host-mode overlay runs it (root under setpriv, the overlay's capabilities) and under an
// address-space limit (prlimit), so that an unguarded perf fails fast here instead of eating the machine.
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { REPO_ROOT, TEST_LABEL, dockerCli, dockerSocketPath, ensureJdkImage, inCI } from '../helpers/docker-env.js';
import { nativeDir } from '../helpers/native-build.js';
import { agentCapabilities } from '../helpers/agent-capabilities.js';
import { scriptWarnings } from '../helpers/script-warnings.js';

t.setTimeout(600_000);

const CAPTURE_SCRIPT = join(REPO_ROOT, 'agent/capture/podflame-capture.sh');
// The capture's whole address space: the script, perf record and perf script each stay well below it; /dev/zero
// read line by line passes it within seconds.
const ADDRESS_SPACE_BYTES = 2 * 1024 * 1024 * 1024;
// A map that never ends within the test: the script gives up on perf script after this long (no profile).
const SCRIPT_TIMEOUT_SECONDS = 30;

interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the capture script in host mode on one PID, as the overlay runs it, with its address space bounded. */
function runCapture(pid: number, work: string, native: string): Promise<ScriptRun> {
  const caps = agentCapabilities().map((c) => `+${c.toLowerCase()}`);
  return new Promise((resolve) => {
    execFile(
      'prlimit',
      [
        `--as=${ADDRESS_SPACE_BYTES}`,
        '--',
        'setpriv',
        '--inh-caps=-all',
        `--bounding-set=-all,${caps.join(',')}`,
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
          PODFLAME_EVENT: 'cpu',
          PODFLAME_SCRIPT_TIMEOUT: String(SCRIPT_TIMEOUT_SECONDS),
        },
        timeout: 240_000,
        maxBuffer: 256 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const warnings = scriptWarnings;

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

// What the workload plants at /tmp/perf-1.map (Java is PID 1 in its container), and what the warning must say.
const PLANTED = [
  { what: 'a link to /dev/zero', plant: 'ln -s /dev/zero /tmp/perf-1.map', reason: /is a symbolic link/ },
  { what: 'a FIFO', plant: 'mkfifo /tmp/perf-1.map', reason: /is not a regular file \(a FIFO\)/ },
  {
    what: 'a 1 GiB sparse file',
    plant: 'truncate -s 1G /tmp/perf-1.map',
    reason: /is larger than the 67108864 bytes podflame reads \(1073741824 bytes\)/,
  },
];

for (const { what, plant, reason } of PLANTED) {
  t.test(`a JVM's planted /tmp/perf-1.map, ${what}: refused with a warning, the capture kept`, { skip }, async (t) => {
    if (!('image' in prepared)) return;
    const native = await nativeDir();
    const name = `fix-perfmap-jvm-${randomBytes(4).toString('hex')}`;
    t.teardown(() => dockerCli(['rm', '-f', name]).catch(() => undefined));
    await dockerCli([
      'run',
      '-d',
      '--network',
      'none',
      '--name',
      name,
      '--label',
      `${TEST_LABEL}=fix-perfmap`,
      prepared.image,
      'sh',
      '-c',
      `${plant} && exec java -XX:+DisableAttachMechanism -Xmx128m -XX:+PreserveFramePointer -cp /app Hot`,
    ]);
    for (let i = 0; !(await dockerCli(['logs', name])).includes('Hot: started'); i++) {
      if (i > 300) throw new Error(`${name} never printed "Hot: started"`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const pid = Number((await dockerCli(['inspect', '-f', '{{.State.Pid}}', name])).trim());
    const work = mkdtempSync('/tmp/fix-perfmap-work-');
    t.teardown(() => rmSync(work, { recursive: true, force: true }));

    const run = await runCapture(pid, work, native);
    t.equal(run.code, 0, `the capture succeeded (stderr: ${run.stderr.slice(-2000)})`);
    // e.g. `7f7190eca9f0 [unknown] (/tmp/perf-8437.map)`: perf names the region by the PID it sees.
    t.match(run.stdout, `[unknown] (/tmp/perf-${pid}.map)`, "the JVM's JIT frames were recorded, unnamed");
    t.notMatch(run.stdout, /Hot\.hotFibonacci/, 'without Java names: no map was read');
    const refused = warnings(run.stderr, 'PERFMAP_FAILED');
    t.equal(refused.length, 1, `one PERFMAP_FAILED: ${JSON.stringify(refused)}`);
    t.match(refused[0]?.message ?? '', /\/tmp\/perf-1\.map/, 'the warning names the map');
    t.match(refused[0]?.message ?? '', reason, 'and why it was refused');
  });
}
