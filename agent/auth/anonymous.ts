import type { Authenticator, CallerIdentity } from './identity.js';

export const ANONYMOUS: CallerIdentity = Object.freeze({
  username: 'anonymous',
  groups: Object.freeze([]),
  mode: 'none',
});

/**
 * `--auth none`: everyone is the anonymous caller. Only allowed on a loopback listen address (see listen-guard.ts),
 * where reaching the port already means being on the machine.
 */
export class AnonymousAuthenticator implements Authenticator {
  readonly mode = 'none' as const;

  async authenticate(): Promise<CallerIdentity> {
    return ANONYMOUS;
  }

  knownCaller(): CallerIdentity {
    return ANONYMOUS;
  }
}
