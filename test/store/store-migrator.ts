/**
 * Child process of migration.test.ts: opens a store (migrating it) and exits. Prints `starting` before and `started`
 * after. Usage: store-migrator.ts DIR NOW_MS
 */
import { ProfileStore } from '../../agent/store/profile-store.js';

const [dir, now] = process.argv.slice(2) as [string, string];
const store = new ProfileStore({ dir, now: () => Number(now) });
process.stdout.write('starting\n');
await store.start();
process.stdout.write('started\n');
await store.close();
