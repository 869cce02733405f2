// Host mode and cgroup subtrees systemd delegates (#13, cold attack 17, finding 2): systemd hands `user@UID.service`
// (and any unit with Delegate=yes) to its owner, an unprivileged node user who can create
// `…/user@1000.service/kubepods/burstable/pod<U>/<V>` and move their own process there. That process was counted as
// pod U's container V, and as V's lowest PID it was what inspectContainer returned. A container ID counts only where
// a runtime or kubelet put it: never below a user's slice or a unit other than a runtime's own service. And of a
// container's processes, the init is the lowest PID in the container's own cgroup, not one a container moved deeper.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { containerIdOfCgroup, nodeCgroupRoot, podUidOfCgroup } from '../../agent/runtime/cgroup-match.js';
import { scanContainers } from '../../agent/runtime/proc-scan.js';
import { HostRuntime } from '../../agent/runtime/host-runtime.js';

const DIR = fileURLToPath(new URL('../fixtures/cgroup/', import.meta.url));
const read = (name: string): string => readFileSync(DIR + name, 'utf8');

const V = 'ab'.repeat(32);
const B = 'b'.repeat(64);
const U = '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c';
const U_SYSTEMD = U.replace(/-/g, '_');
const FAKE_POD = '11111111-2222-3333-4444-555555555555';
const USER_MANAGER = '/user.slice/user-1000.slice/user@1000.service';

/** A /proc laid out with these cgroup texts by PID (lines joined), removed at the end. */
function fakeProc(t: Test, processes: Record<number, string[]>): string {
  const proc = mkdtempSync(join(tmpdir(), 'podflame-proc-'));
  t.teardown(() => rmSync(proc, { recursive: true, force: true }));
  for (const [pid, lines] of Object.entries(processes)) {
    mkdirSync(join(proc, pid));
    writeFileSync(join(proc, pid, 'cgroup'), `${lines.join('\n')}\n`);
  }
  return proc;
}

/** Every hierarchy of the v1 layout recorded here (docker-cgroupfs-v1.txt) at `path`. */
const everyHierarchy = (path: string): string[] =>
  read('docker-cgroupfs-v1.txt')
    .trim()
    .split('\n')
    .map((line) => line.replace(/^(\d+:[^:]*:).*$/, `$1${path}`));

// The cold attacker's /proc (scripts/attacks/cgroup-delegated-subtree.js): a plain systemd node's init, pod U's
// container V (PID 100, kubelet's cgroupfs layout), and PID 50, a node user's process outside any container whose
// name=systemd cgroup is a fake kubelet tree in the user's delegated user@1000.service.
const ATTACK = {
  1: ['9:name=systemd:/init.scope', '4:memory:/', '0::/init.scope'],
  100: [`9:name=systemd:/kubepods/burstable/pod${U}/${V}`, `4:memory:/kubepods/burstable/pod${U}/${V}`, '0::/'],
  50: [
    `9:name=systemd:${USER_MANAGER}/kubepods/burstable/pod${U}/${V}`,
    '4:memory:/user.slice/user-1000.slice',
    `0::${USER_MANAGER}/app.slice`,
  ],
};

t.test("the attack: a user's delegated subtree names no container, and V is its own process", async (t) => {
  const proc = fakeProc(t, ATTACK);
  const scanned = await scanContainers(proc);
  t.same([...scanned.keys()], [V], 'no other container');
  t.same(scanned.get(V), { id: V, pids: [100], initPid: 100, podUid: U }, 'PID 50 is not a process of V');
  const runtime = new HostRuntime({ procRoot: proc }, { kill: () => undefined });
  t.equal((await runtime.inspectContainer(V)).pid, 100, "inspectContainer: the pod's process, not the user's");
});

t.test('each delegated shape names no container and no pod', async (t) => {
  const kindInit = read('kind-node-v1.node-init');
  const kindRoot = nodeCgroupRoot(kindInit);
  const node = '/docker/a6e0c7b4eeee261ca9ea851013c3d7b522982b2fb23c5bc7b8f4392db3de4177';
  const systemdTree = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_SYSTEMD}.slice`;
  const cases: [string, string, ReturnType<typeof nodeCgroupRoot> | undefined][] = [
    ['user manager, cgroupfs tree, v2', `0::${USER_MANAGER}/kubepods/burstable/pod${U}/${V}`, undefined],
    ['user manager, systemd tree, v2', `0::${USER_MANAGER}/${systemdTree}/cri-containerd-${V}.scope`, undefined],
    ['user manager, bare ID', `0::${USER_MANAGER}/${V}`, undefined],
    ['user manager, docker scope', `0::${USER_MANAGER}/app.slice/docker-${V}.scope`, undefined],
    ['login session scope', `0::/user.slice/user-1000.slice/session-3.scope/kubepods/pod${U}/${V}`, undefined],
    ["user slice's own v1 hierarchy", `4:memory:/user.slice/user-1000.slice/pod${U}/${V}`, undefined],
    ['a delegated system service', `0::/system.slice/build-agent.service/${systemdTree}/crio-${V}.scope`, undefined],
    [
      "a delegated service, containerd's literal v1 name",
      `1:name=systemd:/system.slice/ci.service/kubepods-besteffort-pod${U_SYSTEMD}.slice:cri-containerd:${V}`,
      undefined,
    ],
    ['a transient scope', `0::/system.slice/run-r1234.scope/kubepods/pod${U}/${V}`, undefined],
    ['inside a kind node', `0::${node}${USER_MANAGER}/kubepods/burstable/pod${U}/${V}`, kindRoot],
  ];
  for (const [name, text, root] of cases) {
    t.equal(containerIdOfCgroup(text, root), undefined, `${name}: no container`);
    t.equal(podUidOfCgroup(text, root), undefined, `${name}: no pod`);
  }
});

t.test("the runtimes' own layouts still count, the runtime's own service included", async (t) => {
  const containerdV1 = read('containerd-systemd-v1.txt');
  t.match(containerdV1, '/system.slice/containerd.service/kubepods-besteffort-pod', 'the fixture passes a service');
  t.equal(containerIdOfCgroup(containerdV1), 'ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459');
  t.equal(podUidOfCgroup(containerdV1), '0125ec2f-b64a-4868-8f5b-94b56cbab864');
  const literal = (service: string): string =>
    `1:name=systemd:/system.slice/${service}/kubepods-besteffort-pod${U_SYSTEMD}.slice:cri-containerd:${V}`;
  for (const service of ['containerd.service', 'docker.service', 'crio.service']) {
    t.equal(containerIdOfCgroup(literal(service)), V, service);
  }
  t.equal(
    containerIdOfCgroup(read('docker-systemd-v1.txt')),
    '9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d',
  );
  t.equal(containerIdOfCgroup(read('ctr-containerd-v1.txt')), read('ctr-containerd-v1.id').trim(), "ctr's namespace");
});

t.test('delegation-shaped names a container made below itself: still that container, in its pod', async (t) => {
  const A = `/kubepods/burstable/pod${U}/${V}`;
  const nested = everyHierarchy(`${A}${USER_MANAGER}/kubepods/pod${FAKE_POD}/${B}`).join('\n');
  t.equal(containerIdOfCgroup(nested), V, 'a user manager under V is V');
  t.equal(podUidOfCgroup(nested), U, "in V's pod");
  const fakeTree = everyHierarchy(`${A}/kubepods/besteffort/pod${FAKE_POD}/${B}`).join('\n');
  t.equal(containerIdOfCgroup(fakeTree), V, 'a fake kubelet tree under V is V');
  t.equal(podUidOfCgroup(fakeTree), U);
  const scope = `0::/kubepods.slice/kubepods-pod${U_SYSTEMD}.slice/cri-containerd-${V}.scope/init.scope/x/${B}`;
  t.equal(containerIdOfCgroup(scope), V, "a systemd in V's own scope: V");
  const scanned = await scanContainers(fakeProc(t, { 7: nested.split('\n'), 8: fakeTree.split('\n') }));
  t.same([...scanned.keys()], [V]);
  t.same(scanned.get(V)?.pids, [7, 8]);
});

t.test("a container's init: the lowest PID in its own cgroup, not a lower one a container moved deeper", async (t) => {
  const own = everyHierarchy(`/kubepods/burstable/pod${U}/${V}`);
  const child = everyHierarchy(`/kubepods/burstable/pod${U}/${V}/worker`);
  // One v1 hierarchy moved is enough to be out of the container's own cgroup.
  const pidsMoved = own.map((line) => line.replace(/^(\d+:pids:.*)$/, `$1/worker`));
  const proc = fakeProc(t, { 5: child, 6: pidsMoved, 9: own, 12: own });
  const scanned = await scanContainers(proc);
  t.same(scanned.get(V), { id: V, pids: [5, 6, 9, 12], initPid: 9, podUid: U });
  const runtime = new HostRuntime({ procRoot: proc }, { kill: () => undefined });
  t.equal((await runtime.inspectContainer(V)).pid, 9, 'inspectContainer: the init, not PID 5 in a child cgroup');

  const oneHierarchyMoved = await scanContainers(fakeProc(t, { 6: pidsMoved, 9: own }));
  t.equal(oneHierarchyMoved.get(V)?.initPid, 9, 'moved in the pids hierarchy alone: not the init either');
  const onlyDeeper = await scanContainers(fakeProc(t, { 5: child, 6: pidsMoved }));
  t.equal(onlyDeeper.get(V)?.initPid, 5, 'none in its own cgroup: the lowest PID, as before');
});
