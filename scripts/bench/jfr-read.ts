/**
 * One timed read of a JFR file by the JFR reader, in a process of its own (the bench's jfr.ts runs it): prints
 * `{"ms", "cpuMs", "maxRssMiB", "chunks", "events", "stacks"}` as one JSON line. usage: node jfr-read.js FILE
 */
import { createReadStream } from 'node:fs';
import { readJfr } from '../../shared/jfr/jfr-reader.js';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: jfr-read.js FILE');
const start = performance.now();
const cpuStart = process.cpuUsage();
const profile = await readJfr(createReadStream(file, { highWaterMark: 1 << 20 }));
const ms = performance.now() - start;
const cpu = process.cpuUsage(cpuStart);
// CPU time too: on a shared machine the wall time also counts the waits for a core.
const cpuMs = (cpu.user + cpu.system) / 1000;
let events = 0;
for (const n of profile.events.values()) events += n;
const stacks = profile.stacks.alloc.size + profile.stacks.lock.size + profile.stacks.wall.size;
const maxRssMiB = process.resourceUsage().maxRSS / 1024;
process.stdout.write(`${JSON.stringify({ ms, cpuMs, maxRssMiB, chunks: profile.chunks, events, stacks })}\n`);
