import { createHash } from 'node:crypto';
import { PodflameError, asPodflameError } from '../../shared/errors.js';
import { bearerToken } from './bearer.js';
import type { Authenticator, CallerIdentity, Credentials } from './identity.js';
import { TtlCache } from './ttl-cache.js';
import { withTimeout } from './with-timeout.js';

/** A TokenReview's answer, narrowed to what the agent uses (`status` of authentication.k8s.io/v1 TokenReview). */
export interface TokenReviewStatus {
  authenticated: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  /** The audiences the token is valid for among those asked (`spec.audiences`); absent when none were asked. */
  audiences?: string[];
  /** The API server's reason when the token was not accepted. */
  error?: string;
}

/** Sends one TokenReview. The Kubernetes implementation is in kube-token-reviewer.ts; tests may inject their own. */
export interface TokenReviewer {
  /**
   * `audiences`: the TokenReview's `spec.audiences`; none asks for the API server's own audiences. `signal`: the
   * authenticator gave up (its timeout); the request should end.
   */
  review(token: string, audiences?: readonly string[], signal?: AbortSignal): Promise<TokenReviewStatus>;
}

export interface KubernetesAuthenticatorOptions {
  /** How long an accepted token's identity is reused, in ms. Default 30 000. */
  cacheTtlMs?: number;
  /** How long a rejected token stays rejected without asking again, in ms. Default 5 000. */
  negativeCacheTtlMs?: number;
  /** Accepted tokens remembered at most (least recently used dropped first). Default 1 000. */
  cacheMaxEntries?: number;
  /**
   * Rejected tokens remembered at most, in a cache of their own: junk tokens push out only other junk tokens, never
   * an accepted caller. Default 256.
   */
  negativeCacheMaxEntries?: number;
  /** TokenReviews waiting for the API server at most; beyond it 429 RATE_LIMITED (retry in 1 s). Default 16. */
  maxReviewsInFlight?: number;
  /** Give up on the API server after this long, in ms. Default 10 000. */
  timeoutMs?: number;
  /**
   * `--token-audience`: accept only tokens bound to one of these audiences (TokenReview `spec.audiences`), such as a
   * service account's token minted for the agent with the TokenRequest API; a token for the API server itself is then
   * refused, so an agent (or whoever stands in for one) never holds a credential the API server would take. Default
   * none: the API server's own audiences (kubeconfig tokens).
   */
  audiences?: readonly string[];
  /** Clock in ms, for tests. Default Date.now. */
  now?: () => number;
}

export const DEFAULT_KUBERNETES_AUTHENTICATOR_OPTIONS = Object.freeze({
  cacheTtlMs: 30_000,
  negativeCacheTtlMs: 5_000,
  cacheMaxEntries: 1_000,
  negativeCacheMaxEntries: 256,
  maxReviewsInFlight: 16,
  timeoutMs: 10_000,
});

type Verdict = { ok: true; identity: CallerIdentity } | { ok: false; reason: string };

function tokenKey(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * `--auth kubernetes`: the caller's bearer token is checked with a TokenReview against the API server, which knows
 * every way a cluster issues tokens (service accounts, OIDC, webhooks). Answers are cached briefly, keyed by the
 * token's SHA-256 (the token itself is never stored or logged), and concurrent requests with one token share one
 * review. API failures are not cached and answer 502, so a flaky API server never turns into a false "rejected".
 * Accepted and rejected tokens are cached apart, and the reviews in flight are capped, so a flood of junk tokens
 * neither evicts real callers nor queues unbounded work on the API server.
 */
export class KubernetesAuthenticator implements Authenticator {
  readonly mode = 'kubernetes' as const;
  readonly #reviewer: TokenReviewer;
  readonly #options: Required<Omit<KubernetesAuthenticatorOptions, 'now' | 'audiences'>>;
  readonly #audiences: readonly string[];
  readonly #accepted: TtlCache<Verdict>;
  readonly #rejected: TtlCache<Verdict>;
  readonly #inFlight = new Map<string, Promise<Verdict>>();
  /** TokenReviews sent (for tests and metrics). */
  reviews = 0;
  /** Reviews refused because the cap's worth were in flight. */
  reviewsRefused = 0;

  constructor(reviewer: TokenReviewer, options: KubernetesAuthenticatorOptions = {}) {
    const d = DEFAULT_KUBERNETES_AUTHENTICATOR_OPTIONS;
    this.#reviewer = reviewer;
    this.#options = {
      cacheTtlMs: options.cacheTtlMs ?? d.cacheTtlMs,
      negativeCacheTtlMs: options.negativeCacheTtlMs ?? d.negativeCacheTtlMs,
      cacheMaxEntries: options.cacheMaxEntries ?? d.cacheMaxEntries,
      negativeCacheMaxEntries: options.negativeCacheMaxEntries ?? d.negativeCacheMaxEntries,
      maxReviewsInFlight: options.maxReviewsInFlight ?? d.maxReviewsInFlight,
      timeoutMs: options.timeoutMs ?? d.timeoutMs,
    };
    this.#audiences = [...(options.audiences ?? [])];
    const clock = options.now ? { now: options.now } : {};
    this.#accepted = new TtlCache<Verdict>({
      ttlMs: this.#options.cacheTtlMs,
      maxEntries: this.#options.cacheMaxEntries,
      ...clock,
    });
    this.#rejected = new TtlCache<Verdict>({
      ttlMs: this.#options.negativeCacheTtlMs,
      maxEntries: this.#options.negativeCacheMaxEntries,
      ...clock,
    });
  }

  knownCaller(credentials: Credentials): CallerIdentity | undefined {
    let token: string | undefined;
    try {
      token = bearerToken(credentials);
    } catch {
      return undefined;
    }
    if (token === undefined) return undefined;
    const verdict = this.#accepted.get(tokenKey(token));
    return verdict?.ok ? verdict.identity : undefined;
  }

  async authenticate(credentials: Credentials): Promise<CallerIdentity> {
    const token = bearerToken(credentials);
    if (token === undefined) {
      throw new PodflameError(
        'UNAUTHENTICATED',
        'no credentials: send your Kubernetes bearer token (Authorization: Bearer TOKEN, or X-Podflame-Authorization ' +
          'through the API server proxy); the podflame CLI does this from your kubeconfig',
      );
    }
    const key = tokenKey(token);
    let verdict = this.#accepted.get(key) ?? this.#rejected.get(key);
    if (verdict === undefined) {
      let pending = this.#inFlight.get(key);
      if (pending === undefined) {
        this.#admitReview();
        pending = this.#review(token).finally(() => this.#inFlight.delete(key));
        this.#inFlight.set(key, pending);
      }
      verdict = await pending;
      if (verdict.ok) this.#accepted.set(key, verdict);
      else this.#rejected.set(key, verdict);
    }
    if (!verdict.ok) throw new PodflameError('UNAUTHENTICATED', verdict.reason);
    return verdict.identity;
  }

  /** Refuses a new review while the cap's worth are waiting for the API server (the caller may retry shortly). */
  #admitReview(): void {
    const max = this.#options.maxReviewsInFlight;
    if (this.#inFlight.size < max) return;
    this.reviewsRefused += 1;
    throw new PodflameError(
      'RATE_LIMITED',
      `the agent is already checking ${max} tokens with the Kubernetes API server; retry in 1 s`,
      { details: { retryAfterSeconds: 1, reviewsInFlight: max } },
    );
  }

  async #review(token: string): Promise<Verdict> {
    this.reviews += 1;
    let status: TokenReviewStatus;
    try {
      status = await withTimeout(
        (signal) => this.#reviewer.review(token, this.#audiences.length > 0 ? this.#audiences : undefined, signal),
        this.#options.timeoutMs,
        'TokenReview',
      );
    } catch (err) {
      throw asPodflameError(
        err,
        'KUBERNETES_API_ERROR',
        "could not check the caller's token with a TokenReview (is the API server reachable, and may the agent's " +
          'service account create tokenreviews?)',
      );
    }
    const username = status.user?.username;
    if (!status.authenticated || !username) {
      const why = status.error ? `: ${status.error}` : '';
      return { ok: false, reason: `the Kubernetes API server did not accept the bearer token${why}` };
    }
    if (this.#audiences.length > 0 && !(status.audiences ?? []).some((a) => this.#audiences.includes(a))) {
      // An authenticator that ignores spec.audiences (an old or webhook one) answers without status.audiences; the
      // API docs ask whoever sets spec.audiences to check the answer names one of them.
      return {
        ok: false,
        reason:
          `the bearer token is not bound to this agent's audience (${this.#audiences.join(', ')}): ` +
          'request one with the TokenRequest API (kubectl create token SERVICE_ACCOUNT --audience ' +
          `${this.#audiences[0]}, or the podflame client's agentTokenAudience option)`,
      };
    }
    const user = status.user ?? {};
    const extra = user.extra && Object.keys(user.extra).length > 0 ? copyExtra(user.extra) : undefined;
    return {
      ok: true,
      identity: {
        username,
        ...(user.uid ? { uid: user.uid } : {}),
        groups: [...(user.groups ?? [])],
        ...(extra ? { extra } : {}),
        mode: 'kubernetes',
      },
    };
  }
}

function copyExtra(extra: Record<string, string[]>): Record<string, readonly string[]> {
  return Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, Object.freeze([...v])]));
}
