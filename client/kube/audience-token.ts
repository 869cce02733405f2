/**
 * A token for the agents only: minted for the caller's own service account with the TokenRequest API
 * (`POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`, `spec.audiences: [AUDIENCE]`), for agents started with
 * `--token-audience AUDIENCE`. The API server refuses such a token, so an agent — or whoever stands where one
 * should — never holds a credential good against the API server. The service account is the one given, else the
 * caller itself as a SelfSubjectReview names it (`system:serviceaccount:NS:NAME`). The token is reused until 80% of
 * its lifetime has passed.
 */
import { AuthenticationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { PodflameError, asPodflameError } from '../../shared/errors.js';

export interface AudienceTokenOptions {
  /** The audience the agents require (their `--token-audience`). Required. */
  audience: string;
  /** The service account to mint for; default the caller's own, learnt from a SelfSubjectReview. */
  serviceAccount?: { namespace: string; name: string };
  /** Lifetime asked for, in seconds (the API server's minimum is 600). Default 3600. */
  expirationSeconds?: number;
  /** Clock in ms, for tests. Default Date.now. */
  now?: () => number;
}

export const DEFAULT_AUDIENCE_TOKEN_OPTIONS = Object.freeze({ expirationSeconds: 3600 });

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

export class AudienceTokenSource {
  readonly #kubeConfig: KubeConfig;
  readonly #audience: string;
  readonly #expirationSeconds: number;
  readonly #now: () => number;
  #serviceAccount: { namespace: string; name: string } | undefined;
  #current: Promise<{ token: string; renewAt: number }> | undefined;

  constructor(kubeConfig: KubeConfig, options: AudienceTokenOptions) {
    if (!options.audience || /\s|,/.test(options.audience)) {
      throw new PodflameError('USAGE', `the agent token audience must be one word, got '${options.audience}'`);
    }
    this.#kubeConfig = kubeConfig;
    this.#audience = options.audience;
    this.#expirationSeconds = options.expirationSeconds ?? DEFAULT_AUDIENCE_TOKEN_OPTIONS.expirationSeconds;
    this.#now = options.now ?? Date.now;
    this.#serviceAccount = options.serviceAccount;
  }

  /** A token bound to the audience, minted on first use and again when 80% of its lifetime has passed. */
  async token(): Promise<string> {
    const current = this.#current;
    if (current) {
      const held = await current.catch(() => undefined);
      if (held && this.#now() < held.renewAt) return held.token;
      if (this.#current !== current) return this.token();
    }
    const next = this.#mint();
    this.#current = next;
    // A failed mint is not kept: the next call asks again.
    next.catch(() => {
      if (this.#current === next) this.#current = undefined;
    });
    return (await next).token;
  }

  async #mint(): Promise<{ token: string; renewAt: number }> {
    const sa = this.#serviceAccount ?? (await this.#whoAmI());
    this.#serviceAccount = sa;
    const asked = this.#now();
    let answer;
    try {
      answer = await this.#kubeConfig.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
        namespace: sa.namespace,
        name: sa.name,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: [this.#audience], expirationSeconds: this.#expirationSeconds },
        },
      });
    } catch (err) {
      throw asPodflameError(
        err,
        'KUBERNETES_API_ERROR',
        `could not mint a token for audience ${this.#audience} for service account ${sa.namespace}/${sa.name} ` +
          `(it needs create on serviceaccounts/token for itself in namespace ${sa.namespace})`,
      );
    }
    const token = answer.status?.token;
    if (!token) throw new PodflameError('KUBERNETES_API_ERROR', 'the TokenRequest answer carries no token');
    const expires = answer.status?.expirationTimestamp
      ? new Date(answer.status.expirationTimestamp).getTime()
      : asked + this.#expirationSeconds * 1000;
    return { token, renewAt: asked + (expires - asked) * 0.8 };
  }

  async #whoAmI(): Promise<{ namespace: string; name: string }> {
    let username: string | undefined;
    try {
      const review = await this.#kubeConfig.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      username = review.status?.userInfo?.username;
    } catch (err) {
      throw asPodflameError(
        err,
        'KUBERNETES_API_ERROR',
        'could not ask the API server who you are (SelfSubjectReview)',
      );
    }
    const m = SERVICE_ACCOUNT_USER.exec(username ?? '');
    if (!m) {
      throw new PodflameError(
        'USAGE',
        `only a service account can mint a token for the agents' audience ${this.#audience}, and you are ` +
          `${username ?? 'nobody'}: run as a service account, or name one you may create tokens for`,
      );
    }
    return { namespace: m[1] as string, name: m[2] as string };
  }
}
