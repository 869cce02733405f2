/**
 * Fuzzing the pipeline (issue #5): the collapser and the renderer fed 10,000 seeded random and mutated inputs — real
 * perf script and folded text from JVM captures, mutated (bit flips, truncation, duplicated and swapped lines, random
 * Unicode, hostile names, huge numbers, empty frames, NUL bytes, CRLF, deep stacks, long lines), plus inputs built
 * from scratch (see pipeline-fuzzer.ts and mutate.ts). Each must end with a result or a PodflameError; anything else
 * thrown is a bug; every SVG must be well-formed XML; the heap stays under a bound. Inputs are bounded in size, and a
 * watchdog reports an input that makes a component loop (no progress for WATCHDOG_MS) with the input itself.
 *
 * Replay: FUZZ_SEED=<seed> (default below) and FUZZ_FROM=<index>; failures name the seed and the input's index.
 */
import t from 'tap';
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { renderFlameGraph } from '../../shared/render/index.js';
import { serializeFolded } from '../../shared/folded.js';
import { PERF_SEEDS, TOTAL_INPUTS, xmlError, type FuzzSummary } from './pipeline-fuzzer.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
/** A child that reports no progress for this long is looping on the input it holds (progress comes every 25 inputs). */
const WATCHDOG_MS = 30_000;
const MAX_HANGS = 3;

t.setTimeout(900_000);

t.test('the seeds go through cleanly and the XML checker can fail', async (t) => {
  const collapser = new PerfCollapser({ java: true });
  collapser.push(PERF_SEEDS[0] as string);
  const result = collapser.finish();
  t.ok(result.samples >= 10, 'the perf seed is a real capture with samples');
  const rendered = renderFlameGraph(serializeFolded(result.stacks).split('\n'), { colors: 'java', hash: true });
  t.equal(xmlError(rendered.svg), undefined, 'its SVG is well-formed');
  t.not(xmlError('<svg><a></svg>'), undefined, 'the XML checker rejects a broken document');
  t.not(xmlError('<svg a="1" a="2"/>'), undefined, 'and duplicate attributes');
  t.not(xmlError('<svg>\u0001</svg>'), undefined, 'and control characters');
  t.not(xmlError('<html/>'), undefined, 'and a document that is not an SVG');
});

interface ChildOutcome {
  /** The child's last summary (final when `done`). */
  summary?: FuzzSummary;
  done?: boolean;
  /** Index after the last progress report, when the watchdog stopped the child. */
  hungAfter?: number;
  hungInput?: string;
  exit?: string;
}

function runChild(from: number, dump: string): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const child = fork(fileURLToPath(new URL('./pipeline-fuzzer.ts', import.meta.url)), [], {
      execArgv: process.execArgv,
      env: { ...process.env, FUZZ_CHILD: '1', FUZZ_SEED: String(SEED), FUZZ_FROM: String(from), FUZZ_DUMP: dump },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let next = from;
    let summary: FuzzSummary | undefined;
    let done = false;
    let outcome: ChildOutcome = {};
    let watchdog = setTimeout(onHang, WATCHDOG_MS);
    function onHang() {
      let input = '';
      try {
        input = readFileSync(dump, 'utf8');
      } catch {
        input = '(no input recorded)';
      }
      outcome = { hungAfter: next, hungInput: input };
      child.kill('SIGKILL');
    }
    child.on('message', (m: { type: string; next?: number; summary?: FuzzSummary }) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(onHang, WATCHDOG_MS);
      if (m.type === 'progress') next = m.next ?? next;
      summary = m.summary ?? summary;
      if (m.type === 'done') done = true;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      outcome.summary = summary;
      outcome.done = done;
      if (!done && outcome.hungAfter === undefined) outcome.exit = `fuzzer exited ${code ?? signal} before the end`;
      resolve(outcome);
    });
  });
}

t.test(`pipeline fuzz: ${TOTAL_INPUTS} inputs, seed ${SEED}`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const started = performance.now();
  const total: FuzzSummary = {
    inputs: 0,
    collapsed: 0,
    rendered: 0,
    expectedErrors: {},
    failures: [],
    slowest: { ms: 0, what: '' },
    maxHeapMiB: 0,
    ms: { collapse: 0, render: 0, xml: 0 },
  };
  const hangs: string[] = [];
  // FUZZ_FROM=<index> starts later (to replay one input and those after it; the 10,000 count then fails).
  let from = Number(process.env.FUZZ_FROM ?? 0);
  while (from < TOTAL_INPUTS) {
    const outcome = await runChild(from, join(dir, 'current-input.txt'));
    const s = outcome.summary;
    if (s) {
      total.inputs += s.inputs;
      total.collapsed += s.collapsed;
      total.rendered += s.rendered;
      for (const [code, n] of Object.entries(s.expectedErrors)) {
        total.expectedErrors[code] = (total.expectedErrors[code] ?? 0) + n;
      }
      total.failures.push(...s.failures);
      if (s.slowest.ms > total.slowest.ms) total.slowest = s.slowest;
      total.maxHeapMiB = Math.max(total.maxHeapMiB, s.maxHeapMiB);
      for (const k of ['collapse', 'render', 'xml'] as const) total.ms[k] += s.ms[k];
    }
    if (outcome.done) break;
    if (outcome.hungAfter === undefined) {
      total.failures.push(outcome.exit ?? 'fuzzer stopped without a summary');
      break;
    }
    const [what = '', ...rest] = (outcome.hungInput ?? '').split('\n');
    const input = rest.join('\n');
    const shown = input.length > 400 ? `${input.slice(0, 400)}…(${input.length} chars)` : input;
    hangs.push(`no progress for ${WATCHDOG_MS / 1000} s: ${what}\ninput ${JSON.stringify(shown)}`);
    // Inputs are independent: go on after the one that hung. Those run after the last progress report count too.
    const hungIndex = Number(/#(\d+)/.exec(what)?.[1] ?? outcome.hungAfter);
    total.inputs += hungIndex - outcome.hungAfter + 1;
    from = hungIndex + 1;
    if (hangs.length >= MAX_HANGS) break;
  }
  const seconds = (performance.now() - started) / 1000;
  t.comment(
    `fuzzed ${total.inputs} inputs in ${seconds.toFixed(1)} s (seed ${SEED}): ${total.collapsed} collapsed, ` +
      `${total.rendered} SVGs rendered and checked as XML; PodflameErrors by code ${JSON.stringify(total.expectedErrors)}; ` +
      `slowest input ${total.slowest.ms.toFixed(0)} ms (${total.slowest.what}); max heap ${total.maxHeapMiB.toFixed(0)} MiB; ` +
      `hangs ${hangs.length}; time in collapse ${(total.ms.collapse / 1000).toFixed(1)} s, render ` +
      `${(total.ms.render / 1000).toFixed(1)} s, XML check ${(total.ms.xml / 1000).toFixed(1)} s`,
  );
  for (const h of hangs) t.fail(h);
  for (const f of total.failures) t.fail(f);
  t.equal(hangs.length + total.failures.length, 0, 'no hang, no uncaught error, no malformed SVG, heap within bound');
  t.ok(total.inputs >= 10_000, `at least 10,000 inputs (${total.inputs})`);
  t.ok(total.rendered > 1_000, 'the renderer really ran on many inputs');
  t.ok(total.collapsed > 1_000, 'the collapser really ran on many inputs');
});
