import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { PodflameError, asPodflameError } from '../../shared/errors.js';
import type { AgentConfig } from '../config.js';
import { AllowAllAuthorizer, type Authorizer } from '../authz/authorizer.js';
import type { AuthzResource } from '../authz/resource.js';
import { AnonymousAuthenticator } from './anonymous.js';
import type { AuthMode, Authenticator } from './identity.js';
import { assertAuthModeAllowed } from './listen-guard.js';
import { parseTokenFile, StaticTokenAuthenticator } from './static-token.js';

export interface AccessControlOptions {
  /** `--auth`. Default `none` (allowed on a loopback listen address only). */
  auth?: AuthMode;
  /** `--token-file`, required with `--auth token`. */
  tokenFile?: string | undefined;
  /** `--kubeconfig`, the agent's own access to the API server with `--auth kubernetes`; default in-cluster. */
  kubeconfig?: string | undefined;
  /** `--authz-resource`. Default create pods/exec. */
  authzResource?: AuthzResource;
  /** This agent's node, checked against each target pod's spec.nodeName with `--auth kubernetes`. */
  nodeName: string;
  /** Where the server will listen (for refusing `--auth none` off loopback). */
  listen: { host: string; port?: number };
}

export interface AccessControl {
  authenticator: Authenticator;
  authorizer: Authorizer;
}

/** The access-control part of the agent's configuration. */
export function accessControlOptions(config: AgentConfig): AccessControlOptions {
  return {
    auth: config.auth,
    tokenFile: config.tokenFile,
    kubeconfig: config.kubeconfig,
    authzResource: config.authzResource,
    nodeName: config.nodeName,
    listen: config.listen,
  };
}

/**
 * Builds the authenticator and authorizer for the configured mode, checking everything that can be checked before
 * the server listens: `none` off loopback, a missing or empty token file, an unusable kubeconfig. The Kubernetes
 * client is loaded only for `--auth kubernetes`.
 */
export async function createAccessControl(
  options: AccessControlOptions,
  deps: { kubeConfig?: KubeConfig } = {},
): Promise<AccessControl> {
  if ((options.auth ?? 'none') !== 'kubernetes') return createLocalAccessControl(options);
  checkCommon(options);
  const { kubernetesAccessControl } = await import('./kubernetes-access.js');
  return kubernetesAccessControl(options, deps.kubeConfig);
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
        '--auth kubernetes access control is built with createAccessControl (it loads the Kubernetes client)',
      );
  }
}

function checkCommon(options: AccessControlOptions): AuthMode {
  const mode = options.auth ?? 'none';
  assertAuthModeAllowed(mode, options.listen.host, options.listen.port);
  if (mode !== 'token' && options.tokenFile !== undefined) {
    throw new PodflameError('CONFIG_INVALID', `--token-file is only used with --auth token (the mode is ${mode})`);
  }
  return mode;
}
