/**
 * The agent's long-lived parts as one ordered list (parca-agent's run group): started in order, each only once the
 * one before it has started, and closed in reverse, so that a part is closed before anything it uses. A start that
 * fails closes the parts already started, in reverse, and rethrows. No `process` and no timers of its own beyond the
 * close deadline it is given: main.ts decides what a late close means.
 */
import { PodflameError } from '../shared/errors.js';

export interface Part {
  /** For log lines and errors, e.g. `http`, `runtime`. */
  readonly name: string;
  start(): Promise<void> | void;
  /** Idempotent: the group calls it at most once, but a part may also be closed by its owner. */
  close(): Promise<void>;
}

export interface PartsLogger {
  error(obj: object, msg: string): void;
}

export class Parts {
  readonly #parts: readonly Part[];
  readonly #logger: PartsLogger | undefined;
  /** How many parts have started (a prefix of the list). */
  #started = 0;
  #closing: Promise<void> | undefined;

  constructor(parts: readonly Part[], logger?: PartsLogger) {
    this.#parts = parts;
    this.#logger = logger;
  }

  get names(): string[] {
    return this.#parts.map((p) => p.name);
  }

  /** Starts each part in order; when one fails, closes those already started (in reverse) and rethrows its error. */
  async start(): Promise<void> {
    if (this.#closing) throw new PodflameError('AGENT_NOT_READY', 'the agent is shutting down');
    for (const part of this.#parts.slice(this.#started)) {
      try {
        await part.start();
      } catch (err) {
        await this.close().catch(() => undefined);
        throw err;
      }
      this.#started++;
    }
  }

  /**
   * Closes the started parts in reverse order. Every part is closed even when one fails; the first failure is
   * rethrown at the end. Idempotent: later calls get the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      let first: unknown;
      for (const part of this.#parts.slice(0, this.#started).reverse()) {
        try {
          await part.close();
        } catch (err) {
          this.#logger?.error(
            { part: part.name, err: err instanceof Error ? err.message : String(err) },
            'close failed',
          );
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    })();
    return this.#closing;
  }

  /**
   * close(), bounded: resolves `closed` when every part closed in time, `deadline` when `ms` passed first (the
   * parts go on closing; the caller decides whether to wait).
   */
  async closeWithin(ms: number): Promise<'closed' | 'deadline'> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'deadline'>((resolve) => {
      // Not unref'd: the deadline must fire even when a hanging part holds nothing that keeps the process alive.
      timer = setTimeout(() => resolve('deadline'), ms);
    });
    try {
      return await Promise.race([this.close().then(() => 'closed' as const), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A part from two functions; `close` runs at most once however often it is called. */
export function part(name: string, start: () => Promise<void> | void, close: () => Promise<void>): Part {
  let closing: Promise<void> | undefined;
  return { name, start, close: () => (closing ??= close()) };
}
