import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { recordJavac } from './record-javac.js';

export interface BenchInput {
  /** perf script text, unpacked in the scratch folder (never inside the project). */
  path: string;
  bytes: number;
  /** Where it came from, for the report. */
  source: string;
}

/** ../shared/bench/java-javac.perf.txt.gz relative to the project root (described in ../shared/bench/README.md). */
export function sharedInputPath(projectRoot: string): string {
  return join(projectRoot, '..', 'shared', 'bench', 'java-javac.perf.txt.gz');
}

export async function prepareInput(
  projectRoot: string,
  scratch: string,
  log: (line: string) => void,
  explicit?: string,
): Promise<BenchInput> {
  const path = join(scratch, 'input.perf.txt');
  if (explicit) {
    if (explicit.endsWith('.gz')) await pipeline(createReadStream(explicit), createGunzip(), createWriteStream(path));
    else await pipeline(createReadStream(explicit), createWriteStream(path));
    return { path, bytes: statSync(path).size, source: explicit };
  }
  const shared = sharedInputPath(projectRoot);
  if (existsSync(shared)) {
    log(`unpacking ${shared} to ${path}`);
    await pipeline(createReadStream(shared), createGunzip(), createWriteStream(path));
    return { path, bytes: statSync(path).size, source: '../shared/bench/java-javac.perf.txt.gz' };
  }
  log(`${shared} not found: recording a javac workload with perf and a JVM instead`);
  await recordJavac({
    source: join(projectRoot, 'scripts', 'bench', 'JavacLoop.java'),
    work: join(scratch, 'record'),
    out: path,
    warmupSeconds: 30,
    seconds: 10,
    frequencyHz: 999,
    log,
  });
  return { path, bytes: statSync(path).size, source: 'recorded now (JavacLoop, 10 s at 999 Hz)' };
}

/** The input written twice in a row: twice the samples, the same distinct stacks. */
export async function doubleInput(input: BenchInput, scratch: string): Promise<string> {
  const path = join(scratch, 'input-2x.perf.txt');
  const out = createWriteStream(path);
  for (let i = 0; i < 2; i++) await pipeline(createReadStream(input.path), out, { end: i === 1 });
  return path;
}
