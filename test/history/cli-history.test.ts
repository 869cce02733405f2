/**
 * `podflame history`, `flamegraph` and `diff` against two real agents (two nodes' stores) given with --agent URL:
 * the answers of both are merged exactly; an agent that fails is named and left out; mistakes are usage errors.
 * Profiles are real captures of the Shop workload (before and after a release).
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { COMMANDS } from '../../client/cli/commands/index.js';
import { runInProcess } from '../helpers/cli-io.js';
import { mergeFolded, parseFolded, serializeFolded, totalSamples, type FoldedStacks } from '../../shared/folded.js';
import type { NewProfile } from '../../agent/store/profile-store.js';
import { fixtureStacks } from './fixtures.js';
import { startHistoryAgent, type HistoryAgent } from './agent-harness.js';
import { Agent } from '../../agent/agent.js';
import { FakeRuntime } from '../agent/fake-runtime.js';
import { memoryLogger, testConfig } from '../agent/http.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

const MIN = 60_000;
const NOW = Date.now();

async function podflame(args: string[], cwd = '/tmp') {
  return runInProcess(COMMANDS, args, { cwd });
}

function profile(node: string, pod: string, agoMin: number, stacks: FoldedStacks, over: Partial<NewProfile> = {}) {
  return {
    namespace: 'shop',
    pod,
    container: 'app',
    node,
    startMs: NOW - agoMin * MIN,
    durationSeconds: 30,
    frequencyHz: 99,
    warnings: [],
    schedule: 'shop-10m',
    podUid: `uid-${pod}`,
    containerId: 'c'.repeat(64),
    labels: { app: 'shop' },
    stacks,
    ...over,
  } satisfies NewProfile;
}

async function twoNodes(t: Test): Promise<[HistoryAgent, HistoryAgent]> {
  const a = await startHistoryAgent(t, { nodeName: 'node-a' });
  const b = await startHistoryAgent(t, { nodeName: 'node-b' });
  const before = fixtureStacks('before');
  const after = fixtureStacks('after');
  // Release at NOW-60m: pods on both nodes, before and after.
  await a.history.store.put(profile('node-a', 'shop-a1', 100, before));
  await a.history.store.put(profile('node-a', 'shop-a1', 80, before));
  await a.history.store.put(profile('node-a', 'shop-a2', 40, after));
  await b.history.store.put(profile('node-b', 'shop-b1', 90, before));
  await b.history.store.put(profile('node-b', 'shop-b1', 30, after));
  await b.history.store.put(
    profile('node-b', 'shop-b1', 20, after, { labels: { app: 'shop', canary: 'true' }, javaInlined: true }),
  );
  await b.history.store.put(
    profile('node-b', 'bill-0', 10, after, { namespace: 'billing', labels: { app: 'billing' } }),
  );
  return [a, b];
}

t.test('history lists every agent’s profiles, oldest first', async (t) => {
  const [a, b] = await twoNodes(t);
  const agents = ['--agent', a.url, '--agent', b.url];
  const table = await podflame(['history', ...agents, '-n', 'shop']);
  t.equal(table.code, 0, table.err);
  const lines = table.text.trimEnd().split('\n');
  t.match(lines[0], /^START \(UTC\)\s+NODE\s+POD\s+CONTAINER\s+EVENT\s+CAPTURE\s+TOTAL\s+SCHEDULE\s+WARNINGS\s+ID$/);
  t.equal(lines.length, 1 + 6);
  t.same(
    lines.slice(1).map((l) => l.split(/\s+/)[2]),
    ['node-a', 'node-b', 'node-a', 'node-a', 'node-b', 'node-b'],
  );
  t.match(lines[1], /node-a\s+shop\/shop-a1\s+app\s+cpu\s+30s@99Hz\s+\d+\s+shop-10m\s+-\s+\d{8}T\d{6}Z-[0-9a-f]{8}$/);
  t.same(
    lines.slice(1).map((l) => l.split(/\s+/)[6]),
    ['30s@99Hz', '30s@99Hz', '30s@99Hz', '30s@99Hz', '30s@99Hz', '30s@99Hz+inlined'],
    'the profile with inlined frames is marked',
  );

  const json = await podflame(['history', ...agents, '-A', '--since', '35m', '--json']);
  t.equal(json.code, 0);
  const parsed = JSON.parse(json.text);
  t.same(
    parsed.items.map((i: { pod: string }) => i.pod),
    ['shop-b1', 'shop-b1', 'bill-0'],
  );
  t.same(
    parsed.agents.map((x: { status: string }) => x.status),
    ['ok', 'ok'],
  );
  const canary = await podflame(['history', ...agents, '-l', 'canary=true', '--json']);
  t.equal(JSON.parse(canary.text).items.length, 1);
  t.same(JSON.parse(canary.text).items[0].java, { inlined: true });
  const none = await podflame(['history', ...agents, '-n', 'nowhere']);
  t.equal(none.code, 0);
  t.match(none.err, /no stored profiles match \(asked 2 agents\)/);
});

t.test('a schedule name that several namespaces use needs -n: never one list or graph of both', async (t) => {
  const a = await startHistoryAgent(t, { nodeName: 'node-a' });
  const b = await startHistoryAgent(t, { nodeName: 'node-b' });
  const before = fixtureStacks('before');
  const after = fixtureStacks('after');
  await a.history.store.put(profile('node-a', 'shop-a1', 30, before, { schedule: 'nightly' }));
  await b.history.store.put(profile('node-b', 'vault-0', 30, after, { namespace: 'vault', schedule: 'nightly' }));
  const agents = ['--agent', a.url, '--agent', b.url];
  // Each agent holds one namespace's "nightly": only the answers together are of two schedules.
  for (const command of [['history'], ['flamegraph', '--format', 'folded']]) {
    const r = await podflame([...command, ...agents, '-A', '--schedule', 'nightly', '--since', '2h']);
    t.equal(r.code, 2, `${command[0]}: ${r.err}`);
    t.match(
      r.err,
      /schedule name 'nightly' is used in 2 namespaces \(shop, vault\): give the namespace too \(-n NAMESPACE\)/,
    );
    t.match(r.err, /SCHEDULE_AMBIGUOUS/);
    t.equal(r.text, '', 'nothing written');
  }
  const shop = await podflame([
    'flamegraph',
    ...agents,
    '-n',
    'shop',
    '--schedule',
    'nightly',
    '--since',
    '2h',
    '--format',
    'folded',
  ]);
  t.equal(shop.code, 0, shop.err);
  t.equal(shop.text, serializeFolded(before), "shop's nightly alone");

  // One agent holding both answers 409 itself: that is the question's fault, not an agent to leave out.
  await a.history.store.put(profile('node-a', 'vault-1', 20, after, { namespace: 'vault', schedule: 'nightly' }));
  const one = await podflame(['history', '--agent', a.url, '--schedule', 'nightly']);
  t.equal(one.code, 2, one.err);
  t.match(one.err, /add \?namespace=NAMESPACE to say which \(podflame: -n NAMESPACE\)/);
  t.notMatch(one.err, /warning/, 'not reported as a failed agent');
});

t.test('flamegraph merges across agents exactly', async (t) => {
  const [a, b] = await twoNodes(t);
  const agents = ['--agent', a.url, '--agent', b.url];
  const folded = await podflame([
    'flamegraph',
    ...agents,
    '-n',
    'shop',
    '-l',
    'app=shop',
    '--since',
    '2h',
    '--format',
    'folded',
  ]);
  t.equal(folded.code, 0, folded.err);
  const before = fixtureStacks('before');
  const after = fixtureStacks('after');
  const expected = new Map<string, number>();
  for (const s of [before, before, before, after, after, after]) mergeFolded(expected, s);
  t.equal(folded.text, serializeFolded(expected), 'the sum of all six profiles, stack for stack');

  const lastHour = await podflame(['flamegraph', ...agents, '-n', 'shop', '--format', 'folded']);
  t.equal(
    totalSamples(parseFolded(lastHour.text).stacks),
    3 * totalSamples(after),
    'default: the last hour (the three profiles after the release)',
  );

  const dir = t.testdir();
  const svg = await podflame(['flamegraph', ...agents, '-n', 'shop', 'shop-b1', '--since', '2h', '-o', 'b1.svg'], dir);
  t.equal(svg.code, 0, svg.err);
  const text = readFileSync(join(dir, 'b1.svg'), 'utf8');
  t.match(text, /^<\?xml/);
  t.match(text, /shop\/shop-b1/);
  t.match(text, /3 profiles of 1 pod on 1 node/);

  const pprof = await podflame(['flamegraph', ...agents, '-A', '--since', '2h', '--format', 'pprof']);
  t.equal(pprof.code, 0);
  const decoded = Profile.decode(gunzipSync(pprof.out));
  t.equal(
    decoded.sample.reduce((s, x) => s + Number(x.value[0]), 0),
    3 * totalSamples(before) + 4 * totalSamples(after),
  );

  // Formats the agents do not serve, made by the client from the same merged stacks.
  const speedscope = await podflame(['flamegraph', ...agents, '-A', '--since', '2h', '--format', 'speedscope']);
  t.equal(speedscope.code, 0, speedscope.err);
  const file = JSON.parse(speedscope.text);
  t.match(file.$schema, /speedscope/);
  t.equal(file.profiles[0].samples.length, new Set([...before.keys(), ...after.keys()]).size, 'one sample per stack');
  const tree = await podflame(['flamegraph', ...agents, '-A', '--since', '2h', '--format', 'json']);
  t.equal(tree.code, 0, tree.err);
  const root = JSON.parse(tree.text);
  t.equal(root.value ?? root.total ?? root.count, 3 * totalSamples(before) + 4 * totalSamples(after));
});

t.test('diff compares two ranges across agents, normalized', async (t) => {
  const [a, b] = await twoNodes(t);
  const agents = ['--agent', a.url, '--agent', b.url];
  const folded = await podflame([
    'diff',
    ...agents,
    '-n',
    'shop',
    '--base',
    '2h..1h',
    '--target',
    '1h..now',
    '--format',
    'folded',
  ]);
  t.equal(folded.code, 0, folded.err);
  const before = fixtureStacks('before');
  const after = fixtureStacks('after');
  const baseTotal = 3 * totalSamples(before);
  const targetTotal = 3 * totalSamples(after);
  const lines = folded.text.trimEnd().split('\n');
  t.equal(lines.length, new Set([...before.keys(), ...after.keys()]).size);
  for (const line of lines) {
    const m = /^(.*) (\d+) (\d+)$/.exec(line);
    const stack = m?.[1] as string;
    const wantBase = Math.floor((3 * (before.get(stack) ?? 0) * targetTotal) / baseTotal);
    const wantTarget = 3 * (after.get(stack) ?? 0);
    if (Number(m?.[2]) !== wantBase || Number(m?.[3]) !== wantTarget) t.fail(`${line}: want ${wantBase} ${wantTarget}`);
  }
  const raw = await podflame([
    'diff',
    ...agents,
    '-n',
    'shop',
    '--base',
    '2h..1h',
    '--target',
    '1h..now',
    '--format',
    'folded',
    '--no-normalize',
  ]);
  t.equal(
    raw.text
      .trimEnd()
      .split('\n')
      .reduce((s, l) => s + Number(/ (\d+) \d+$/.exec(l)?.[1]), 0),
    baseTotal,
    '--no-normalize keeps the base counts',
  );
  const svg = await podflame(['diff', ...agents, '-n', 'shop', '--base', '2h..1h', '--target', '1h..now']);
  t.equal(svg.code, 0);
  t.match(svg.text, /<svg/);
  t.match(svg.text, /shop: differential/);
});

t.test('-e: history shows and filters events; flamegraph and diff are cpu unless asked, never a mix', async (t) => {
  const [a, b] = await twoNodes(t);
  const agents = ['--agent', a.url, '--agent', b.url];
  const cpuOnly = {
    folded: await podflame(['flamegraph', ...agents, '-n', 'shop', '--since', '2h', '--format', 'folded']),
    svg: await podflame(['flamegraph', ...agents, '-n', 'shop', '--since', '2h']),
    diff: await podflame([
      'diff',
      ...agents,
      '-n',
      'shop',
      '--base',
      '2h..1h',
      '--target',
      '1h..now',
      '--format',
      'folded',
    ]),
  };
  // Allocations of the same pods and hours on both nodes: bytes, which must never be added to samples.
  const bytes: FoldedStacks = new Map([...fixtureStacks('after')].map(([s, n]) => [s, n * 1024]));
  await a.history.store.put(profile('node-a', 'shop-a1', 99, bytes, { event: 'alloc' }));
  await b.history.store.put(profile('node-b', 'shop-b1', 29, bytes, { event: 'alloc' }));
  await b.history.store.put(profile('node-b', 'shop-b1', 89, bytes, { event: 'alloc' }));

  const table = await podflame(['history', ...agents, '-n', 'shop']);
  t.equal(table.code, 0, table.err);
  const rows = table.text.trimEnd().split('\n').slice(1);
  t.equal(rows.length, 6 + 3, 'without -e: every event');
  t.same(
    rows.filter((l) => l.split(/\s+/)[5] === 'alloc').map((l) => l.split(/\s+/)[7]),
    [`${totalSamples(bytes)}B`, `${totalSamples(bytes)}B`, `${totalSamples(bytes)}B`],
    'the EVENT column, and the total in bytes',
  );
  const allocJson = JSON.parse((await podflame(['history', ...agents, '-n', 'shop', '-e', 'alloc', '--json'])).text);
  t.same(
    allocJson.items.map((i: { event: string; node: string }) => `${i.event}@${i.node}`),
    ['alloc@node-a', 'alloc@node-b', 'alloc@node-b'],
  );
  const cpuJson = JSON.parse((await podflame(['history', ...agents, '-n', 'shop', '--event', 'cpu', '--json'])).text);
  t.equal(cpuJson.items.length, 6, '--event cpu: the cpu profiles only');

  const after = {
    folded: await podflame(['flamegraph', ...agents, '-n', 'shop', '--since', '2h', '--format', 'folded']),
    svg: await podflame(['flamegraph', ...agents, '-n', 'shop', '--since', '2h']),
    diff: await podflame([
      'diff',
      ...agents,
      '-n',
      'shop',
      '--base',
      '2h..1h',
      '--target',
      '1h..now',
      '--format',
      'folded',
    ]),
  };
  for (const k of ['folded', 'svg', 'diff'] as const) {
    t.equal(after[k].code, 0, after[k].err);
    t.equal(after[k].text, cpuOnly[k].text, `${k}: without -e, the cpu answer as before the alloc profiles came`);
  }
  const alloc = await podflame([
    'flamegraph',
    ...agents,
    '-n',
    'shop',
    '--since',
    '2h',
    '-e',
    'alloc',
    '--format',
    'folded',
  ]);
  t.equal(alloc.code, 0, alloc.err);
  t.equal(
    alloc.text,
    serializeFolded(mergeFolded(mergeFolded(mergeFolded(new Map(), bytes), bytes), bytes)),
    'the alloc profiles of both nodes, added up',
  );
  const allocSvg = await podflame(['flamegraph', ...agents, '-n', 'shop', '--since', '2h', '-e', 'alloc']);
  t.match(allocSvg.text, /3 profiles of 2 pods on 2 nodes, .* UTC, alloc, [\d.]+ [KMG]?B allocated/);
  const allocPprof = await podflame([
    'flamegraph',
    ...agents,
    '-n',
    'shop',
    '--since',
    '2h',
    '-e',
    'alloc',
    '--format',
    'pprof',
  ]);
  const decoded = Profile.decode(gunzipSync(allocPprof.out));
  t.same(
    decoded.sampleType.map(
      (v) => `${decoded.stringTable.strings[Number(v.type)]}/${decoded.stringTable.strings[Number(v.unit)]}`,
    ),
    ['alloc_space/bytes'],
  );
  const allocDiff = await podflame([
    'diff',
    ...agents,
    '-n',
    'shop',
    '--base',
    '2h..1h',
    '--target',
    '1h..now',
    '-e',
    'alloc',
    '--format',
    'folded',
  ]);
  t.equal(allocDiff.code, 0, allocDiff.err);
  const lock = await podflame(['flamegraph', ...agents, '-n', 'shop', '--since', '2h', '-e', 'lock']);
  t.equal(lock.code, 3, 'no lock profiles: NO_STORED_PROFILES');
  t.match(lock.err, /event lock/);
  const bad = await podflame(['flamegraph', ...agents, '-e', 'heap']);
  t.equal(bad.code, 2);
  t.match(bad.err, /-e\/--event must be one of cpu, alloc, lock, wall, got 'heap'/);
});

t.test('failures: one agent down, all down, nothing stored, usage', async (t) => {
  const [a] = await twoNodes(t);
  const down = 'http://127.0.0.1:9';
  const partial = await podflame([
    'flamegraph',
    '--agent',
    a.url,
    '--agent',
    down,
    '-n',
    'shop',
    '--since',
    '2h',
    '--format',
    'folded',
  ]);
  t.equal(partial.code, 0);
  t.match(
    partial.err,
    /warning: http:\/\/127\.0\.0\.1:9 left out: cannot reach the agent at http:\/\/127\.0\.0\.1:9.*\[AGENT_UNREACHABLE\]/,
  );
  t.ok(totalSamples(parseFolded(partial.text).stacks) > 0);

  const allDown = await podflame(['history', '--agent', down]);
  t.equal(allDown.code, 5);
  t.match(allDown.err, /cannot reach the agent at http:\/\/127\.0\.0\.1:9.*\[AGENT_UNREACHABLE\]/);

  const nothing = await podflame(['flamegraph', '--agent', a.url, '-n', 'nowhere']);
  t.equal(nothing.code, 3);
  t.match(nothing.err, /no stored profile matches namespace nowhere, from .* on 1 agent \[NO_STORED_PROFILES\]/);
  const emptyBase = await podflame([
    'diff',
    '--agent',
    a.url,
    '-n',
    'shop',
    '--base',
    '10h..9h',
    '--target',
    '1h..now',
  ]);
  t.equal(emptyBase.code, 3);
  t.match(emptyBase.err, /the base range \(--base 10h\.\.9h\) is empty: no stored profile matches namespace shop/);

  const usage: [string[], RegExp][] = [
    [['diff', '--agent', a.url, '--base', '2h..1h'], /give both --base FROM\.\.TO and --target/],
    [['diff', '--agent', a.url, '--base', '1h..2h', '--target', '1h..now'], /--base 1h\.\.2h is empty or backwards/],
    [['flamegraph', '--agent', a.url, '--format', 'png'], /--format must be one of svg, folded, pprof/],
    [['flamegraph', '--agent', 'localhost:7070'], /--agent must be an http:\/\/ or https:\/\/ URL/],
    [['history', '--agent', a.url, '-n', 'x', '-A'], /either -n NAMESPACE or -A/],
    [['history', '--agent', a.url, '-l', 'a b'], /label selector 'a b' is not valid/],
    [['history', '--agent', a.url, '--kubeconfig', 'k'], /--kubeconfig is for the cluster/],
    [['history', '--agent', a.url, '--since', '1h', '--to', 'now'], /either --since or --from\/--to/],
  ];
  for (const [args, message] of usage) {
    const r = await podflame(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.err, message, args.join(' '));
  }
});

t.test('an agent without a store says so, naming the agent; exit codes as for nothing stored', async (t) => {
  const [a] = await twoNodes(t);
  // An agent started without --data-dir: its history routes answer NO_STORED_PROFILES with details.store false.
  const bare = new Agent({
    worker: testProfileWorker(),
    config: testConfig({ nodeName: 'node-c' }),
    runtime: new FakeRuntime(),
    logger: memoryLogger().logger,
  });
  const { url } = await bare.start();
  t.teardown(() => bare.close());
  const noStore = new RegExp(
    `podflame: warning: ${url.replace(/[./]/g, '\\$&')} has no store: this agent keeps no profiles: start it with --data-dir DIR \\(and --schedules FILE\\).*\\[NO_STORED_PROFILES\\]\\n`,
  );
  const once = (text: string) => text.split('\n').filter((l) => l.includes('has no store')).length;

  const history = await podflame(['history', '--agent', url]);
  t.equal(history.code, 0, 'history: an empty list is an answer');
  t.match(history.err, noStore);
  t.match(history.err, /no stored profiles match \(asked 1 agent\)/);

  const json = await podflame(['history', '--agent', url, '--json']);
  t.equal(json.code, 0);
  t.match(JSON.parse(json.text), {
    items: [],
    agents: [{ agent: url, status: 'no_store', error: { code: 'NO_STORED_PROFILES', message: /--data-dir DIR/ } }],
  });

  const graph = await podflame(['flamegraph', '--agent', url, '-n', 'shop']);
  t.equal(graph.code, 3, 'flamegraph: nothing to draw');
  t.match(graph.err, noStore);
  t.equal(once(graph.err), 1);

  const mixed = await podflame(['flamegraph', '--agent', a.url, '--agent', url, '-n', 'shop', '--since', '2h']);
  t.equal(mixed.code, 0, 'the agent with a store answers');
  t.match(mixed.err, noStore);
  t.match(mixed.text, /<svg/);

  const diff = await podflame([
    'diff',
    '--agent',
    a.url,
    '--agent',
    url,
    '-n',
    'shop',
    '--base',
    '2h..1h',
    '--target',
    '1h..now',
  ]);
  t.equal(diff.code, 0);
  t.equal(once(diff.err), 1, 'one line per agent, though diff asks it twice');

  const emptyDiff = await podflame(['diff', '--agent', url, '-n', 'shop', '--base', '2h..1h', '--target', '1h..now']);
  t.equal(emptyDiff.code, 3);
  t.match(emptyDiff.err, noStore);
  t.match(emptyDiff.err, /the base range \(--base 2h\.\.1h\) is empty: no stored profile matches/);
});
