/**
 * A store written by the format 1 store (test/fixtures/store-v1, recorded with that code) is migrated at start:
 * every profile listed with the same metadata and stacks, every merge byte for byte what format 1's query path
 * (gunzip, parse, add up profile by profile) answered on the same files, the old files gone, a second start a no-op;
 * and a migration killed with SIGKILL at random points, several times over, still ends with every profile intact.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { cp, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { ProfileStore } from '../../agent/store/profile-store.js';
import { mergeFolded, parseFolded, serializeFolded, type FoldedStacks } from '../../shared/folded.js';
import type { HistoryFilter, StoredProfile } from '../../shared/history.js';
import { matchesLabels, parseLabelSelector } from '../../shared/label-selector.js';
import { mulberry32 } from './random.js';

t.setTimeout(240_000);

const FIXTURE = fileURLToPath(new URL('../fixtures/store-v1/profiles/', import.meta.url));
const MIGRATOR = fileURLToPath(new URL('./store-migrator.ts', import.meta.url));
const T0 = Date.parse('2025-11-27T21:00:00Z');
const NOW = T0 + 30 * 3600_000;

/** Format 1 read as format 1's code read it: metadata files, and `gunzip | parse` of each data file. */
async function readFormat1(dir: string): Promise<{ items: StoredProfile[]; stacks: Map<string, FoldedStacks> }> {
  const items: StoredProfile[] = [];
  const stacks = new Map<string, FoldedStacks>();
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.json')).sort()) {
    const meta = JSON.parse(await readFile(join(dir, name), 'utf8')) as StoredProfile;
    items.push(meta);
    const parsed = parseFolded(gunzipSync(await readFile(join(dir, `${meta.id}.folded.gz`))).toString('utf8'));
    if (parsed.invalidLines > 0) throw new Error(`fixture ${meta.id} is damaged`);
    stacks.set(meta.id, parsed.stacks);
  }
  items.sort((a, b) => a.start.localeCompare(b.start) || (a.id < b.id ? -1 : 1));
  return { items, stacks };
}

/** Format 1's query: the profiles a filter selects, their stacks added up one by one, serialized. */
function format1Answer(v1: Awaited<ReturnType<typeof readFormat1>>, f: HistoryFilter): { text: string; n: number } {
  const selector = f.labelSelector === undefined ? undefined : parseLabelSelector(f.labelSelector);
  const merged: FoldedStacks = new Map();
  let n = 0;
  for (const p of v1.items) {
    const start = Date.parse(p.start);
    if (f.namespace !== undefined && p.namespace !== f.namespace) continue;
    if (f.pod !== undefined && p.pod !== f.pod) continue;
    if (f.container !== undefined && p.container !== f.container) continue;
    if (f.schedule !== undefined && p.schedule !== f.schedule) continue;
    if (f.from !== undefined && start < f.from) continue;
    if (f.to !== undefined && start >= f.to) continue;
    if (selector && !matchesLabels(selector, p.labels)) continue;
    mergeFolded(merged, v1.stacks.get(p.id) as FoldedStacks);
    n++;
  }
  return { text: serializeFolded(merged), n };
}

function queries(): HistoryFilter[] {
  const random = mulberry32(20251203);
  const fixed: HistoryFilter[] = [
    {},
    { namespace: 'shop' },
    { namespace: 'billing' },
    { namespace: 'shop', pod: 'shop-x1' },
    { container: 'sidecar' },
    { schedule: 'nightly' },
    { labelSelector: 'tier=web' },
    { from: Date.parse('2025-11-28T00:00:00Z') }, // the second day whole
    { to: Date.parse('2025-11-28T00:00:00Z') }, // the first day whole
    { from: Date.parse('2025-11-27T23:00:00Z'), to: Date.parse('2025-11-28T05:00:00Z') }, // whole hours across days
  ];
  // Ranges that cut hours and days anywhere.
  for (let i = 0; i < 30; i++) {
    const a = T0 + Math.floor(random() * 30 * 3600_000);
    const b = T0 + Math.floor(random() * 30 * 3600_000);
    fixed.push({ from: Math.min(a, b), to: Math.max(a, b) + 1, ...(i % 3 === 0 ? { namespace: 'shop' } : {}) });
  }
  return fixed;
}

t.test('a format 1 store is migrated, and answers as format 1 did, byte for byte', async (t) => {
  const dir = join(t.testdir(), 'profiles');
  await cp(FIXTURE, dir, { recursive: true });
  const v1 = await readFormat1(dir);
  t.equal(v1.items.length, 78, 'the recorded store');
  const answers = queries().map((f) => ({ f, ...format1Answer(v1, f) }));

  const store = new ProfileStore({ dir, now: () => NOW });
  const report = await store.start();
  t.match(report, { profiles: 78, migrated: 78, invalidMetadataRemoved: 0, orphanDataRemoved: 0 });
  t.ok(report.rollupsRebuilt > 40, `rollups built after the migration (${report.rollupsRebuilt})`);
  t.same(await readdir(dir).then((n) => n.sort()), ['FORMAT', 'blocks'], 'the format 1 files are gone');
  t.same((await readdir(join(dir, 'blocks'))).sort(), ['20251127', '20251128', '20251129'], 'a block per UTC day');

  const listed = store.list();
  t.same(
    listed.map(({ bytes: _b, dictionaryBytes: _d, firstNewStackId: _f, java: _j, event: _e, ...rest }) => rest),
    v1.items.map(({ bytes: _b, ...rest }) => rest),
    'the same metadata, in the same order',
  );
  t.ok(
    listed.every((p) => p.java.inlined === false),
    'metadata written before inlined frames existed reads as without them',
  );
  t.ok(
    listed.every((p) => p.event === 'cpu'),
    'metadata written before events existed reads as cpu',
  );
  t.same(store.list({ event: 'alloc' }), [], 'and as no other event');
  for (const p of listed) {
    if (serializeFolded(await store.readStacks(p.id)) !== serializeFolded(v1.stacks.get(p.id) as FoldedStacks)) {
      t.fail(`${p.id} reads back other stacks than format 1 held`);
    }
  }
  for (const { f, text, n } of answers) {
    const merged = await store.merge(store.list(f));
    t.equal(merged.items.length, n, `${JSON.stringify(f)}: ${n} profiles`);
    if (serializeFolded(merged.stacks) !== text) t.fail(`${JSON.stringify(f)}: the merge differs from format 1's`);
  }
  t.pass(`${answers.length} merges byte for byte as format 1's`);
  await store.close();

  const again = new ProfileStore({ dir, now: () => NOW });
  t.match(await again.start(), { profiles: 78, migrated: 0, rollupsRebuilt: 0 }, 'a second start is a no-op');
  const all = answers[0] as (typeof answers)[number];
  t.equal(serializeFolded((await again.merge(again.list())).stacks), all.text);
  await again.close();
});

function startAndKill(dir: string, killAfterMs: number): Promise<'killed' | 'done'> {
  const loader = process.execArgv.filter((a) => a.includes('typescript'));
  const child = spawn(process.execPath, [...loader, MIGRATOR, dir, String(NOW)], {
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (chunk.includes('starting')) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(out.includes('started') ? 'done' : 'killed');
      else if (code === 0 && out.includes('started')) resolve('done');
      else reject(new Error(`migrator exited with ${code ?? signal}: ${out}`));
    });
  });
}

t.test('SIGKILL during the migration loses nothing', async (t) => {
  const dir = join(t.testdir(), 'profiles');
  await cp(FIXTURE, dir, { recursive: true });
  const v1 = await readFormat1(dir);
  const seed = Number(process.env.CRASH_SEED ?? 20251203);
  const random = mulberry32(seed);
  t.comment(`seed ${seed} (set CRASH_SEED to replay)`);
  let kills = 0;
  for (let round = 0; round < 6; round++) {
    if ((await startAndKill(dir, 20 + Math.floor(random() * 300))) === 'killed') kills++;
  }
  t.ok(kills >= 2, `the migration was killed midway ${kills} times`);
  const store = new ProfileStore({ dir, now: () => NOW });
  await store.start();
  t.teardown(() => store.close());
  t.equal(store.list().length, 78, 'every profile is there');
  for (const p of store.list()) {
    if (serializeFolded(await store.readStacks(p.id)) !== serializeFolded(v1.stacks.get(p.id) as FoldedStacks)) {
      t.fail(`${p.id} reads back other stacks than format 1 held`);
    }
  }
  t.equal(
    serializeFolded((await store.merge(store.list())).stacks),
    format1Answer(v1, {}).text,
    'the merge of all is format 1’s',
  );
  t.same(await readdir(dir).then((n) => n.sort()), ['FORMAT', 'blocks']);
});
