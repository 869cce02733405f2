// podflame-target-fs (agent/capture/target-fs.c) on its own, run on this machine against real containers' root
// filesystems (/proc/<host pid>/root), once with openat2 (RESOLVE_IN_ROOT) and once with the component-by-component
// fallback (PODFLAME_TARGET_FS_NO_OPENAT2=1): where `put` places the agent library and why it refuses a directory,
// that no symlink in the target (absolute, relative with `..`, as the last or a middle component) leads `get` or `rm`
// outside it, FIFOs, the size limit, and usage errors. The canaries that must not be touched live on this machine at
// the same absolute paths the target's links name.
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TEST_LABEL, requireDockerEnv } from '../helpers/docker-env.js';
import { nativeDir } from '../helpers/native-build.js';

t.setTimeout(180_000);
const env = await requireDockerEnv(t);

interface Run {
  /** Exit status; null when the helper was killed (by the timeout: it hung). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The two ways the helper resolves paths. */
const MODES = [
  { name: 'openat2', env: {} as Record<string, string> },
  { name: 'fallback (PODFLAME_TARGET_FS_NO_OPENAT2=1)', env: { PODFLAME_TARGET_FS_NO_OPENAT2: '1' } },
] as const;

if (env) {
  const helper = join(await nativeDir(), 'podflame-target-fs');
  const run = (args: string[], extraEnv: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve) => {
      // A hang (a FIFO opened for reading blocks until a writer comes) is killed here and shows as code null.
      execFile(
        helper,
        args,
        { timeout: 10_000, env: { ...process.env, ...extraEnv }, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
          resolve({ code, stdout, stderr });
        },
      );
    });

  const containers: string[] = [];
  t.teardown(async () => {
    await Promise.all(
      containers.map((id) =>
        env.docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => {}),
      ),
    );
  });
  /** A debian:bookworm-slim container doing nothing; returns its ID and the host PID of its init. */
  const startTarget = async (readonlyRootfs = false): Promise<{ id: string; pid: number }> => {
    const c = await env.docker.createContainer({
      Image: 'debian:bookworm-slim',
      Cmd: ['sleep', 'infinity'],
      Labels: { [TEST_LABEL]: 'target-fs' },
      HostConfig: { NetworkMode: 'none', ...(readonlyRootfs ? { ReadonlyRootfs: true } : {}) },
    });
    containers.push(c.id);
    await c.start();
    return { id: c.id, pid: (await c.inspect()).State.Pid };
  };
  /** A shell command in the container, as root; rejects on failure. */
  const sh = async (id: string, script: string): Promise<string> => {
    const exec = await env.docker.getContainer(id).exec({
      Cmd: ['sh', '-c', script],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    await new Promise((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
    });
    let info = await exec.inspect();
    for (let i = 0; info.Running && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      info = await exec.inspect();
    }
    // Docker's multiplexed stream: 8-byte headers, stdout and stderr kept together (only stdout is ever expected).
    const raw = Buffer.concat(chunks);
    const parts: Buffer[] = [];
    for (let at = 0; at + 8 <= raw.length; at += 8 + raw.readUInt32BE(at + 4)) {
      parts.push(raw.subarray(at + 8, at + 8 + raw.readUInt32BE(at + 4)));
    }
    const out = Buffer.concat(parts).toString('utf8');
    if (info.ExitCode !== 0) throw new Error(`sh -c ${JSON.stringify(script)} exited ${info.ExitCode}: ${out}`);
    return out;
  };

  // Canaries on this machine at the absolute paths the targets' links name: the same names exist in the targets
  // with other contents, so reading or removing the wrong one shows.
  const canaryName = `podflame-target-fs-canary-${randomBytes(4).toString('hex')}`;
  const hostCanaryDir = `/var/tmp/${canaryName}`;
  await mkdir(hostCanaryDir, { mode: 0o755 });
  await writeFile(join(hostCanaryDir, 'victim'), 'host\n');
  t.teardown(() => rm(hostCanaryDir, { recursive: true, force: true }));
  const hostCanaryIntact = async (): Promise<boolean> =>
    (await readFile(join(hostCanaryDir, 'victim'), 'utf8').catch(() => '')) === 'host\n';

  const src = join(hostCanaryDir, 'library-source.so');
  await writeFile(src, 'not really a library\n');

  for (const mode of MODES) {
    t.test(`${mode.name}: put`, async (tt) => {
      const target = await startTarget();
      const name = `podflame-test-${randomBytes(3).toString('hex')}.so`;
      const put = (uid: number, ...dirs: string[]) =>
        run(['put', String(target.pid), src, name, String(uid), ...dirs], mode.env);

      const ok = await put(1000, '/tmp');
      tt.equal(ok.code, 0, `into the target's /tmp (${ok.stderr})`);
      tt.equal(ok.stdout, `/tmp/${name}\n`, 'it prints the path as the target sees it');
      tt.equal(
        await sh(target.id, `stat -c '%a %s' /tmp/${name}`),
        `644 ${'not really a library\n'.length}\n`,
        "the file is in the target's /tmp, mode 0644, whole",
      );
      tt.notOk(existsSync(`/tmp/${name}`), "not in this machine's /tmp");
      const again = await put(1000, '/tmp');
      tt.equal(again.code, 0, `an old file of that name is replaced (${again.stderr})`);

      // Docker mounts /dev/shm noexec: a library there could not be mapped executable.
      const shm = await put(1000, '/dev/shm');
      tt.equal(shm.code, 1, '/dev/shm alone is refused');
      tt.match(shm.stderr, /\/dev\/shm is mounted noexec/, `the reason is given: ${shm.stderr}`);
      tt.notMatch(await sh(target.id, 'ls -A /dev/shm'), name, 'nothing was written there');
      const order = await put(1000, '/dev/shm', '/tmp');
      tt.equal(order.code, 0, 'the next directory is tried');
      tt.equal(order.stdout, `/tmp/${name}\n`, 'and chosen');
      tt.match(order.stderr, /\/dev\/shm is mounted noexec/, 'the refused one is still explained');

      const readonly = await startTarget(true);
      const ro = await run(['put', String(readonly.pid), src, name, '0', '/tmp', '/dev/shm'], mode.env);
      tt.equal(ro.code, 1, 'a read-only root with a noexec /dev/shm: nowhere to go');
      tt.match(ro.stderr, /\/tmp is on a read-only file system/, `/tmp's reason: ${ro.stderr}`);
      tt.match(ro.stderr, /\/dev\/shm is mounted noexec/, "and /dev/shm's");

      // /tmp -> /etc (absolute): the target's /etc, root's and 0755, is no place for uid 1000's JVM.
      await sh(
        target.id,
        'rm -rf /tmp && ln -s /etc /tmp && mkdir -m 1777 /var/tmp/open && ln -s ../var/tmp/open /rel',
      );
      const linked = await put(1000, '/tmp');
      tt.equal(linked.code, 1, 'a /tmp that is a symlink to /etc is refused for uid 1000');
      const asRoot = await put(0, '/tmp');
      const relative = await put(1000, '/rel');
      if (mode.name === 'openat2') {
        tt.match(linked.stderr, /\/tmp is not writable by the JVM's user 1000/, `the reason: ${linked.stderr}`);
        tt.equal(asRoot.code, 0, `root's JVM may write the target's /etc through the link (${asRoot.stderr})`);
        tt.equal(asRoot.stdout, `/tmp/${name}\n`);
        tt.match(await sh(target.id, `ls /etc/${name}`), name, "the file landed in the target's /etc");
        tt.notOk(existsSync(`/etc/${name}`), "not in this machine's /etc");
        tt.equal(relative.code, 0, `a relative link is followed inside the target (${relative.stderr})`);
        tt.match(await sh(target.id, `ls /var/tmp/open/${name}`), name, 'to its directory');
      } else {
        // Without openat2 a link cannot be kept inside the root while it is followed: every one is refused.
        for (const [what, r] of [
          ['for uid 1000', linked],
          ['for root too', asRoot],
          ['a relative link too', relative],
        ] as const) {
          tt.equal(r.code, 1, `a symlinked directory is refused ${what}`);
          tt.match(r.stderr, /is or passes through a symbolic link/, `and says why: ${r.stderr}`);
        }
        tt.notMatch(await sh(target.id, 'ls -A /etc /var/tmp/open'), name, 'nothing was written through a link');
      }
      tt.notOk(existsSync(`/etc/${name}`), "never this machine's /etc");
    });

    t.test(`${mode.name}: get and rm never leave the target`, async (tt) => {
      const target = await startTarget();
      const pid = String(target.pid);
      const get = (path: string, max = 4096) => run(['get', pid, path, String(max)], mode.env);
      const rmIn = (path: string) => run(['rm', pid, path], mode.env);
      await sh(
        target.id,
        [
          `mkdir -p /var/x /var/tmp/${canaryName}`,
          `echo target > /var/tmp/${canaryName}/victim`,
          'ln -s /etc/hostname /var/x/link',
          `ln -s /var/tmp/${canaryName} /var/x/abs`,
          `ln -s ../../../../../../var/tmp/${canaryName} /var/x/up`,
          'mkfifo /var/x/fifo',
          'mkdir /var/x/dir',
          'printf 0123456789 > /var/x/ten',
          'rm -rf /tmp && ln -s /etc /tmp',
        ].join(' && '),
      );

      const hostname = await get('/etc/hostname');
      tt.equal(hostname.code, 0, hostname.stderr);
      tt.equal(hostname.stdout, `${target.id.slice(0, 12)}\n`, "a plain path reads the target's file");

      const link = await get('/var/x/link');
      tt.equal(link.code, 1, 'a symlink as the last component is never followed');
      tt.match(link.stderr, /symbolic links/, link.stderr);
      tt.equal(link.stdout, '', 'and nothing is read through it');

      const viaTmp = await get('/tmp/hostname');
      if (mode.name === 'openat2') {
        tt.equal(viaTmp.code, 0, `/tmp -> /etc: get /tmp/hostname resolves (${viaTmp.stderr})`);
        tt.equal(viaTmp.stdout, hostname.stdout, "to the target's /etc/hostname (its container ID)");
      } else {
        tt.equal(viaTmp.code, 1, '/tmp -> /etc: refused without openat2');
        tt.match(viaTmp.stderr, /symbolic links/, viaTmp.stderr);
      }
      tt.not(viaTmp.stdout, readFileSync('/etc/hostname', 'utf8'), "never this machine's /etc/hostname");

      for (const dir of ['/var/x/abs', '/var/x/up']) {
        const through = await get(`${dir}/victim`);
        if (mode.name === 'openat2') {
          tt.equal(through.code, 0, `${dir}/victim: a middle symlink resolves (${through.stderr})`);
          tt.equal(through.stdout, 'target\n', `${dir}/victim: inside the target, not this machine's canary`);
        } else {
          tt.equal(through.code, 1, `${dir}/victim: refused without openat2`);
          tt.equal(through.stdout, '', `${dir}/victim: nothing read`);
        }
      }

      const fifoStart = Date.now();
      const fifo = await get('/var/x/fifo');
      tt.equal(fifo.code, 1, `a FIFO is refused, not waited on (killed by the test's timeout: ${fifo.code === null})`);
      tt.match(fifo.stderr, /\/var\/x\/fifo is not a regular file/, fifo.stderr);
      tt.ok(Date.now() - fifoStart < 5000, `at once (${Date.now() - fifoStart} ms)`);

      tt.equal((await get('/var/x/ten', 10)).stdout, '0123456789', 'a file of exactly MAX_BYTES is read');
      const big = await get('/var/x/ten', 9);
      tt.equal(big.code, 3, 'one byte over MAX_BYTES: exit 3');
      tt.equal(big.stdout, '', 'and nothing on stdout');
      tt.match(big.stderr, /holds 10 bytes, more than 9/, big.stderr);
      tt.equal((await get('/var/x/dir')).code, 1, 'a directory is not read');

      const rmDir = await rmIn('/var/x/dir');
      tt.equal(rmDir.code, 1, 'rm refuses a directory');
      tt.match(rmDir.stderr, /Is a directory/, rmDir.stderr);
      tt.equal((await rmIn('/etc')).code, 1, 'nor /etc');
      tt.equal(
        await sh(target.id, 'test -d /var/x/dir && test -f /etc/hostname && echo kept'),
        'kept\n',
        'both are kept',
      );

      for (const dir of ['/var/x/abs', '/var/x/up']) {
        const r = await rmIn(`${dir}/victim`);
        tt.ok(await hostCanaryIntact(), `${dir}/victim: this machine's canary is untouched`);
        const left = await sh(target.id, `cat /var/tmp/${canaryName}/victim 2>/dev/null || echo gone`);
        if (mode.name === 'openat2') {
          tt.equal(r.code, 0, `${dir}/victim: removed inside the target (${r.stderr})`);
          tt.equal(left, 'gone\n', "it was the target's file that went");
          await sh(target.id, `echo target > /var/tmp/${canaryName}/victim`);
        } else {
          tt.equal(r.code, 1, `${dir}/victim: refused without openat2`);
          tt.equal(left, 'target\n', "the target's file is kept too");
        }
      }
      const rmLink = await rmIn('/var/x/link');
      tt.equal(rmLink.code, 0, `a symlink is removed itself (${rmLink.stderr})`);
      tt.equal(
        await sh(target.id, 'test -e /var/x/link || test -L /var/x/link || echo gone; cat /etc/hostname'),
        `gone\n${target.id.slice(0, 12)}\n`,
        'the link is gone, the file it named is not',
      );
      tt.equal((await rmIn('/var/x/missing')).code, 0, 'a file already gone is not an error');
      tt.ok(await hostCanaryIntact(), "this machine's canary is untouched after all");
    });

    t.test(`${mode.name}: ls lists the target's entries by prefix, each typed, following no link`, async (tt) => {
      const target = await startTarget();
      const pid = String(target.pid);
      // In the target: files of ours, a link to this machine's canary folder's path, a FIFO, a folder, another name;
      // and a link to a folder, which must list the target's folder of that path (none), never this machine's.
      await sh(
        target.id,
        `touch /tmp/podflame-1.jfr /tmp/podflame-2.jfc /tmp/other && ln -s ${hostCanaryDir}/victim /tmp/podflame-l ` +
          `&& mkfifo /tmp/podflame-f && mkdir /tmp/podflame-d && ln -s ${hostCanaryDir} /tmp/dirlink`,
      );
      const listed = await run(['ls', pid, '/tmp', 'podflame-'], mode.env);
      tt.equal(listed.code, 0, listed.stderr);
      tt.same(
        listed.stdout.split('\n').filter(Boolean).sort(),
        ['f podflame-1.jfr', 'f podflame-2.jfc', 'o podflame-d', 'o podflame-f', 'o podflame-l'],
        'regular files are f; a link, a FIFO and a folder are o (a link is never followed); other names left out',
      );
      const throughLink = await run(['ls', pid, '/tmp/dirlink', 'v'], mode.env);
      tt.notMatch(throughLink.stdout, /victim/, "a linked folder never lists this machine's files");
      tt.equal((await run(['ls', pid, '/tmp/../etc', 'pass'], mode.env)).code, 2, 'a `..` component is a usage error');
      tt.equal((await run(['ls', pid, '/tmp', 'a/b'], mode.env)).code, 2, 'a prefix with a slash is a usage error');
      tt.ok(await hostCanaryIntact(), "this machine's canary is untouched");
    });
  }

  t.test('usage errors exit 2 and touch nothing', async (tt) => {
    const target = await startTarget();
    const pid = String(target.pid);
    await sh(target.id, 'mkdir /var/x && echo keep > /var/x/file');
    const cases: [string, string[]][] = [
      ['a `..` component (get)', ['get', pid, '/var/x/../x/file', '100']],
      ['a `..` component (rm)', ['rm', pid, '/var/x/../x/file']],
      ['a `.` component', ['get', pid, '/var/./x/file', '100']],
      ['an empty component', ['rm', pid, '/var//x/file']],
      ['a relative path (get)', ['get', pid, 'var/x/file', '100']],
      ['a relative path (rm)', ['rm', pid, 'var/x/file']],
      ['rm /', ['rm', pid, '/']],
      ['a NAME with a slash', ['put', pid, src, 'x/y.so', '1000', '/tmp']],
      ['a NAME of `..`', ['put', pid, src, '..', '1000', '/tmp']],
      ['a PID that is not a number', ['get', 'self', '/var/x/file', '100']],
      ['PID 0', ['get', '0', '/var/x/file', '100']],
      ['a negative MAX_BYTES', ['get', pid, '/var/x/file', '-1']],
      ['put without a DIR', ['put', pid, src, 'a.so', '1000']],
      ['an unknown command', ['cat', pid, '/var/x/file']],
    ];
    for (const [what, args] of cases) {
      const r = await run(args);
      tt.equal(r.code, 2, `${what}: exit 2 (${r.stderr.trim()})`);
      tt.match(r.stderr, /^usage: podflame-target-fs /m, `${what}: the usage line`);
      tt.equal(r.stdout, '', `${what}: nothing on stdout`);
    }
    tt.equal(await sh(target.id, 'cat /var/x/file'), 'keep\n', 'the file the bad paths named is still there');
    const gone = await run(['get', '4194304', '/etc/hostname', '100']);
    tt.equal(gone.code, 1, `a PID that does not exist: exit 1 (${gone.stderr.trim()})`);
    tt.match(gone.stderr, /cannot open \/proc\/4194304\/root/);
  });
}
