import { PodflameError } from '../../shared/errors.js';
import type { Credentials } from './identity.js';

// Example header value: `Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Ij...` (RFC 6750: scheme case-insensitive, one space).
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The caller's bearer token. `X-Podflame-Authorization` wins over `Authorization`: on the proxy path the API server
 * has already consumed Authorization (it carried the caller's credentials for the API server itself), so only the
 * podflame header is meant for the agent; on the direct path the client sends the same token in both.
 * Returns undefined when neither header is present; a header that is present but not a bearer token is an error,
 * because silently treating it as "no credentials" would hide a misconfigured client.
 */
export function bearerToken(credentials: Credentials): string | undefined {
  const header = nonEmpty(credentials.podflameAuthorization) ?? nonEmpty(credentials.authorization);
  if (header === undefined) return undefined;
  const match = BEARER.exec(header);
  if (!match) {
    throw new PodflameError(
      'UNAUTHENTICATED',
      'the Authorization header is not a bearer token: send "Authorization: Bearer TOKEN" ' +
        '(or "X-Podflame-Authorization: Bearer TOKEN" through the API server proxy)',
    );
  }
  return match[1];
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
