import { PodflameError } from '../errors.js';

/**
 * Options of the perf script collapser. The first seven mirror stackcollapse-perf.pl's flags of the same name; with
 * every default the output is byte-identical to `stackcollapse-perf.pl` without flags.
 */
export interface CollapseOptions {
  /** Root frame `comm-PID` (stackcollapse-perf.pl `--pid`; PID is `?` when perf printed only a TID). Default false. */
  pid: boolean;
  /** Root frame `comm-PID/TID` (`--tid`; wins over `pid`). Default false. */
  tid: boolean;
  /** Append `_[k]` to kernel frames (`--kernel`). Default false. */
  kernel: boolean;
  /** Append `_[j]` to frames from a `/tmp/perf-PID.map` JIT map (`--jit`). Default false. */
  jit: boolean;
  /** Same as `kernel` and `jit` together (`--all`). Default false. */
  all: boolean;
  /** Keep the address of frames without a symbol: `[libc.so.6 <7f12ab>]` (`--addrs`). Default false. */
  addrs: boolean;
  /**
   * Keep only samples of this perf event (`--event-filter=EVENT`, e.g. `cpu-clock:ppp`). Default undefined: the
   * first event seen, as stackcollapse-perf.pl does; an empty string means the same.
   */
  eventFilter?: string | undefined;
  /**
   * Java-aware naming (podflame's own `--java`, not in stackcollapse-perf.pl): JIT frames from a JDK 17+ perf map
   * lose return type, arguments and per-process suffixes and are tagged `_[j]`, thread names keep their spaces.
   * See shared/collapse/README.md for the rules. Default false (byte-compatible output).
   */
  java: boolean;
  /**
   * Count each sample by the period perf printed (`1001001` for cpu-clock at 999 Hz), as stackcollapse-perf.pl does.
   * False counts each sample once, as the agent's graphs do ("samples"). Default true (byte-compatible output).
   */
  countPeriods: boolean;
  /**
   * Upper bound on the number of distinct raw frame texts remembered between samples (a speed cache, not a result).
   * When exceeded the cache starts over, so memory stays bounded on inputs with endless distinct symbols.
   * Default 200000.
   */
  frameCacheLimit: number;
}

export const DEFAULT_COLLAPSE_OPTIONS: Readonly<CollapseOptions> = Object.freeze({
  pid: false,
  tid: false,
  kernel: false,
  jit: false,
  all: false,
  addrs: false,
  eventFilter: undefined,
  java: false,
  countPeriods: true,
  frameCacheLimit: 200_000,
});

/** Merges partial options over the defaults (with `??`, so `false` and `0` stay) and validates them once. */
export function resolveCollapseOptions(options: Partial<CollapseOptions> = {}): CollapseOptions {
  const d = DEFAULT_COLLAPSE_OPTIONS;
  const resolved: CollapseOptions = {
    pid: options.pid ?? d.pid,
    tid: options.tid ?? d.tid,
    kernel: options.kernel ?? d.kernel,
    jit: options.jit ?? d.jit,
    all: options.all ?? d.all,
    addrs: options.addrs ?? d.addrs,
    eventFilter: options.eventFilter ?? d.eventFilter,
    java: options.java ?? d.java,
    countPeriods: options.countPeriods ?? d.countPeriods,
    frameCacheLimit: options.frameCacheLimit ?? d.frameCacheLimit,
  };
  for (const key of ['pid', 'tid', 'kernel', 'jit', 'all', 'addrs', 'java'] as const) {
    if (typeof resolved[key] !== 'boolean') {
      throw new PodflameError(
        'INVALID_REQUEST',
        `collapse option ${key} must be true or false, got ${String(resolved[key])}`,
      );
    }
  }
  if (resolved.eventFilter !== undefined && typeof resolved.eventFilter !== 'string') {
    throw new PodflameError(
      'INVALID_REQUEST',
      'collapse option eventFilter must be a perf event name such as cpu-clock',
    );
  }
  if (!Number.isInteger(resolved.frameCacheLimit) || resolved.frameCacheLimit < 1) {
    throw new PodflameError(
      'INVALID_REQUEST',
      `collapse option frameCacheLimit must be a positive integer, got ${String(resolved.frameCacheLimit)}`,
    );
  }
  return resolved;
}
