import { PodflameError } from '../../shared/errors.js';

/** What a caller must be allowed to do on the target pod to profile it (the SubjectAccessReview's attributes). */
export interface AuthzResource {
  verb: string;
  /** API group, '' for the core group. */
  group: string;
  resource: string;
  subresource?: string;
}

/** Default: whoever may exec into a pod may profile it (exec gives at least as much as a capture). */
export const DEFAULT_AUTHZ_RESOURCE: AuthzResource = Object.freeze({
  verb: 'create',
  group: '',
  resource: 'pods',
  subresource: 'exec',
});

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * Parses `--authz-resource`: `[GROUP/]RESOURCE[/SUBRESOURCE]`, the group told apart by its dot (API groups other
 * than the core group always have one), the verb always `create`.
 * Examples: `pods/exec` (default), `podflame.io/profiles`, `podflame.io/profiles/capture`.
 */
export function parseAuthzResource(text: string): AuthzResource {
  const parts = text.trim().split('/');
  const group = parts.length > 1 && parts[0]!.includes('.') ? parts.shift()! : '';
  const [resource, subresource, ...rest] = parts;
  const ok = (s: string | undefined): s is string => s !== undefined && NAME.test(s) && s.length <= 253;
  if (!ok(resource) || (subresource !== undefined && !ok(subresource)) || rest.length > 0 || (group && !ok(group))) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `--authz-resource ${JSON.stringify(text)} is not [GROUP/]RESOURCE[/SUBRESOURCE]: ` +
        'use pods/exec (the default) or a dedicated resource such as podflame.io/profiles',
    );
  }
  return { verb: 'create', group, resource, ...(subresource === undefined ? {} : { subresource }) };
}

/** How kubectl would name it: `pods/exec`, `profiles.podflame.io`. */
export function describeAuthzResource(r: AuthzResource): string {
  const base = r.group ? `${r.resource}.${r.group}` : r.resource;
  return r.subresource ? `${base}/${r.subresource}` : base;
}
