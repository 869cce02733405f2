/**
 * Child process of crash-safety.test.ts: writes profiles into a store in a loop, two at a time, until killed.
 * Prints `committed ID SAMPLES` once a put has resolved. Usage: store-writer.ts DIR MAX_TOTAL_BYTES
 */
import { ProfileStore } from '../../agent/store/profile-store.js';
import { fixtureStacks } from '../history/fixtures.js';
import type { FoldedStacks } from '../../shared/folded.js';

const [dir, maxBytes] = process.argv.slice(2) as [string, string];
const store = new ProfileStore({ dir, maxTotalBytes: Number(maxBytes), sweepIntervalMs: 5 });
await store.start();
const base = fixtureStacks('after');

// Larger than one capture, so that a kill often lands inside a write.
function variant(n: number): FoldedStacks {
  const out: FoldedStacks = new Map();
  for (let copy = 0; copy < 40; copy++) {
    for (const [stack, count] of base) out.set(`${stack};copy_${n}_${copy}`, count + copy);
  }
  return out;
}

process.stdout.write('ready\n');
let n = 0;
async function loop(): Promise<never> {
  for (;;) {
    const i = n++;
    const meta = await store.put({
      namespace: 'crash',
      pod: `writer-${i}`,
      container: 'app',
      node: 'node-a',
      startMs: Date.now(),
      durationSeconds: 1,
      frequencyHz: 99,
      warnings: [],
      schedule: 'loop',
      podUid: null,
      containerId: null,
      labels: { i: String(i) },
      stacks: variant(i),
    });
    process.stdout.write(`committed ${meta.id} ${meta.samples}\n`);
  }
}
await Promise.all([loop(), loop()]);
