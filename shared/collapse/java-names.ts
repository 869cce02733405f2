/**
 * Java-aware names for frames from a JVM perf map (`/tmp/perf-PID.map`, written by `jcmd PID Compiler.perfmap` on
 * JDK 17+). The goal is one stable, readable name per Java method, so that graphs from different JVMs, pods and days
 * merge frame for frame. The rules, with real names from test/fixtures/perf (JDK 17.0.15):
 *
 * | perf script symbol (offset already stripped)                                   | frame                          |
 * | ------------------------------------------------------------------------------ | ------------------------------ |
 * | `long Workload.fib(int)`                                                        | `Workload.fib`                 |
 * | `void java.util.stream.AbstractPipeline.copyInto(java.util.stream.Sink, …)`     | `java.util.stream.AbstractPipeline.copyInto` |
 * | `java.lang.Object Workload$$Lambda$6/0x00007fd358003c00.apply(java.lang.Object)` | `Workload$$Lambda.apply`       |
 * | `java.lang.Object java.lang.invoke.LambdaForm$MH/0x00007fd358002000.invoke(…)`  | `java.lang.invoke.LambdaForm$MH.invoke` |
 * | `Interpreter`                                                                   | `Interpreter`                  |
 * | `StubRoutines (1)`                                                              | `StubRoutines`                 |
 * | `I2C/C2I adapters`                                                              | `I2C/C2I adapters`             |
 * | `[unknown]` (an address the map does not cover)                                 | `[unknown jit]`                |
 *
 * The collapser tags all of them `_[j]` (green in flamegraph's java palette). Older perf-map-agent names
 * (`Ljava/lang/String;::hashCode`) become dotted (`java.lang.String.hashCode`). Distinct lambdas of one class merge
 * (`Workload$$Lambda$1/…` and `Workload$$Lambda$4/…` both become `Workload$$Lambda`): their numbering depends on
 * the order of first use, which differs between JVMs, and their bodies (`Workload.lambda$static$3`) are frames too.
 *
 * Thread names (the root frame) keep their spaces (`C2 CompilerThre`, `Stream Worker 1`; the kernel cuts them at 15
 * bytes), where stackcollapse-perf.pl writes `C2_CompilerThre` and reads `Stream Worker 1 18944` as thread
 * `Stream Worker` with TID 1 (event-line.ts, parseJavaEventLine).
 */

/** Frame name for a JIT-map address perf could not resolve (perl prints the per-process `[perf-1234.map]`). */
export const UNRESOLVED_JIT_FRAME = '[unknown jit]';

// The two method shapes below are matched by hand, not by regular expressions: patterns such as
// `^(?:[^ (]+ )?([^ (]+\.[^ (]+)\(` backtrack once per dot, so a workload whose perf map names a method
// `a.a.a.…` (32 KB, no `(`) held the agent's event loop for seconds per frame. These scans read each char at most twice.

/** End of the run of chars from `from` that are none of `stops` (its length when the run reaches the end). */
function runEnd(s: string, from: number, stops: string): number {
  let i = from;
  while (i < s.length && !stops.includes(s.charAt(i))) i++;
  return i;
}

/**
 * JDK method: an optional return type, then `pkg.Class.method(args)` — what `/^(?:[^ (]+ )?([^ (]+\.[^ (]+)\(/`
 * captures, or undefined where it does not match.
 * e.g. `com.sun.tools.javac.code.Type com.sun.tools.javac.comp.Attr.attribTree(com.sun.tools.javac.tree.JCTree, …)`
 */
export function jdkMethodName(symbol: string): string | undefined {
  const first = runEnd(symbol, 0, ' (');
  // The return type, when a non-empty run of the same chars ends at a space.
  const start = first > 0 && symbol.charAt(first) === ' ' ? first + 1 : 0;
  const end = runEnd(symbol, start, ' (');
  if (symbol.charAt(end) !== '(') return undefined;
  // A dot with at least one char of the run on each side.
  const dot = symbol.indexOf('.', start + 1);
  return dot >= 0 && dot < end - 1 ? symbol.slice(start, end) : undefined;
}

/**
 * perf-map-agent: `Lorg/mozilla/javascript/ContextFactory;.call(Lorg/…;)Ljava/lang/Object;` or
 * `Ljava/lang/String;::hashCode` — class (still slashed) and method, as `/^L([^;( ]+\/[^;( ]+);(?:::|\.)([^;( ]+)/`
 * captures them, or undefined where it does not match.
 */
export function agentMethodParts(symbol: string): [string, string] | undefined {
  if (symbol.charAt(0) !== 'L') return undefined;
  const end = runEnd(symbol, 1, ';( ');
  if (symbol.charAt(end) !== ';') return undefined;
  const slash = symbol.indexOf('/', 2);
  if (slash < 0 || slash >= end - 1) return undefined;
  const methodStart = symbol.startsWith('::', end + 1) ? end + 3 : symbol.charAt(end + 1) === '.' ? end + 2 : -1;
  if (methodStart < 0) return undefined;
  const methodEnd = runEnd(symbol, methodStart, ';( ');
  if (methodEnd === methodStart) return undefined;
  return [symbol.slice(1, end), symbol.slice(methodStart, methodEnd)];
}

// Lambda proxies: `Shop$$Lambda$16/0x00007fd04c003c50` (JDK 17), `Shop$$Lambda/0x…` (JDK 21), `Shop$$Lambda$1/1831932724` (JDK 8).
const LAMBDA_SUFFIX = /\$\$Lambda(?:\$\d+)?(?:\/(?:0x[0-9a-fA-F]+|\d+))?/g;
// Other hidden or anonymous classes: `java.lang.invoke.LambdaForm$MH/0x00007fd358002000`.
const HIDDEN_CLASS_SUFFIX = /\/(?:0x[0-9a-fA-F]+|\d+)(?=[.$]|$)/g;
// Per-process numbering of generated classes: reflection accessors, proxies and their packages.
const GENERATED_NUMBER =
  /(GeneratedMethodAccessor|GeneratedConstructorAccessor|GeneratedSerializationConstructorAccessor|\$Proxy|jdk\.proxy)\d+/g;
// Stub qualifiers: `StubRoutines (1)`, `StubRoutines (initial stubs)` (JDK 21), `I2C/C2I adapters(0xbbeaaa0a)`.
const TRAILING_QUALIFIER = / ?\([^()]*\)$/;
const HEX = /0x[0-9a-fA-F]+/g;

/** Removes what differs between JVM processes from a Java class-and-method name. */
export function normalizeJavaMethod(name: string): string {
  let n = name;
  if (n.includes('$$Lambda')) n = n.replace(LAMBDA_SUFFIX, '$$$$Lambda');
  if (n.includes('/')) n = n.replace(HIDDEN_CLASS_SUFFIX, '');
  if (n.includes('Generated') || n.includes('roxy')) n = n.replace(GENERATED_NUMBER, '$1');
  if (n.includes('0x')) n = n.replace(HEX, '0x...');
  return n;
}

/** The Java-aware name of one JIT-map symbol (one part of an inline chain, offset already stripped), untagged. */
export function javaJitFrameName(symbol: string): string {
  if (symbol === '[unknown]') return UNRESOLVED_JIT_FRAME;
  let name: string;
  const jdk = jdkMethodName(symbol);
  const agent = jdk === undefined ? agentMethodParts(symbol) : undefined;
  if (jdk !== undefined) {
    name = normalizeJavaMethod(jdk);
  } else if (agent !== undefined) {
    name = normalizeJavaMethod(`${agent[0].replaceAll('/', '.')}.${agent[1]}`);
  } else {
    // A VM blob or stub: `Interpreter`, `StubRoutines (1)`, `throw_div0_exception Runtime1 stub`.
    name = symbol.replace(TRAILING_QUALIFIER, '').trimEnd();
    if (name.includes('0x')) name = name.replace(HEX, '0x...');
    if (name === '') name = symbol;
  }
  // `;` separates frames and quotes are deleted everywhere else in folded output; keep that true here.
  if (name.includes(';')) name = name.replaceAll(';', ':');
  if (name.includes('"') || name.includes("'")) name = name.replace(/["']/g, '');
  return name;
}
