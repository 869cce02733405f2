import { createHash, timingSafeEqual } from 'node:crypto';
import { PodflameError } from '../../shared/errors.js';
import { bearerToken } from './bearer.js';
import type { Authenticator, CallerIdentity, Credentials } from './identity.js';

/** The user a token-file line without a user name stands for. */
export const DEFAULT_TOKEN_USER = 'podflame-token';

interface TokenEntry {
  digest: Buffer;
  identity: CallerIdentity;
}

/**
 * Parses a static token file, in kube-apiserver's `--token-auth-file` format so one file can serve both:
 * one credential per line, `token[,user[,uid[,"group1,group2"]]]`; blank lines and `#` comments are skipped.
 * Example line: `8f3b0c2e7d41a9b65c0e,alice,1001,"profilers,developers"`
 */
export function parseTokenFile(text: string, source: string): TokenEntry[] {
  const entries: TokenEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = splitCsvLine(line);
    const token = fields[0] ?? '';
    if (token.length < 16 || /\s/.test(token)) {
      throw new PodflameError(
        'CONFIG_INVALID',
        `token file ${source} line ${index + 1}: a token must be at least 16 characters without spaces ` +
          '(generate one with: head -c 32 /dev/urandom | base64)',
      );
    }
    const username = fields[1] || DEFAULT_TOKEN_USER;
    const uid = fields[2] || undefined;
    const groups = (fields[3] ?? '')
      .split(',')
      .map((g) => g.trim())
      .filter((g) => g !== '');
    entries.push({
      digest: digest(token),
      identity: { username, ...(uid === undefined ? {} : { uid }), groups, mode: 'token' },
    });
  });
  if (entries.length === 0) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `token file ${source} holds no token: put one token per line (token[,user[,uid[,"groups"]]])`,
    );
  }
  return entries;
}

// `tok,alice,1001,"a,b"` → ['tok', 'alice', '1001', 'a,b']
function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      fields.push(current.trim());
      current = '';
    } else current += ch;
  }
  fields.push(current.trim());
  return fields;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * `--auth token`: the caller's bearer token must equal one in the token file. Tokens are compared as SHA-256 digests
 * with timingSafeEqual (equal lengths by construction), against every entry without stopping early, so neither the
 * token's length nor which entry matched shows in the response time.
 */
export class StaticTokenAuthenticator implements Authenticator {
  readonly mode = 'token' as const;
  readonly #entries: readonly TokenEntry[];

  constructor(entries: readonly TokenEntry[]) {
    if (entries.length === 0)
      throw new PodflameError('CONFIG_INVALID', 'token authentication needs at least one token');
    this.#entries = entries;
  }

  async authenticate(credentials: Credentials): Promise<CallerIdentity> {
    const token = bearerToken(credentials);
    if (token === undefined) {
      throw new PodflameError(
        'UNAUTHENTICATED',
        'no credentials: this agent requires a bearer token from its token file (Authorization: Bearer TOKEN)',
      );
    }
    const found = this.#find(token);
    if (found === undefined) {
      throw new PodflameError('UNAUTHENTICATED', 'the bearer token is not in the agent token file');
    }
    return found;
  }

  knownCaller(credentials: Credentials): CallerIdentity | undefined {
    try {
      const token = bearerToken(credentials);
      return token === undefined ? undefined : this.#find(token);
    } catch {
      return undefined;
    }
  }

  #find(token: string): CallerIdentity | undefined {
    const presented = digest(token);
    let found: CallerIdentity | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(presented, entry.digest) && found === undefined) found = entry.identity;
    }
    return found;
  }
}
