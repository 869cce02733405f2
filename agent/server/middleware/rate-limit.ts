import type { RequestHandler } from 'express';
import { PodflameError } from '../../../shared/errors.js';

export interface RateLimitOptions {
  /** Requests each caller may make per minute, refilled continuously; 0 turns the limit off. Default 120. */
  perMinute?: number;
  /** Requests a caller may make at once after being idle. Default: perMinute. */
  burst?: number;
  /** Callers tracked at most; a full (idle) bucket is forgotten first. Default 10 000. */
  maxCallers?: number;
  /** Clock in ms, for tests. Default Date.now. */
  now?: () => number;
}

export const DEFAULT_RATE_LIMIT_OPTIONS = Object.freeze({ perMinute: 120, maxCallers: 10_000 });

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

/**
 * One token bucket per key: `burst` tokens, refilled at perMinute/60 per second; each request takes one. The API's
 * limit is keyed by the authenticated identity, never by address: through the API server's proxy every caller comes
 * from one address. The limit on failed authentication (authenticate.ts) is keyed by address, as it must be before
 * anyone is known.
 */
export class CallerRateLimiter {
  readonly perMinute: number;
  readonly #burst: number;
  readonly #maxCallers: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(options: RateLimitOptions = {}) {
    const perMinute = options.perMinute ?? DEFAULT_RATE_LIMIT_OPTIONS.perMinute;
    const burst = options.burst ?? perMinute;
    if (!Number.isFinite(perMinute) || perMinute < 0 || !Number.isFinite(burst) || (perMinute > 0 && burst < 1)) {
      throw new PodflameError(
        'CONFIG_INVALID',
        `the rate limit must be a number of requests per minute >= 0 with a burst >= 1, got ${perMinute}/${burst}`,
      );
    }
    this.perMinute = perMinute;
    this.#burst = burst;
    this.#maxCallers = options.maxCallers ?? DEFAULT_RATE_LIMIT_OPTIONS.maxCallers;
    this.#now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.perMinute > 0;
  }

  take(key: string): TakeResult {
    if (!this.enabled) return { ok: true };
    const now = this.#now();
    const perMs = this.perMinute / 60_000;
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    this.#evict(now, perMs);
    if (allowed) return { ok: true };
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)) };
  }

  /** Gives back a token taken for a request that turned out not to count (never above the burst). */
  refund(key: string): void {
    const bucket = this.#buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.#burst, bucket.tokens + 1);
  }

  #evict(now: number, perMs: number): void {
    if (this.#buckets.size <= this.#maxCallers) return;
    // Least recently used first; a bucket that has refilled completely carries no state worth keeping.
    for (const [key, b] of this.#buckets) {
      if (this.#buckets.size <= this.#maxCallers) return;
      if (b.tokens + (now - b.at) * perMs >= this.#burst) this.#buckets.delete(key);
    }
    while (this.#buckets.size > this.#maxCallers) this.#buckets.delete(this.#buckets.keys().next().value as string);
  }
}

/**
 * Express middleware: 429 RATE_LIMITED with Retry-After once a caller has used up their bucket. Runs after
 * authentication; `keyOf` names the caller (see callerKey).
 */
export function rateLimitRequests(
  limiter: CallerRateLimiter,
  keyOf: (res: Parameters<RequestHandler>[1]) => string,
): RequestHandler {
  return (_req, res, next) => {
    const result = limiter.take(keyOf(res));
    if (result.ok) {
      next();
      return;
    }
    res.setHeader('Retry-After', String(result.retryAfterSeconds));
    next(
      new PodflameError(
        'RATE_LIMITED',
        `too many requests from this caller: at most ${limiter.perMinute} per minute; retry in ${result.retryAfterSeconds} s`,
        { details: { retryAfterSeconds: result.retryAfterSeconds, perMinute: limiter.perMinute } },
      ),
    );
  };
}
