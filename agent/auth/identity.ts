/**
 * Who is calling the agent, as the authenticator established it. Every later decision (authorization, rate limit,
 * audit) keys on this, never on the raw credentials.
 */

export const AUTH_MODES = ['kubernetes', 'token', 'none'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export interface CallerIdentity {
  /** Kubernetes user name (e.g. `alice`, `system:serviceaccount:ci:builder`), the token file's user, or `anonymous`. */
  username: string;
  uid?: string;
  groups: readonly string[];
  /**
   * The TokenReview's `user.extra` (e.g. `authentication.kubernetes.io/credential-id`, a scoped token's scopes):
   * passed on in every SubjectAccessReview, since authorizers may narrow what the user can do by it. Default none.
   */
  extra?: Readonly<Record<string, readonly string[]>>;
  /** The mode that established this identity. */
  mode: AuthMode;
}

/** The request headers authentication reads, already lower-cased as Node gives them. */
export interface Credentials {
  /** `Authorization` (the direct path). */
  authorization?: string | undefined;
  /** `X-Podflame-Authorization` (both paths: the API server's pod proxy drops Authorization). */
  podflameAuthorization?: string | undefined;
}

export interface Authenticator {
  readonly mode: AuthMode;
  /** Resolves to the caller, or rejects with UNAUTHENTICATED (401) saying why, or KUBERNETES_API_ERROR (502). */
  authenticate(credentials: Credentials, signal?: AbortSignal): Promise<CallerIdentity>;
  /**
   * The caller when they can be told without asking anyone (the token file, an accepted token still cached), else
   * undefined; never throws. It lets known callers in while their address may try no more unknown credentials.
   */
  knownCaller?(credentials: Credentials): CallerIdentity | undefined;
}

/** The name audit lines and rate-limit buckets use for a caller: stable, never containing the credential. */
export function callerKey(caller: CallerIdentity): string {
  return caller.username;
}
