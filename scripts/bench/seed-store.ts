/**
 * Seeds a profile store as the issue measured it: a week of one 30 s profile every 10 minutes of one Java service
 * (1,007 profiles, 3,000 distinct stacks each, from java-stacks.ts), written in format 1 — `<id>.folded.gz` and
 * `<id>.json` per profile, exactly as the store wrote them before format 2 — so that the bench sees today's size on
 * disk, and the agent migrates it at start as it would a real node's store.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { serializeFolded, totalSamples } from '../../shared/folded.js';
import type { StoredProfile } from '../../shared/history.js';
import { newProfileId } from '../../agent/store/block-layout.js';
import { mulberry32, profileStacks, stackPool } from './java-stacks.js';

const gzipAsync = promisify(gzip);

export interface SeedOptions {
  /** The store directory (`--data-dir`/profiles). */
  dir: string;
  /** Start of the newest profile, ms since the epoch. */
  endMs: number;
  /** Default 1,007 (a week at one every 10 minutes). */
  profiles?: number;
  /** Default 600 s. */
  everySeconds?: number;
  /** Default 3,000. */
  stacksPerProfile?: number;
  /** Default 1. */
  seed?: number;
}

export interface SeededStore {
  profiles: number;
  firstMs: number;
  /** Folded text written, before gzip. */
  textBytes: number;
  distinctStacks: number;
}

export async function seedFormat1Store(o: SeedOptions): Promise<SeededStore> {
  const n = o.profiles ?? 1007;
  const every = (o.everySeconds ?? 600) * 1000;
  const random = mulberry32(o.seed ?? 1);
  const pool = stackPool(5000, random);
  await mkdir(o.dir, { recursive: true });
  const firstMs = o.endMs - (n - 1) * every;
  const distinct = new Set<string>();
  let textBytes = 0;
  let pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 6 === 0) pool.drift(40, `h${i / 6}`); // an hour's new stacks
    const stacks = profileStacks(pool, o.stacksPerProfile ?? 3000, random);
    for (const s of stacks.keys()) distinct.add(s);
    const startMs = firstMs + i * every;
    const text = serializeFolded(stacks);
    textBytes += Buffer.byteLength(text);
    pending.push(
      (async () => {
        const data = await gzipAsync(Buffer.from(text, 'utf8'));
        const id = newProfileId(startMs);
        // Format 1 metadata, written before events existed (read back as cpu).
        const meta: Omit<StoredProfile, 'event'> = {
          id,
          namespace: 'shop',
          pod: 'shop-7d9f4c-x2k8p',
          container: 'app',
          node: 'bench',
          start: new Date(startMs).toISOString(),
          durationSeconds: 30,
          frequencyHz: 99,
          java: { inlined: false },
          samples: totalSamples(stacks),
          warnings: [],
          schedule: 'every-10m',
          podUid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c',
          containerId: 'c'.repeat(64),
          labels: { app: 'shop', 'pod-template-hash': '7d9f4c' },
          bytes: data.byteLength,
        };
        await writeFile(join(o.dir, `${id}.folded.gz`), data);
        await writeFile(join(o.dir, `${id}.json`), `${JSON.stringify(meta)}\n`);
      })(),
    );
    if (pending.length >= 4) {
      await Promise.all(pending); // gzip on the thread pool, a few at a time
      pending = [];
    }
  }
  await Promise.all(pending);
  return { profiles: n, firstMs, textBytes, distinctStacks: distinct.size };
}
