/**
 * Line patterns and frame-name cleaning of stackcollapse-perf.pl (FlameGraph @41fee1f), reproduced rule for rule.
 *
 * Strings here are "byte strings": every char is one input byte (the input is decoded as latin1), because perl
 * reads bytes. Perl's `\s`, `\S` and `\w` on bytes are ASCII-only, unlike JavaScript's `\s` (which also matches 0xA0,
 * a common UTF-8 continuation byte), so the classes are spelled out. Lines never contain `\n`, and the `s` flag makes
 * `.` match `\r` as perl's `.` does.
 */
import { javaJitFrameName } from './java-names.js';

const WS = '\\t\\n\\v\\f\\r ';

// Frame line, e.g. `\t    7f13acffdd40 long Hot.fib(int)+0x4c (/tmp/perf-22226.map)` → pc, raw symbol, module.
// Greedy: the module is inside the LAST ` (` … `)`, so symbols with spaces and parentheses stay whole. Kept as the
// reference of parseFrameLine, which computes the same captures without backtracking (this pattern backtracks once per
// ` (` for every start it tries: cubic on a long line without `)` after them).
export const FRAME_LINE = new RegExp(`^[${WS}]*(\\w+)[${WS}]*(.+) \\((.*)\\)`, 's');

/**
 * Longest symbol kept, in bytes: a longer one is cut here (at a UTF-8 character boundary) and marked with
 * FRAME_NAME_TRUNCATED before any pattern sees it. The symbols of real captures stay far below (the longest in the
 * conformance corpus is 343 bytes); this bounds the work and memory one symbol from a workload's perf map can cost.
 */
export const MAX_SYMBOL_BYTES = 4096;
/** Appended to a symbol cut at MAX_SYMBOL_BYTES. No parenthesis, quote or `;`: tidying leaves it as it is. */
export const FRAME_NAME_TRUNCATED = '...[truncated]';

/** The symbol cut to MAX_SYMBOL_BYTES and marked, or as it is when it fits. A byte string (see perf-collapser). */
export function truncateSymbol(symbol: string): string {
  if (symbol.length <= MAX_SYMBOL_BYTES) return symbol;
  let end = MAX_SYMBOL_BYTES;
  // Back to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx), so the cut leaves valid UTF-8.
  while (end > 0 && (symbol.charCodeAt(end) & 0xc0) === 0x80) end--;
  return symbol.slice(0, end) + FRAME_NAME_TRUNCATED;
}

/** True for the chars perl's `\s` matches on bytes. */
export function isPerlSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** True for the chars perl's `\w` matches on bytes. */
export function isPerlWord(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f // a-z A-Z 0-9 _
  );
}

export interface ParsedFrameLine {
  pc: string;
  rawfunc: string;
  module: string;
}

/**
 * FRAME_LINE's captures, found in one pass. The pattern's choices, worked out: the module ends at the last `)` and
 * starts after the last ` (` at least two chars before it; the symbol starts where the pc and the spaces after it
 * end, or earlier — one char before that ` (` at the latest, taking the pc's last chars when it must (perl's
 * `\t abc (m)` is pc `ab`, symbol `c`).
 */
export function parseFrameLine(line: string): ParsedFrameLine | undefined {
  let pcStart = 0;
  while (pcStart < line.length && isPerlSpace(line.charCodeAt(pcStart))) pcStart++;
  let pcEnd = pcStart;
  while (pcEnd < line.length && isPerlWord(line.charCodeAt(pcEnd))) pcEnd++;
  if (pcEnd === pcStart) return undefined;
  let afterSpaces = pcEnd;
  while (afterSpaces < line.length && isPerlSpace(line.charCodeAt(afterSpaces))) afterSpaces++;
  const close = line.lastIndexOf(')');
  const open = close >= 2 ? line.lastIndexOf(' (', close - 2) : -1;
  if (open < 0) return undefined;
  const symbolStart = Math.min(afterSpaces, open - 1);
  if (symbolStart < pcStart + 1) return undefined;
  return {
    pc: line.slice(pcStart, Math.min(pcEnd, symbolStart)),
    rawfunc: line.slice(symbolStart, open),
    module: line.slice(open + 2, close),
  };
}

/** How one frame line is cleaned: which annotations apply and whether the comm asks for Java tidying. */
export interface TidyContext {
  kernel: boolean;
  jit: boolean;
  addrs: boolean;
  /** podflame's Java-aware names for JIT frames. */
  java: boolean;
  /** The sample's root frame starts with `java` (perl's tidy_java condition). */
  javaComm: boolean;
}

/** The frames one frame line contributes, root first (several when perf-map-agent printed an inline chain). */
export interface TidiedFrameLine {
  frames: string[];
  /** The module is a JIT map, `/tmp/perf-PID.map`. */
  jit: boolean;
  /** … and perf found a symbol in it (not `[unknown]`). */
  jitResolved: boolean;
  /** The result contains the pc (`--addrs` on a frame without symbol), so it cannot be reused for another pc. */
  usesPc: boolean;
}

const OFFSET_SUFFIX = /\+0x[\da-f]+$/;
const JIT_MODULE = /\/tmp\/perf-\d+\.map/;
const KERNEL_MODULE = /(^\[|vmlinux$)/;
/**
 * Go method names such as `net/http.(*Client).Do` keep their parentheses: perl's `/\.\(.*\)\./`, as a scan (the
 * pattern backtracks over the whole rest of the name for every `.(` in it).
 */
export function isGoMethod(func: string): boolean {
  const open = func.indexOf('.(');
  return open >= 0 && func.lastIndexOf(').') >= open + 2;
}
// Everything from the first `(` that does not open `(anonymous namespace)`: argument lists and similar noise.
const FROM_FIRST_PAREN = /\((?!anonymous namespace\)).*/s;
const QUOTES = /["']/g;

/** True when the module is a JIT symbol map written by the JVM (`jcmd PID Compiler.perfmap`) or perf-map-agent. */
export function isJitModule(module: string): boolean {
  return JIT_MODULE.test(module);
}

/** perl's `split /->/`: trailing empty fields are dropped, leading ones kept. */
function splitInlineChain(rawfunc: string): string[] {
  if (!rawfunc.includes('->')) return [rawfunc];
  const parts = rawfunc.split('->');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** stackcollapse-perf.pl's tidy_generic: `;` → `:`, argument lists cut, quotes deleted. */
export function tidyGeneric(func: string): string {
  let f = func.includes(';') ? func.replaceAll(';', ':') : func;
  if (f.includes('(') && !isGoMethod(f)) f = f.replace(FROM_FIRST_PAREN, '');
  if (f.includes('"') || f.includes("'")) f = f.replace(QUOTES, '');
  return f;
}

/**
 * Cleans one frame line's symbol as stackcollapse-perf.pl does (offset strip, inline split, `[unknown]` → module
 * basename, tidy_generic, tidy_java, annotations), with podflame's Java names for JIT frames when `ctx.java`.
 */
export function tidyFrameLine(
  pc: string,
  rawfuncWithOffset: string,
  module: string,
  ctx: TidyContext,
): TidiedFrameLine {
  // Linux 4.8+ prints symbol offsets: `cpu_startup_entry+0x800047c022ec ([kernel.kallsyms])`.
  const rawfunc = truncateSymbol(rawfuncWithOffset).replace(OFFSET_SUFFIX, '');
  const jit = isJitModule(module);
  const result: TidiedFrameLine = { frames: [], jit, jitResolved: jit && rawfunc !== '[unknown]', usesPc: false };
  // perf prints `(comm)` in place of a symbol in some outputs; perl skips those frames.
  if (rawfunc.startsWith('(')) return result;
  const kernelModule = KERNEL_MODULE.test(module) && !module.includes('unknown');
  const javaNames = ctx.java && jit;
  for (const part of splitInlineChain(rawfunc)) {
    let func = part;
    if (javaNames) {
      func = javaJitFrameName(part);
    } else {
      if (func === '[unknown]') {
        const name = module === '[unknown]' ? 'unknown' : module.slice(module.lastIndexOf('/') + 1);
        if (ctx.addrs) {
          func = `[${name} <${pc}>]`;
          result.usesPc = true;
        } else {
          func = `[${name}]`;
        }
      }
      func = tidyGeneric(func);
      // tidy_java, for old perf-map-agent names: `Lorg/mozilla/javascript/MemberBox;.<init>` → `org/mozilla/…`.
      if (ctx.javaComm && func.startsWith('L') && func.includes('/')) func = func.slice(1);
    }
    if (result.frames.length > 0) {
      if (!func.includes('_[i]')) func += '_[i]';
    } else if (ctx.kernel && kernelModule) {
      func += '_[k]';
    } else if ((ctx.jit || javaNames) && jit) {
      if (!func.includes('_[j]')) func += '_[j]';
    }
    result.frames.push(func);
  }
  return result;
}
