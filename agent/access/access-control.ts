/**
 * Access control for the configured `--auth` mode: the authenticator (who calls) and the authorizer (what they may
 * do) built together, above both `auth/` and `authz/`.
 */
import { readFileSync } from 'node:fs';
import { PodflameError, asPodflameError } from '../../shared/errors.js';
import { AllowAllAuthorizer } from '../authz/authorizer.js';
import { AnonymousAuthenticator } from '../auth/anonymous.js';
import type { AuthMode } from '../auth/identity.js';
import { assertAuthModeAllowed } from '../auth/listen-guard.js';
import { parseTokenFile, StaticTokenAuthenticator } from '../auth/static-token.js';
import type { AccessControl, AccessControlOptions } from './access-options.js';
import type { KubeApiClient } from '../kube/kube-api-client.js';

export type { AccessControl, AccessControlOptions };

/**
 * Builds the authenticator and authorizer for the configured mode, checking everything that can be checked before
 * the server listens: `none` off loopback, a missing or empty token file, no access to the API server. `--auth
 * kubernetes` asks the API server through `kubeApi`, the agent's own access (agent/kube/connect.ts).
 */
export async function createAccessControl(
  options: AccessControlOptions,
  deps: { kubeApi?: KubeApiClient | undefined } = {},
): Promise<AccessControl> {
  if ((options.auth ?? 'none') !== 'kubernetes') return createLocalAccessControl(options);
  checkCommon(options);
  if (deps.kubeApi === undefined) {
    throw new PodflameError(
      'CONFIG_INVALID',
      '--auth kubernetes checks tokens with the Kubernetes API server, which the agent cannot reach: run it in a pod ' +
        '(in-cluster, with a service account) or pass --kubeconfig FILE',
    );
  }
  const { kubernetesAccessControl } = await import('./kubernetes-access.js');
  return kubernetesAccessControl(options, deps.kubeApi);
}

/** `none` and `token`, which need nothing loaded; `kubernetes` must go through createAccessControl. */
export function createLocalAccessControl(options: AccessControlOptions): AccessControl {
  const mode = checkCommon(options);
  switch (mode) {
    case 'none':
      return { authenticator: new AnonymousAuthenticator(), authorizer: new AllowAllAuthorizer() };
    case 'token': {
      if (options.tokenFile === undefined) {
        throw new PodflameError('CONFIG_INVALID', '--auth token needs --token-file FILE (one token per line)');
      }
      let text: string;
      try {
        text = readFileSync(options.tokenFile, 'utf8');
      } catch (err) {
        throw asPodflameError(err, 'CONFIG_INVALID', `cannot read the token file ${options.tokenFile}`);
      }
      return {
        authenticator: new StaticTokenAuthenticator(parseTokenFile(text, options.tokenFile)),
        authorizer: new AllowAllAuthorizer(),
      };
    }
    case 'kubernetes':
      throw new PodflameError(
        'INTERNAL',
        "--auth kubernetes access control is built with createAccessControl (it needs the agent's Kubernetes access)",
      );
  }
}

function checkCommon(options: AccessControlOptions): AuthMode {
  const mode = options.auth ?? 'none';
  assertAuthModeAllowed(mode, options.listen.host, options.listen.port);
  if (mode !== 'token' && options.tokenFile !== undefined) {
    throw new PodflameError('CONFIG_INVALID', `--token-file is only used with --auth token (the mode is ${mode})`);
  }
  if (mode !== 'kubernetes' && options.tokenAudiences !== undefined) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `--token-audience is only used with --auth kubernetes (the mode is ${mode}): audiences are checked by TokenReview`,
    );
  }
  return mode;
}
