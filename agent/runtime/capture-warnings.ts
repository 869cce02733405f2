/**
 * Reads the capture script's stderr: JSON-line warnings become CaptureWarnings, the timings line becomes numbers, and
 * everything else (perf's own messages) is kept as a bounded tail for error reports. Fed chunk by chunk, as the
 * Docker stream delivers it; a line split across chunks is joined first.
 */
import type { CaptureWarning } from '../../shared/api.js';

export interface CaptureStderrOptions {
  /** Bytes of non-warning stderr text kept (the most recent ones). Default 8192. */
  tailBytes?: number;
  /** Longest line kept whole; longer lines are cut (a runaway line must not grow memory). Default 65536. */
  maxLineBytes?: number;
}

export const DEFAULT_CAPTURE_STDERR_OPTIONS: Readonly<Required<CaptureStderrOptions>> = Object.freeze({
  tailBytes: 8192,
  maxLineBytes: 65536,
});

// e.g. {"podflameWarning":{"code":"NO_PRESERVE_FRAME_POINTER","message":"JVM 1 runs without ...","pid":1}}
const WARNING_PREFIX = '{"podflameWarning":';
const WARNING_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** The warning on one stderr line, or undefined when the line is not a well-formed warning. */
export function parseCaptureWarningLine(line: string): CaptureWarning | undefined {
  const text = line.trim();
  if (!text.startsWith(WARNING_PREFIX)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const w = (parsed as { podflameWarning?: unknown }).podflameWarning as Record<string, unknown> | undefined;
  if (typeof w !== 'object' || w === null) return undefined;
  const { code, message, pid } = w;
  if (typeof code !== 'string' || !WARNING_CODE.test(code) || typeof message !== 'string') return undefined;
  const warning: CaptureWarning = { code, message };
  if (typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0) warning.pid = pid;
  return warning;
}

// e.g. podflame-capture: timings-ms checks=25 perf-start=180 recording=3001 perf-stop=90 maps=40 script=310 segments=1
const TIMINGS_LINE = /^podflame-capture: timings-ms((?: [a-z][a-z-]*=\d+)+)\s*$/;

/** The phases the capture script timed (milliseconds, and the number of perf segments), or undefined. */
export function parseCaptureTimingsLine(line: string): Record<string, number> | undefined {
  const m = TIMINGS_LINE.exec(line);
  if (!m) return undefined;
  const timings: Record<string, number> = {};
  for (const pair of (m[1] as string).trim().split(' ')) {
    const [key, value] = pair.split('=') as [string, string];
    timings[key] = Number(value);
  }
  return timings;
}

/** Collects warnings, timings and a tail of other text from the capture container's stderr stream. */
export class CaptureStderr {
  /** Warnings in the order they arrived; the same array is handed out as RunningCapture.warnings. */
  readonly warnings: CaptureWarning[] = [];
  timings: Record<string, number> | undefined;
  readonly #options: Required<CaptureStderrOptions>;
  #partial = '';
  #partialCut = false;
  #tail = '';
  readonly #decoder = new TextDecoder('utf-8');

  constructor(options: CaptureStderrOptions = {}) {
    this.#options = {
      tailBytes: options.tailBytes ?? DEFAULT_CAPTURE_STDERR_OPTIONS.tailBytes,
      maxLineBytes: options.maxLineBytes ?? DEFAULT_CAPTURE_STDERR_OPTIONS.maxLineBytes,
    };
  }

  write(chunk: Uint8Array): void {
    const text = this.#partial + this.#decoder.decode(chunk, { stream: true });
    const lines = text.split('\n');
    this.#partial = lines.pop() as string;
    for (const line of lines) {
      this.#onLine(line, this.#partialCut);
      this.#partialCut = false;
    }
    if (this.#partial.length > this.#options.maxLineBytes) {
      this.#partial = this.#partial.slice(0, this.#options.maxLineBytes);
      this.#partialCut = true;
    }
  }

  /** Flushes a last line without a newline. Idempotent. */
  end(): void {
    const rest = this.#partial + this.#decoder.decode();
    this.#partial = '';
    if (rest !== '') this.#onLine(rest, this.#partialCut);
    this.#partialCut = false;
  }

  /** The most recent non-warning lines, at most `tailBytes` characters, cut at a line start. */
  tail(): string {
    return this.#tail.trimEnd();
  }

  #onLine(wholeLine: string, alreadyCut: boolean): void {
    const cut = alreadyCut || wholeLine.length > this.#options.maxLineBytes;
    const rawLine = cut ? wholeLine.slice(0, this.#options.maxLineBytes) : wholeLine;
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (!cut) {
      const warning = parseCaptureWarningLine(line);
      if (warning) {
        this.warnings.push(warning);
        return;
      }
      const timings = parseCaptureTimingsLine(line);
      if (timings) {
        this.timings = timings;
        return;
      }
    }
    if (line.trim() === '') return;
    this.#tail += `${line}${cut ? ' [line cut]' : ''}\n`;
    const excess = this.#tail.length - this.#options.tailBytes;
    if (excess > 0) {
      const nextLine = this.#tail.indexOf('\n', excess);
      this.#tail = nextLine === -1 ? this.#tail.slice(excess) : this.#tail.slice(nextLine + 1);
    }
  }
}
