// A container's sub-cgroups never make its processes another container's (#13, cold attacker's H2): on cgroup v1
// with the cgroupfs driver, a process of container A moved (in one hierarchy, pids) into a fake kubelet tree under A,
// `/docker/<A>/kubepods/pod<uid>/<B>`, named after a container B that runs nowhere, was listed as B, running, in the
// pod UID of the attacker's choice, and captured as B. A process counts for the outermost container its cgroup names
// (the runtime made that one; a container can only create cgroups below its own), and for none when its v1
// hierarchies disagree on it.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cgroupBelongsTo, containerIdOfCgroup, podUidOfCgroup } from '../../agent/runtime/cgroup-match.js';
import { scanContainers } from '../../agent/runtime/proc-scan.js';

const DIR = fileURLToPath(new URL('../fixtures/cgroup/', import.meta.url));
const read = (name: string): string => readFileSync(DIR + name, 'utf8');

// A: the recorded container (docker-cgroupfs-v1.txt, this machine's cgroup v1 layout); B: an ID that runs nowhere
// (an exited container: a completed init or job container in a pod's status).
const A = read('docker-cgroupfs-v1.id').trim();
const B = 'b'.repeat(64);
const FAKE_POD = '11111111-2222-3333-4444-555555555555';

/** A's recorded cgroup text with only the pids hierarchy moved to `pidsPath`, as the attacker did. */
function withPidsAt(pidsPath: string): string {
  return read('docker-cgroupfs-v1.txt').replace(/^(\d+):pids:.*$/m, `$1:pids:${pidsPath}`);
}
const IMPERSONATING = withPidsAt(`/docker/${A}/kubepods/pod${FAKE_POD}/${B}`);

/** A /proc laid out with these cgroup texts by PID, removed at the end. */
function fakeProc(t: Test, processes: Record<number, string>): string {
  const proc = mkdtempSync(join(tmpdir(), 'podflame-proc-'));
  t.teardown(() => rmSync(proc, { recursive: true, force: true }));
  for (const [pid, text] of Object.entries(processes)) {
    mkdirSync(join(proc, pid));
    writeFileSync(join(proc, pid, 'cgroup'), text);
  }
  return proc;
}

t.test('the fixture: A in every hierarchy but pids, which names a fake kubelet tree under A', async (t) => {
  t.match(IMPERSONATING, new RegExp(`^\\d+:pids:/docker/${A}/kubepods/pod${FAKE_POD}/${B}$`, 'm'));
  t.match(IMPERSONATING, new RegExp(`^\\d+:memory:/docker/${A}$`, 'm'));
});

t.test('one process alone: its container is the outermost, with no pod', async (t) => {
  t.equal(containerIdOfCgroup(IMPERSONATING), A, 'A, not the ID it named below itself');
  t.equal(podUidOfCgroup(IMPERSONATING), undefined, 'and not the pod UID it chose');
  t.notOk(cgroupBelongsTo(IMPERSONATING, B));
  const everyHierarchy = read('docker-fake-kubelet-tree-v1.txt');
  t.equal(containerIdOfCgroup(everyHierarchy), read('docker-subcgroup-named-other-v1.id').trim(), 'every hierarchy');
  t.equal(podUidOfCgroup(everyHierarchy), undefined);
});

t.test('scanContainers: a container that runs nowhere is not made up from a sub-cgroup', async (t) => {
  const proc = fakeProc(t, { 20: IMPERSONATING, 21: read('docker-cgroupfs-v1.txt') });
  const scanned = await scanContainers(proc);
  t.equal(scanned.get(B), undefined, 'B is not listed');
  t.same(
    scanned.get(A),
    { id: A, pids: [20, 21], initPid: 21 },
    "the process stays in A, without the chosen pod's UID",
  );
  t.same([...scanned.keys()], [A]);
});

t.test('hierarchies that disagree on the outermost container: the process counts for none', async (t) => {
  const split = withPidsAt(`/docker/${B}`);
  t.equal(containerIdOfCgroup(split), undefined);
  t.notOk(cgroupBelongsTo(split, A));
  t.notOk(cgroupBelongsTo(split, B));
  const scanned = await scanContainers(fakeProc(t, { 30: split }));
  t.same([...scanned.keys()], [], 'neither container is listed');
});
