/**
 * Stack trace ids → folded stacks through a chunk's constant pools, with Java frames named as the Java-aware perf
 * collapse names them, so that JFR and CPU graphs of one JVM look alike frame for frame:
 *
 * | JFR frame (class symbol, method symbol, frame type)                      | frame                                     |
 * | ------------------------------------------------------------------------ | ----------------------------------------- |
 * | `java/util/HashMap`, `put`, JIT compiled                                  | `java.util.HashMap.put_[j]`               |
 * | `Sleeper`, `spin`, Interpreted (or Native)                                | `Sleeper.spin_[j]`                        |
 * | `Pricing`, `total`, Inlined                                               | `Pricing.total_[i]`                       |
 * | `jdk.jfr.internal.PlatformRecorder$$Lambda/0x00007f8c10042928`, `run`     | `jdk.jfr.internal.PlatformRecorder$$Lambda.run_[j]` |
 * | `AllocLoop$$Lambda$89+0x00007fc6b0008000/846947180`, `run` (JDK 17)      | `AllocLoop$$Lambda.run_[j]`               |
 *
 * Every Java frame is tagged `_[j]` (green in the java palette) but inlined ones `_[i]` (aqua), as the perf path tags
 * them; JFR also names interpreted frames, which perf only sees as `Interpreter`. Stacks are root first; a stack
 * JFR cut at its depth limit starts with `[truncated]`, an event without a stack is `[no stack]`, an id missing from
 * the pools `[unknown stack]`.
 */
import { PoolString } from './byte-reader.js';
import type { ConstantPools } from './constant-pools.js';
import type { JfrStruct, JfrValue } from './values.js';
import { normalizeJavaMethod } from '../collapse/java-names.js';

export const NO_STACK = '[no stack]';
export const UNKNOWN_STACK = '[unknown stack]';
export const TRUNCATED_STACK = '[truncated]';
const UNKNOWN = '[unknown]';
const HIDDEN_PLUS = /\+0x[0-9a-fA-F]+/;
/**
 * Characters that would end a folded line or hide in one: C0 and C1 controls (newline, carriage return, escape, NUL)
 * and Unicode's line and paragraph separators. No class or method the JVM loads has them, but the file comes from
 * the workload, and a name with a newline would forge folded lines with counts of its choosing.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

function isStruct(v: JfrValue | undefined): v is JfrStruct {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof PoolString);
}

/** Resolves the stack trace ids of one chunk; caches method names, so a method shared by many stacks is named once. */
export class StackNamer {
  private readonly methodNames = new Map<number, string>();
  private readonly frameSuffixes = new Map<number, string>();

  constructor(private readonly pools: ConstantPools) {}

  /** The folded stack (root first) of a stack trace id; undefined when the pools do not have it. */
  stack(id: number): string | undefined {
    if (id === 0) return NO_STACK;
    const trace = this.pools.get('jdk.types.StackTrace')?.get(id);
    if (!isStruct(trace)) return undefined;
    const frames = trace['frames'];
    if (!Array.isArray(frames) || frames.length === 0) return NO_STACK;
    const names: string[] = trace['truncated'] === true ? [TRUNCATED_STACK] : [];
    // JFR lists frames leaf first.
    for (let i = frames.length - 1; i >= 0; i--) {
      const frame = frames[i];
      if (!isStruct(frame)) {
        names.push(UNKNOWN);
        continue;
      }
      names.push(this.methodName(frame['method']) + this.suffix(frame['type']));
    }
    return names.join(';');
  }

  private methodName(id: JfrValue | undefined): string {
    if (typeof id !== 'number') return UNKNOWN;
    let name = this.methodNames.get(id);
    if (name === undefined) {
      name = this.nameMethod(id);
      this.methodNames.set(id, name);
    }
    return name;
  }

  private nameMethod(id: number): string {
    const method = this.pools.get('jdk.types.Method')?.get(id);
    if (!isStruct(method)) return UNKNOWN;
    const cls = typeof method['type'] === 'number' ? this.pools.get('java.lang.Class')?.get(method['type']) : undefined;
    const className = isStruct(cls) ? this.symbol(cls['name']) : undefined;
    const methodName = this.symbol(method['name']) ?? UNKNOWN;
    // Hidden and lambda classes lose their per-process suffix (`$$Lambda/0x…`) before the package's slashes become
    // dots: JFR names them `pkg.Outer$$Lambda/0x…` while other classes are `pkg/Outer`.
    // JDK 17 names a hidden class with its address after `+` and a hash after `/`
    // (`LockContention$$Lambda$89+0x00007fc6b0008000/846947180`); the address goes, normalizeJavaMethod takes the rest.
    const qualified =
      className === undefined
        ? methodName
        : `${normalizeJavaMethod(className.replace(HIDDEN_PLUS, '')).replaceAll('/', '.')}.${methodName}`;
    let name = normalizeJavaMethod(qualified);
    name = name.replace(UNSAFE_CHARS, '?');
    // `;` separates frames and quotes are deleted everywhere else in folded output; keep that true here.
    if (name.includes(';')) name = name.replaceAll(';', ':');
    if (name.includes('"') || name.includes("'")) name = name.replace(/["']/g, '');
    return name;
  }

  private symbol(id: JfrValue | undefined): string | undefined {
    if (typeof id !== 'number') return undefined;
    const symbol = this.pools.get('jdk.types.Symbol')?.get(id);
    return isStruct(symbol) ? (this.text(symbol['string']) ?? undefined) : undefined;
  }

  private text(v: JfrValue | undefined): string | undefined {
    if (typeof v === 'string') return v;
    if (v instanceof PoolString) {
      const s = this.pools.get('java.lang.String')?.get(v.id);
      return typeof s === 'string' ? s : undefined;
    }
    return undefined;
  }

  private suffix(typeId: JfrValue | undefined): string {
    if (typeof typeId !== 'number') return '_[j]';
    let suffix = this.frameSuffixes.get(typeId);
    if (suffix === undefined) {
      const frameType = this.pools.get('jdk.types.FrameType')?.get(typeId);
      const description = isStruct(frameType) ? this.text(frameType['description']) : undefined;
      suffix = description === 'Inlined' ? '_[i]' : '_[j]';
      this.frameSuffixes.set(typeId, suffix);
    }
    return suffix;
  }
}
