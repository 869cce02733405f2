// The cgroup matcher against real /proc/<pid>/cgroup texts (test/fixtures/cgroup/README.md says where each is from):
// which container and pod each names, that a process matches its container in every form the Kubernetes API gives
// the ID, and that prefixes, other containers and CRI-O's conmon never match.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  cgroupBelongsTo,
  containerIdOfCgroup,
  containerOfCgroup,
  containerIdsOfCgroup,
  nodeCgroupRoot,
  normalizeContainerId,
  parseProcCgroup,
  podUidOfCgroup,
} from '../../agent/runtime/cgroup-match.js';
import { scanContainers } from '../../agent/runtime/proc-scan.js';
import { matchGolden } from '../capture/capture-run.js';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIR = fileURLToPath(new URL('../fixtures/cgroup/', import.meta.url));
const read = (name: string): string => readFileSync(DIR + name, 'utf8');
const samples = readdirSync(DIR)
  .filter((f) => f.endsWith('.txt'))
  .sort();

/**
 * The node's init (PID 1's cgroup) where a sample was read, when it was read inside a node container: the samples
 * `kind-node-*-v1.txt` share `kind-node-v1.node-init`, another sample `<name>.node-init`. Else the whole tree.
 */
function nodeInitOf(sample: string): string | undefined {
  const own = sample.replace(/\.txt$/, '.node-init');
  if (existsSync(DIR + own)) return read(own);
  return sample.startsWith('kind-node-') ? read('kind-node-v1.node-init') : undefined;
}

t.test('every sample: the container and pod it names below its node root (golden)', async (t) => {
  t.ok(samples.length >= 14, `${samples.length} samples`);
  const found: Record<string, { containerId: string | null; podUid: string | null; ids: string[] }> = {};
  for (const name of samples) {
    const text = read(name);
    const init = nodeInitOf(name);
    const root = init === undefined ? undefined : nodeCgroupRoot(init);
    found[name] = {
      containerId: containerIdOfCgroup(text, root) ?? null,
      podUid: podUidOfCgroup(text, root) ?? null,
      ids: containerIdsOfCgroup(text, root),
    };
  }
  matchGolden(t, DIR + 'expected.json', `${JSON.stringify(found, null, 2)}\n`, 'containers and pods found');
});

t.test('recorded here: Docker (cgroupfs v1) and ctr (containerd, /<namespace>/<id>)', async (t) => {
  for (const base of ['docker-cgroupfs-v1', 'ctr-containerd-v1']) {
    const id = read(`${base}.id`).trim();
    const text = read(`${base}.txt`);
    t.equal(containerIdOfCgroup(text), id, `${base}: the container's own ID`);
    for (const given of [id, `containerd://${id}`, `cri-o://${id}`, `docker://${id}`, id.toUpperCase()]) {
      t.ok(cgroupBelongsTo(text, given), `${base} belongs to ${given.slice(0, 20)}…`);
    }
    t.notOk(cgroupBelongsTo(text, id.slice(0, 12)), 'a 12-digit prefix is never matched here (resolved first)');
    t.notOk(cgroupBelongsTo(text, id.slice(0, 63)), 'nor a 63-digit one');
    t.notOk(cgroupBelongsTo(text, `${id.slice(0, 63)}${id[63] === '0' ? '1' : '0'}`), 'nor an ID differing at the end');
    t.equal(podUidOfCgroup(text), undefined, 'no pod');
  }
  t.equal(
    containerIdOfCgroup(read('docker-cgroupfs-v1-child.txt')),
    read('docker-cgroupfs-v1.id').trim(),
    "a container's child process is in the same container",
  );
  t.equal(containerIdOfCgroup(read('host-process.txt')), undefined, 'a process outside containers is in none');
});

t.test('Kubernetes layouts: containerd, CRI-O and Docker; systemd and cgroupfs; v1 and v2', async (t) => {
  const cases: [string, string, string][] = [
    [
      'containerd-systemd-v1.txt',
      'ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459',
      '0125ec2f-b64a-4868-8f5b-94b56cbab864',
    ],
    [
      'containerd-systemd-v2-kind.txt',
      'a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e',
      '1e597579-417e-482f-bf65-5fe170c3aebd',
    ],
    [
      'crio-systemd-v1.txt',
      '5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c',
      'a5c1f8d5-1919-434d-add7-4afaafdaef89',
    ],
    [
      'crio-systemd-v2.txt',
      '805b902ed98fdc1409c76e9aa94964787a904c80f46fc3ee74283509108f5e73',
      '35550f44-f691-427e-b57d-ab6127d2cb65',
    ],
    [
      'docker-systemd-v1-kubepods.txt',
      'd0b3604b67ac7930dd34ba3a796627e3e4717d12309e90a4afe3f38b6816ac98',
      '7d4424e6-bb13-42f4-a47a-45a4828bf54d',
    ],
    [
      'kubepods-cgroupfs-v1.txt',
      '0a1b22ec1361a97c3511db37a4bae932d41b22264e5b97611748f8b662312574',
      'fbc202d3-da21-11e8-ab5e-42010a80014b',
    ],
  ];
  for (const [file, id, pod] of cases) {
    const text = read(file);
    const scheme = file.startsWith('crio') ? 'cri-o' : file.startsWith('docker') ? 'docker' : 'containerd';
    t.ok(cgroupBelongsTo(text, `${scheme}://${id}`), `${file}: ${scheme}://${id.slice(0, 12)}…`);
    t.equal(podUidOfCgroup(text), pod, `${file}: pod UID ${pod}`);
  }
});

t.test('what must not match', async (t) => {
  const conmon = read('crio-conmon-systemd-v1.txt');
  t.notOk(
    cgroupBelongsTo(conmon, 'cri-o://32da98c8522068be05a7510a3eddb09cad6ed2f03286180d0e931d0d0b6224a6'),
    "CRI-O's conmon is not in the container it monitors",
  );
  t.same(containerIdsOfCgroup(conmon), []);
  const crio = read('crio-systemd-v2.txt');
  t.notOk(
    cgroupBelongsTo(crio, 'cri-o://468f848e2ebec7203ed55748d08337851af589ac42eb551c572446a5c68fe631'),
    "a container is not its pod's sandbox",
  );
  t.notOk(cgroupBelongsTo(crio, 'containerd://805b902ed98f'), 'a short ID never matches');
  t.notOk(cgroupBelongsTo(crio, 'not-an-id'), 'garbage never matches');
  t.notOk(cgroupBelongsTo('', '805b902ed98fdc1409c76e9aa94964787a904c80f46fc3ee74283509108f5e73'), 'empty text');
  // An ID inside a longer hex run is not a segment of its own.
  const longer = `0::/docker/${'a'.repeat(65)}\n`;
  t.same(containerIdsOfCgroup(longer), [], 'a 65-digit segment names no container');
  t.notOk(cgroupBelongsTo(longer, 'a'.repeat(64)));
});

t.test(
  'a container inside a node container on the same cgroup tree (minikube without a cgroup namespace)',
  async (t) => {
    const text = read('crio-in-kind-node-v2.txt');
    const inner = '89e8f450417b56acf3089925dfd8f050dd50e950e18cfe83ea923269df601102';
    const node = 'd6701ec289c56e4391acb11d07474b3139466857a305490575508a8b7a9fcf22';
    const root = nodeCgroupRoot(read('crio-in-kind-node-v2.node-init'));
    t.same(
      containerOfCgroup(text, root),
      { id: inner, podUid: 'ae7a96fb-2bdc-46b0-96e2-78e4af94847b' },
      'inside the node: the pod',
    );
    t.ok(cgroupBelongsTo(text, `cri-o://${inner}`, root));
    t.notOk(cgroupBelongsTo(text, node, root), 'not the node container');
    // Without the node's root (seen from the host, or PID 1 unknown) nothing tells this tree from one a container
    // faked under itself (#13, cold attacker's H2): the outermost wins.
    t.same(containerOfCgroup(text), { id: node }, 'from the host: the node container, with no pod');
  },
);

t.test("the node's root cgroup from its init's /proc/1/cgroup", async (t) => {
  const node = 'a6e0c7b4eeee261ca9ea851013c3d7b522982b2fb23c5bc7b8f4392db3de4177';
  const kind = nodeCgroupRoot(read('kind-node-v1.node-init'));
  t.equal(kind.get(9), `/docker/${node}`, "name=systemd: systemd's init.scope left out");
  t.equal(kind.get(0), `/docker/${node}`, 'the unified line likewise');
  t.equal(kind.get(4), `/docker/${node}`, 'memory: the node container itself');
  const host = nodeCgroupRoot(read('host-init.node-init'));
  t.same([...new Set(host.values())], ['/'], 'this machine: the root in every hierarchy');
  t.same([...nodeCgroupRoot('0::/init.scope\n')], [[0, '/']], 'a plain systemd node on cgroup v2');
  t.same([...nodeCgroupRoot('0::/docker/x/\n')], [[0, '/docker/x']], 'a trailing slash is not part of the root');
  // A process on a plain node is read whole: every sample gives what it gives without a root.
  for (const name of samples) {
    const text = read(name);
    t.same(containerOfCgroup(text, host), containerOfCgroup(text), `${name}: unchanged on a plain node`);
  }
  // Only whole segments: a root `/docker/n` is no prefix of `/docker/n<id>`, whose last segment names no container.
  const glued = `0::/docker/n${'c'.repeat(64)}\n`;
  t.equal(containerOfCgroup(glued, nodeCgroupRoot('0::/docker/n\n')), undefined, 'no ID cut out of a segment');
});

t.test('a sub-cgroup a container named after another container ID (#13 finding 11)', async (t) => {
  const owner = read('docker-subcgroup-named-other-v1.id').trim();
  const other = read('docker-subcgroup-named-other-v1-real.id').trim();
  const planted = read('docker-subcgroup-named-other-v1.txt');
  t.match(
    planted,
    `/docker/${owner}/${other}`,
    'the fixture: a process of one container in a child named after another',
  );
  t.equal(containerIdOfCgroup(planted), owner, 'the process stays in the container whose subtree it is in');
  t.notOk(cgroupBelongsTo(planted, other), 'and does not count as the container it named');
  t.ok(cgroupBelongsTo(planted, owner));
  t.equal(containerIdOfCgroup(read('docker-subcgroup-named-other-v1-real.txt')), other, 'the real one is still found');
});

t.test('a fake kubelet tree under a container: the process stays in that container, without the pod', async (t) => {
  const owner = read('docker-subcgroup-named-other-v1.id').trim();
  const other = read('docker-subcgroup-named-other-v1-real.id').trim();
  t.same(containerOfCgroup(read('docker-fake-kubelet-tree-v1.txt')), { id: owner });
  t.same(containerOfCgroup(read('docker-subcgroup-named-other-v1-real.txt')), { id: other }, 'the real one is its own');
  t.equal(containerOfCgroup(read('host-process.txt')), undefined, 'outside containers: none');
});

t.test('scanContainers: the recorded sub-cgroups count as the container that made them', async (t) => {
  const proc = mkdtempSync(join(tmpdir(), 'podflame-proc-'));
  t.teardown(() => rmSync(proc, { recursive: true, force: true }));
  const processes: [number, string][] = [
    [10, 'docker-fake-kubelet-tree-v1.txt'],
    [11, 'docker-subcgroup-named-other-v1-real.txt'],
    [12, 'docker-subcgroup-named-other-v1.txt'],
  ];
  for (const [pid, file] of processes) {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'cgroup'), read(file));
  }
  const owner = read('docker-subcgroup-named-other-v1.id').trim();
  const other = read('docker-subcgroup-named-other-v1-real.id').trim();
  const scanned = await scanContainers(proc);
  t.same(scanned.get(other), { id: other, pids: [11], initPid: 11 }, 'the named container has only its own process');
  t.same(scanned.get(owner), { id: owner, pids: [10, 12], initPid: 10 }, 'the processes that named it stay in theirs');
});

t.test('parsing: v1 and v2 lines, malformed lines skipped', async (t) => {
  t.same(parseProcCgroup('4:memory:/docker/x\n0::/a/b\nnonsense\n\n2:cpu,cpuacct:/\n'), [
    { hierarchy: 4, controllers: 'memory', path: '/docker/x' },
    { hierarchy: 0, controllers: '', path: '/a/b' },
    { hierarchy: 2, controllers: 'cpu,cpuacct', path: '/' },
  ]);
  const id = 'ab'.repeat(32);
  t.equal(normalizeContainerId(`containerd://${id.toUpperCase()}`), id);
  t.equal(normalizeContainerId(`cri-o://${id}`), id);
  t.equal(normalizeContainerId(id.slice(0, 12)), undefined);
  t.equal(normalizeContainerId(`podman://${id}`), undefined, 'an unknown scheme is not stripped');
});
