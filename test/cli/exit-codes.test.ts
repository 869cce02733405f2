// docs/cli.md's exit-code table against the code: the table is parsed from docs/cli.md, every code of ERROR_CODES is in
// the row of its exit status (and no other), and the built CLI (DIST_CLI, spawned) is run once or more per row on a
// case that ends in that row's status and one of its codes: offline, against loopback servers that speak the
// agent's and the Kubernetes API's wire format (fake-agent.ts, the stand-in API server), or a closed loopback port.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ERROR_CODES, type ErrorCode } from '../../shared/errors.js';
import { DIST_CLI, requireBuild } from '../helpers/built.js';
import { FakeKubeApi, makeAgentPod, makePod } from '../helpers/fake-kube-api.js';
import { startFakeAgent, type FakeAgent } from './fake-agent.js';

requireBuild();
const REPO = join(import.meta.dirname, '../..');

function exitCodesSection(): string {
  const doc = readFileSync(join(REPO, 'docs', 'cli.md'), 'utf8');
  const start = doc.indexOf('\n## Exit codes\n');
  if (start < 0) throw new Error('docs/cli.md has no "## Exit codes" section');
  return doc.slice(start, doc.indexOf('\n#', start + 5));
}

const DOC_EXITS = exitCodesSection();

/** The rows of docs/cli.md's table under "## Exit codes": exit status → the codes in backquotes in its row. */
function docExitTable(section: string): Map<number, string[]> {
  const rows = new Map<number, string[]>();
  for (const line of section.split('\n')) {
    const m = /^\| (\d+) \|([^|]*)\|/.exec(line);
    if (m)
      rows.set(
        Number(m[1]),
        [...(m[2] as string).matchAll(/`([A-Z_]+)`/g)].map((c) => c[1] as string),
      );
  }
  return rows;
}

const table = docExitTable(DOC_EXITS);

t.test('the table and ERROR_CODES agree: every code once, in the row of its exit status', async (t) => {
  t.same([...table.keys()], [0, 1, 2, 3, 4, 5, 6, 7, 8], 'rows 0 to 8');
  const listed = [...table.values()].flat();
  for (const [code, { exitCode }] of Object.entries(ERROR_CODES)) {
    t.equal(listed.filter((c) => c === code).length, 1, `${code}: listed once`);
    t.ok(table.get(exitCode)?.includes(code), `${code}: in row ${exitCode}`);
  }
  for (const code of listed) t.ok(Object.hasOwn(ERROR_CODES, code), `${code} is a code`);
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const dir = mkdtempSync(join(tmpdir(), 'podflame-exit-codes-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function podflame(args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DIST_CLI, ...args], { cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** A loopback port nothing listens on: one a server had, closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

t.test('the built CLI exits as the table says, row by row', async (t) => {
  const agent = await startFakeAgent();
  t.teardown(() => agent.close());
  writeFileSync(join(dir, 'token'), 'a-token\n');
  writeFileSync(join(dir, 'app.log'), 'INFO started\n');
  const local =
    (answer: ErrorCode, ...more: string[]) =>
    async (): Promise<string[]> => {
      agent.answer = answer;
      return ['profile', '--agent', agent.url, '--container-id', 'abcdef012345', '-d', '1', ...more];
    };
  const cases: { exit: number; code?: ErrorCode; args: () => Promise<string[]>; stdin?: string }[] = [
    { exit: 0, args: async () => ['--version'] },
    { exit: 0, args: async () => ['collapse'], stdin: '' },
    { exit: 1, code: 'FILE_UNREADABLE', args: async () => ['collapse', 'no-such-capture.txt'] },
    { exit: 1, code: 'INVALID_INPUT', args: async () => ['collapse', 'app.log'] },
    { exit: 1, code: 'FILE_UNWRITABLE', args: local('TARGET_NOT_FOUND', '-o', '/nonexistent/x.svg') },
    { exit: 2, code: 'USAGE', args: async () => ['collapse', '--bogus'] },
    { exit: 2, code: 'UNKNOWN_COMMAND', args: async () => ['mypod'] },
    { exit: 2, code: 'UNSUPPORTED_OPTION', args: async () => ['collapse', '--inline'] },
    // The row's exception: render's input without a single `stack count` line.
    { exit: 2, code: 'EMPTY_INPUT', args: async () => ['render'], stdin: '' },
    { exit: 3, code: 'TARGET_NOT_FOUND', args: local('TARGET_NOT_FOUND') },
    { exit: 4, code: 'CAPTURE_IN_PROGRESS', args: local('CAPTURE_IN_PROGRESS', '--busy-wait', '0') },
    {
      exit: 5,
      code: 'AGENT_UNREACHABLE',
      args: async () => [
        'profile',
        '--agent',
        `http://127.0.0.1:${await closedPort()}`,
        '--container-id',
        'abcdef012345',
      ],
    },
    { exit: 6, code: 'NO_SAMPLES', args: local('NO_SAMPLES') },
    { exit: 7, code: 'FORBIDDEN', args: local('FORBIDDEN') },
    // Refused by the client itself: a token would go over plain HTTP off loopback (192.0.2.1, TEST-NET-1, is never
    // asked).
    {
      exit: 7,
      code: 'INSECURE_TRANSPORT',
      args: async () => [
        'profile',
        '--agent',
        'http://192.0.2.1:7070',
        '--container-id',
        'abcdef012345',
        '--token-file',
        'token',
      ],
    },
  ];
  for (const c of cases) {
    const args = await c.args();
    const r = await podflame(args, c.stdin);
    const what = `podflame ${args.join(' ')}`;
    t.equal(r.code, c.exit, `${what}: exit ${c.exit} (${r.stderr.trim()})`);
    if (c.code === undefined) continue;
    if (c.code === 'EMPTY_INPUT' && args[0] === 'render') {
      t.match(DOC_EXITS, /`podflame render` exits 2 for `EMPTY_INPUT`/, 'the exception is in the table');
    } else t.ok(table.get(c.exit)?.includes(c.code), `${c.code} is in row ${c.exit}`);
    t.match(r.stderr, new RegExp(`^podflame: .+ \\[${c.code}\\]$`, 'm'), `${what}: [${c.code}]`);
  }
  const covered = new Set(cases.map((c) => c.exit));
  t.same(
    [...table.keys()].filter((exit) => !covered.has(exit)),
    [8],
    'every row but 8 (next test) has a case',
  );
});

t.test('row 8: a merged graph of which one pod failed (the stand-in API server, two fake agents)', async (t) => {
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.close());
  const agents: FakeAgent[] = [];
  t.teardown(() => Promise.all(agents.map((a) => a.close())));
  let port = 0;
  for (const [node, ip, answer] of [
    ['node-a', '127.0.0.2', 'ok'],
    ['node-b', '127.0.0.3', 'TARGET_NOT_FOUND'],
  ] as const) {
    const agent = await startFakeAgent({ host: ip, port, node, answer });
    port = Number(new URL(agent.url).port);
    agents.push(agent);
    api.putNode(node);
    api.putPod(makeAgentPod({ nodeName: node, podIP: ip, port }));
    api.putPod(
      makePod({
        namespace: 'shop',
        name: `shop-${node}`,
        uid: `7a1c2a9e-5b7d-4c1e-9a8f-00000000000${node.slice(-1)}`,
        nodeName: node,
        labels: { app: 'shop' },
        containers: [{ name: 'app' }],
      }),
    );
  }
  const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'), { namespace: 'shop' });
  const r = await podflame([
    'profile',
    '-l',
    'app=shop',
    '-d',
    '1',
    '--format',
    'folded',
    '-o',
    'shop.folded',
    '--kubeconfig',
    kubeconfig,
    '--via',
    'direct',
    // Loopback "pods" that serve plain HTTP, as the fake agents do.
    '--insecure-send-token-over-http',
  ]);
  t.equal(r.code, 8, r.stderr);
  t.ok(table.get(8)?.includes('PARTIAL_CAPTURE'));
  t.match(r.stderr, /^podflame: 1 of 2 pods could not be profiled .*\[PARTIAL_CAPTURE\]$/m);
  t.match(readFileSync(join(dir, 'shop.folded'), 'utf8'), /Hot\.fib 3\n/, 'the graph of the other pod was written');
});
