/**
 * kill -9 during writes leaves a consistent store: a child process writes profiles in a loop (retention removing
 * the oldest and compacting the dictionary as it goes) and is SIGKILLed at
 * random moments, several times over the same directory; after each kill the store reopens, every profile it lists
 * reads back intact, every profile the child reported committed is there, no leftover file remains, and the merge
 * through the rollups is the profile-by-profile merge (a rollup the kill left stale is rebuilt or unused).
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ProfileStore } from '../../agent/store/profile-store.js';
import { mergeStoredProfiles } from '../../agent/store/merge.js';
import { serializeFolded, totalSamples } from '../../shared/folded.js';
import { mulberry32 } from './random.js';
import { storeFiles } from './store-files.js';

t.setTimeout(300_000);

const WRITER = fileURLToPath(new URL('./store-writer.ts', import.meta.url));
const ROUNDS = 8;
// About 10 profiles of ~71 kB on disk (~3 kB of pairs, ~61 kB of the new dictionary lines each is counted for, its
// rollups and metadata): retention removes, and compacts the dictionary, while the child writes.
const MAX_BYTES = 700_000;

interface ChildRun {
  committed: Map<string, number>;
}

function runAndKill(dir: string, killAfterMs: number): Promise<ChildRun> {
  const loader = process.execArgv.filter((a) => a.includes('typescript'));
  const child = spawn(process.execPath, [...loader, WRITER, dir, String(MAX_BYTES)], {
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const committed = new Map<string, number>();
  let buffered = '';
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === 'ready') setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        const m = /^committed (\S+) (\d+)$/.exec(line);
        if (m) committed.set(m[1] as string, Number(m[2]));
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited by itself (code ${code}, signal ${signal})`));
      else resolve({ committed });
    });
  });
}

t.test('SIGKILL at random points during writes, removals and dictionary compactions', async (t) => {
  const dir = t.testdir();
  const seed = Number(process.env.CRASH_SEED ?? 20251127);
  const random = mulberry32(seed);
  t.comment(`seed ${seed} (set CRASH_SEED to replay)`);
  let everCommitted = 0;
  let listedTotal = 0;
  let leftoversRemoved = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const killAfterMs = 150 + Math.floor(random() * 2500); // a put of 5,000 new stacks takes a few hundred ms
    const { committed } = await runAndKill(dir, killAfterMs);
    everCommitted += committed.size;

    const store = new ProfileStore({ dir, maxTotalBytes: MAX_BYTES });
    const report = await store.start();
    leftoversRemoved += report.tempFilesRemoved + report.orphanDataRemoved;
    t.equal(report.invalidMetadataRemoved, 0, `round ${round}: no metadata file is ever half-written`);
    const listed = store.list();
    listedTotal += listed.length;
    for (const p of listed) {
      const stacks = await store.readStacks(p.id);
      if (totalSamples(stacks) !== p.samples)
        t.fail(`round ${round}: ${p.id} reads back ${totalSamples(stacks)} samples, not ${p.samples}`);
    }
    // Every profile the child saw committed is there unless retention has since removed an older one.
    const listedIds = new Set(listed.map((p) => p.id));
    // The child's report order is commit order; ids only sort by second (then a random suffix), so sorting them
    // could pick an earlier profile of the last second that retention has rightly removed since.
    const newest = [...committed.keys()].slice(-3);
    for (const id of newest) t.ok(listedIds.has(id), `round ${round}: committed ${id} survived the kill`);
    const files = await storeFiles(dir);
    t.same(
      files.filter((f) => f.split('/').at(-1)?.startsWith('.tmp-')),
      [],
      `round ${round}: no temp file left after start-up`,
    );
    t.equal(
      files.filter((f) => /\.(json|pairs)$/.test(f)).length,
      listed.length * 2,
      `round ${round}: exactly a marker and a data file per listed profile`,
    );
    // Rollups left stale by the kill are rebuilt or unused: the merge is the profile-by-profile one.
    const merged = await store.merge(listed);
    t.equal(merged.items.length, listed.length, `round ${round}: every listed profile merged`);
    t.equal(
      serializeFolded(merged.stacks),
      serializeFolded((await mergeStoredProfiles(store, listed)).stacks),
      `round ${round}: the merge with rollups is the merge of the profiles`,
    );
    await store.close();
  }
  t.comment(
    `${ROUNDS} kills, ${everCommitted} commits seen, ${listedTotal} profiles verified, ${leftoversRemoved} leftovers removed`,
  );
  t.ok(everCommitted > ROUNDS, 'the writer made progress between kills');
  // Every stack of the writer is new (a frame per copy and profile), so its removals are followed by compactions.
  const dictionaries = (await storeFiles(dir)).filter((f) => f.endsWith('stacks.dict'));
  const texts = await Promise.all(dictionaries.map((f) => readFile(join(dir, f), 'utf8')));
  t.ok(
    texts.some((text) => /^-s \d+$/m.test(text)),
    'dictionaries were compacted (and killed while compacting) during the rounds',
  );
});
