// The multi-JDK image (test/workloads/jdks/) on the real engine: the Java 8 test app, the same class files, started
// through JvmContainers on each of JDK 8, 11, 17, 21 and 25 the way the capture tests start it (kubelet labels,
// under sh -c, uid 1000, -XX:+PreserveFramePointer); checked from inside each container that the running JVM is
// that JDK, has frame pointers, and ends when told to through its exit file.
import t from 'tap';
import { JDK_MAJORS, javaBinaryFor, requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers, newPod } from '../helpers/jvm-containers.js';

// Includes the first build of the image (five JDKs, a few minutes), then five JVMs on a shared 2-core machine.
t.setTimeout(600_000);
const env = await requireDockerEnv(t, { jdks: true });

const EXIT_FILE = '/tmp/exit-now';
// The JVM's user, and so (docker exec's default, the container's user) the user every check runs as.
const USER = '1000:1000';

/** The feature release of a Java version string: `1.8.0_504` → 8, `11.0.33-ea` → 11, `25.0.5.0.3` → 25. */
function majorOf(version: string): number {
  const m = /^(?:1\.(\d+)|(\d+))/.exec(version);
  if (!m) throw new Error(`not a Java version: ${JSON.stringify(version)}`);
  return Number(m[1] ?? m[2]);
}

if (env) {
  const jvms = new JvmContainers(env);
  t.teardown(() => jvms.cleanup());

  t.test('majorOf reads old and new version strings', async (tt) => {
    tt.equal(majorOf('1.8.0_504'), 8);
    tt.equal(majorOf('11.0.33-ea'), 11);
    tt.equal(majorOf('17.0.21.0.3'), 17);
    tt.equal(majorOf('25'), 25);
    tt.throws(() => majorOf('OpenJDK'));
  });

  // One JDK at a time, on purpose: Shop8 keeps five threads busy, and with all five JVMs at once on two cores the
  // short-lived JVMs of the checks (java -version, jcmd) took minutes instead of seconds.
  for (const major of JDK_MAJORS) {
    t.test(`JDK ${major}: Shop8 runs on that JDK`, async (tt) => {
      const app = await jvms.startJvm({
        jdk: major,
        mainClass: 'Shop8',
        args: [`--exit-file=${EXIT_FILE}`],
        pod: newPod(`jdk${major}`),
        containerName: 'shop',
        launch: 'shell',
        user: USER,
        preserveFramePointer: true,
      });
      await jvms.waitForOutput(app);

      const pids = await jvms.execResult(app, ['pgrep', '-x', 'java']);
      const javaPids = pids.stdout.trim().split(/\s+/).filter(Boolean).map(Number);
      tt.equal(javaPids.length, 1, `one java process in the container (pgrep: ${pids.stdout.trim() || pids.stderr})`);
      const pid = javaPids[0]!;
      tt.not(pid, 1, 'java is a child of the shell, not PID 1');

      const status = await jvms.execResult(app, ['cat', `/proc/${pid}/status`]);
      tt.match(status.stdout, /^Uid:\s+1000\s/m, 'the JVM runs as uid 1000');
      const cmdline = (await jvms.execResult(app, ['cat', `/proc/${pid}/cmdline`])).stdout.split('\0');
      tt.equal(cmdline[0], javaBinaryFor(major), 'started as javaBinaryFor(major)');
      tt.ok(cmdline.includes('-XX:+PreserveFramePointer'), 'with -XX:+PreserveFramePointer on its command line');

      // The binary the process really runs (Debian's bin/java may be a link), asked for its version.
      const exe = (await jvms.execResult(app, ['readlink', `/proc/${pid}/exe`])).stdout.trim();
      tt.match(exe, new RegExp(`^/usr/lib/jvm/java-${major}-openjdk-amd64/`), `the process's executable (${exe})`);
      const version = await jvms.execResult(app, [exe, '-version']);
      tt.equal(version.exitCode, 0, 'java -version succeeds');
      const reported = /version "([^"]+)"/.exec(version.stderr)?.[1];
      tt.ok(reported, `java -version names a version (${version.stderr.split('\n')[0]})`);
      tt.equal(majorOf(reported ?? ''), major, `java -version says JDK ${major}`);

      // The running JVM itself: its java.version, printed in the ready line, is the binary's version.
      const logs = await jvms.logs(app);
      const ready = /Shop8: started \(java\.version ([^)]+)\)/.exec(logs)?.[1];
      tt.equal(ready, reported, "the app's java.version is the one java -version reports");

      // And through the attach mechanism (what podflame's capture uses to check the flag): the JVM answers, with
      // frame pointers on. The JDK's own jcmd works here because docker exec shares the JVM's /tmp and uid.
      const jcmd = javaBinaryFor(major).replace(/\/bin\/java$/, '/bin/jcmd');
      const vmFlags = await jvms.execResult(app, [jcmd, String(pid), 'VM.flags']);
      tt.equal(vmFlags.exitCode, 0, `jcmd VM.flags succeeds ${vmFlags.stderr.trim()}`);
      tt.match(vmFlags.stdout, /-XX:\+PreserveFramePointer/, 'jcmd VM.flags: PreserveFramePointer on');

      // Ends by an event, not a timer: the exit file, then the shell's line with Java's exit status.
      tt.notMatch(logs, /java exited/, 'still running before the exit file exists');
      const touch = await jvms.execResult(app, ['touch', EXIT_FILE]);
      tt.equal(touch.exitCode, 0, `touch ${EXIT_FILE}`);
      await jvms.waitForOutput(app, 'java exited with status 0', 15_000);
      const after = await jvms.logs(app);
      tt.match(after, `Shop8: exiting, ${EXIT_FILE} appeared`, 'Shop8 says why it exits');
    });
  }
}
