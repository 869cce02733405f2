// The capture script in host mode as the host-mode overlay runs it — root with only the overlay's capabilities (read
// from manifests/components/host-mode/daemonset-host-mode.yaml) — against files others control, in a mount and PID
// namespace of its own (root) whose /tmp is a fresh tmpfs like a node's (1777). Stand-in JVMs are copies of `sleep`
// named java, and a stand-in jattach (first on PATH) answers as a JDK 17 would; nothing depends on timing:
// - a JIT map larger than 64 MiB is refused with PERFMAP_FAILED, one of exactly 64 MiB is read (#13 finding 8);
// - a name planted at the copy's path /tmp/perf-PID.map just before the script writes it (stand-ins for mv, cp and
//   ln plant it, then run the real command) is neither written through nor replaced (#13 finding 11);
// - a non-root JVM's -XX:+DisableAttachMechanism in JAVA_TOOL_OPTIONS is seen in its /proc/PID/environ, which root
//   reads only with CAP_DAC_READ_SEARCH, so the script does not attach to it (#13 issue, host mode's capabilities).
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/docker-env.js';
import { nativeDir } from '../helpers/native-build.js';
import { agentCapabilities } from '../helpers/agent-capabilities.js';
import { scriptWarnings } from '../helpers/script-warnings.js';

// 58 s on a quiet machine; a loaded one (CI beside other work) takes several times that.
t.setTimeout(600_000);

const CAPTURE_SCRIPT = join(REPO_ROOT, 'agent/capture/podflame-capture.sh');

/** The capabilities the host-mode overlay adds to the agent container (after dropping ALL). */
function overlayCapabilities(): string[] {
  return agentCapabilities();
}

/** Runs a bash program as root in new mount and PID namespaces with their own /proc; resolves with its exit code. */
function inNamespaces(program: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'unshare',
      ['--mount', '--pid', '--fork', '--mount-proc', 'bash', '-c', program],
      { env: { ...process.env, ...env }, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 },
      (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

// The harness's own files live outside /tmp, which the program replaces with a fresh tmpfs. $D/bin comes first on
// PATH: `java` (perl sleeping, SIGQUIT caught), jattach answering as a JDK 17 whose flags are fine; every call is logged in $D/jattach.log.
// The script runs under setpriv with the overlay's capabilities as its bounding set, so bash holds exactly those.
const SETUP = `
  set -u
  D=$1
  mount -t tmpfs -o mode=1777 tmpfs /tmp
  mkdir -m 0700 /tmp/podflame-capture-test
  mkdir -p "$D/bin"
  chmod 0755 "$D" "$D/bin"
  # A JVM catches SIGQUIT (the capture script never attaches to a process that would die of it): so does this one.
  printf '%s\n' '#!/bin/bash' 'exec -a "$0" perl -e '"'"'$SIG{QUIT} = sub {}; sleep $ARGV[0]'"'"' "$@"' >"$D/bin/java"
  chmod 0755 "$D/bin/java"
  cat >"$D/bin/jattach" <<'EOF'
#!/bin/bash
echo "$*" >>"$JATTACH_LOG"
case "$2 \${3:-}" in
  "jcmd VM.flags") echo "-XX:+PreserveFramePointer" ;;
  "properties ") echo "java.specification.version=17" ;;
  "jcmd Compiler.perfmap") echo "Command executed successfully" ;;
  *) echo "unexpected: $*"; exit 1 ;;
esac
EOF
  chmod 0755 "$D/bin/jattach"
  export JATTACH_LOG="$D/jattach.log"
  capture() {
    PATH="$D/bin:$PATH" PODFLAME_TARGET_PIDS="$*" PODFLAME_WORK_DIR=/tmp/podflame-capture-test \\
      PODFLAME_NATIVE_DIR="$D/native" setpriv --inh-caps=-all --bounding-set="-all,$CAPS" -- \\
      bash "$CAPTURE_SCRIPT" 1 99 >"$D/out" 2>"$D/err"
    echo "capture=$?" >>"$D/result"
  }
`;

const skip = process.getuid?.() !== 0 ? 'needs root (unshare --mount --pid, setpriv)' : false;

/** A scratch folder outside /tmp (the namespaces mount their own /tmp), removed at the end. */
function scratch(t: Test, name: string): string {
  const dir = mkdtempSync(join('/var/tmp', `podflame-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const capsEnv = (): Record<string, string> => ({
  CAPTURE_SCRIPT,
  CAPS: overlayCapabilities()
    .map((c) => `+${c.toLowerCase()}`)
    .join(','),
});

const warnings = scriptWarnings;

t.test('a JIT map beyond 64 MiB is refused with PERFMAP_FAILED; one of exactly 64 MiB is read', { skip }, async (t) => {
  const dir = scratch(t, 'map-limit');
  // The real podflame-target-fs, which enforces the bound the script passes it; copied out of /tmp.
  const native = join(dir, 'native');
  mkdirSync(native);
  copyFileSync(join(await nativeDir(), 'podflame-target-fs'), join(native, 'podflame-target-fs'));
  // The stand-in JVMs share this namespace's /tmp, so each one's map is /tmp/perf-PID.map here.
  const program = `${SETUP}
    chmod 0755 "$D/native/podflame-target-fs"
    "$D/bin/java" 600 & A=$!
    "$D/bin/java" 600 & B=$!
    truncate -s $((64 * 1024 * 1024)) "/tmp/perf-$A.map"
    truncate -s $((64 * 1024 * 1024 + 1)) "/tmp/perf-$B.map"
    echo "at=$A over=$B" >"$D/result"
    capture "$A $B"
    kill "$A" "$B"
  `;
  const r = await inNamespaces(program.replace('$1', dir), capsEnv());
  t.equal(r.code, 0, r.stderr);
  const result = readFileSync(join(dir, 'result'), 'utf8');
  const m = /at=(\d+) over=(\d+)\ncapture=(\d+)/.exec(result);
  t.ok(m, result);
  if (!m) return;
  const stderr = readFileSync(join(dir, 'err'), 'utf8');
  const failed = warnings(stderr, 'PERFMAP_FAILED');
  t.same(
    failed.map((w) => w.pid),
    [Number(m[2])],
    `only the map of 64 MiB + 1 byte is refused: ${stderr.slice(-3000)}`,
  );
  t.match(failed[0]?.message ?? '', /is larger than the 64 MiB podflame copies/);
});

t.test("a name planted at the map copy's path in /tmp is neither written through nor replaced", { skip }, async (t) => {
  const dir = scratch(t, 'planted-map');
  // podflame-target-fs stands in too (its own tests are test/capture/target-fs.test.ts): every JVM wrote a map.
  // mv, cp and ln stand in for coreutils': when the script is about to write /tmp/perf-PID.map and $D/plant names
  // a plant for it, a node user (uid 1000) makes that name first — a symlink to a root-only file, or a file of their
  // own — and then the real command runs.
  const program = `${SETUP}
    mkdir -p "$D/native" "$D/plant"
    chmod 0755 "$D/native"
    printf '#!/bin/bash\\ncase "$1 $4" in "get 0") exit 3 ;; get*) echo "7f0000001000 10 Fake.method()" ;; esac\\n' \\
      >"$D/native/podflame-target-fs"
    chmod 0755 "$D/native/podflame-target-fs"
    for cmd in mv cp ln; do
      cat >"$D/bin/$cmd" <<EOF
#!/bin/bash
dst=\\\${!#}
if [[ \\$dst == /tmp/perf-*.map ]] && [ -f "$D/plant/\\\${dst##*/}" ] && [ ! -e "\\$dst" ] && [ ! -L "\\$dst" ]; then
  case \\$(cat "$D/plant/\\\${dst##*/}") in
    symlink) setpriv --reuid 1000 --regid 1000 --clear-groups $(type -P ln) -s "$D/victim" "\\$dst" ;;
    file) setpriv --reuid 1000 --regid 1000 --clear-groups bash -c 'echo theirs >"\\$1"; chmod 0666 "\\$1"' _ "\\$dst" ;;
  esac
fi
exec $(type -P $cmd) "\\$@"
EOF
      chmod 0755 "$D/bin/$cmd"
    done
    echo "root only" >"$D/victim"
    chmod 0600 "$D/victim"
    "$D/bin/java" 600 & L=$!
    "$D/bin/java" 600 & F=$!
    "$D/bin/java" 600 & N=$!
    echo symlink >"$D/plant/perf-$L.map"
    echo file >"$D/plant/perf-$F.map"
    echo "link=$L file=$F none=$N" >"$D/result"
    capture "$L $F $N"
    {
      echo "victim=$(stat -c %a "$D/victim"):$(cat "$D/victim")"
      echo "link-name=$(stat -c %F:%u "/tmp/perf-$L.map")"
      echo "file-name=$(stat -c %F:%u:%a "/tmp/perf-$F.map"):$(cat "/tmp/perf-$F.map")"
      echo "none-name=$(stat -c %F:%u:%a "/tmp/perf-$N.map"):$(cat "/tmp/perf-$N.map")"
      echo "copied=$(tr '\\n' ' ' </tmp/podflame-capture-test/copied-maps 2>/dev/null)"
    } >>"$D/result"
    kill "$L" "$F" "$N"
  `;
  const r = await inNamespaces(program.replace('$1', dir), capsEnv());
  t.equal(r.code, 0, r.stderr);
  const result = readFileSync(join(dir, 'result'), 'utf8');
  const stderr = readFileSync(join(dir, 'err'), 'utf8');
  const m = /link=(\d+) file=(\d+) none=(\d+)\ncapture=(\d+)/.exec(result);
  t.ok(m, result);
  if (!m) return;
  const [, link, file, none] = m;
  const field = (name: string): string => new RegExp(`^${name}=(.*)$`, 'm').exec(result)?.[1] ?? '';
  t.equal(
    field('victim'),
    '600:root only',
    `the file a planted symlink points to is untouched: ${stderr.slice(-2000)}`,
  );
  t.equal(field('link-name'), 'symbolic link:1000', 'the planted symlink is still there, not replaced');
  t.equal(
    field('file-name'),
    'regular file:1000:666:theirs',
    'the planted file is still theirs, not written or replaced',
  );
  t.equal(field('none-name'), 'regular file:0:644:7f0000001000 10 Fake.method()', 'a free name gets the copy');
  t.equal(field('copied').trim(), `/tmp/perf-${none}.map`, 'only that copy is listed for removal');
  for (const pid of [link, file]) {
    t.match(stderr, `JVM ${pid}: no copy of its map at /tmp/perf-${pid}.map`, `JVM ${pid}: said`);
  }
});

t.test(
  "a non-root JVM's JAVA_TOOL_OPTIONS is read: -XX:+DisableAttachMechanism seen, no attach tried",
  { skip },
  async (t) => {
    const dir = scratch(t, 'environ');
    // Without CAP_DAC_READ_SEARCH root cannot open /proc/PID/environ of another user's process (mode 0400, theirs):
    // the flag would go unseen, the script would attach anyway and wait out the attach timeout.
    const program = `${SETUP}
      mkdir -p "$D/native"
      setpriv --reuid 1000 --regid 1000 --clear-groups env JAVA_TOOL_OPTIONS=-XX:+DisableAttachMechanism \\
        "$D/bin/java" 600 & J=$!
      sleep 0.2
      echo "jvm=$J" >"$D/result"
      capture "$J"
      kill "$J"
    `;
    const r = await inNamespaces(program.replace('$1', dir), capsEnv());
    t.equal(r.code, 0, r.stderr);
    const result = readFileSync(join(dir, 'result'), 'utf8');
    const m = /jvm=(\d+)\ncapture=(\d+)/.exec(result);
    t.ok(m, result);
    if (!m) return;
    const stderr = readFileSync(join(dir, 'err'), 'utf8');
    const failed = warnings(stderr, 'ATTACH_FAILED');
    t.equal(failed.length, 1, stderr.slice(-2000));
    t.match(failed[0]?.message ?? '', `JVM ${m[1]} runs with -XX:+DisableAttachMechanism`);
    let attaches = '';
    try {
      attaches = readFileSync(join(dir, 'jattach.log'), 'utf8');
    } catch {
      // never called: no log
    }
    t.equal(attaches, '', 'jattach never called');
    t.ok(overlayCapabilities().includes('DAC_READ_SEARCH'), 'the overlay grants CAP_DAC_READ_SEARCH');
  },
);

t.test(
  "perf script's address space is bounded in host mode, where only the agent's own limit would bound it",
  { skip },
  async (t) => {
    const dir = scratch(t, 'script-vmem');
    // A stand-in perf first on PATH logs the address-space limit `perf script` runs under, then runs the real one.
    // A planted map that perf reads without end (#13, cold attack 17) would otherwise grow it up to the agent's limit.
    const program = `${SETUP}
    mkdir -p "$D/native"
    real=$(command -v perf)
    printf '%s\\n' '#!/bin/bash' '[ "$1" = script ] && ulimit -v >>"'"$D"'/script-vmem"' 'exec '"$real"' "$@"' >"$D/bin/perf"
    chmod 0755 "$D/bin/perf"
    "$D/bin/java" 600 & J=$!
    echo "jvm=$J" >"$D/result"
    capture "$J"
    PODFLAME_SCRIPT_MAX_VMEM_KIB=1048576 capture "$J"
    kill "$J"
  `;
    const r = await inNamespaces(program.replace('$1', dir), capsEnv());
    t.equal(r.code, 0, r.stderr);
    const result = readFileSync(join(dir, 'result'), 'utf8');
    t.match(
      result,
      /capture=0\ncapture=0/,
      `both captures succeeded: ${readFileSync(join(dir, 'err'), 'utf8').slice(-2000)}`,
    );
    const limits = readFileSync(join(dir, 'script-vmem'), 'utf8').trim().split('\n');
    t.same(limits, [String(4 * 1024 * 1024), '1048576'], 'perf script ran under 4 GiB, then the limit asked for (KiB)');
  },
);
