// Host mode inside a node that is itself a container on its host's cgroup tree (kind or minikube without a cgroup
// namespace; #13, follow-up to cold attacker's H2). Every process's cgroup path there starts with the node
// container's own, `/docker/<node>/kubepods/…/<id>`, so "the outermost container the path names" alone is the node,
// and host mode found no pod at all. The scan reads the paths below the node's root cgroup, the one its init (PID 1
// of the agent's PID namespace under hostPID) runs in, less systemd's init.scope: inside the node, the pod's
// container is the outermost below that root, while a fake kubelet tree a container made under itself still leaves
// its processes in that container, on a plain node and inside a kind node alike.
//
// The /proc here is laid out from texts recorded on this machine (test/fixtures/cgroup/README.md): PID 1's cgroup as
// the node's init shows it, and the processes' as read inside the node's PID namespace.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanContainers } from '../../agent/runtime/proc-scan.js';

const DIR = fileURLToPath(new URL('../fixtures/cgroup/', import.meta.url));
const read = (name: string): string => readFileSync(DIR + name, 'utf8');

// The kind-like node recorded here: its init in /docker/<node>/init.scope (name=systemd and the unified line) and
// /docker/<node> (every other v1 hierarchy); a pod's container C in /docker/<node>/kubepods/besteffort/pod<uid>/<C>;
// and a process of C moved into a fake kubelet tree under C, …/<C>/kubepods/pod<fake uid>/<B>.
const KIND_INIT = read('kind-node-v1.node-init');
const NODE = 'a6e0c7b4eeee261ca9ea851013c3d7b522982b2fb23c5bc7b8f4392db3de4177';
const C = 'bb6ad64353a84a05b8845bfdffbc36f820f3ee76548f445af63b035ce45f5794';
const C_POD = '3b1f7c2e-6a4d-4e8b-9f0a-2c5d8e7b1a64';
const B = '5628356a3ef3506656fb5d07b4219387bf4253e171f0111aeaa16462d57643e9';

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

t.test('the fixtures: the node init, a pod container and a fake tree under it, all below /docker/<node>', async (t) => {
  t.match(KIND_INIT, new RegExp(`^9:name=systemd:/docker/${NODE}/init\\.scope$`, 'm'));
  t.match(KIND_INIT, new RegExp(`^4:memory:/docker/${NODE}$`, 'm'));
  t.match(
    read('kind-node-pod-v1.txt'),
    new RegExp(`^4:memory:/docker/${NODE}/kubepods/besteffort/pod${C_POD}/${C}$`, 'm'),
  );
  t.match(read('kind-node-fake-kubelet-tree-v1.txt'), new RegExp(`/${C}/kubepods/pod[0-9a-f-]+/${B}$`, 'm'));
});

t.test("inside a kind node: a pod's container is found as itself, in its pod", async (t) => {
  const scanned = await scanContainers(fakeProc(t, { 1: KIND_INIT, 8: read('kind-node-pod-v1.txt') }));
  t.same(
    scanned.get(C),
    { id: C, pids: [8], initPid: 8, podUid: C_POD },
    "the pod's container, with kubelet's pod UID",
  );
  t.equal(scanned.get(NODE), undefined, 'not the node container');
  t.same([...scanned.keys()], [C], "the node's init is in no container: it is the node");
});

t.test(
  'inside a kind node, a fake kubelet tree under a pod container leaves its process in that container',
  async (t) => {
    const proc = fakeProc(t, {
      1: KIND_INIT,
      8: read('kind-node-pod-v1.txt'),
      14: read('kind-node-fake-kubelet-tree-v1.txt'),
    });
    const scanned = await scanContainers(proc);
    t.equal(scanned.get(B), undefined, 'B, named below C, is not listed');
    t.same(
      scanned.get(C),
      { id: C, pids: [8, 14], initPid: 8, podUid: C_POD },
      "the process stays in C, in C's own pod",
    );
    t.same([...scanned.keys()], [C]);
  },
);

t.test("on a plain node (this machine's PID 1: / in every hierarchy) nothing changes", async (t) => {
  const hostInit = read('host-init.node-init');
  t.match(hostInit, /^9:name=systemd:\/$/m, 'the fixture: the host init at the root');
  const attacker = read('docker-subcgroup-named-other-v1.id').trim();
  const scanned = await scanContainers(
    fakeProc(t, {
      1: hostInit,
      10: read('docker-fake-kubelet-tree-v1.txt'),
      11: read('docker-subcgroup-named-other-v1-real.txt'),
      // Seen from the host, a process inside a kind node counts for the node container, as before.
      20: read('kind-node-pod-v1.txt'),
    }),
  );
  const other = read('docker-subcgroup-named-other-v1-real.id').trim();
  t.same(
    scanned.get(attacker),
    { id: attacker, pids: [10], initPid: 10 },
    "the attacker's fake kubelet tree: still A, no pod",
  );
  t.same(scanned.get(other), { id: other, pids: [11], initPid: 11 }, 'the container it named has only its own process');
  t.same(
    scanned.get(NODE),
    { id: NODE, pids: [20], initPid: 20 },
    'a kind node seen from its host: the node container',
  );
  t.equal(scanned.get(C), undefined);
});

t.test("a path outside the node's root keeps the rule without a root", async (t) => {
  // Another node container's process, e.g. (only the host's root can put it there): read whole, outermost wins.
  const outside = read('docker-fake-kubelet-tree-v1.txt');
  const attacker = read('docker-subcgroup-named-other-v1.id').trim();
  const scanned = await scanContainers(fakeProc(t, { 1: KIND_INIT, 30: outside }));
  t.same(scanned.get(attacker), { id: attacker, pids: [30], initPid: 30 });
});

t.test('without a PID 1 to read, paths are read whole', async (t) => {
  const scanned = await scanContainers(fakeProc(t, { 8: read('kind-node-pod-v1.txt') }));
  t.same([...scanned.keys()], [NODE], 'the node container, as before: no root is assumed');
});
