/**
 * JIT map: podflame's JVMTI agent (agent/capture/perfmap-agent.c) against the JVM's own `jcmd Compiler.perfmap`, on
 * one JDK 17 JVM of this machine with many compiled methods (javac compiling in a loop, JavacLoop.java, until its map
 * lists 10,000+ Java methods). Each way of writing the map is run as the capture script runs it (jattach, one whole
 * command timed from spawn to exit), in alternation so that both see the same JVM: `jcmd Compiler.perfmap`, then
 * `load <lib> true dir=/tmp`, then the same with `inline=1` (inlined-method chains). No container: JDK 17, jattach and
 * gcc from scripts/provision.sh; the natives are built with agent/capture/build-native.sh into the scratch folder.
 * Without them the section is skipped with the reason.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { median } from './measure.js';

export interface JitMapOptions {
  root: string;
  scratch: string;
  log: (line: string) => void;
}

const JDK = '/usr/lib/jvm/java-17-openjdk-amd64';
const JATTACH = '/usr/bin/jattach';
/** The size of a big application's map: compiled Java methods listed. */
const MIN_METHODS = 10_000;
/** How long javac may take to get there, and how often the map is counted meanwhile. */
const WARMUP_CAP_MS = 300_000;
const POLL_MS = 5_000;
/** Timed runs of each command. */
const ROUNDS = 5;

// A compiled Java method's line in either map: `0x00007f3c1d2a4e40 0x0000000000000120 void gen.C3.m3_1(java.util.List, int)`
// (stubs and VM code are other shapes: `Interpreter`, `StubRoutines (1)`, `I2C/C2I adapters(...)`).
const JAVA_METHOD = /^0x[0-9a-f]+ 0x[0-9a-f]+ \S+ \S+\(.*\)$/;

interface Ran {
  code: number;
  ms: number;
  out: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    const keep = (d: Buffer) => (out = (out + d.toString()).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => reject(new Error(`cannot run ${command}: ${err.message}`)));
    child.on('close', (code) =>
      resolve({ code: code ?? 1, ms: Number(process.hrtime.bigint() - start) / 1e6, out: out.trim() }),
    );
  });
}

function countMap(path: string): { lines: number; methods: number; bytes: number } {
  const text = readFileSync(path, 'utf8');
  let lines = 0;
  let methods = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    lines++;
    if (JAVA_METHOD.test(line)) methods++;
  }
  return { lines, methods, bytes: statSync(path).size };
}

export async function jitMapBench(opts: JitMapOptions): Promise<string> {
  const heading = "JIT map: podflame's JVMTI agent vs Compiler.perfmap (JDK 17, jattach, whole command)";
  const missing = [`${JDK}/bin/java`, `${JDK}/bin/javac`, `${JDK}/include/jvmti.h`, JATTACH, '/usr/bin/gcc'].filter(
    (f) => !existsSync(f),
  );
  if (missing.length > 0)
    return `${heading}: skipped — ${missing.join(', ')} missing; run scripts/provision.sh as root`;

  const natives = join(opts.scratch, 'natives');
  const work = join(opts.scratch, 'jit-map');
  const cleanup: (() => void)[] = [];
  try {
    const built = await run('bash', [join(opts.root, 'agent/capture/build-native.sh'), natives], {
      ...process.env,
      JAVA_HOME: JDK,
    });
    if (built.code !== 0) throw new Error(`build-native.sh failed: ${built.out}`);
    const library = join(natives, 'libpodflame-perfmap.so');
    // javac alone executes about 8,900 distinct methods: a generated application part of 12 classes of 1,000 small
    // methods each, all called once at start, brings the map to the size of a big application's. They are kept out
    // of their callers (CompileCommand dontinline below): inlined, they were never called and never compiled.
    const sources = [join(opts.root, 'scripts/bench/JavacLoop.java'), ...writeManyMethods(join(work, 'src'))];
    const javac = await run(`${JDK}/bin/javac`, ['-d', join(work, 'classes'), ...sources]);
    if (javac.code !== 0) throw new Error(`javac JavacLoop.java failed: ${javac.out}`);

    // JavacLoop's javac alone levels off near 5,500 live compiled methods at the default thresholds (lower C1
    // thresholds reached 5,800 in two minutes), and the sweeper flushes some of them again: -Xcomp compiles every
    // method javac runs on its first call, and without flushing the map only grows, to the size of a big application's.
    const jvm = spawn(
      `${JDK}/bin/java`,
      [
        '-XX:+PreserveFramePointer',
        '-Xms512m',
        '-Xmx512m',
        '-XX:-UseCodeCacheFlushing',
        '-Xcomp',
        '-XX:CompileCommand=quiet',
        '-XX:CompileCommand=dontinline,Many*::m*',
        '-cp',
        join(work, 'classes'),
        'ManyThenJavac',
        join(work, 'loop'),
        '40',
        '0',
      ],
      { stdio: 'ignore' },
    );
    const pid = jvm.pid;
    if (pid === undefined) throw new Error(`cannot start ${JDK}/bin/java`);
    const map = `/tmp/perf-${pid}.map`;
    cleanup.push(() => {
      jvm.kill('SIGKILL');
      rmSync(map, { force: true });
    });
    const perfmap = () => run(JATTACH, [String(pid), 'jcmd', 'Compiler.perfmap']);

    // javac in a loop until its map is the size of a big application's.
    const warmupStart = Date.now();
    let methods = 0;
    let shortOf = '';
    for (;;) {
      await sleep(POLL_MS);
      if (jvm.exitCode !== null) throw new Error(`JavacLoop exited early (status ${jvm.exitCode})`);
      const r = await perfmap();
      // The attach listener starts on the first attach: early polls may fail while the JVM starts up.
      if (r.code === 0 && existsSync(map)) methods = countMap(map).methods;
      const waited = Date.now() - warmupStart;
      opts.log(`jit-map: ${methods} compiled Java methods after ${(waited / 1000).toFixed(0)} s of javac`);
      if (methods >= MIN_METHODS) break;
      if (waited > WARMUP_CAP_MS) {
        // Measured anyway, and said so: the comparison still holds for the map there is.
        shortOf = `below the ${MIN_METHODS} wanted: ${methods} Java methods after ${WARMUP_CAP_MS / 1000} s of javac (a busy machine?)`;
        opts.log(`jit-map: ${shortOf}`);
        break;
      }
    }

    const variants = [
      { name: 'jcmd Compiler.perfmap', args: ['jcmd', 'Compiler.perfmap'] },
      { name: 'our agent (load, dir=/tmp)', args: ['load', library, 'true', 'dir=/tmp'] },
      { name: 'our agent, inline=1', args: ['load', library, 'true', 'dir=/tmp,inline=1'] },
    ];
    const times = variants.map(() => [] as number[]);
    const sizes = variants.map(() => ({ lines: 0, methods: 0, bytes: 0 }));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [i, v] of variants.entries()) {
        rmSync(map, { force: true });
        const r = await run(JATTACH, [String(pid), ...v.args]);
        if (r.code !== 0 || !existsSync(map)) throw new Error(`${v.name} failed (exit ${r.code}): ${r.out}`);
        times[i]?.push(r.ms);
        sizes[i] = countMap(map);
        opts.log(`jit-map: round ${round}/${ROUNDS} ${v.name} ${r.ms.toFixed(1)} ms, ${sizes[i]?.lines} lines`);
      }
    }

    const medians = times.map((t) => median(t));
    const [perfmapMs, agentMs, inlineMs] = medians as [number, number, number];
    const lines = [
      heading,
      `  JVM: JavacLoop on ${JDK}, ${methods} compiled Java methods in its map after ` +
        `${((Date.now() - warmupStart) / 1000).toFixed(0)} s; ${ROUNDS} rounds, the three commands alternating, ` +
        'each timed from spawn to exit of jattach',
      ...(shortOf ? [`  NOTE: ${shortOf}`] : []),
    ];
    for (const [i, v] of variants.entries()) {
      const s = sizes[i] as { lines: number; methods: number; bytes: number };
      lines.push(
        `  ${v.name.padEnd(28)} median ${(medians[i] as number).toFixed(1).padStart(7)} ms ` +
          `(min ${Math.min(...(times[i] as number[])).toFixed(1)}, max ${Math.max(...(times[i] as number[])).toFixed(1)}); ` +
          `map ${s.lines} lines (${s.methods} naming Java methods, inline chains counted per range), ${(s.bytes / 1e6).toFixed(2)} MB`,
      );
    }
    const extra = (ms: number) =>
      `${ms - perfmapMs >= 0 ? '+' : ''}${(ms - perfmapMs).toFixed(1)} ms (${(ms / perfmapMs).toFixed(2)}x)`;
    lines.push(`  our agent over Compiler.perfmap: ${extra(agentMs)}; with inline=1: ${extra(inlineMs)}`);
    return lines.join('\n');
  } catch (err) {
    return `${heading}: failed — ${(err as Error).message}`;
  } finally {
    for (const c of cleanup.reverse()) c();
  }
}

/** Writes ManyThenJavac.java (calls every generated method once, then runs JavacLoop) and its 12 classes. */
function writeManyMethods(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const calls: string[] = [];
  for (let c = 0; c < 12; c++) {
    const body: string[] = [];
    const callAll: string[] = [];
    for (let m = 0; m < 1000; m++) {
      body.push(`  static int m${m}(int x) { return x * ${m + 3} + ${c}; }`);
      callAll.push(`    s += m${m}(s);`);
    }
    const file = join(dir, `Many${c}.java`);
    writeFileSync(
      file,
      `final class Many${c} {\n${body.join('\n')}\n  static int callAll(int s) {\n${callAll.join('\n')}\n    return s;\n  }\n}\n`,
    );
    files.push(file);
    calls.push(`    sink += Many${c}.callAll(${c});`);
  }
  const main = join(dir, 'ManyThenJavac.java');
  writeFileSync(
    main,
    `public final class ManyThenJavac {\n  static volatile int sink;\n  public static void main(String[] args) throws Exception {\n${calls.join('\n')}\n    JavacLoop.main(args);\n  }\n}\n`,
  );
  return [...files, main];
}
