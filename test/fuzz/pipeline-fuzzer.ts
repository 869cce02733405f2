/**
 * The pipeline fuzzer itself, run in a child process by pipeline.test.ts so that an input that makes the collapser
 * or the renderer loop (synchronous code cannot be interrupted in-process) is caught by a watchdog and reported with
 * the input, instead of stalling the test run. Input i is made from its own PRNG (seed, i): any one input can be
 * replayed alone, and the run resumes after a hang.
 *
 * Protocol: started with `FUZZ_SEED`, `FUZZ_FROM` (first index) and `FUZZ_DUMP` (file that holds the input being
 * processed); sends `{type: 'progress', next, summary}` every few inputs and `{type: 'done', summary}` at the end.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { SaxesParser } from 'saxes';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import type { CollapseOptions } from '../../shared/collapse/options.js';
import { renderFlameGraph, PALETTES, type RenderOptions } from '../../shared/render/index.js';
import { PodflameError } from '../../shared/errors.js';
import { serializeFolded } from '../../shared/folded.js';
import { diffFolded, serializeDiff } from '../../shared/diff/diff-folded.js';
import { excerpt, fromScratch, int, mutate, pick, prng, type Rng } from './mutate.js';

/** Index ranges of the three kinds of input. */
export const PLAN = { perf: 4_000, folded: 4_000, scratch: 2_000 } as const;
export const TOTAL_INPUTS = PLAN.perf + PLAN.folded + PLAN.scratch;
/** No input is longer than this (characters), so none can be slow by size alone. */
export const MAX_INPUT = 16_000;
/** The heap may not pass this while fuzzing (the inputs are small: growth means something is kept). */
export const HEAP_BOUND = 512 * 1024 * 1024;
export const PROGRESS_EVERY = 25;

export interface FuzzSummary {
  inputs: number;
  collapsed: number;
  rendered: number;
  expectedErrors: Record<string, number>;
  failures: string[];
  slowest: { ms: number; what: string };
  maxHeapMiB: number;
  /** Where the time went: milliseconds in the collapser, the renderer and the XML check. */
  ms: { collapse: number; render: number; xml: number };
}

const read = (rel: string) => readFileSync(new URL(rel, import.meta.url), 'latin1');
// Real captures: javac on JDK 17 under perf (test/fuzz/fixtures), and folded profiles of the same workload.
export const PERF_SEEDS = [read('./fixtures/javac.perf.txt')];
const FOLDED_BEFORE = read('../diff/fixtures/before.folded');
const FOLDED_AFTER = read('../diff/fixtures/after.folded');
const DIFF = serializeDiff(diffFolded(FOLDED_BEFORE.split('\n'), FOLDED_AFTER.split('\n'), { skipInvalidLines: true }));
export const FOLDED_SEEDS = [FOLDED_BEFORE, FOLDED_AFTER, DIFF];

/** Well-formedness by a conforming XML 1.0 parser (saxes): the first error, or undefined. */
export function xmlError(svg: string): string | undefined {
  const parser = new SaxesParser({ xmlns: true, position: true });
  let first: string | undefined;
  let root: string | undefined;
  parser.on('error', (err) => {
    first ??= err.message;
  });
  parser.on('opentag', (tag) => {
    root ??= tag.local;
  });
  parser.write(svg).close();
  return first ?? (root === 'svg' ? undefined : `root element is ${root ?? 'missing'}, not svg`);
}

/** The PRNG of input `index`: independent of every other input. */
export function inputRng(seed: number, index: number): Rng {
  return prng((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0);
}

function randomCollapseOptions(rng: Rng): Partial<CollapseOptions> {
  return {
    pid: rng() < 0.2,
    tid: rng() < 0.2,
    kernel: rng() < 0.3,
    jit: rng() < 0.3,
    all: rng() < 0.2,
    addrs: rng() < 0.2,
    java: rng() < 0.5,
    eventFilter: rng() < 0.1 ? pick(rng, ['cpu-clock:pppH', 'cycles', 'cpu-clock']) : undefined,
  };
}

const HOSTILE_TEXT = ['Shop <prod> & "eu" \'1\'', ']]> <!-- x -->', '\u0001\u0000 ctl', 'π ∑ 🔥', ''];

function randomRenderOptions(rng: Rng): Partial<RenderOptions> {
  const o: Partial<RenderOptions> = { colors: pick(rng, PALETTES), hash: rng() < 0.5 };
  if (rng() < 0.2) o.random = true;
  if (rng() < 0.2) o.inverted = true;
  if (rng() < 0.2) o.reverse = true;
  if (rng() < 0.15) o.flamechart = true;
  if (rng() < 0.15) o.negate = true;
  if (rng() < 0.2) o.minwidth = pick(rng, [0, 0.1, 5, '0.5%', '10%']);
  if (rng() < 0.2) o.width = pick(rng, [100, 1200, 4000]);
  if (rng() < 0.3) o.title = pick(rng, HOSTILE_TEXT);
  if (rng() < 0.2) o.subtitle = pick(rng, HOSTILE_TEXT);
  if (rng() < 0.2) o.countname = pick(rng, HOSTILE_TEXT);
  if (rng() < 0.2) o.nametype = pick(rng, HOSTILE_TEXT);
  if (rng() < 0.2) o.notes = pick(rng, HOSTILE_TEXT);
  if (rng() < 0.1) o.factor = pick(rng, [2.5, 0.001, 1e6]);
  return o;
}

/** Splits text into random chunk sizes, as a stream would deliver it (strings, or bytes in latin1 or UTF-8). */
function* chunks(text: string, rng: Rng): Generator<string | Buffer> {
  const asBytes = rng() < 0.5;
  const data: string | Buffer = asBytes ? Buffer.from(text, rng() < 0.5 ? 'latin1' : 'utf8') : text;
  for (let i = 0; i < data.length;) {
    const size = 1 + int(rng, rng() < 0.2 ? 8 : 4096);
    yield data.slice(i, i + size);
    i += size;
  }
}

function describe(input: string): string {
  return JSON.stringify(input.length > 300 ? `${input.slice(0, 300)}…(${input.length} chars)` : input);
}

export class PipelineFuzzer {
  readonly summary: FuzzSummary = {
    inputs: 0,
    collapsed: 0,
    rendered: 0,
    expectedErrors: {},
    failures: [],
    slowest: { ms: 0, what: '' },
    maxHeapMiB: 0,
    ms: { collapse: 0, render: 0, xml: 0 },
  };

  constructor(
    private readonly seed: number,
    /** File that always holds the input being processed, for the watchdog to report. */
    private readonly dumpFile?: string,
  ) {}

  /** Builds and runs input `index`. */
  run(index: number): void {
    const rng = inputRng(this.seed, index);
    const tag = `#${index} (FUZZ_SEED=${this.seed})`;
    if (index < PLAN.perf) {
      const seed = excerpt(pick(rng, PERF_SEEDS), rng, MAX_INPUT);
      const { text, steps } = mutate(seed, pick(rng, FOLDED_SEEDS), rng, MAX_INPUT);
      this.collapseAndRender(`perf ${tag} [${steps.join(',')}]`, text, rng);
    } else if (index < PLAN.perf + PLAN.folded) {
      const seed = excerpt(pick(rng, FOLDED_SEEDS), rng, MAX_INPUT);
      const { text, steps } = mutate(seed, pick(rng, PERF_SEEDS), rng, MAX_INPUT);
      this.render(`folded ${tag} [${steps.join(',')}]`, text, rng);
    } else if (index % 2 === 0) {
      this.collapseAndRender(`scratch-perf ${tag}`, fromScratch(rng, 'perf', MAX_INPUT), rng);
    } else {
      this.render(`scratch-folded ${tag}`, fromScratch(rng, 'folded', MAX_INPUT), rng);
    }
    if (index % 250 === 0) this.checkHeap();
  }

  checkHeap(): void {
    const heap = process.memoryUsage().heapUsed;
    this.summary.maxHeapMiB = Math.max(this.summary.maxHeapMiB, heap / 2 ** 20);
    if (heap > HEAP_BOUND) this.summary.failures.push(`heap ${(heap / 2 ** 20).toFixed(0)} MiB passed the bound`);
  }

  /** Runs one step; a PodflameError is an accepted outcome (a documented failure), anything else is a bug. */
  private attempt<T>(what: string, input: string, step: () => T): T | undefined {
    if (this.dumpFile) writeFileSync(this.dumpFile, `${what}\n${input}`);
    const start = performance.now();
    try {
      return step();
    } catch (err) {
      if (err instanceof PodflameError) {
        this.summary.expectedErrors[err.code] = (this.summary.expectedErrors[err.code] ?? 0) + 1;
        return undefined;
      }
      const e = err as Error;
      const where = e?.stack?.split('\n').slice(1, 4).join('\n') ?? '';
      this.summary.failures.push(`${what}: ${e?.name}: ${e?.message}\n${where}\ninput ${describe(input)}`);
      return undefined;
    } finally {
      const ms = performance.now() - start;
      this.summary.ms[what.endsWith(' collapse') ? 'collapse' : 'render'] += ms;
      if (ms > this.summary.slowest.ms) this.summary.slowest = { ms, what: `${what} (${input.length} chars)` };
    }
  }

  private checkSvg(what: string, input: string, svg: string): void {
    const start = performance.now();
    const err = xmlError(svg);
    this.summary.ms.xml += performance.now() - start;
    if (err !== undefined)
      this.summary.failures.push(`${what}: SVG is not well-formed XML: ${err}\ninput ${describe(input)}`);
  }

  private collapseAndRender(what: string, text: string, rng: Rng): void {
    this.summary.inputs++;
    const result = this.attempt(`${what} collapse`, text, () => {
      const collapser = new PerfCollapser(randomCollapseOptions(rng));
      for (const chunk of chunks(text, rng)) collapser.push(chunk);
      return collapser.finish();
    });
    if (!result) return;
    this.summary.collapsed++;
    for (const [stack, count] of result.stacks) {
      // Counts may be Infinity: a period of 400 digits numifies to Inf in perl as well (the renderer then skips it).
      if (stack.includes('\n') || !(count > 0)) {
        this.summary.failures.push(
          `${what}: bad folded entry ${describe(`${stack} ${count}`)}; input ${describe(text)}`,
        );
        break;
      }
    }
    // A quarter of the collapsed results go on to the renderer, so it also sees fuzzed collapser output.
    if (result.stacks.size > 0 && rng() < 0.25) {
      const folded = serializeFolded(result.stacks);
      const rendered = this.attempt(`${what} render-collapsed`, folded, () =>
        renderFlameGraph(folded.split('\n'), randomRenderOptions(rng)),
      );
      if (rendered) {
        this.summary.rendered++;
        this.checkSvg(`${what} render-collapsed`, folded, rendered.svg);
      }
    }
  }

  private render(what: string, text: string, rng: Rng): void {
    this.summary.inputs++;
    const lines = text.split('\n');
    const rendered = this.attempt(`${what} render`, text, () => renderFlameGraph(lines, randomRenderOptions(rng)));
    if (!rendered) return;
    this.summary.rendered++;
    this.checkSvg(`${what} render`, text, rendered.svg);
  }
}

// Child-process mode (forked by pipeline.test.ts). Progress carries the summary so far, and goes out at once after a
// failure, so nothing found is lost if the watchdog has to kill this process.
if (process.send && process.env.FUZZ_CHILD === '1') {
  const send = process.send.bind(process);
  const fuzzer = new PipelineFuzzer(Number(process.env.FUZZ_SEED), process.env.FUZZ_DUMP);
  const from = Number(process.env.FUZZ_FROM ?? 0);
  let reportedFailures = 0;
  for (let i = from; i < TOTAL_INPUTS && fuzzer.summary.failures.length < 20; i++) {
    fuzzer.run(i);
    if (i % PROGRESS_EVERY === 0 || fuzzer.summary.failures.length > reportedFailures) {
      reportedFailures = fuzzer.summary.failures.length;
      send({ type: 'progress', next: i + 1, summary: fuzzer.summary });
    }
  }
  fuzzer.checkHeap();
  send({ type: 'done', summary: fuzzer.summary }, () => process.disconnect());
}
