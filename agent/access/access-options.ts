/** What access control is built from, and what it gives the server: kept apart so both builders import it. */
import type { Authenticator, AuthMode } from '../auth/identity.js';
import type { Authorizer } from '../authz/authorizer.js';
import type { AuthzResource } from '../authz/resource.js';

export interface AccessControlOptions {
  /** `--auth`. Default `none` (allowed on a loopback listen address only). */
  auth?: AuthMode;
  /** `--token-file`, required with `--auth token`. */
  tokenFile?: string | undefined;
  /** `--authz-resource`. Default create pods/exec. */
  authzResource?: AuthzResource;
  /** `--token-audience`: with `--auth kubernetes`, only tokens bound to one of these audiences. Default none. */
  tokenAudiences?: readonly string[];
  /** This agent's node, checked against each target pod's spec.nodeName with `--auth kubernetes`. */
  nodeName: string;
  /** Where the server will listen (for refusing `--auth none` off loopback). */
  listen: { host: string; port?: number };
}

export interface AccessControl {
  authenticator: Authenticator;
  authorizer: Authorizer;
}
