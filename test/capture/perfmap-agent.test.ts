// podflame's JVMTI map agent (agent/capture/perfmap-agent.c) loaded into a real JDK 17 JVM on this machine with
// jattach, next to the JVM's own `jcmd Compiler.perfmap`: the same names for the same code, in the same form; loaded
// again and again into one JVM; its options and failures; inline chains. No container: the agent library and the
// JVM are on this machine (scripts/provision.sh installs JDK 17, jattach and gcc).
import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inCI, REPO_ROOT } from '../helpers/docker-env.js';
import { nativeDir } from '../helpers/native-build.js';
import { waitFor } from '../helpers/wait-for.js';

t.setTimeout(180_000);

const JAVA = '/usr/lib/jvm/java-17-openjdk-amd64/bin/java';
const missing = [JAVA, '/usr/bin/jattach', '/usr/bin/javac'].filter((f) => !existsSync(f));
if (missing.length > 0) {
  if (inCI()) throw new Error(`CI=true and ${missing.join(', ')} missing: run scripts/provision.sh`);
  t.plan(0, `skipped: ${missing.join(', ')} missing (scripts/provision.sh installs them)`);
} else {
  const natives = await nativeDir();
  const work = await mkdtemp(join(tmpdir(), 'podflame-perfmap-agent-'));
  await chmod(work, 0o755);
  t.teardown(() => rm(work, { recursive: true, force: true }));
  // The library at a path of this test's own, as the capture script places it in a target.
  const library = join(work, 'podflame-perfmap-test.so');
  await copyFile(join(natives, 'libpodflame-perfmap.so'), library);
  const sources = ['test/workloads/jdks/Shop8.java', 'test/workloads/jdks/Pricing.java'];
  await run('/usr/bin/javac', [
    '-d',
    work,
    ...[...sources, 'test/capture/fixtures/NamedShapes.java'].map((f) => join(REPO_ROOT, f)),
  ]);

  // Every shape of name, each method compiled on its own (no inlining).
  const shapes = await startJvm(work, ['-XX:-Inline', 'NamedShapes'], 'NamedShapes: started');
  // The test app, with the debug information that places inlined code exactly.
  const shop = await startJvm(
    work,
    ['-XX:+UnlockDiagnosticVMOptions', '-XX:+DebugNonSafepoints', 'Shop8'],
    'Shop8: started',
  );
  t.teardown(() => {
    shapes.kill('SIGKILL');
    shop.kill('SIGKILL');
  });
  // Warm-up, seen in the JVMs' code lists rather than waited out: the checkout lambda, and each method of every
  // shape of name, compiled by C2 (tier 4), the JIT's last tier.
  const pid = shop.pid as number;
  await waitForCodeList(pid, 'the checkout lambda compiled by C2', (methods) =>
    methods.some((m) => m.tier === 4 && m.name.startsWith('Shop8.lambda$startCheckout$0(')),
  );
  await waitForCodeList(shapes.pid as number, 'every shape of name compiled by C2', (methods) =>
    [
      /^NamedShapes\.apply\(/,
      /^NamedShapes\$\$Lambda\$.*\.apply\(/,
      /^NamedShapes\$Inner\.<init>\(/,
      /^NamedShapes\$Inner\.sum\(/,
    ].every((shape) => methods.some((m) => m.tier === 4 && shape.test(m.name))),
  );
  const mapPath = `/tmp/perf-${pid}.map`;
  const shapesMap = `/tmp/perf-${shapes.pid as number}.map`;
  t.teardown(() => rm(mapPath, { force: true }));
  t.teardown(() => rm(shapesMap, { force: true }));

  const load = (options: string, target = pid) =>
    run('/usr/bin/jattach', [String(target), 'load', library, 'true', options]);
  const parse = (text: string): Map<bigint, { size: bigint; name: string }> => {
    const m = new Map<bigint, { size: bigint; name: string }>();
    for (const line of text.split('\n')) {
      const match = /^0x([0-9a-f]{16}) 0x([0-9a-f]{16}) (.+)$/.exec(line);
      if (match) m.set(BigInt(`0x${match[1]}`), { size: BigInt(`0x${match[2]}`), name: match[3] as string });
    }
    return m;
  };

  t.test('the same names for the same compiled code as Compiler.perfmap', async (tt) => {
    const target = shapes.pid as number;
    await run('/usr/bin/jattach', [String(target), 'jcmd', 'Compiler.perfmap']);
    const jdk = parse(await readFile(shapesMap, 'utf8'));
    const r = await load('dir=/tmp', target);
    tt.match(r.stdout, /return code: 0/, 'the agent reports success');
    const ours = parse(await readFile(shapesMap, 'utf8'));
    tt.ok(jdk.size > 100 && ours.size > 100, `both maps list compiled code (${jdk.size}, ${ours.size})`);
    let same = 0;
    const differing: string[] = [];
    for (const [address, entry] of jdk) {
      const mine = ours.get(address);
      // Compiled Java methods (a return type, then Class.method(...)); VM stubs are named per blob by the JDK and
      // per stub by JVMTI, and method-handle intrinsics per signature by the JDK only.
      if (!/^\S+ \S+\(.*\)$/.test(entry.name) || entry.name.includes('java.lang.invoke.MethodHandle.')) continue;
      if (mine?.name === entry.name && mine.size === entry.size) same++;
      else differing.push(`${entry.name} | ${mine?.name ?? 'missing'}`);
    }
    tt.ok(same > 30, `${same} compiled methods named alike`);
    tt.same(differing, [], 'no compiled Java method named or sized differently');
    const names = new Set([...ours.values()].map((e) => e.name));
    for (const shape of [
      /^long NamedShapes\.apply\(java\.util\.function\.Function, long\)$/,
      /^java\.lang\.Object NamedShapes\$\$Lambda\$\d+\/0x[0-9a-f]+\.apply\(java\.lang\.Object\)$/,
      /^void NamedShapes\$Inner\.<init>\(int\)$/,
      /^long NamedShapes\$Inner\.sum\(int\[\]\[\], java\.lang\.String\[\]\)$/,
      /^Interpreter$/,
    ]) {
      tt.ok(
        [...names].some((n) => shape.test(n)),
        `a name of the shape ${shape.source}`,
      );
    }
    tt.notOk(
      [...names].some((n) => n.includes('[unnamed Java method]')),
      'every method named',
    );
    const info = await stat(shapesMap);
    tt.equal(info.mode & 0o777, 0o644, 'the map is readable by perf as another user');
  });

  t.test('loaded again and again into one JVM: a complete map each time, nothing left behind', async (tt) => {
    const sizes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await load('dir=/tmp');
      tt.equal(r.code, 0, `load ${i + 1}: exit 0`);
      sizes.push(parse(await readFile(mapPath, 'utf8')).size);
    }
    tt.ok(
      Math.min(...sizes) > 100,
      `every map lists the compiled code (${Math.min(...sizes)}–${Math.max(...sizes)} lines)`,
    );
    const maps = (await run('/bin/sh', ['-c', `ls -A /tmp | grep -c '^\\.perf-${pid}\\.map' || true`])).stdout.trim();
    tt.equal(maps, '0', 'no temporary map is left');
    const threads = (await readFile(`/proc/${pid}/status`, 'utf8')).match(/^Threads:\s+(\d+)/m)?.[1];
    tt.ok(Number(threads) < 40, `no thread of ours keeps running (${threads} threads)`);
  });

  t.test('inline chains: one range per scope, outermost first, covering the compiled code', async (tt) => {
    const r = await load('dir=/tmp,inline=1');
    tt.equal(r.code, 0);
    const ours = parse(await readFile(mapPath, 'utf8'));
    const chains = [...ours.values()].filter((e) => e.name.includes('->'));
    tt.ok(chains.length > 10, `${chains.length} ranges hold inlined methods`);
    const pricing = chains.find((e) => e.name.includes('long Pricing.total(int, long, int)'));
    tt.ok(pricing, 'Pricing.total appears inlined somewhere');
    tt.match(pricing?.name, /^void Shop8\.lambda\$startCheckout\$0\(int\[\], long\[\]\)->long Pricing\.total/);
    // Ranges of one method are contiguous: sorted by address, none overlaps the next.
    const sorted = [...ours.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    let overlaps = 0;
    for (let i = 1; i < sorted.length; i++) {
      const [prevStart, prev] = sorted[i - 1] as [bigint, { size: bigint }];
      if (prevStart + prev.size > (sorted[i] as [bigint, unknown])[0]) overlaps++;
    }
    tt.equal(overlaps, 0, 'no two ranges overlap');
  });

  t.test('options and failures: refused, with the return code the capture script explains', async (tt) => {
    tt.equal((await load('bogus=1')).code, 1, 'an unknown option: 1');
    tt.equal((await load('dir=relative')).code, 1, 'a relative directory: 1');
    tt.equal((await load('dir=/nonexistent-podflame')).code, 4, 'a directory that cannot take the map: 4');
    const r = await load('dir=/tmp');
    tt.equal(r.code, 0, 'and the JVM still takes the next load');
  });
}

/**
 * Waits until the JVM's compiled methods (`jcmd PID Compiler.codelist`, one per line: ID, tier, state, method, e.g.
 * `100 4 0 Shop8.lambda$startCheckout$0([I[J)V [0x00007f8920ed6590, ...]`) satisfy `ready`.
 */
async function waitForCodeList(
  pid: number,
  what: string,
  ready: (methods: { tier: number; name: string }[]) => boolean,
): Promise<void> {
  await waitFor(
    async () => {
      const { stdout } = await run('/usr/bin/jattach', [String(pid), 'jcmd', 'Compiler.codelist']);
      const methods = [...stdout.matchAll(/^\d+ (\d) \d+ (\S+)/gm)].map((m) => ({
        tier: Number(m[1]),
        name: m[2] as string,
      }));
      return ready(methods);
    },
    120_000,
    what,
    250,
  );
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) =>
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout }),
    ),
  );
}

async function startJvm(classpath: string, args: string[], ready: string): Promise<ChildProcess> {
  const jvm = spawn(JAVA, ['-XX:+PreserveFramePointer', '-Xmx64m', '-cp', classpath, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await started(jvm, ready);
  return jvm;
}

function started(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (d: Buffer) => {
      seen += d.toString('utf8');
      if (seen.includes(text)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the JVM exited (${code}) before printing ${text}: ${seen}`)));
  });
}
