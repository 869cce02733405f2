// The capture script in host mode against a race a target can make (#13 finding 11), run in a PID namespace of its
// own (`unshare --pid --fork --mount-proc`, root) where PIDs can be steered through ns_last_pid. A stand-in jattach
// (first on PATH) holds the script at its JVM check until the test has done its move, so nothing depends on timing:
// the target process exits while the capture runs and its PID goes to another process; perf and the map step must
// not follow the number to the newcomer.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/docker-env.js';

const CAPTURE_SCRIPT = join(REPO_ROOT, 'agent/capture/podflame-capture.sh');

/** Runs a bash program as PID 1's child in a new PID namespace with its own /proc; resolves with its exit code. */
function inPidNamespace(program: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'unshare',
      ['--pid', '--fork', '--mount-proc', 'bash', '-c', program],
      { env: { ...process.env, ...env }, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 },
      (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

const skip = process.getuid?.() !== 0 ? 'needs root (unshare --pid, ns_last_pid)' : false;

t.test('a target PID reused by another process during the capture is dropped, not recorded', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-pid-reuse-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // victim is named `java` so that the script checks it with (the stand-in) jattach, which holds it there.
  const program = `
    set -u
    D=$1
    mkdir "$D/bin" "$D/work"
    for n in steady impostor; do cp /usr/bin/yes "$D/bin/$n"; done
    # A JVM catches SIGQUIT (the script never attaches to a process that would die of it): so does this stand-in.
    printf '%s\\n' '#!/bin/bash' 'exec -a "$0" perl -e '"'"'$SIG{QUIT} = sub {}; 1 while 1'"'"'' >"$D/bin/java"
    chmod +x "$D/bin/java"
    mkfifo "$D/attached" "$D/go"
    printf '#!/bin/bash\\necho attached >"%s/attached"; read -r _ <"%s/go"; echo "not a JVM"; exit 1\\n' "$D" "$D" \\
      >"$D/bin/jattach"
    chmod +x "$D/bin/jattach"
    "$D/bin/steady" >/dev/null & S=$!
    "$D/bin/java" >/dev/null & V=$!
    PATH="$D/bin:$PATH" PODFLAME_TARGET_PIDS="$S $V" PODFLAME_WORK_DIR="$D/work" \\
      bash "$CAPTURE_SCRIPT" 2 99 >"$D/out" 2>"$D/err" & C=$!
    read -r _ <"$D/attached"
    kill -KILL "$V"; wait "$V" 2>/dev/null
    echo $((V - 1)) >/proc/sys/kernel/ns_last_pid
    "$D/bin/impostor" >/dev/null & I=$!
    echo "victim=$V impostor=$I" >"$D/pids"
    echo go >"$D/go"
    wait "$C"; echo "capture=$?" >>"$D/pids"
    kill "$S" "$I"
  `;
  const r = await inPidNamespace(program.replace('$1', dir), { CAPTURE_SCRIPT });
  t.equal(r.code, 0, r.stderr);
  const pids = readFileSync(join(dir, 'pids'), 'utf8');
  const m = /victim=(\d+) impostor=(\d+)\ncapture=(\d+)/.exec(pids);
  t.ok(m, pids);
  if (!m) return;
  t.equal(m[2], m[1], 'the newcomer has the target PID (ns_last_pid)');
  const stderr = readFileSync(join(dir, 'err'), 'utf8');
  t.equal(m[3], '0', `the capture succeeds on the process still there: ${stderr.slice(-2000)}`);
  const out = readFileSync(join(dir, 'out'), 'utf8');
  t.match(out, /^\s*steady\s/m, 'the target still running is recorded');
  t.notMatch(out, /^\s*impostor\s/m, 'the process that took the PID is not');
  t.match(
    stderr,
    new RegExp(`"code":"TARGET_EXITED","message":"process ${m[1]} exited during the capture and its PID`),
  );
});
